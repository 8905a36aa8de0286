"""Latency statistics and the adaptive repetition loop (pure Python: no torch, no numpy).

A latency figure is only worth printing if running the same command again gives
nearly the same number.  Two things make that so: warm-up calls are thrown away
(the first calls allocate buffers and pick kernels), and each measurement runs
until it has *both* a minimum number of calls and a minimum amount of time, so a
fast cell gets many calls and a slow cell still gets a stable median.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

# Two runs of the same command should agree within this relative difference of their medians.
REPEATABILITY_TOLERANCE = 0.10


class Cancelled(Exception):
    """The person asked the benchmark to stop; the cells measured so far are kept."""


@dataclass(frozen=True)
class RepeatPolicy:
    """How long to measure one cell: warm-up calls, then at least ``min_repeats`` calls and ``min_seconds``.

    ``max_seconds`` caps a cell whose single call is very slow, once ``min_repeats`` is reached
    (so the minimum count always wins over the cap).
    """

    warmup: int = 3
    min_repeats: int = 10
    min_seconds: float = 1.0
    max_seconds: float = 30.0
    max_repeats: int = 100_000

    def done(self, repeats: int, elapsed_s: float) -> bool:
        if repeats >= self.max_repeats:
            return True
        if repeats < self.min_repeats:
            return False
        return elapsed_s >= self.min_seconds or elapsed_s >= self.max_seconds


QUICK_POLICY = RepeatPolicy(warmup=1, min_repeats=3, min_seconds=0.0, max_seconds=5.0)


@dataclass(frozen=True)
class LatencyStats:
    """Latency of repeated calls, in milliseconds, and how many calls it rests on."""

    repeats: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    if not samples:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(seconds: Sequence[float]) -> LatencyStats:
    """Percentiles, mean and extremes of per-call durations given in seconds."""
    if not seconds:
        raise ValueError("no timings to summarize")
    ms = [s * 1000.0 for s in seconds]
    return LatencyStats(repeats=len(ms), mean_ms=sum(ms) / len(ms), p50_ms=percentile(ms, 50),
                        p95_ms=percentile(ms, 95), p99_ms=percentile(ms, 99), min_ms=min(ms), max_ms=max(ms))


def throughput(batch_size: int, mean_ms: float) -> float:
    """Texts per second when batches of ``batch_size`` run back to back, each taking ``mean_ms`` on average.

    The mean (not the median) is the right base: sustained throughput pays for the slow calls too.
    """
    if mean_ms <= 0:
        return float("inf")
    return batch_size * 1000.0 / mean_ms


def relative_difference(a: float, b: float) -> float:
    """|a - b| relative to the smaller of the two (so 10 vs 11 is 0.10 either way round)."""
    smaller = min(abs(a), abs(b))
    if smaller == 0:
        return 0.0 if a == b else float("inf")
    return abs(a - b) / smaller


def agree(a: float, b: float, tolerance: float = REPEATABILITY_TOLERANCE) -> bool:
    """Whether two measurements of the same thing agree within ``tolerance`` (relative)."""
    return relative_difference(a, b) <= tolerance


def speedup(slow_ms: float, fast_ms: float) -> float:
    """How many times faster ``fast_ms`` is than ``slow_ms`` (2.0 = twice as fast)."""
    return slow_ms / fast_ms if fast_ms > 0 else float("inf")


def geometric_mean(values: Sequence[float]) -> float:
    """The fair average of ratios: 2x faster and 2x slower average to 1x."""
    if not values:
        raise ValueError("geometric mean of nothing")
    return math.exp(sum(math.log(v) for v in values) / len(values))


# A timed call runs the work once and returns how long it took in seconds.  CPU code wraps the work in a
# host clock; CUDA code returns the time between two device events, which the host clock cannot see.
TimedCall = Callable[[], float]
Sample = TypeVar("Sample")  # what one timed call returns: seconds, or the parts of one round (cells.Round)


def host_timed(work: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> TimedCall:
    """``work`` timed with the host's monotonic clock (right for CPU work, which is synchronous)."""

    def call() -> float:
        start = clock()
        work()
        return clock() - start

    return call


def measure(timed_call: Callable[[], Sample], policy: RepeatPolicy, *, should_stop: Callable[[], bool] | None = None,
            clock: Callable[[], float] = time.perf_counter) -> list[Sample]:
    """Warm up, then call until ``policy`` is satisfied; returns what each timed call returned (its duration in
    seconds, or the durations of the parts of one round).

    ``should_stop`` is asked between calls; when it says yes, :class:`Cancelled` is raised.
    """
    stop = should_stop or (lambda: False)
    for _ in range(policy.warmup):
        if stop():
            raise Cancelled()
        timed_call()
    samples: list[Sample] = []
    start = clock()
    while not policy.done(len(samples), clock() - start):
        if stop():
            raise Cancelled()
        samples.append(timed_call())
    return samples
