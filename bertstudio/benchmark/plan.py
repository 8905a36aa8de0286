"""What a benchmark measures and how carefully: the plan, its validation, and how many cores it uses."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bertstudio.benchmark.backends import DEFAULT_BF16_METHOD, check_bf16_method
from bertstudio.benchmark.models import ALL_BACKENDS
from bertstudio.benchmark.timing import RepeatPolicy
from bertstudio.errors import ConfigError
from bertstudio.hardware import detect_device

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
