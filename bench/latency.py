"""Latency: DistilBERT vs BERT-base vs the bundled MiniLM on this CPU, in all four backends.

Batch 1 (one request at a time) and batch 32 (bulk scoring), 128-token texts. BERT-base and
DistilBERT are timed as their exact architectures with random weights when they are not
downloaded (the timing is valid, accuracy is not claimed); the bundled model uses its real weights.

The script waits for a quiet machine (1-minute load average below 1.5) before timing: timings
taken while other jobs use the cores are worthless. It then checks repeatability by timing the
batch-1 cells a second time, and compares the two ways of running bf16 in PyTorch.

    python bench/latency.py [--wait-minutes 20] [--min-seconds 2] [--skip-bf16-comparison]

Results: the "Latency: ..." section of bench/RESULTS.md, and every record in bench/_out/latency.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results import machine_line, write_section

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TITLE = "Latency: DistilBERT vs BERT-base vs bundled (CPU)"
MODELS = ("distilbert-base-uncased", "bert-base-uncased", "bundled-minilm")
BACKENDS = ("torch-fp32", "torch-bf16", "onnx", "onnx-int8")
BATCHES, SEQ = (1, 32), 128
QUIET_LOAD = 1.5
OUT = Path(__file__).resolve().parent / "_out" / "latency.json"
# A plain script on this CPU (BERT-base / DistilBERT, batch 1, seq 128), in ms: what ours must match or beat.
REFERENCE_MS = {"bert-base-uncased": {"torch-fp32": 169, "torch-bf16": 46, "onnx": 61, "onnx-int8": 24},
                "distilbert-base-uncased": {"torch-fp32": 68, "torch-bf16": 20, "onnx": 30, "onnx-int8": 12}}


def load_average() -> float:
    return os.getloadavg()[0]


def wait_until_quiet(max_minutes: float) -> tuple[bool, float]:
    """Wait (up to ``max_minutes``) for the 1-minute load average to drop below QUIET_LOAD."""
    deadline = time.time() + max_minutes * 60
    while True:
        load = load_average()
        if load < QUIET_LOAD:
            return True, load
        if time.time() >= deadline:
            return False, load
        print(f"Load average {load:.2f} >= {QUIET_LOAD}: waiting for a quiet machine…", file=sys.stderr, flush=True)
        time.sleep(30)


def progress(p) -> None:
    print(f"[{p.done}/{p.total}] {p.message}  (load {load_average():.2f})", file=sys.stderr, flush=True)


def bf16_comparison(policy) -> list:
    """BERT-base at batch 1 and 32, seq 128, in bf16 both ways: which is faster on this CPU?"""
    from bertstudio.benchmark.runner import BenchmarkPlan, run_benchmark

    records = []
    for method in ("cast", "autocast"):
        plan = BenchmarkPlan(models=("bert-base-uncased",), backends=("torch-bf16",), batch_sizes=BATCHES,
                             seq_lens=(SEQ,), policy=policy, bf16_method=method, tokenization=False, parity_rows=0)
        records += run_benchmark(plan, on_progress=progress).records
    return records


def reference_table(records) -> str:
    by_cell = {(r.model, r.backend): r for r in records if r.batch_size == 1 and r.seq_len == SEQ}
    lines = ["| Model | Backend | Reference plain script (ms) | Ours p50 (ms) | Ours / reference |", "|---|---|---|---|---|"]
    for model, backends in REFERENCE_MS.items():
        for backend, ref in backends.items():
            r = by_cell.get((model, backend))
            if r is not None:
                lines.append(f"| {r.model_label} | {backend} | {ref} | {r.p50_ms:.1f} | {r.p50_ms / ref:.2f} |")
    return "\n".join(lines)


def int8_check(records) -> str:
    cells = {(r.model, r.backend, r.batch_size): r.p50_ms for r in records if r.seq_len == SEQ}
    lines = []
    for model in ("bert-base-uncased", "distilbert-base-uncased", "bundled-minilm"):
        for batch in BATCHES:
            fp32, int8 = cells.get((model, "torch-fp32", batch)), cells.get((model, "onnx-int8", batch))
            if fp32 and int8:
                lines.append(f"- {model}, batch {batch}: ONNX Runtime INT8 is **{fp32 / int8:.1f}x** faster than "
                             f"PyTorch fp32 ({fp32:.1f} ms -> {int8:.1f} ms).")
    return "\n".join(lines)


def bf16_text(records) -> str:
    lines = ["| Batch | cast (ms) | autocast (ms) | faster |", "|---|---|---|---|"]
    for batch in BATCHES:
        by = {r.bf16_method: r.p50_ms for r in records if r.batch_size == batch}
        if {"cast", "autocast"} <= set(by):
            faster = "cast" if by["cast"] < by["autocast"] else "autocast"
            lines.append(f"| {batch} | {by['cast']:.1f} | {by['autocast']:.1f} | {faster} "
                         f"({max(by.values()) / min(by.values()):.1f}x) |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait-minutes", type=float, default=20.0)
    parser.add_argument("--min-seconds", type=float, default=2.0, help="Minimum timed seconds per cell.")
    parser.add_argument("--skip-bf16-comparison", action="store_true")
    args = parser.parse_args()

    from bertstudio.benchmark.report import headline, markdown_table, write_json
    from bertstudio.benchmark.runner import BenchmarkPlan, compare_runs, run_benchmark
    from bertstudio.benchmark.timing import REPEATABILITY_TOLERANCE, RepeatPolicy

    quiet, load_before = wait_until_quiet(args.wait_minutes)
    policy = RepeatPolicy(warmup=3, min_repeats=10, min_seconds=args.min_seconds, max_seconds=60.0)
    plan = BenchmarkPlan(models=MODELS, backends=BACKENDS, batch_sizes=BATCHES, seq_lens=(SEQ,), policy=policy)
    started = time.time()
    result = run_benchmark(plan, on_progress=progress)
    load_mid = load_average()
    # Repeatability: the batch-1 cells again, model only, compared with the first run.
    again = run_benchmark(BenchmarkPlan(models=MODELS, backends=BACKENDS, batch_sizes=(1,), seq_lens=(SEQ,),
                                        policy=policy, tokenization=False, parity_rows=0), on_progress=progress)
    rows = compare_runs([r for r in result.records if r.batch_size == 1], again.records)
    bf16 = [] if args.skip_bf16_comparison else bf16_comparison(policy)
    load_after = load_average()
    write_json([*result.records, *bf16], OUT)

    quiet_note = (f"Machine quiet before timing (1-min load average {load_before:.2f})." if quiet else
                  f"**The machine never got quiet** (1-min load average {load_before:.2f} after waiting "
                  f"{args.wait_minutes:g} min): other jobs shared the 2 cores, so these timings are pessimistic.")
    worst = max((r.difference for r in rows), default=0.0)
    agreeing = sum(r.agrees for r in rows)
    body = [
        machine_line(),
        (f"{quiet_note} Load average after the main grid {load_mid:.2f}, at the end {load_after:.2f}. "
         f"Total {(time.time() - started) / 60:.1f} min. PyTorch and ONNX Runtime use {plan.settings()['threads']} "
         f"threads; each cell: {policy.warmup} warm-up calls, then at least {policy.min_repeats} calls and "
         f"{policy.min_seconds:g} s. Inputs: fixed (batch, 128) token ids, attention mask all ones."),
        f"**{headline(result.records)}**",
        f"**{headline(result.records, backend='onnx-int8')}**",
        markdown_table(result.records),
        "### ONNX Runtime INT8 against PyTorch fp32\n\n" + int8_check(result.records),
        "### Against a plain script (batch 1, seq 128)\n\n" + reference_table(result.records),
        (f"### Repeatability\n\nThe batch-1 cells timed a second time: {agreeing} of {len(rows)} medians agree "
         f"within {REPEATABILITY_TOLERANCE:.0%} (largest difference {worst:.1%})."),
    ]
    if bf16:
        body.append("### PyTorch bf16: cast the weights, or autocast? (BERT-base, seq 128)\n\n" + bf16_text(bf16))
    body.append("Reproduce: `python bench/latency.py` (or `bertstudio bench --models "
                "distilbert-base-uncased,bert-base-uncased,bundled-minilm --batch-sizes 1,32 --seq-lens 128`).")
    write_section(TITLE, "\n\n".join(body))
    print("\n\n".join(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
