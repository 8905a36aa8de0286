"""One cell of the grid: time a backend on one batch shape, measure again while the machine was disturbed,
and turn the timings into a table row."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bertstudio.benchmark.backends import Runner
from bertstudio.benchmark.contention import CpuContention, HostSpeed, is_busy, is_slow
from bertstudio.benchmark.inputs import token_batch, tokenize_fixed
from bertstudio.benchmark.memory import peak_memory
from bertstudio.benchmark.models import ONNX_BACKENDS, BenchModel
from bertstudio.benchmark.parity import Parity
from bertstudio.benchmark.records import BenchRecord
from bertstudio.benchmark.timing import LatencyStats, RepeatPolicy, measure, summarize, throughput
from bertstudio.hardware import cpu_has_fast_bf16

MB = 1024 * 1024
BUSY_WAIT_S = 5.0  # pause before measuring a busy cell again, so a short burst of other work can pass
# A cell timed while the machine ran slow is measured again only if that is quick: a slow spell can last
# minutes, and redoing long cells (batch 32 of BERT-base: ~1 min each) would multiply the run's time for it.
SLOW_RETRY_MAX_S = 10.0


@dataclass
class CellTimes:
    model: LatencyStats
    tokenize: LatencyStats | None
    end_to_end: LatencyStats | None
    peak_memory_bytes: int  # the process's resident peak while the cell was timed (CUDA: max allocated)
    other_cores: float | None = None  # cores other programs used meanwhile (None: unknown)
    attempts: int = 1
    host_probe_ms: float | None = None  # the slower of the machine-speed probes just before and after (None: not run)
    working_memory_bytes: int | None = None  # growth of that memory over the cell's start


@dataclass(frozen=True)
class Round:
    """One round of a cell with a tokenizer: the texts tokenized, then the model run on what that made."""

    tokenize_s: float
    model_s: float  # the model alone, as a cell without a tokenizer times it
    end_to_end_s: float  # the tokenizer, the inputs put where the model is, and the model: never below model_s


def end_to_end_round(runner: Runner, tokenize: Callable[[], dict], clock: Callable[[], float] = time.perf_counter
                     ) -> Callable[[], Round]:
    """A call that runs one round and returns its parts' durations.

    The model-only, tokenizer and end-to-end figures come from the same rounds, so they share the machine's load
    at every moment: timed one after the other (the model's calls, then the tokenizer's, then both together),
    a busy or not yet warm spell fell on one of them, and the table showed end to end faster than the model alone
    (318 against 413 ms).  End to end is the sum of the parts, so no round, and no percentile, is below the model
    alone."""

    def call() -> Round:
        start = clock()
        batch = tokenize()
        tokenized = clock()
        work = runner.ready(batch)
        ready = clock()
        model_s = runner.timed(work)()
        return Round(tokenize_s=tokenized - start, model_s=model_s, end_to_end_s=ready - start + model_s)

    return call


def summarize_rounds(rounds: Sequence[Round]) -> tuple[LatencyStats, LatencyStats, LatencyStats]:
    """(model, tokenize, end to end) statistics of the same rounds (pure)."""
    return (summarize([r.model_s for r in rounds]), summarize([r.tokenize_s for r in rounds]),
            summarize([r.end_to_end_s for r in rounds]))


def measure_cell(runner: Runner, *, batch_size: int, seq_len: int, vocab_size: int, policy: RepeatPolicy,
                 texts: Sequence[str] | None = None, tokenizer=None,
                 should_stop: Callable[[], bool] | None = None, host: HostSpeed | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> CellTimes:
    """Time the model on a (batch, seq) batch: with a tokenizer, rounds of tokenizing ``texts`` and the model on
    what that made (:func:`end_to_end_round`); without, the model alone on random token ids of that shape.
    With ``host``, the machine's own speed is probed just before and just after.  ``clock``: the host clock
    (a test's own, to play a machine whose load changes)."""

    before = host.sample() if host else None
    with CpuContention() as contention, peak_memory(runner.device) as meter:
        if tokenizer is not None and texts:
            tokenize = functools.partial(tokenize_fixed, tokenizer, list(texts[:batch_size]), seq_len)
            rounds = measure(end_to_end_round(runner, tokenize, clock), policy, should_stop=should_stop, clock=clock)
            model_stats, tokenize_stats, e2e_stats = summarize_rounds(rounds)
        else:
            work = runner.bind(token_batch(batch_size, seq_len, vocab_size))
            model_stats = summarize(measure(runner.timed(work), policy, should_stop=should_stop, clock=clock))
            tokenize_stats = e2e_stats = None
    probe = max(before, host.sample()) if host else None
    return CellTimes(model_stats, tokenize_stats, e2e_stats, meter.peak_bytes, contention.other_cores,
                     host_probe_ms=probe, working_memory_bytes=meter.delta_bytes)


def measure_quietly(measure_once: Callable[[], CellTimes], retries: int, *,
                    sleep: Callable[[float], None] | None = None, host: HostSpeed | None = None) -> CellTimes:
    """Measure; while other programs used the CPU meanwhile, or (with ``host``) the machine itself ran slow,
    wait a little and measure again (at most ``retries`` more times).  Returns the least disturbed
    measurement, with how many attempts it took."""

    def disturbance(times: CellTimes) -> tuple[bool, bool, float, float]:
        slowdown = host.slowdown(times.host_probe_ms) if host else None
        return (is_busy(times.other_cores), is_slow(slowdown), times.other_cores or 0.0, slowdown or 1.0)

    def timed_once() -> tuple[CellTimes, float]:
        start = time.perf_counter()
        return measure_once(), time.perf_counter() - start

    def worth_again(times: CellTimes, took_s: float) -> bool:
        busy, slow = disturbance(times)[:2]
        return busy or (slow and took_s <= SLOW_RETRY_MAX_S)

    pause = sleep or time.sleep
    best, took = timed_once()
    attempts = 1
    while worth_again(best, took) and attempts <= retries:
        pause(BUSY_WAIT_S)
        again, took = timed_once()
        attempts += 1
        if disturbance(again) < disturbance(best):
            best = again
    best.attempts = attempts
    return best


class Retries:
    """How many times to measure a disturbed cell again, for a run's cells one after the other.

    A retry waits for a short burst of other work to pass.  Under lasting load (other programs busy for minutes) it
    finds the machine as busy, and each one costs a pause, the cell again and its machine-speed probes: measured on
    2 cores where other programs used 1-1.8 of them for a whole quick comparison (24 cells), every cell was flagged
    after its two retries, and the cells took 1,262 s where one attempt of each one's timed calls took about 173 s
    (the run: 1,459 s against an estimate of 466 s).  So once a cell's retries all found other programs on the CPU,
    the next cells are measured once (and flagged), until one is measured quiet."""

    def __init__(self, retries: int):
        self.retries = retries
        self.lasting = False  # the last cell's retries did not outwait the load, nor has a cell been quiet since

    def now(self) -> int:
        return 0 if self.lasting else self.retries

    def saw(self, times: CellTimes) -> None:
        busy = is_busy(times.other_cores)
        self.lasting = busy and (self.lasting or times.attempts > 1)


def mark_host_speed(records: Sequence[BenchRecord]) -> None:
    """Each record's slowdown against the fastest probe of the whole run (known only once the run is over)."""
    probes = [r.host_probe_ms for r in records if r.host_probe_ms]
    fastest = min(probes, default=None)
    for record in records:
        if fastest and record.host_probe_ms:
            record.host_slowdown = record.host_probe_ms / fastest


OWN_EXPORT_NOTE = "ONNX files found next to a run are timed as exported"


def backend_notes(backend: str, device: str, onnx_source: str | None = None) -> list[str]:
    """What a reader must know about a backend's numbers on this machine."""

    if backend == "torch-bf16" and device == "cpu" and not cpu_has_fast_bf16():
        return ["this CPU has no bf16 instructions, so bf16 is emulated and slow"]
    if backend in ONNX_BACKENDS and onnx_source == "export folder":
        return [OWN_EXPORT_NOTE]
    return []


def build_record(model: BenchModel, backend: str, device: str, threads: int, batch_size: int, seq_len: int,
                 times: CellTimes, *, size_bytes: int | None = None, bf16_method: str | None = None,
                 onnx_source: str | None = None, parity: Parity | None = None) -> BenchRecord:
    """One table row from a cell's timings (pure)."""
    tok, e2e = times.tokenize, times.end_to_end
    notes = [*model.notes, *backend_notes(backend, device, onnx_source)]
    return BenchRecord(
        model=model.name, model_label=model.label, model_kind=model.kind, weights=model.weights, backend=backend,
        device=device, threads=threads, batch_size=batch_size, seq_len=seq_len, repeats=times.model.repeats,
        mean_ms=times.model.mean_ms, p50_ms=times.model.p50_ms, p95_ms=times.model.p95_ms,
        p99_ms=times.model.p99_ms, throughput=throughput(batch_size, times.model.mean_ms),
        tokenize_p50_ms=tok.p50_ms if tok else None, tokenize_p95_ms=tok.p95_ms if tok else None,
        e2e_p50_ms=e2e.p50_ms if e2e else None, e2e_p95_ms=e2e.p95_ms if e2e else None,
        e2e_p99_ms=e2e.p99_ms if e2e else None, e2e_throughput=throughput(batch_size, e2e.mean_ms) if e2e else None,
        size_mb=size_bytes / MB if size_bytes is not None else None,
        peak_memory_mb=times.peak_memory_bytes / MB,
        working_memory_mb=times.working_memory_bytes / MB if times.working_memory_bytes is not None else None,
        memory_kind="cuda-max-allocated" if device.startswith("cuda") else "rss-peak",
        bf16_method=bf16_method if backend == "torch-bf16" else None,
        onnx_source=onnx_source if backend in ONNX_BACKENDS else None,
        parity_rows=parity.rows if parity else None, parity_agreement=parity.agreement if parity else None,
        parity_max_diff=parity.max_diff if parity else None,
        parity_accuracy_change=parity.accuracy_change if parity else None,
        parity_passed=parity.passed if parity else None, other_cpu_cores=times.other_cores,
        host_probe_ms=times.host_probe_ms, note="; ".join(notes))
