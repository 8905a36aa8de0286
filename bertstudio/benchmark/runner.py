"""The benchmark grid: every model x backend x batch size x sequence length, with progress and a stop button.

For each cell the model alone is timed on a fixed-shape batch of token ids, then
the tokenizer alone on realistic texts of that length, then both together (end to
end).  Each backend's predictions are also compared once with PyTorch fp32 on
real texts (the run's test rows when there are any), so a fast backend whose
answers differ is never recommended.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bertstudio.benchmark.backends import (
    BACKEND_LABELS,
    BF16_METHODS,
    DEFAULT_BF16_METHOD,
    OrtRunner,
    Runner,
    TorchRunner,
    default_cache_dir,
    file_bytes,
    onnx_file,
)
from bertstudio.benchmark.contention import CpuContention, HostSpeed, is_busy, is_slow
from bertstudio.benchmark.inputs import texts_for_length, token_batch, tokenize_fixed
from bertstudio.benchmark.memory import peak_memory
from bertstudio.benchmark.models import (
    ALL_BACKENDS,
    ONNX_BACKENDS,
    TORCH_BACKENDS,
    BenchModel,
    load_tokenizer,
    load_torch_model,
    preprocessing_for,
    resolve_model,
    torch_weights_bytes,
)
from bertstudio.benchmark.records import BenchmarkResult, BenchRecord
from bertstudio.benchmark.timing import (
    REPEATABILITY_TOLERANCE,
    Cancelled,
    LatencyStats,
    RepeatPolicy,
    agree,
    host_timed,
    measure,
    relative_difference,
    summarize,
    throughput,
)
from bertstudio.errors import ConfigError
from bertstudio.export.core import fp32_warnings, int8_warnings
from bertstudio.export.parity import compare_logits, validation_rows
from bertstudio.hardware import cpu_has_fast_bf16, detect_device
from bertstudio.predict.preprocessing import encode, pad_batch

DEFAULT_BATCH_SIZES = (1, 8, 32)
DEFAULT_SEQ_LENS = (16, 64, 128)
PARITY_ROWS = 200
PARITY_BATCH = 16
MB = 1024 * 1024

ProgressCallback = Callable[["BenchProgress"], None]


@dataclass(frozen=True)
class BenchmarkPlan:
    """What to measure and how carefully."""

    models: tuple[str, ...]
    backends: tuple[str, ...] = ALL_BACKENDS
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    seq_lens: tuple[int, ...] = DEFAULT_SEQ_LENS
    device: str = "cpu"
    threads: int | None = None  # None: every core this process may use
    policy: RepeatPolicy = field(default_factory=RepeatPolicy)
    bf16_method: str = DEFAULT_BF16_METHOD
    tokenization: bool = True  # also time the tokenizer and tokenizer + model
    parity_rows: int = PARITY_ROWS
    cache_dir: Path | None = None  # ONNX export cache; None: ~/.cache/bertstudio/benchmark-onnx
    busy_retries: int = 2  # a cell timed while other programs used the CPU is measured again, up to this often

    @property
    def total_cells(self) -> int:
        return len(self.models) * len(self.backends) * len(self.batch_sizes) * len(self.seq_lens)

    def settings(self) -> dict[str, Any]:
        return {"models": list(self.models), "backends": list(self.backends), "batch_sizes": list(self.batch_sizes),
                "seq_lens": list(self.seq_lens), "device": self.device, "threads": resolve_threads(self.threads),
                "bf16_method": self.bf16_method, "warmup": self.policy.warmup,
                "min_repeats": self.policy.min_repeats, "min_seconds": self.policy.min_seconds,
                "busy_retries": self.busy_retries}


@dataclass(frozen=True)
class BenchProgress:
    done: int  # cells finished (measured or skipped)
    total: int
    message: str
    record: BenchRecord | None = None  # the cell just measured, if any

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


def resolve_threads(threads: int | None) -> int:
    """``threads``, or every core this process may run on."""
    if threads is not None:
        return max(1, int(threads))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def validate_plan(plan: BenchmarkPlan) -> BenchmarkPlan:
    """The plan with duplicates removed, or a ConfigError saying what is wrong in plain words."""
    unknown = [b for b in plan.backends if b not in ALL_BACKENDS]
    if unknown:
        raise ConfigError(f"Unknown backend(s): {', '.join(unknown)}.", hint=f"Use any of: {', '.join(ALL_BACKENDS)}.")
    if not plan.models:
        raise ConfigError("No model to benchmark.", hint="Name at least one model, e.g. distilbert-base-uncased.")
    if not plan.backends or not plan.batch_sizes or not plan.seq_lens:
        raise ConfigError("Nothing to measure.", hint="Give at least one backend, batch size and sequence length.")
    if any(int(n) < 1 for n in (*plan.batch_sizes, *plan.seq_lens)):
        raise ConfigError("Batch sizes and sequence lengths must be whole numbers of at least 1.",
                          hint="For example --batch-sizes 1,8,32 --seq-lens 16,64,128.")
    if plan.bf16_method not in BF16_METHODS:
        raise ConfigError(f"Unknown bf16 method '{plan.bf16_method}'.", hint=f"Use one of: {', '.join(BF16_METHODS)}.")
    if plan.device not in ("cpu", "cuda") and not plan.device.startswith("cuda:"):
        raise ConfigError(f"Unknown device '{plan.device}'.", hint="Use cpu or cuda.")
    if plan.device.startswith("cuda"):
        detect_device("cuda")  # a ConfigError when there is no GPU
    unique = lambda values: tuple(dict.fromkeys(values))
    return replace(plan, models=unique(plan.models), backends=unique(plan.backends),
                   batch_sizes=unique(int(b) for b in plan.batch_sizes),
                   seq_lens=unique(int(s) for s in plan.seq_lens))


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """PyTorch uses ``threads`` cores inside the block; the previous setting comes back afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- one cell


BUSY_WAIT_S = 5.0  # pause before measuring a busy cell again, so a short burst of other work can pass
# A cell timed while the machine ran slow is measured again only if that is quick: a slow spell can last
# minutes, and redoing long cells (batch 32 of BERT-base: ~1 min each) would multiply the run's time for it.
SLOW_RETRY_MAX_S = 10.0


@dataclass
class CellTimes:
    model: LatencyStats
    tokenize: LatencyStats | None
    end_to_end: LatencyStats | None
    peak_memory_bytes: int
    other_cores: float | None = None  # cores other programs used meanwhile (None: unknown)
    attempts: int = 1
    host_probe_ms: float | None = None  # the slower of the machine-speed probes just before and after (None: not run)


def measure_cell(runner: Runner, *, batch_size: int, seq_len: int, vocab_size: int, policy: RepeatPolicy,
                 texts: Sequence[str] | None = None, tokenizer=None,
                 should_stop: Callable[[], bool] | None = None, host: HostSpeed | None = None) -> CellTimes:
    """Time the model on a (batch, seq) batch of token ids; with a tokenizer, also tokenizing and both together.
    With ``host``, the machine's own speed is probed just before and just after."""

    work = runner.bind(token_batch(batch_size, seq_len, vocab_size))
    before = host.sample() if host else None
    with CpuContention() as contention:
        with peak_memory(runner.device) as meter:
            model_stats = summarize(measure(runner.timed(work), policy, should_stop=should_stop))
        tokenize_stats = e2e_stats = None
        if tokenizer is not None and texts:
            batch_texts = list(texts[:batch_size])

            def tokenize() -> dict:
                return tokenize_fixed(tokenizer, batch_texts, seq_len)

            tokenize_stats = summarize(measure(host_timed(tokenize), policy, should_stop=should_stop))
            e2e_stats = summarize(measure(runner.timed_end_to_end(lambda: runner.infer(tokenize())), policy,
                                          should_stop=should_stop))
    probe = max(before, host.sample()) if host else None
    return CellTimes(model_stats, tokenize_stats, e2e_stats, meter.delta_bytes, contention.other_cores,
                     host_probe_ms=probe)


def measure_quietly(measure_once: Callable[[], CellTimes], retries: int, *,
                    sleep: Callable[[float], None] | None = None, host: HostSpeed | None = None) -> CellTimes:
    """Measure; while other programs used the CPU meanwhile, or (with ``host``) the machine itself ran slow,
    wait a little and measure again (at most ``retries`` more times).  Returns the least disturbed
    measurement, with how many attempts it took."""
    import time


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


def mark_host_speed(records: Sequence[BenchRecord]) -> None:
    """Each record's slowdown against the fastest probe of the whole run (known only once the run is over)."""
    probes = [r.host_probe_ms for r in records if r.host_probe_ms]
    fastest = min(probes, default=None)
    for record in records:
        if fastest and record.host_probe_ms:
            record.host_slowdown = record.host_probe_ms / fastest


# --------------------------------------------------------------------------- parity


@dataclass
class Parity:
    rows: int
    agreement: float
    max_diff: float
    accuracy_change: float | None
    passed: bool | None


def parity_batches(model: BenchModel, tokenizer, prep, max_rows: int) -> tuple[list[dict], Any]:
    """Real texts for the parity check (the run's test rows when there are any), tokenized in small batches."""

    rows = validation_rows(model.run_dir, prep.label_names, prep.text_pair, max_rows=max_rows)
    encoded = encode(tokenizer, rows.texts, rows.pairs, prep)
    pad_id = tokenizer.pad_token_id or 0
    batches = [pad_batch(encoded, list(range(start, min(start + PARITY_BATCH, len(rows)))), pad_id)
               for start in range(0, len(rows), PARITY_BATCH)]
    return batches, rows


def runner_logits(runner: Runner, batches: Sequence[dict]):
    import numpy as np

    return np.concatenate([runner.logits(b) for b in batches], axis=0)


def parity_verdict(backend: str, report) -> bool:
    """The export module's own rules, so the benchmark and the Export tab never disagree: fp32 backends
    must reproduce the logits; bf16 and INT8 must not lose accuracy (or, without labels, change labels)."""

    if backend in ("torch-fp32", "onnx"):
        return not fp32_warnings(backend, report)
    return not int8_warnings(report)


def check_parity(backend: str, reference, logits, rows, label_names: Sequence[str]) -> Parity:
    report = compare_logits(reference, logits, rows.labels, label_names, rows.source)
    return Parity(report.rows, report.label_agreement, report.max_abs_logit_diff, report.accuracy_change_points,
                  parity_verdict(backend, report))


def parity_from_export(check: dict) -> Parity:
    """The export's check of the very file being timed (export.json): more rows than ours, so it wins."""
    return Parity(int(check.get("rows", 0)), float(check["label_agreement"]),
                  float(check.get("max_abs_logit_diff", 0.0)), check.get("accuracy_change_points"),
                  bool(check["passed"]))


# --------------------------------------------------------------------------- the grid


@dataclass
class LoadedModel:
    """Everything one model's cells share: loaded once, used by every backend."""

    model: BenchModel
    tokenizer: Any
    prep: Any  # inference.Preprocessing
    torch_model: Any  # None for an ONNX-only export
    vocab_size: int
    max_positions: int
    texts: dict[int, list[str]]  # seq_len -> realistic texts for the tokenizer timings ({} when not timed)
    parity_data: tuple[list[dict], Any] | None  # tokenized real texts and their rows, for trained models
    reference: Any = None  # PyTorch fp32 logits on those texts, computed with the first backend


def load_for_benchmark(model: BenchModel, plan: BenchmarkPlan) -> LoadedModel:
    tokenizer = load_tokenizer(model)
    prep = preprocessing_for(model)
    torch_model = load_torch_model(model) if model.kind != "onnx-export" else None
    config = torch_model.config if torch_model is not None else None
    longest = max(plan.batch_sizes)
    texts = {s: texts_for_length(tokenizer, longest, s) for s in plan.seq_lens} if plan.tokenization else {}
    parity_data = parity_batches(model, tokenizer, prep, plan.parity_rows) \
        if model.trained and plan.parity_rows > 0 else None
    return LoadedModel(model, tokenizer, prep, torch_model,
                       vocab_size=int(config.vocab_size) if config is not None else len(tokenizer),
                       max_positions=int(getattr(config, "max_position_embeddings", 512)) if config else 512,
                       texts=texts, parity_data=parity_data)



class _Grid:
    """One benchmark run: walks the grid, reports progress, collects records."""

    def __init__(self, plan: BenchmarkPlan, on_progress: ProgressCallback | None,
                 should_stop: Callable[[], bool] | None):
        self.plan = plan
        self.threads = resolve_threads(plan.threads)
        self.on_progress = on_progress or (lambda progress: None)
        self.should_stop = should_stop or (lambda: False)
        self.result = BenchmarkResult(settings=plan.settings())
        self.done = 0
        self.host = HostSpeed()

    # -- progress

    def say(self, message: str, record: BenchRecord | None = None) -> None:
        self.on_progress(BenchProgress(self.done, self.plan.total_cells, message, record))

    def skip(self, cells: int, reason: str) -> None:
        self.done += cells
        if reason not in self.result.skipped:
            self.result.skipped.append(reason)
        self.say(f"Skipped: {reason}")

    def check_stop(self) -> None:
        if self.should_stop():
            raise Cancelled()

    # -- the walk

    def run(self, models: Sequence[BenchModel]) -> BenchmarkResult:
        with torch_threads(self.threads):
            for _ in range(3):  # the machine's speed before anything is timed (see HostSpeed)
                self.host.sample()
            try:
                for model in models:
                    self.run_model(model)
            except Cancelled:
                self.result.cancelled = True
                self.say("Stopped; the cells measured so far are kept.")
                return self.result
            finally:
                mark_host_speed(self.result.records)
        self.say("Done.")
        return self.result

    def cells_per_backend(self) -> int:
        return len(self.plan.batch_sizes) * len(self.plan.seq_lens)

    def run_model(self, model: BenchModel) -> None:
        self.check_stop()
        self.say(f"Loading {model.label}…")
        loaded = load_for_benchmark(model, self.plan)
        for backend in self.plan.backends:
            self.check_stop()
            reason = self.unsupported(model, backend)
            if reason:
                self.skip(self.cells_per_backend(), reason)
                continue
            self.run_backend(loaded, backend)

    def unsupported(self, model: BenchModel, backend: str) -> str | None:
        if not model.supports(backend):
            return model.unsupported_reason(backend)
        if backend in ONNX_BACKENDS and self.plan.device != "cpu":
            return f"ONNX Runtime is installed for the CPU only, so the ONNX backends are not timed on {self.plan.device}."
        return None

    def run_backend(self, loaded: LoadedModel, backend: str) -> None:
        model = loaded.model
        runner, source = self.open_runner(model, backend, loaded.torch_model, loaded.tokenizer, loaded.prep)
        try:
            if loaded.parity_data is not None and loaded.reference is None:
                loaded.reference = self.reference_logits(model, loaded.torch_model, loaded.parity_data[0], runner)
            parity = self.parity_for(model, backend, runner, loaded.reference, loaded.parity_data, loaded.prep)
            size = (torch_weights_bytes(model, loaded.torch_model) if backend in TORCH_BACKENDS
                    else _file_size(runner.file))
            for batch_size in self.plan.batch_sizes:
                for seq_len in self.plan.seq_lens:
                    if seq_len > loaded.max_positions:
                        self.skip(1, f"{model.label} reads at most {loaded.max_positions} tokens; "
                                     f"sequence length {seq_len} was skipped.")
                        continue
                    self.measure(loaded, runner, backend, batch_size, seq_len, size, source, parity)
        finally:
            runner.close()

    def open_runner(self, model: BenchModel, backend: str, torch_model, tokenizer, prep) -> tuple[Runner, str | None]:
        if backend in TORCH_BACKENDS:
            return TorchRunner(torch_model, backend, self.plan.device, self.plan.bf16_method), None
        if backend not in model.onnx_files:
            self.say(f"Exporting {model.label} to ONNX{' and quantizing it to INT8' if backend == 'onnx-int8' else ''}"
                     " (once; the files are cached)…")
        file, source = onnx_file(model, backend, torch_model, tokenizer, prep,
                                 self.plan.cache_dir or default_cache_dir())
        return OrtRunner(file, backend, self.threads), source

    def reference_logits(self, model: BenchModel, torch_model, batches, current: Runner):
        """Logits of the most exact backend: PyTorch fp32, or the fp32 ONNX file of an ONNX-only export."""
        if torch_model is not None:
            reference = TorchRunner(torch_model, "torch-fp32", self.plan.device)
            return runner_logits(reference, batches)
        if "onnx" in model.onnx_files:
            if current.backend == "onnx":
                return runner_logits(current, batches)
            fp32 = OrtRunner(model.onnx_files["onnx"], "onnx", self.threads)
            try:
                return runner_logits(fp32, batches)
            finally:
                fp32.close()
        return None

    def parity_for(self, model: BenchModel, backend: str, runner: Runner, reference, parity_data,
                   prep) -> Parity | None:
        """How closely ``backend`` reproduces PyTorch fp32 on real texts (None: not checked)."""
        if backend in model.export_checks:
            return parity_from_export(model.export_checks[backend])
        if reference is None or parity_data is None:
            return None
        batches, rows = parity_data
        parity = check_parity(backend, reference, runner_logits(runner, batches), rows, prep.label_names)
        if backend == "torch-fp32":
            parity.passed = None  # the reference itself
        return parity

    def measure(self, loaded: LoadedModel, runner: Runner, backend: str, batch_size: int, seq_len: int,
                size_bytes: int | None, source: str | None, parity: Parity | None) -> None:
        model = loaded.model
        self.say(f"Timing {model.label} · {BACKEND_LABELS[backend]} · batch {batch_size} × {seq_len} tokens")
        texts = loaded.texts.get(seq_len)
        times = measure_quietly(
            lambda: measure_cell(runner, batch_size=batch_size, seq_len=seq_len, vocab_size=loaded.vocab_size,
                                 policy=self.plan.policy, texts=texts, tokenizer=loaded.tokenizer if texts else None,
                                 should_stop=self.should_stop, host=self.host),
            self.plan.busy_retries, host=self.host)
        record = build_record(model, backend, runner.device, self.threads, batch_size, seq_len, times,
                              size_bytes=size_bytes, bf16_method=self.plan.bf16_method, onnx_source=source,
                              parity=parity)
        self.result.records.append(record)
        self.done += 1
        self.say(f"Measured {model.label} · {BACKEND_LABELS[backend]} · batch {batch_size} × {seq_len}: "
                 f"{record.p50_ms:.1f} ms", record)


def _file_size(path: Path | None) -> int | None:
    return file_bytes(path) if path is not None else None


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
        memory_kind="cuda-max-allocated" if device.startswith("cuda") else "rss-delta",
        bf16_method=bf16_method if backend == "torch-bf16" else None,
        onnx_source=onnx_source if backend in ONNX_BACKENDS else None,
        parity_rows=parity.rows if parity else None, parity_agreement=parity.agreement if parity else None,
        parity_max_diff=parity.max_diff if parity else None,
        parity_accuracy_change=parity.accuracy_change if parity else None,
        parity_passed=parity.passed if parity else None, other_cpu_cores=times.other_cores,
        host_probe_ms=times.host_probe_ms, note="; ".join(notes))


def run_benchmark(plan: BenchmarkPlan, *, on_progress: ProgressCallback | None = None,
                  should_stop: Callable[[], bool] | None = None) -> BenchmarkResult:
    """Measure the whole grid.  Every model name is checked before anything is timed.

    ``should_stop`` is asked between calls; when it says yes the run ends early and the result
    (``cancelled=True``) holds the cells measured so far.
    """

    plan = validate_plan(plan)
    models = [resolve_model(name) for name in plan.models]
    return _Grid(plan, on_progress, should_stop).run(models)


# --------------------------------------------------------------------------- repeatability


@dataclass
class RepeatabilityRow:
    cell: tuple[str, str, int, int]
    first_p50_ms: float
    second_p50_ms: float
    difference: float  # relative (0.05 = 5%)
    agrees: bool


def compare_runs(first: Sequence[BenchRecord], second: Sequence[BenchRecord],
                 tolerance: float | None = None) -> list[RepeatabilityRow]:
    """Pair the cells of two runs of the same plan and say how far apart their medians are (pure)."""

    limit = REPEATABILITY_TOLERANCE if tolerance is None else tolerance
    later = {r.cell: r for r in second}
    rows = []
    for record in first:
        other = later.get(record.cell)
        if other is None:
            continue
        diff = relative_difference(record.p50_ms, other.p50_ms)
        rows.append(RepeatabilityRow(record.cell, record.p50_ms, other.p50_ms, diff,
                                     agree(record.p50_ms, other.p50_ms, limit)))
    return rows


def check_repeatability(plan: BenchmarkPlan, *, on_progress: ProgressCallback | None = None,
                        should_stop: Callable[[], bool] | None = None) -> tuple[BenchmarkResult, list[RepeatabilityRow]]:
    """Run the plan twice and compare every cell; returns the second run and the comparison."""
    first = run_benchmark(plan, on_progress=on_progress, should_stop=should_stop)
    second = run_benchmark(plan, on_progress=on_progress, should_stop=should_stop)
    return second, compare_runs(first.records, second.records)
