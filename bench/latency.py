"""Latency: DistilBERT vs BERT-base vs the bundled MiniLM on this CPU, in all four backends.

Batch 1 (one request at a time) and batch 32 (bulk scoring), 128-token texts. BERT-base and
DistilBERT are timed as their exact architectures with random weights when they are not
downloaded (the timing is valid, accuracy is not claimed); the bundled model uses its real weights.

The script waits for a quiet machine (1-minute load average below 1.5) before timing: timings
taken while other jobs use the cores are worthless. It then checks repeatability by timing the
batch-1 cells a second time, and compares the two ways of running bf16 in PyTorch.

    python bench/latency.py [--wait-minutes 20] [--min-seconds 2] [--skip-bf16-comparison]
                            [--trained-run RUN_DIR]

It also looks for faster CPU paths than the four standard backends: ONNX Runtime's SkipLayerNormalization
kernel against the two ops it fuses, and an INT8 graph fused by ONNX Runtime's transformer optimizer
(exported with eager attention, quantized with QAttention). ``--trained-run`` checks what each INT8
graph costs in accuracy on that run's labelled test rows.

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
from results import command_line, machine_line, write_section

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TITLE = "Latency: DistilBERT vs BERT-base vs bundled (CPU)"
MODELS = ("distilbert-base-uncased", "bert-base-uncased", "bundled-minilm")
BACKENDS = ("torch-fp32", "torch-bf16", "onnx", "onnx-int8")
BATCHES, SEQ = (1, 32), 128
QUIET_LOAD = 1.5
BUSY_RETRIES = 4  # cells timed while other programs used the CPU are measured again, up to this often
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
    from bertstudio.benchmark.plan import BenchmarkPlan
    from bertstudio.benchmark.runner import run_benchmark

    records = []
    for method in ("cast", "autocast"):
        plan = BenchmarkPlan(models=("bert-base-uncased",), backends=("torch-bf16",), batch_sizes=BATCHES,
                             seq_lens=(SEQ,), policy=policy, bf16_method=method, tokenization=False, parity_rows=0,
                             busy_retries=BUSY_RETRIES)
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


def ort_kernel_check() -> str:
    """SkipLayerNormalization (what ORT fuses Add + LayerNormalization into) against the pair, 128 x 768."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from bertstudio.benchmark.timing import RepeatPolicy, host_timed, measure, summarize

    shape, hidden = [1, SEQ, 768], 768
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("X", "K")]
    weights = [helper.make_tensor("G", TensorProto.FLOAT, [hidden], np.ones(hidden, np.float32)),
               helper.make_tensor("B", TensorProto.FLOAT, [hidden], np.zeros(hidden, np.float32))]
    nodes = [helper.make_node("Add", ["X", "K"], ["T"]),
             helper.make_node("LayerNormalization", ["T", "G", "B"], ["Y"], axis=-1, epsilon=1e-12)]
    graph = helper.make_graph(nodes, "add_layernorm", inputs, [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                                                                              shape)], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    feed = {n: np.random.default_rng(0).standard_normal(shape).astype(np.float32) for n in ("X", "K")}
    policy = RepeatPolicy(warmup=20, min_repeats=300, min_seconds=0.5)
    times = {}
    for label, disabled in (("fused (SkipLayerNormalization)", []), ("unfused (Add + LayerNormalization)",
                                                                     ["SkipLayerNormFusion"])):
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.log_severity_level = 2, 3
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"],
                                       disabled_optimizers=disabled)
        times[label] = summarize(measure(host_timed(lambda s=session: s.run(None, feed)), policy)).p50_ms * 1000
    return " · ".join(f"{label}: {us:.0f} µs" for label, us in times.items()) + f" (onnxruntime {ort.__version__})"


def plain_int8(fp32: Path) -> Path:
    """INT8 without fusion: the quantizer on the graph exactly as exported (cached next to it)."""
    from bertstudio.export.onnx import quantize_int8

    target = fp32.with_name("model.plain.int8.onnx")
    if not target.is_file():
        quantize_int8(fp32, target)
    return target


def median_ms(runner, batch: int, vocab_size: int, policy) -> float:
    from bertstudio.benchmark.cells import measure_cell, measure_quietly

    cell = measure_quietly(lambda: measure_cell(runner, batch_size=batch, seq_len=SEQ, vocab_size=vocab_size,
                                                policy=policy), BUSY_RETRIES)
    return cell.model.p50_ms


def fused_exploration(names, policy, trained_run: str | None) -> str:
    """INT8 of the graph as exported against the fused INT8 graph the export module writes (and the benchmark
    times): latency, and accuracy on a trained run's labelled test rows."""
    from bertstudio.benchmark.backends import (
        cached_onnx,
        default_cache_dir,
        ort_runner,
        torch_runner,
    )
    from bertstudio.benchmark.models import (
        load_tokenizer,
        load_torch_model,
        preprocessing_for,
        resolve_model,
    )
    from bertstudio.benchmark.parity import (
        check_parity,
        parity_batches,
        runner_logits,
    )

    lines = ["| Model | Batch | INT8, graph as exported (ms) | INT8, fused graph (ms) | Fused / plain |",
             "|---|---|---|---|---|"]
    accuracy = []
    for name in [*names, *([trained_run] if trained_run else [])]:
        model = resolve_model(name)
        torch_model, tokenizer, prep = load_torch_model(model), load_tokenizer(model), preprocessing_for(model)
        files = cached_onnx(torch_model, tokenizer, prep, label=model.label, cache_root=default_cache_dir(), int8=True)
        runners = {"plain": ort_runner(plain_int8(files.fp32), "onnx-int8", 2),
                   "fused": ort_runner(files.int8, "onnx-int8", 2)}
        if name == trained_run:
            batches, rows = parity_batches(model, tokenizer, prep, max_rows=1000)
            reference = runner_logits(torch_runner(torch_model, "torch-fp32", "cpu"), batches)
            for graph, runner in runners.items():
                p = check_parity("onnx-int8", reference, runner_logits(runner, batches), rows, prep.label_names)
                accuracy.append(f"- {model.label}, INT8 {graph} graph: labels agree with PyTorch fp32 on "
                                f"{p.agreement:.1%} of {p.rows} labelled test rows, accuracy change "
                                f"{p.accuracy_change:+.2f} points ({'passes' if p.passed else 'FAILS'} the export check).")
            continue
        for batch in BATCHES:
            ms = {g: median_ms(r, batch, torch_model.config.vocab_size, policy) for g, r in runners.items()}
            lines.append(f"| {model.label} | {batch} | {ms['plain']:.1f} | {ms['fused']:.1f} | "
                         f"{ms['fused'] / ms['plain']:.2f} |")
    return "\n".join(lines) + ("\n\n" + "\n".join(accuracy) if accuracy else "")


def recommendations(records) -> list[str]:
    """What the Export tab should offer each trained model, from its own measurements."""
    from bertstudio.benchmark.report import own_model_recommendations

    return [rec.markdown() for rec in own_model_recommendations(records)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait-minutes", type=float, default=20.0)
    parser.add_argument("--min-seconds", type=float, default=2.0, help="Minimum timed seconds per cell.")
    parser.add_argument("--skip-bf16-comparison", action="store_true")
    parser.add_argument("--skip-exploration", action="store_true", help="Skip the kernel check and fused INT8 graph.")
    parser.add_argument("--trained-run", default=None, help="A trained run whose test rows check INT8 accuracy.")
    args = parser.parse_args()

    from bertstudio.benchmark.report import headline, markdown_table, write_json
    from bertstudio.benchmark.plan import BenchmarkPlan
    from bertstudio.benchmark.runner import compare_runs, run_benchmark
    from bertstudio.benchmark.timing import REPEATABILITY_TOLERANCE, RepeatPolicy

    quiet, load_before = wait_until_quiet(args.wait_minutes)
    policy = RepeatPolicy(warmup=3, min_repeats=10, min_seconds=args.min_seconds, max_seconds=60.0)
    models = (*MODELS, *([args.trained_run] if args.trained_run else []))
    plan = BenchmarkPlan(models=models, backends=BACKENDS, batch_sizes=BATCHES, seq_lens=(SEQ,), policy=policy,
                         busy_retries=BUSY_RETRIES)
    started = time.time()
    result = run_benchmark(plan, on_progress=progress)
    load_mid = load_average()
    # Repeatability: the batch-1 cells again, model only, compared with the first run.
    again = run_benchmark(BenchmarkPlan(models=MODELS, backends=BACKENDS, batch_sizes=(1,), seq_lens=(SEQ,),
                                        policy=policy, tokenization=False, parity_rows=0, busy_retries=BUSY_RETRIES),
                          on_progress=progress)
    rows = compare_runs([r for r in result.records if r.batch_size == 1], again.records)
    bf16 = [] if args.skip_bf16_comparison else bf16_comparison(policy)
    kernels = explored = None
    if not args.skip_exploration:
        kernels = ort_kernel_check()
        explored = fused_exploration(("bert-base-uncased", "distilbert-base-uncased"), policy, args.trained_run)
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
        *recommendations(result.records),
        "### ONNX Runtime INT8 against PyTorch fp32\n\n" + int8_check(result.records),
        "### Against a plain script (batch 1, seq 128)\n\n" + reference_table(result.records),
        (f"### Repeatability\n\nThe batch-1 cells timed a second time: {agreeing} of {len(rows)} medians agree "
         f"within {REPEATABILITY_TOLERANCE:.0%} (largest difference {worst:.1%})."),
    ]
    if bf16:
        body.append("### PyTorch bf16: cast the weights, or autocast? (BERT-base, seq 128)\n\n" + bf16_text(bf16))
    if kernels:
        body.append("### ONNX Runtime's SkipLayerNormalization kernel\n\nOne 128 x 768 call: " + kernels + ". Every "
                    "ONNX Runtime session in BERT Studio (benchmark, predictor, server) turns that fusion off "
                    "(`disabled_optimizers=['SkipLayerNormFusion']`, bertstudio/inference.py).")
    if explored:
        body.append("### INT8: the graph as exported against the fused graph (seq 128)\n\n"
                    "The fused graph is what `bertstudio export --format onnx-int8` writes and what the benchmark "
                    "times (bertstudio/export/int8.py): exported with eager attention, Attention and "
                    "EmbedLayerNormalization fused by ONNX Runtime's transformer optimizer, then quantized with "
                    "QAttention.\n\n" + explored)
    body.append(f"Reproduce: `{command_line()}` (the grid alone: `bertstudio bench --models "
                "distilbert-base-uncased,bert-base-uncased,bundled-minilm --batch-sizes 1,32 --seq-lens 128`).")
    write_section(TITLE, "\n\n".join(body))
    print("\n\n".join(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
