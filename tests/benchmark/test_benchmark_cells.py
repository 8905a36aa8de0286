"""One cell's timing: the model-only, tokenizer and end-to-end figures come from the same rounds (no models)."""

from __future__ import annotations

import numpy as np
import pytest

from bertstudio.benchmark.cells import Round, measure_cell, summarize_rounds
from bertstudio.benchmark.timing import RepeatPolicy, host_timed

MODEL_S, TOKENIZE_S, BUSY_FACTOR = 0.100, 0.002, 3.0


class BusyThenQuiet:
    """A machine's clock: other programs slow every call ``BUSY_FACTOR`` times until ``busy_until`` seconds."""

    def __init__(self, busy_until: float):
        self.now, self.busy_until = 0.0, busy_until
        self.calls: list[str] = []

    def clock(self) -> float:
        return self.now

    def work(self, name: str, seconds: float) -> None:
        self.calls.append(name)
        self.now += seconds * (BUSY_FACTOR if self.now < self.busy_until else 1.0)


class FakeRunner:
    """What measure_cell needs of benchmark.backends.Runner, on the fake machine."""

    device = "cpu"

    def __init__(self, machine: BusyThenQuiet):
        self.machine = machine

    def bind(self, batch: dict) -> object:
        assert batch["input_ids"].shape == (2, 16)
        return lambda: self.machine.work("model", MODEL_S)

    ready = bind

    def timed(self, work):
        return host_timed(work, clock=self.machine.clock)


class FakeTokenizer:
    def __init__(self, machine: BusyThenQuiet):
        self.machine = machine

    def __call__(self, texts, *, max_length: int, **options) -> dict:
        self.machine.work("tokenize", TOKENIZE_S)
        ids = np.ones((len(texts), max_length), dtype=np.int64)
        return {"input_ids": ids, "attention_mask": ids}


def test_end_to_end_is_never_faster_than_the_model_alone_when_the_load_changes():
    """The tester's table read 318 ms end to end against 413 ms for the model alone: the model's calls were timed
    first, the end-to-end calls later under another load. Here the machine is busy for the first two seconds:
    timed one phase after the other, the model alone read 300 ms and end to end 102 ms."""
    machine = BusyThenQuiet(busy_until=2.0)
    policy = RepeatPolicy(warmup=0, min_repeats=10, min_seconds=0.0, max_seconds=1e9)
    times = measure_cell(FakeRunner(machine), batch_size=2, seq_len=16, vocab_size=100, policy=policy,
                         texts=["a text", "another", "unused"], tokenizer=FakeTokenizer(machine), clock=machine.clock)

    assert machine.calls[:4] == ["tokenize", "model", "tokenize", "model"]  # rounds, not phases
    model, tokenize, e2e = times.model, times.tokenize, times.end_to_end
    assert model.repeats == tokenize.repeats == e2e.repeats == 10
    for stat in ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "min_ms", "max_ms"):
        assert getattr(e2e, stat) >= getattr(model, stat)
    assert e2e.p50_ms == pytest.approx(model.p50_ms + tokenize.p50_ms)


def test_each_percentile_of_the_rounds_keeps_end_to_end_at_or_above_the_model():
    rounds = [Round(tokenize_s=0.001, model_s=m, end_to_end_s=m + 0.001 + extra)
              for m, extra in [(0.30, 0.0), (0.10, 0.002), (0.12, 0.0), (0.50, 0.001), (0.11, 0.0)]]
    model, tokenize, e2e = summarize_rounds(rounds)
    assert tokenize.p50_ms == pytest.approx(1.0)
    assert model.p50_ms == pytest.approx(120.0) and e2e.p50_ms == pytest.approx(121.0)
    assert e2e.p95_ms >= model.p95_ms and e2e.mean_ms >= model.mean_ms


def test_retries_stop_while_the_load_lasts_and_come_back_once_a_cell_is_quiet():
    """Two retries per disturbed cell made each cell about three times as long on a machine that other programs kept
    busy for the whole run: a retry helps against a burst, not against lasting load."""
    from bertstudio.benchmark.cells import CellTimes, Retries
    from bertstudio.benchmark.timing import summarize

    stats = summarize([0.01])

    def cell(other_cores: float, attempts: int) -> CellTimes:
        return CellTimes(stats, None, None, 0, other_cores=other_cores, attempts=attempts)

    retries = Retries(2)
    assert retries.now() == 2
    retries.saw(cell(1.5, attempts=1))  # busy, but not retried (a long cell): nothing learnt about the load
    assert retries.now() == 2
    retries.saw(cell(0.1, attempts=3))  # the retries outwaited a burst
    assert retries.now() == 2
    retries.saw(cell(1.5, attempts=3))  # still busy after both retries: the load lasts
    assert retries.now() == 0
    retries.saw(cell(1.4, attempts=1))  # measured once, busy again: still no retries
    assert retries.now() == 0
    retries.saw(cell(0.0, attempts=1))  # quiet: a later disturbance may be a burst again
    assert retries.now() == 2
