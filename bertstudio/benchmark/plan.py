"""What a benchmark measures and how carefully: the plan, its validation, and how many cores it uses."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bertstudio.benchmark.backends import DEFAULT_BF16_METHOD, check_bf16_method
from bertstudio.benchmark.cells import BUSY_WAIT_S
from bertstudio.benchmark.contention import PROBE_REPEATS, PROBE_SETTLE_S, START_SAMPLES
from bertstudio.benchmark.models import ALL_BACKENDS, ONNX_BACKENDS, TrainedFacts, trained_facts
from bertstudio.benchmark.parity import PARITY_BATCH
from bertstudio.benchmark.timing import RepeatPolicy
from bertstudio.errors import ConfigError, UserError
from bertstudio.hardware import cpu_has_fast_bf16, detect_device, usable_cores
from bertstudio.models.registry import find_variant
from bertstudio.predict.locate import locate_model
from bertstudio.train.auto import ModelShape
from bertstudio.train.step_timer import model_shape

DEFAULT_BATCH_SIZES = (1, 8, 32)
DEFAULT_SEQ_LENS = (16, 64, 128)
PARITY_ROWS = 200


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


# --------------------------------------------------------------------------- the app's two selections


@dataclass(frozen=True)
class Thoroughness:
    """A selection of sizes and care the Benchmark tab offers in one click (the models are ticked apart)."""

    key: str
    title: str  # the choice's words in the app
    batch_sizes: tuple[int, ...]
    seq_lens: tuple[int, ...]  # timed besides the lengths the person's models read (their max_length)
    policy: RepeatPolicy
    busy_retries: int


# A quick comparison answers a newcomer's question (is my model fast enough; would a smaller or larger model be
# faster; which way of running it is fastest) in a few minutes: the length the model reads (a model trained at 64
# tokens was timed at 128, four times the attention and twice the rest), one text at a time and a small batch
# (batch 32 took about 9 in 10 of the old default's time: "About 51 min for 16 measurements" on a busy machine),
# and the fewest calls that still give a steady median: one warm-up, then five rounds (the median of five holds
# with two disturbed calls), half a second at least for the fast cells.  One retry of a cell that other programs
# disturbed, not two: under lasting load a retry rarely finds the machine quiet, and each costs a pause and the cell.
QUICK = Thoroughness("quick", "Quick comparison", batch_sizes=(1, 8), seq_lens=(),
                     policy=RepeatPolicy(warmup=1, min_repeats=5, min_seconds=0.5, max_seconds=10.0), busy_retries=1)
# Every size of the command line's default grid, with its steadier repeats (better p95 and p99): the long choice.
THOROUGH = Thoroughness("thorough", "Every size, more repeats", batch_sizes=DEFAULT_BATCH_SIZES,
                        seq_lens=DEFAULT_SEQ_LENS, policy=RepeatPolicy(), busy_retries=2)
THOROUGHNESS = {choice.key: choice for choice in (QUICK, THOROUGH)}
LENGTH_WHEN_UNKNOWN = 128  # a quick comparison of built-in models alone: a typical short text
COMPARISONS = 2  # built-in models a quick comparison times beside the person's own


def own_facts(name: str) -> TrainedFacts | None:
    """:func:`trained_facts`, or None when the folder cannot be read (the selection and the estimate go on without
    it; running the benchmark says what is wrong with it)."""
    try:
        return trained_facts(name)
    except UserError:
        return None


def lengths_to_time(thoroughness: Thoroughness, models: Sequence[str]) -> tuple[int, ...]:
    """The text lengths to time: those the person's models read, plus the choice's own; a typical length when
    neither says any."""
    own = {facts.max_length for name in models if (facts := own_facts(name)) is not None}
    return tuple(sorted(own | set(thoroughness.seq_lens))) or (LENGTH_WHEN_UNKNOWN,)


def comparison_models(own_models: Sequence[str], candidates: Sequence[str], count: int = COMPARISONS) -> list[str]:
    """The first ``count`` of ``candidates`` (registry keys, in order of preference) that are not what the person's
    models were fine-tuned from: a model of the same architecture would only time the same thing twice."""
    bases = {variant.key for name in own_models if (facts := own_facts(name)) is not None and facts.base_model
             and (variant := find_variant(facts.base_model)) is not None}
    return [key for key in candidates if key not in bases][:count]


def resolve_threads(threads: int | None) -> int:
    """``threads``, or every core this process may run on."""
    if threads is not None:
        return max(1, int(threads))
    return usable_cores()


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
    check_bf16_method(plan.bf16_method)
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


# --------------------------------------------------------------------------- how long it will take

PROBE_GFLOP = 10 * 2 * 256 * 768 * 768 / 1e9  # the matrix products of contention.matmul_probe_ms
# Assumed, not fitted: a BERT forward pass on a CPU runs at about half the rate of a plain matrix product
# (attention, softmax and layer norms are slower per FLOP); bf16 emulated on CPUs without bf16 instructions at about
# a third of fp32's speed.  Each backend's speed against PyTorch fp32 on a CPU with bf16 instructions is the
# geometric mean of bench/RESULTS.md's "Latency: DistilBERT vs BERT-base vs bundled" (quiet, 2 cores; 3 models at
# batch 1 and 32): bf16 3.0x (2.0-4.9), ONNX Runtime fp32 1.0x (0.7-1.2), INT8 3.5x (2.2-4.9).  Assumed before at
# 0.35x (emulated bf16 everywhere) and 1.5x (INT8), they made a quick comparison's estimate 1.7x its run here.
# The estimate is meant to tell "a minute" from "half an hour", and says so.
FORWARD_EFFICIENCY = 0.5
BACKEND_SPEED = {"torch-fp32": 1.0, "onnx": 1.0, "onnx-int8": 3.5}
BF16_SPEED = {True: 3.0, False: 0.35}  # with the CPU's own bf16 instructions, or emulated
CALL_OVERHEAD_S = 0.001  # per call: Python, tensor set-up, thread wake-up
LOAD_S_PER_LAYER = 0.5  # reading and preparing one BERT-base-sized layer of weights (scaled by width)
EXPORT_S_PER_LAYER = 2.0  # one ONNX export of such a layer (the benchmark's cache keeps it: the first time only)
# INT8 (export/int8.write_int8) exports the model once more, fuses attention and quantizes: an export plus this.
# Measured on the bundled MiniLM (1.5 BERT-base-sized layers), 2 shared cores at load ~6: export 4.7 s, INT8
# build 9.4 s, so the quantizing half costs about what the export does.
QUANTIZE_S_PER_LAYER = EXPORT_S_PER_LAYER
ORT_OPEN_S_PER_LAYER = 0.1  # opening an ONNX file in ONNX Runtime: 0.15 s for the bundled MiniLM (same machine)
PARITY_TOKENS = 128  # assumed padded length of the parity check's batches of real texts, at most the model's own


def backend_speed(backend: str, device: str = "cpu") -> float:
    """How fast ``backend`` runs a model against PyTorch fp32 (on a GPU: taken as the same)."""
    if not device.startswith("cpu"):
        return 1.0
    if backend == "torch-bf16":
        return BF16_SPEED[cpu_has_fast_bf16()]
    return BACKEND_SPEED.get(backend, 1.0)


@dataclass(frozen=True)
class EstimateParts:
    """Seconds of each kind of work a benchmark run does (``runner._Grid``), in the order it does them."""

    loading: float = 0.0  # each model's weights and tokenizer, each ONNX file opened in ONNX Runtime
    exports: float = 0.0  # ONNX exports and INT8 builds (once per model: cached for later runs)
    parity: float = 0.0  # a trained model's predictions, by PyTorch fp32 and by each backend, on its test rows
    timing: float = 0.0  # the timed calls of every cell: warm-up and repeats; model, tokenizer, both together
    probes: float = 0.0  # the machine-speed probe before and after every cell, and before the first

    @property
    def total(self) -> float:
        return self.loading + self.exports + self.parity + self.timing + self.probes


@dataclass(frozen=True)
class BenchmarkEstimate:
    """How long a plan should take on this machine, and from what."""

    seconds: float
    cells: int
    gflops: float  # the machine's measured matrix-product rate
    parts: EstimateParts = field(default_factory=EstimateParts)
    busy_retries: int = 0  # a disturbed cell is measured again up to this often (not counted: only under load)

    def text(self) -> str:
        """'About 3 min for 32 measurements' (rounded: it is an estimate)."""
        if self.seconds < 90:
            took = f"{max(10, round(self.seconds / 10) * 10):.0f} s"
        elif self.seconds < 3600:
            took = f"{round(self.seconds / 60):.0f} min"
        else:
            took = f"{self.seconds / 3600:.1f} h"
        busy = (f"; longer while other programs use the computer: a measurement they disturb is taken again "
                f"after a {BUSY_WAIT_S:.0f} s pause, up to {self.busy_retries} more "
                f"time{'s' if self.busy_retries != 1 else ''}, and once only (marked ⚠) while their load lasts"
                if self.busy_retries else "; slower while other programs run")
        return (f"About {took} for {self.cells} measurements (from this computer's speed, "
                f"{self.gflops:.0f} GFLOP/s now{busy}).")


BERT_BASE_SHAPE = ModelShape()  # when nothing better is known


def forward_flops(shape: ModelShape, batch: int, seq: int) -> float:
    """Multiply-adds x 2 of one forward pass: each layer's matrices, plus attention's scores and mixing.
    Embeddings are looked up, not multiplied, so their parameters (half of MiniLM's 22.7 M) cost no time."""
    per_token = 2 * shape.layers * (4 * shape.hidden ** 2 + 2 * shape.hidden * shape.ffn)
    attention = 2 * shape.layers * 2 * seq * shape.hidden
    return batch * seq * (per_token + attention)


def encoder_shape(name: str) -> ModelShape:
    """The shape of a model the plan names: a registry model's, or its model folder's config.json."""
    if find_variant(name) is None:
        try:
            name = str(locate_model(name).folder)
        except UserError:
            return BERT_BASE_SHAPE
    return model_shape(name)


# The estimate's probe: one product the size of a BERT-base feed-forward layer on 8 texts of 128 tokens.  The
# contention probe's small products (contention.matmul_probe_ms) lose 5-8x of their speed while another program
# keeps the cores busy, where a model's large products lose about 2x (measured on 2 cores: 19 against 160 GFLOP/s
# for the small products, 71 against 156 for DistilBERT at batch 32, 34-40 for this product); read from the small
# products, the Benchmark tab once promised 1.7 h for a run that took minutes.
SPEED_PRODUCT = (1024, 768, 3072)
SPEED_REMEMBERED_S = 30.0
_speeds: dict[int, tuple[float, float]] = {}  # threads -> (when measured, GFLOP/s)
_clock = time.monotonic  # a name of this module's own, so a test can move it without moving everyone's clock


def measured_gflops(threads: int) -> float:
    """The machine's fp32 matrix-product rate with ``threads`` cores now (~0.1-0.5 s).  Remembered for
    ``SPEED_REMEMBERED_S`` (the app asks at every change of the selection), not for the life of the process: a busy
    moment when it was first asked stayed in every later estimate."""
    when, gflops = _speeds.get(threads, (-math.inf, 0.0))
    if _clock() - when > SPEED_REMEMBERED_S:
        with torch_threads(threads):
            gflops = _product_gflops()
        _speeds[threads] = (_clock(), gflops)
    return gflops


def _product_gflops() -> float:
    """The rate of ``SPEED_PRODUCT``, median of three after one to warm up."""
    import statistics

    import torch

    rows, inner, cols = SPEED_PRODUCT
    left, right = torch.ones(rows, inner), torch.ones(inner, cols)

    def once() -> float:
        start = time.perf_counter()
        left @ right
        return time.perf_counter() - start

    once()
    return 2 * rows * inner * cols / statistics.median(once() for _ in range(3)) / 1e9


def phase_seconds(call_s: float, policy: RepeatPolicy) -> float:
    """One timed phase: warm-up calls, then repeats until both the minimum count and the minimum time."""
    repeats = max(policy.min_repeats * call_s, min(policy.min_seconds, policy.max_seconds))
    return policy.warmup * call_s + min(repeats, max(policy.max_seconds, policy.min_repeats * call_s))


def probe_seconds(gflops: float) -> float:
    """One sample of the machine-speed probe (contention.HostSpeed): the pause, then its products a few times.
    Measured here: 1.27 s at 12.8 GFLOP/s, where the estimate had counted 0.13 s."""
    return PROBE_SETTLE_S + PROBE_REPEATS * PROBE_GFLOP / gflops


def cell_seconds(shape: ModelShape, batch: int, seq: int, speed: float, plan: BenchmarkPlan) -> float:
    """One cell's timed calls (``cells.measure_cell``): rounds of the model, after the tokenizer with
    ``tokenization`` (one phase: the three figures come from the same rounds)."""
    call_s = forward_flops(shape, batch, seq) / speed + CALL_OVERHEAD_S
    tokenize_s = CALL_OVERHEAD_S * batch if plan.tokenization else 0.0
    return phase_seconds(tokenize_s + call_s, plan.policy)


def parity_seconds(shape: ModelShape, rows: int, speed: float, tokens: int = PARITY_TOKENS) -> float:
    """One backend's predictions on the parity rows, in batches of ``PARITY_BATCH`` (``parity.runner_logits``)
    padded to ``tokens``."""
    batches = math.ceil(rows / PARITY_BATCH)
    return batches * (forward_flops(shape, PARITY_BATCH, tokens) / speed + CALL_OVERHEAD_S)


def model_parts(name: str, plan: BenchmarkPlan, rate: float) -> EstimateParts:
    """What ``runner._Grid.run_model`` does for one model: load it; export it to ONNX (once, shared by both ONNX
    backends) and build INT8; for a trained model, its reference predictions and each backend's; every cell."""
    shape = encoder_shape(name)
    layers = shape.layers * (shape.hidden / BERT_BASE_SHAPE.hidden) ** 2  # in BERT-base-sized layers
    onnx = [b for b in plan.backends if b in ONNX_BACKENDS]
    loading = (LOAD_S_PER_LAYER + ORT_OPEN_S_PER_LAYER * len(onnx)) * layers  # PyTorch, then each ONNX session
    exports = EXPORT_S_PER_LAYER * layers if onnx else 0.0
    if "onnx-int8" in onnx:
        exports += (EXPORT_S_PER_LAYER + QUANTIZE_S_PER_LAYER) * layers
    # A run folder (not a registry model) is the person's trained model: its predictions are checked per backend,
    # on its test texts cut at the length it reads (a batch is padded to its longest text).
    trained = find_variant(name) is None and plan.parity_rows > 0
    facts = own_facts(name) if trained else None
    tokens = min(PARITY_TOKENS, facts.max_length) if facts is not None else PARITY_TOKENS
    parity = parity_seconds(shape, plan.parity_rows, rate, tokens) if trained else 0.0  # the PyTorch fp32 reference
    timing = 0.0
    for backend in plan.backends:
        speed = rate * backend_speed(backend, plan.device)
        if trained:
            parity += parity_seconds(shape, plan.parity_rows, speed, tokens)
        timing += sum(cell_seconds(shape, batch, seq, speed, plan) for batch in plan.batch_sizes
                      for seq in plan.seq_lens)
    return EstimateParts(loading=loading, exports=exports, parity=parity, timing=timing)


def estimate_benchmark(plan: BenchmarkPlan, gflops: float | None = None) -> BenchmarkEstimate:
    """The wall time of ``plan`` as the runner spends it (``EstimateParts``): loading, exports and INT8 builds,
    the parity checks of trained models, every cell's timed phases and the machine-speed probes.  Not counted:
    the cells measured again because other programs disturbed them (only under load; the text says so).
    ``gflops``: the machine's rate (measured when not given)."""
    gflops = gflops or measured_gflops(resolve_threads(plan.threads))
    rate = gflops * 1e9 * FORWARD_EFFICIENCY
    models = [model_parts(name, plan, rate) for name in plan.models]
    probes = (START_SAMPLES + 2 * plan.total_cells) * probe_seconds(gflops)
    parts = EstimateParts(loading=sum(m.loading for m in models), exports=sum(m.exports for m in models),
                          parity=sum(m.parity for m in models), timing=sum(m.timing for m in models), probes=probes)
    return BenchmarkEstimate(seconds=parts.total, cells=plan.total_cells, gflops=gflops, parts=parts,
                             busy_retries=plan.busy_retries)
