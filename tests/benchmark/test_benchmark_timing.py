"""Latency statistics and the adaptive repetition loop (pure, no models)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from bertstudio.benchmark.timing import (
    Cancelled,
    RepeatPolicy,
    agree,
    geometric_mean,
    host_timed,
    measure,
    percentile,
    relative_difference,
    speedup,
    summarize,
    throughput,
)


@pytest.mark.parametrize("q", [0, 1, 5, 25, 50, 75, 95, 99, 100])
def test_percentile_matches_numpy_linear_interpolation(q):
    rng = random.Random(q)
    samples = [rng.uniform(0, 100) for _ in range(37)]
    assert percentile(samples, q) == pytest.approx(float(np.percentile(samples, q)))


def test_percentile_of_small_samples():
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 3.0], 50) == 2.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 100) == 4.0  # order of the input does not matter
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize_reports_milliseconds():
    stats = summarize([0.010, 0.020, 0.030, 0.040, 0.100])
    assert stats.repeats == 5
    assert stats.p50_ms == pytest.approx(30.0)
    assert stats.mean_ms == pytest.approx(40.0)
    assert stats.min_ms == pytest.approx(10.0) and stats.max_ms == pytest.approx(100.0)
    assert stats.p50_ms <= stats.p95_ms <= stats.p99_ms <= stats.max_ms
    assert stats.p95_ms == pytest.approx(float(np.percentile([10, 20, 30, 40, 100], 95)))
    with pytest.raises(ValueError):
        summarize([])


def test_throughput_is_texts_per_second():
    assert throughput(1, 10.0) == pytest.approx(100.0)
    assert throughput(32, 160.0) == pytest.approx(200.0)
    assert throughput(8, 0.0) == float("inf")


def test_relative_difference_and_agreement():
    assert relative_difference(10.0, 11.0) == pytest.approx(0.10)
    assert relative_difference(11.0, 10.0) == pytest.approx(0.10)
    assert relative_difference(0.0, 0.0) == 0.0
    assert relative_difference(0.0, 1.0) == float("inf")
    assert agree(100.0, 109.0)
    assert not agree(100.0, 112.0)
    assert agree(100.0, 112.0, tolerance=0.15)


def test_speedup_and_geometric_mean():
    assert speedup(169.0, 24.0) == pytest.approx(7.04, abs=0.01)
    assert geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    assert geometric_mean([4.0, 9.0]) == pytest.approx(6.0)
    with pytest.raises(ValueError):
        geometric_mean([])


class FakeClock:
    """Each call to the work advances time by ``step`` seconds."""

    def __init__(self, step: float):
        self.now, self.step, self.calls = 0.0, step, 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += self.step


def test_measure_runs_until_both_minimum_count_and_minimum_time():
    clock = FakeClock(step=0.01)
    policy = RepeatPolicy(warmup=2, min_repeats=5, min_seconds=0.2, max_seconds=10)
    samples = measure(host_timed(clock.work, clock=clock), policy, clock=clock)
    assert len(samples) == 20  # 0.2 s of 10 ms calls: time, not count, decided
    assert clock.calls == 22  # warm-up calls ran but are not in the samples
    assert all(s == pytest.approx(0.01) for s in samples)

    slow = FakeClock(step=1.0)
    samples = measure(host_timed(slow.work, clock=slow), RepeatPolicy(warmup=0, min_repeats=5, min_seconds=0.1),
                      clock=slow)
    assert len(samples) == 5  # count decided


def test_measure_caps_slow_cells_but_keeps_the_minimum_count():
    clock = FakeClock(step=4.0)
    policy = RepeatPolicy(warmup=0, min_repeats=3, min_seconds=100.0, max_seconds=10.0)
    assert len(measure(host_timed(clock.work, clock=clock), policy, clock=clock)) == 3


def test_measure_stops_when_asked():
    clock = FakeClock(step=0.01)
    answers = itertools.chain([False] * 4, itertools.repeat(True))
    with pytest.raises(Cancelled):
        measure(host_timed(clock.work, clock=clock), RepeatPolicy(warmup=1, min_repeats=100),
                should_stop=lambda: next(answers), clock=clock)
    assert clock.calls == 4
