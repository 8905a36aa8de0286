"""The benchmark grid: every model x backend x batch size x sequence length, with progress and a stop button.

For each cell, rounds of tokenizing realistic texts of that length and running the
model on what that made are timed: the model alone, the tokenizer alone and both
together (end to end) come from the same rounds (``cells.end_to_end_round``), so
they share the machine's load.  Each backend's predictions are also compared
once with PyTorch fp32 on real texts (the run's test rows when there are any),
so a fast backend whose answers differ is never recommended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertstudio.benchmark.backends import (
    BACKEND_LABELS,
    Runner,
    default_cache_dir,
    file_bytes,
    onnx_file,
    ort_runner,
    torch_runner,
)
from bertstudio.benchmark.cells import Retries, build_record, mark_host_speed, measure_cell, measure_quietly
from bertstudio.benchmark.contention import START_SAMPLES, HostSpeed
from bertstudio.benchmark.inputs import texts_for_length
from bertstudio.benchmark.models import (
    ONNX_BACKENDS,
    TORCH_BACKENDS,
    BenchModel,
    load_tokenizer,
    load_torch_model,
    preprocessing_for,
    resolve_model,
    torch_weights_bytes,
)
from bertstudio.benchmark.parity import Parity, backend_parity, parity_batches, parity_thresholds, reference_logits
from bertstudio.benchmark.plan import BenchmarkPlan, resolve_threads, torch_threads, validate_plan
from bertstudio.benchmark.records import BenchmarkResult, BenchRecord
from bertstudio.benchmark.timing import REPEATABILITY_TOLERANCE, Cancelled, agree, relative_difference

ProgressCallback = Callable[["BenchProgress"], None]


@dataclass(frozen=True)
class BenchProgress:
    done: int  # cells finished (measured or skipped)
    total: int
    message: str
    record: BenchRecord | None = None  # the cell just measured, if any

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


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
        self.retries = Retries(plan.busy_retries)

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
            for _ in range(START_SAMPLES):  # the machine's speed before anything is timed (see HostSpeed)
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
                loaded.reference = reference_logits(model, loaded.torch_model, loaded.parity_data[0], runner,
                                                    device=self.plan.device, threads=self.threads)
            parity = backend_parity(model, backend, runner, loaded.reference, loaded.parity_data,
                                    loaded.prep.label_names, parity_thresholds(loaded.prep))
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
            return torch_runner(torch_model, backend, self.plan.device, self.plan.bf16_method), None
        if backend not in model.onnx_files:
            self.say(f"Exporting {model.label} to ONNX{' and quantizing it to INT8' if backend == 'onnx-int8' else ''}"
                     " (once; the files are cached)…")
        file, source = onnx_file(model, backend, torch_model, tokenizer, prep,
                                 self.plan.cache_dir or default_cache_dir())
        return ort_runner(file, backend, self.threads), source

    def measure(self, loaded: LoadedModel, runner: Runner, backend: str, batch_size: int, seq_len: int,
                size_bytes: int | None, source: str | None, parity: Parity | None) -> None:
        model = loaded.model
        self.say(f"Timing {model.label} · {BACKEND_LABELS[backend]} · batch {batch_size} × {seq_len} tokens")
        texts = loaded.texts.get(seq_len)
        times = measure_quietly(
            lambda: measure_cell(runner, batch_size=batch_size, seq_len=seq_len, vocab_size=loaded.vocab_size,
                                 policy=self.plan.policy, texts=texts, tokenizer=loaded.tokenizer if texts else None,
                                 should_stop=self.should_stop, host=self.host),
            self.retries.now(), host=self.host)
        self.retries.saw(times)
        record = build_record(model, backend, runner.device, self.threads, batch_size, seq_len, times,
                              size_bytes=size_bytes, bf16_method=self.plan.bf16_method, onnx_source=source,
                              parity=parity)
        self.result.records.append(record)
        self.done += 1
        self.say(f"Measured {model.label} · {BACKEND_LABELS[backend]} · batch {batch_size} × {seq_len}: "
                 f"{record.p50_ms:.1f} ms", record)


def _file_size(path: Path | None) -> int | None:
    return file_bytes(path) if path is not None else None


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


# --------------------------------------------------------------------------- background job (for the app)
