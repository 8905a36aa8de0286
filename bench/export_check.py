"""Issue "Export, predict and serve", done-when: INT8 ONNX keeps accuracy within 1 point of fp32 and is at most
30% of the fp32 ONNX file's size.

Exports a finished run as ONNX and ONNX INT8, scores both (and PyTorch) on all of the
run's labelled test rows, times each backend, and writes the section
"## Export (INT8 vs fp32)" of bench/RESULTS.md.

    bertstudio train /work/shared/data/sst2/train.csv --test /work/shared/data/sst2/dev.csv --out /tmp/sst2
    python bench/export_check.py /tmp/sst2 [--out /tmp/sst2-exports]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the engine, also from a clone not pip-installed
from results import machine_line, write_section  # noqa: E402

MAX_DROP_POINTS = 1.0
MAX_SIZE_RATIO = 0.30
SECTION = "Export (INT8 vs fp32)"


def rows_per_second(model_dir: Path, backend: str, texts: list[str]) -> float:
    from bertstudio.predict.predictor import load_predictor

    predictor = load_predictor(model_dir, backend=backend)
    predictor.predict(texts[:64])  # warm-up: first calls allocate
    start = time.perf_counter()
    predictor.predict(texts)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="A finished run folder (trained with --test, so its test rows have labels).")
    parser.add_argument("--out", help="Where to put the exports (default: a temporary folder).")
    args = parser.parse_args()

    from bertstudio.export.core import export_run
    from bertstudio.export.parity import rows_from_predictions
    from bertstudio.predict.locate import locate_model
    from bertstudio.predict.preprocessing import load_preprocessing

    run = Path(args.run_dir)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="export-check-"))
    start = time.perf_counter()
    # Both in one call: the INT8 file is quantized from the fp32 one, so the two are compared like for like.
    results = {r.format: r for r in export_run(run, ["onnx", "onnx-int8"], out, max_rows=None)}
    export_seconds = time.perf_counter() - start
    fp32, int8 = results["onnx"], results["onnx-int8"]
    p32, p8 = fp32.parity, int8.parity

    location = locate_model(run)
    prep = load_preprocessing(location.folder)
    texts = rows_from_predictions(run / "test_predictions.csv", prep.label_names, prep.text_pair, None).texts
    speed = {"PyTorch fp32": rows_per_second(run, "torch", texts),
             "ONNX fp32": rows_per_second(fp32.folder, "onnx", texts),
             "ONNX INT8": rows_per_second(int8.folder, "onnx-int8", texts)}

    ratio = int8.size_bytes / fp32.size_bytes
    drop = -(p8["accuracy_change_points"] or 0.0)
    drop_f1 = -(p8["macro_f1_change_points"] or 0.0)
    passed = drop <= MAX_DROP_POINTS and ratio <= MAX_SIZE_RATIO
    summary = json.loads((run / "summary.json").read_text())
    config = json.loads((run / "config.json").read_text())
    load = os.getloadavg()[0]
    body = "\n".join([
        "Script: `bench/export_check.py RUN_DIR`. " + machine_line(),
        "",
        f"Run: {summary.get('model')} trained on `{config.get('data')}` ({summary.get('steps')} steps, settings "
        f"in its config.json); scored on all {p8['labelled_rows']:,} labelled rows "
        f"of its {summary.get('evaluated_on')} split (`{config.get('test_file') or 'split from the data'}`).",
        "",
        "| model | size | accuracy | macro-F1 | labels agree with PyTorch | max logit diff | rows/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| PyTorch fp32 | {(location.folder / 'model.safetensors').stat().st_size / 1e6:.1f} MB "
        f"| {p32['reference_accuracy']:.4f} | {p32['reference_macro_f1']:.4f} | - | - "
        f"| {speed['PyTorch fp32']:,.0f} |",
        f"| ONNX fp32 | {fp32.size_bytes / 1e6:.1f} MB | {p32['accuracy']:.4f} | {p32['macro_f1']:.4f} "
        f"| {p32['label_agreement']:.2%} | {p32['max_abs_logit_diff']:.1e} | {speed['ONNX fp32']:,.0f} |",
        f"| ONNX INT8 | {int8.size_bytes / 1e6:.1f} MB | {p8['accuracy']:.4f} | {p8['macro_f1']:.4f} "
        f"| {p8['label_agreement']:.2%} | {p8['max_abs_logit_diff']:.2f} | {speed['ONNX INT8']:,.0f} |",
        "",
        f"INT8 vs fp32: accuracy {-drop:+.2f} points (limit -{MAX_DROP_POINTS:.0f}), macro-F1 {-drop_f1:+.2f} "
        f"points; size {ratio:.1%} of the fp32 ONNX file (limit {MAX_SIZE_RATIO:.0%}). "
        f"**{'PASS' if passed else 'FAIL'}.**",
        "",
        "INT8: dynamic quantization (onnxruntime `quantize_dynamic`), QInt8 weights with per-channel scales on "
        "MatMul, Gemm and Gather (the embeddings). Exports took "
        f"{export_seconds:.0f} s including the parity checks. Throughput: `Predictor.predict` on the test texts, "
        f"batch size 32, one process; load average {load:.1f} on {os.cpu_count()} cores while measuring "
        "(other work on the machine slows every backend alike).",
    ])
    write_section(SECTION, body)
    print(body)
    if not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
