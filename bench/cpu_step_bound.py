"""What bounds the engine's CPU training step on short texts, and what compiling it would change.

Issue 22's CPU target is 2x the strongest Trainer configuration of bench/train_speed.py (1.65x when last
measured). That benchmark trains on SST-2, whose texts are short (14 tokens on average), so its steps are
16 texts of about 16 tokens. This script times that step as the engine runs it (the bundled model with the
pooling the engine picks for it, bf16 autocast, fused AdamW, frozen bottom layer) and splits it into:

* matrix products, the work the texts need: their time (PyTorch profiler, self time) and their arithmetic
  (bertstudio/train/speedups/flops.py), so their share of the bf16 matrix-product peak measured here;
* everything else: weight casts to bf16 and back, the optimizer, elementwise work, dispatching each operator.

It also times the step with the other pooling ([CLS] lets the last layer skip every other token), and the
step compiled with torch.compile (inductor), the one way to remove most of "everything else": at each length
in turn, its first step (compiling, where that length needs it) and the steps after it.

    python bench/cpu_step_bound.py [--lengths 16,32,24] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Compiling as a person's first run does: torch.compile keeps what it compiled under this folder across runs, and
# an earlier run's leftovers would make compiling look cheaper than it is the first time.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="inductor-cold-"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the engine, also from a clone not pip-installed
from results import command_line, machine_line, write_section  # noqa: E402
from train_speed import (BATCH, bundled_source, engine_step, matmul_peak, median_seconds,  # noqa: E402
                         step_profile)

TITLE = "What bounds a CPU training step on short texts"
MATRIX = "matrix products"
SAVED_SPEEDUP = 1.65  # bench/train_speed.py, 5 seeds (RESULTS.md "Training speed"), before mean pooling
SAVED_POOLING = "cls"  # the bundled model read [CLS] then (its last layer for [CLS] alone)
TARGET_SPEEDUP = 2.0


@dataclass
class Eager:
    tokens: int
    pooling: str
    step_s: float
    matrix_s: float
    matrix_flops: float

    @property
    def other_s(self) -> float:
        return self.step_s - self.matrix_s


@dataclass
class Compiled:
    tokens: int
    first_step_s: float  # compiling for this length (when it must) and one step
    step_s: float

    @property
    def compile_s(self) -> float:
        return self.first_step_s - self.step_s


def time_eager(tokens: int, steps: int, pooling: str | None = None) -> Eager:
    from bertstudio.models.pooling import model_pooling
    from bertstudio.train.speedups.flops import training_flops

    step = engine_step(bundled_source(), BATCH, tokens, pooling=pooling)
    seconds = median_seconds(step, steps)
    matrix_share = step_profile(step)[MATRIX]
    flops = training_flops(step.model.config, BATCH * tokens, BATCH, frozen_layers=step.frozen_layers,
                           seq_len=tokens)
    return Eager(tokens, model_pooling(step.model.config), seconds, matrix_share * seconds, flops)


def time_compiled(lengths: list[int], steps: int) -> list[Compiled]:
    """The compiled step at each length in turn, on one model: torch.compile compiles for the first length,
    again for the second (now for any length), and the third shows whether that covers a new one."""
    from bertstudio.train.feeds import full_forward
    from bertstudio.train.speedups.compile import BACKEND, CompiledForward, compile_mode

    forward = CompiledForward(full_forward, mode=compile_mode("cpu"), backend=BACKEND)
    step = engine_step(bundled_source(), BATCH, lengths[0], forward=forward)
    timings = []
    for tokens in lengths:
        step.use_length(tokens)
        first = timed(step)
        timings.append(Compiled(tokens, first, median_seconds(step, steps)))
    if forward.failed:
        raise SystemExit("torch.compile failed on this machine; the step ran uncompiled.")
    return timings


def timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def report(eager: list[Eager], other_pooling: list[Eager], compiled: list[Compiled], peak: float) -> str:
    from bertstudio.train.batch_order import padding_buckets

    rows = ["| texts x tokens | pooling | step ms | matrix products ms | their GFLOP/s (share of bf16 peak) | "
            "everything else ms | compiled: step ms | compiled: compiling s |", "|---|---|---|---|---|---|---|---|"]
    compiled_cells = [f"{1000 * c.step_s:.1f} | {c.compile_s:.0f}" for c in compiled]
    for e, cells in zip([*eager, *other_pooling], [*compiled_cells, *["- | -"] * len(other_pooling)]):
        rate = e.matrix_flops / e.matrix_s / 1e9
        rows.append(f"| {BATCH} x {e.tokens} | {e.pooling} | {1000 * e.step_s:.1f} | {1000 * e.matrix_s:.1f} | "
                    f"{rate:.0f} ({rate * 1e9 / peak:.0%}) | {1000 * e.other_s:.1f} | {cells} |")
    short = eager[0]
    needed = TARGET_SPEEDUP / SAVED_SPEEDUP
    then = next(e for e in (short, other_pooling[0]) if e.pooling == SAVED_POOLING)  # the step 1.65x was measured on
    goal = then.step_s / needed
    saved = sum(e.step_s - c.step_s for e, c in zip(eager, compiled)) / len(compiled)
    compiling = sum(c.compile_s for c in compiled)
    payback = f"about {compiling / saved:,.0f} steps" if saved > 0 else "never (no step is faster)"
    buckets = len(padding_buckets("cpu", 64))
    pooling_cost = ", ".join(f"{o.step_s / e.step_s:.2f}x the step time at {e.tokens} tokens"
                             for e, o in zip(eager, other_pooling))
    lines = [
        machine_line(), "", f"Reproduce: `{command_line()}`", "",
        f"The engine's training step on {BATCH} texts (the bundled model, bf16, as bench/train_speed.py's "
        f"\"ours\" trains SST-2); bf16 matrix-product peak measured in this run: {peak / 1e9:.0f} GFLOP/s. "
        "Compiled: torch.compile (inductor), the lengths in the order of the rows, on one model, with an empty "
        "compile cache (a person's first run).", "",
        *rows, "",
        f"- The bound: {SAVED_SPEEDUP}x was measured with the bundled model reading [CLS] ({1000 * then.step_s:.0f} "
        f"ms per step here at {then.tokens} tokens); 2x the strongest Trainer needs every step {needed:.2f}x "
        f"faster than that: {1000 * goal:.0f} ms. The engine's step now ({short.pooling} pooling) takes "
        f"{1000 * short.step_s:.0f} ms, of which the matrix products take {1000 * short.matrix_s:.0f} ms at "
        f"{short.matrix_flops / short.matrix_s / peak:.0%} of the matrix peak: the target needs "
        f"{1000 * (short.step_s - goal):.0f} of the other {1000 * short.other_s:.0f} ms gone"
        + (f" ({1000 * (then.step_s - goal):.0f} of {1000 * then.other_s:.0f} ms with [CLS])." if then is not short
           else "."),
        f"- Pooling: {other_pooling[0].pooling} instead of {short.pooling}: {pooling_cost}.",
        f"- Compiling: {compiling:.0f} s for these {len(compiled)} lengths, saving {1000 * saved:.1f} ms per step "
        f"on average: it pays back after {payback} (a run with texts up to 64 tokens meets up to {buckets} "
        f"lengths, the CPU's padding buckets; SST-2's 8,000-row run of bench/train_speed.py takes 1,500 steps).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="16,32,24", help="tokens per text of the steps timed (the first: the "
                                                              "short-text step the bound is stated for)")
    parser.add_argument("--steps", type=int, default=20, help="steps timed for each median")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md as it is")
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    peak = matmul_peak("bfloat16")
    eager = [time_eager(n, args.steps) for n in lengths]
    other = "cls" if eager[0].pooling == "mean" else "mean"
    other_pooling = [time_eager(n, args.steps, pooling=other) for n in lengths]
    compiled = time_compiled(lengths, args.steps)
    text = report(eager, other_pooling, compiled, peak)
    print(text)
    if not args.no_write:
        write_section(TITLE, text)


if __name__ == "__main__":
    main()
