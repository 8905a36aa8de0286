"""Did something else use the CPU while a cell was timed, or did the machine itself run slow?

Latency measured while other programs use the same cores is worthless (PyTorch's
threads wait for each other, and one descheduled thread stalls them all: a 120 ms
call can take a second).  The load average reacts too slowly to tell, so each cell
compares the CPU time the whole machine spent busy (``/proc/stat``, including time
the hypervisor gave to other machines) with the CPU time this process spent: the
difference, per second of wall time, is how many cores others took.  Linux only;
elsewhere the figure is unknown (None).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Self

# Above this many cores used by others during a cell, its timing is flagged (and re-measured when asked).
BUSY_CORES = 0.25
# A probe this much slower than the run's fastest: the machine itself ran slow while the cell was timed.
HOST_SLOW = 1.10
# The machine-speed probe (HostSpeed): a pause for other threads to settle, then the median of a few products;
# before a run starts it is sampled START_SAMPLES times (the benchmark's time estimate counts all of this).
PROBE_SETTLE_S = 0.1
PROBE_REPEATS = 5
START_SAMPLES = 3
_PROC_STAT = Path("/proc/stat")
_SELF_STAT = Path("/proc/self/stat")


def _machine_busy_ticks() -> int | None:
    """Clock ticks every CPU spent on anything but idling since boot (user, system, irq, steal...)."""
    try:
        fields = _PROC_STAT.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(values) - values[3] - values[4]


def _own_ticks() -> int | None:
    """Clock ticks this process (all its threads) has run, user plus system."""
    try:
        after_name = _SELF_STAT.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(after_name[11]) + int(after_name[12])  # utime, stime (fields 14 and 15)


class CpuContention:
    """Context manager: ``other_cores`` is how many cores other processes used, on average, inside the block."""

    def __init__(self) -> None:
        self.other_cores: float | None = None
        self._start: tuple[int | None, int | None, float] = (None, None, 0.0)

    def __enter__(self) -> Self:
        self._start = (_machine_busy_ticks(), _own_ticks(), time.perf_counter())
        return self

    def __exit__(self, *exc: object) -> None:
        busy0, own0, wall0 = self._start
        busy1, own1, wall = _machine_busy_ticks(), _own_ticks(), time.perf_counter() - wall0
        if None in (busy0, own0, busy1, own1) or wall <= 0:
            return
        ticks_per_second = os.sysconf("SC_CLK_TCK")
        others = (busy1 - busy0) - (own1 - own0)
        self.other_cores = max(0.0, others / ticks_per_second / wall)


def is_busy(other_cores: float | None, limit: float = BUSY_CORES) -> bool:
    return other_cores is not None and other_cores > limit


def matmul_probe_ms() -> float:
    """A fixed fp32 matrix product (ten 256x768 by 768x768 products, ~15 ms on 2 cores), median of five, in ms."""
    import statistics

    import torch

    left, right = torch.ones(256, 768), torch.ones(768, 768)

    def once() -> float:
        start = time.perf_counter()
        for _ in range(10):
            left @ right
        return 1000 * (time.perf_counter() - start)

    return statistics.median(once() for _ in range(PROBE_REPEATS))


class HostSpeed:
    """The machine's own speed at a moment: the same small workload, timed before and after every cell.

    Some machines (cloud VMs, shared Spaces) switch between a fast and a slow state for seconds to minutes
    with nothing else running: seen here, the same INT8 model took 37 ms or 54 ms per call while a fixed
    matrix product took 20-25% longer in the slow state. ``/proc/stat`` shows nothing then (no other process, no steal
    time); a fixed workload does. ``fastest`` is the quickest probe so far: the machine's good state.
    """

    def __init__(self, probe: Callable[[], float] = matmul_probe_ms, settle_s: float = PROBE_SETTLE_S):
        self._probe, self._settle_s = probe, settle_s
        self.fastest: float | None = None

    def sample(self) -> float:
        # ONNX Runtime's worker threads keep spinning for a while after a call: measured here, a probe right
        # after ONNX Runtime work took twice as long (32 ms against 16 ms); 100 ms later it was back to normal.
        time.sleep(self._settle_s)
        ms = self._probe()
        self.fastest = ms if self.fastest is None else min(self.fastest, ms)
        return ms

    def slowdown(self, probe_ms: float | None) -> float | None:
        """How much slower than its best the machine ran at ``probe_ms`` (1.0: at its best; None: unknown)."""
        if probe_ms is None or not self.fastest:
            return None
        return probe_ms / self.fastest


def is_slow(slowdown: float | None, limit: float = HOST_SLOW) -> bool:
    return slowdown is not None and slowdown > limit
