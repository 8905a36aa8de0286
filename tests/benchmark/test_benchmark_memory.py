"""Peak mem: the process's resident peak while a cell ran, never 0, and the growth the cell itself added."""

from __future__ import annotations

from bertstudio.benchmark.memory import MB, PeakRss, current_rss_bytes


def test_peak_is_the_whole_process_and_delta_what_the_block_added():
    with PeakRss() as idle:
        pass
    assert idle.peak_bytes >= current_rss_bytes() * 0.5 > 0  # the process's memory, not 0
    with PeakRss() as busy:
        block = bytearray(64 * MB)  # touched: zero-filled pages are resident
        block[::4096] = b"x" * len(block[::4096])
        del block
    assert busy.delta_bytes >= 48 * MB and busy.peak_bytes >= busy.delta_bytes
