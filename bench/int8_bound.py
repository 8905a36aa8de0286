"""How fast can ONNX INT8 BERT-base be against PyTorch fp32 on this CPU? (batch 1, 128 tokens, all cores)

Splits each backend's time into its matrix products and everything else. The matrix products of one
BERT-base layer (query/key/value 768->2304, attention output 768->768, feed-forward 768->3072 and
3072->768, 128 rows) are timed alone: in PyTorch fp32 (``linear``, as the model runs them) and in ONNX
Runtime INT8, both as the INT8 graph runs them (DynamicQuantizeMatMul: the activations are quantized on
every call) and as the bare integer kernel (MatMulInteger). The whole models are timed too, PyTorch fp32
and the INT8 file ``bertstudio export`` writes, so "the rest" (attention scores, softmax, GELU,
LayerNorm, residual additions, glue) is whole minus matrix products.

Every item is timed in interleaved rounds and its fastest round kept: this machine has slow spells lasting
seconds to minutes that only ever add time, and the fastest round is each item on the machine at its best.
The ratio the latency target asks for, INT8 >= 5x faster than fp32, needs
    INT8 matrix products + INT8 rest <= fp32 whole / 5,
and the last line says how much time that leaves INT8 for the rest.

    python bench/int8_bound.py [--rounds 9]

Results: the "INT8 against fp32: where the time goes" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results import command_line, machine_line, write_section

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TITLE = "INT8 against fp32: where the time goes (BERT-base, batch 1, seq 128)"
ROWS, LAYERS, HIDDEN, TARGET = 128, 12, 768, 5.0
SHAPES = {"query/key/value": (768, 2304), "attention output": (768, 768), "feed-forward in": (768, 3072),
          "feed-forward out": (3072, 768)}  # (in, out) features of one layer's weight matrices


def int8_session(kind: str, fan_in: int, fan_out: int, threads: int):
    """A one-node ONNX Runtime session: DynamicQuantizeMatMul (fp32 in, with bias) or MatMulInteger (uint8 in)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.integers(-127, 128, (fan_in, fan_out)).astype(np.int8), "W"),
               numpy_helper.from_array(np.zeros(fan_out, np.int8), "w_zero")]
    if kind == "dynamic":
        weights += [numpy_helper.from_array(np.full(fan_out, 0.01, np.float32), "w_scale"),
                    numpy_helper.from_array(rng.standard_normal(fan_out).astype(np.float32), "bias")]
        node = helper.make_node("DynamicQuantizeMatMul", ["A", "W", "w_scale", "w_zero", "bias"], ["Y"],
                                domain="com.microsoft")
        a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
        feed = rng.standard_normal((ROWS, fan_in)).astype(np.float32)
    else:
        weights.append(numpy_helper.from_array(np.uint8(128), "a_zero"))
        node = helper.make_node("MatMulInteger", ["A", "W", "a_zero", "w_zero"], ["Y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
        feed = rng.integers(0, 256, (ROWS, fan_in)).astype(np.uint8)
    graph = helper.make_graph([node], kind, [helper.make_tensor_value_info("A", a_type, [ROWS, fan_in])],
                              [helper.make_tensor_value_info("Y", y_type, [ROWS, fan_out])], weights)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = threads, 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"A": feed})


def fp32_linear(fan_in: int, fan_out: int):
    import torch

    x, layer = torch.randn(1, ROWS, fan_in), torch.nn.Linear(fan_in, fan_out)

    def call():
        with torch.inference_mode():
            return layer(x)

    return call


def whole_models(threads: int) -> dict:
    """BERT-base (random weights) in PyTorch fp32 and as the exported INT8 file, as the benchmark runs them."""
    from bertstudio.benchmark.backends import cached_onnx, default_cache_dir, ort_runner, torch_runner
    from bertstudio.benchmark.inputs import token_batch
    from bertstudio.benchmark.models import load_tokenizer, load_torch_model, preprocessing_for, resolve_model

    model = resolve_model("bert-base-uncased")
    torch_model, tokenizer, prep = load_torch_model(model), load_tokenizer(model), preprocessing_for(model)
    files = cached_onnx(torch_model, tokenizer, prep, label=model.label, cache_root=default_cache_dir(), int8=True)
    batch = token_batch(1, ROWS, torch_model.config.vocab_size)
    return {"fp32 whole model": torch_runner(torch_model, "torch-fp32", "cpu").bind(batch),
            "INT8 whole model": ort_runner(files.int8, "onnx-int8", threads).bind(batch)}


def block_ms(call, policy) -> float:
    from bertstudio.benchmark.timing import host_timed, measure, summarize

    return summarize(measure(host_timed(call), policy)).p50_ms


def interleaved(items: dict, rounds: int) -> dict[str, float]:
    """Each item's fastest per-round median, every item timed once per round (see the module note)."""
    import time

    from bertstudio.benchmark.timing import RepeatPolicy

    policy = RepeatPolicy(warmup=3, min_repeats=10, min_seconds=0.3)
    per_round: dict[str, list[float]] = {name: [] for name in items}
    for _ in range(rounds):
        for name, call in items.items():
            time.sleep(0.1)  # ONNX Runtime's threads spin after a call; let them stop before the next item
            per_round[name].append(block_ms(call, policy))
    return {name: min(times) for name, times in per_round.items()}


def report(ms: dict[str, float]) -> str:
    def layers(prefix: str) -> float:
        # Both whole models compute the last layer for [CLS] alone: of its matrix products only keys and
        # values (2/3 of query/key/value) run on all 128 rows; the rest run on one row and cost ~nothing.
        full = sum(ms[f"{prefix} {shape}"] for shape in SHAPES)
        return (LAYERS - 1) * full + 2 / 3 * ms[f"{prefix} query/key/value"]

    fp32_mm, int8_mm, kernel_mm = layers("fp32"), layers("INT8 dynamic"), layers("INT8 kernel")
    fp32_all, int8_all = ms["fp32 whole model"], ms["INT8 whole model"]
    rows = ["| Matrix product (one layer, 128 rows) | PyTorch fp32 (ms) | INT8 as the graph runs it (ms) | "
            "INT8 kernel alone (ms) |", "|---|---|---|---|"]
    rows += [f"| {shape} {fan_in}->{fan_out} | {ms[f'fp32 {shape}']:.3f} | {ms[f'INT8 dynamic {shape}']:.3f} | "
             f"{ms[f'INT8 kernel {shape}']:.3f} |" for shape, (fan_in, fan_out) in SHAPES.items()]
    rows.append(f"| all {LAYERS} layers ([CLS]-only last layer) | {fp32_mm:.1f} | {int8_mm:.1f} | {kernel_mm:.1f} |")
    budget = fp32_all / TARGET - int8_mm
    # FLOPs of the weight products timed above, and of attention's own two products (scores = QK^T, then
    # scores x V), which both backends run in fp32: ONNX Runtime's INT8 graph quantizes weight products only.
    weight_gflop = 2 * ROWS * ((LAYERS - 1) * sum(i * o for i, o in SHAPES.values()) + 2 * HIDDEN * HIDDEN) / 1e9
    fp32_rate = weight_gflop / fp32_mm  # GFLOP per ms
    attention_gflop = 2 * 2 * ROWS * ROWS * HIDDEN * (LAYERS - 1) / 1e9  # the last layer: one query row, ~0
    lines = [
        "\n".join(rows),
        f"- Whole model: PyTorch fp32 {fp32_all:.1f} ms, ONNX Runtime INT8 {int8_all:.1f} ms: "
        f"**{fp32_all / int8_all:.2f}x**.",
        f"- Matrix products alone: {fp32_mm / int8_mm:.2f}x as the INT8 graph runs them, "
        f"{fp32_mm / kernel_mm:.2f}x for the bare integer kernel.",
        f"- The rest (whole minus matrix products): PyTorch fp32 {fp32_all - fp32_mm:.1f} ms, "
        f"INT8 {int8_all - int8_mm:.1f} ms. Part of it is attention's own products (scores and their weighted "
        f"sum, {attention_gflop:.2f} GFLOP), in fp32 in both: at PyTorch's fp32 rate above "
        f"({fp32_rate * 1000:.0f} GFLOP/s) they alone take ~{attention_gflop / fp32_rate:.1f} ms.",
        f"- For {TARGET:g}x, INT8 would have to finish in {fp32_all / TARGET:.1f} ms: after its matrix products, "
        f"{budget:.1f} ms for everything else, "
        + (f"{(int8_all - int8_mm) / budget:.1f}x less than it takes now." if budget > 0 else
           "i.e. its matrix products alone already take longer."),
    ]
    return lines[0] + "\n\n" + "\n".join(lines[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    items = {}
    for shape, (fan_in, fan_out) in SHAPES.items():
        items[f"fp32 {shape}"] = fp32_linear(fan_in, fan_out)
        items[f"INT8 dynamic {shape}"] = int8_session("dynamic", fan_in, fan_out, args.threads)
        items[f"INT8 kernel {shape}"] = int8_session("kernel", fan_in, fan_out, args.threads)
    items.update(whole_models(args.threads))
    body = "\n\n".join([
        machine_line(),
        f"{args.threads} threads; each item timed in {args.rounds} interleaved rounds, its fastest round's median "
        "kept. "
        "Random weights (valid for timing). PyTorch fp32 runs the [CLS]-only last layer as prediction does; the "
        "INT8 file is the one `bertstudio export --format onnx-int8` writes.",
        report(interleaved(items, args.rounds)),
        f"Reproduce: `{command_line()}`.",
    ])
    write_section(TITLE, body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
