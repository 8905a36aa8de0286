"""The byte scan that finds a file's encoding: what it reports, and that it stays linear in the line length."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bertstudio.data.encoding import _non_ascii_lines
from bertstudio.data.io import read_table


def test_the_lines_with_non_ascii_bytes_are_found_whatever_the_line_breaks():
    block = b"a\rcaf\xc3\xa9\r\nplain\n\xff\nend \xc3\xa9 end"
    assert list(_non_ascii_lines(block)) == [b"caf\xc3\xa9", b"\xff", b"end \xc3\xa9 end"]
    assert list(_non_ascii_lines(b"only ascii\nhere")) == []


def test_long_ascii_texts_with_one_accent_elsewhere_read_in_linear_time(tmp_path: Path) -> None:
    """The scan once matched whole lines with a pattern that retried from every position of an ASCII line: 40
    texts of 20,000 characters and one "Zürich" took two minutes to read (a 700,000-character line would take
    hours). The alarm only ends a test that would otherwise not end."""
    path = tmp_path / "contracts.csv"
    path.write_text("text,label\n" + "".join(f"{'clause ' * 100_000},nda\n" for _ in range(2))
                    + "Signed in Zürich,nda\n", encoding="utf-8")

    def stuck(*_):
        pytest.fail("reading took minutes: the scan is quadratic in the line length again")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(60)
    try:
        ds, info = read_table(path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert ds.num_rows == 3 and info.encoding == "utf-8"
    assert ds[2]["text"] == "Signed in Zürich"
