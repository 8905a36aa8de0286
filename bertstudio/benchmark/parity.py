"""Does a backend give the same answers as PyTorch fp32?  Checked once per model and backend on real texts
(the run's test rows when there are any), so a fast backend whose answers differ is never recommended."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bertstudio.benchmark.backends import Runner, ort_runner, torch_runner
from bertstudio.benchmark.models import BenchModel
from bertstudio.export.core import fp32_warnings, int8_warnings
from bertstudio.export.parity import compare_logits, per_window, validation_rows
from bertstudio.predict.preprocessing import encode, pad_batch

PARITY_BATCH = 16


@dataclass
class Parity:
    rows: int
    agreement: float
    max_diff: float
    accuracy_change: float | None
    passed: bool | None
    max_probability_diff: float | None = None  # multi-label: the largest change of any label's probability


def parity_batches(model: BenchModel, tokenizer, prep, max_rows: int) -> tuple[list[dict], Any]:
    """Real texts for the parity check (the run's test rows when there are any), tokenized in small batches."""

    rows = validation_rows(model.run_dir, prep.label_names, prep.text_pair, max_rows=max_rows,
                           multi_label=prep.multi_label)
    encoded = encode(tokenizer, rows.texts, rows.pairs, prep)
    rows = per_window(rows, encoded.get("text_row"))  # long texts in windows: each backend is compared per window
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


def parity_thresholds(prep) -> list[float] | None:
    """The thresholds that turn a multi-label model's probabilities into label sets (None: one label per text)."""
    return prep.threshold_vector() if prep.multi_label else None


def check_parity(backend: str, reference, logits, rows, label_names: Sequence[str],
                 thresholds: Sequence[float] | None = None) -> Parity:
    """``thresholds``: a multi-label model's; label sets are compared (and every label's probability), as the
    export's own check does, since the top label says nothing about which labels a text gets."""
    report = compare_logits(reference, logits, rows.labels, label_names, rows.source, thresholds=thresholds)
    return Parity(report.rows, report.label_agreement, report.max_abs_logit_diff, report.accuracy_change_points,
                  parity_verdict(backend, report), report.max_abs_probability_diff)


def parity_from_export(check: dict) -> Parity:
    """The export's check of the very file being timed (export.json): more rows than ours, so it wins."""
    return Parity(int(check.get("rows", 0)), float(check["label_agreement"]),
                  float(check.get("max_abs_logit_diff", 0.0)), check.get("accuracy_change_points"),
                  bool(check["passed"]), check.get("max_abs_probability_diff"))


def reference_logits(model: BenchModel, torch_model, batches: Sequence[dict], current: Runner, *, device: str,
                     threads: int):
    """Logits of the most exact backend: PyTorch fp32, or the fp32 ONNX file of an ONNX-only export."""
    if torch_model is not None:
        return runner_logits(torch_runner(torch_model, "torch-fp32", device), batches)
    if "onnx" in model.onnx_files:
        if current.backend == "onnx":
            return runner_logits(current, batches)
        fp32 = ort_runner(model.onnx_files["onnx"], "onnx", threads)
        try:
            return runner_logits(fp32, batches)
        finally:
            fp32.close()
    return None


def backend_parity(model: BenchModel, backend: str, runner: Runner, reference, parity_data,
                   label_names: Sequence[str], thresholds: Sequence[float] | None = None) -> Parity | None:
    """How closely ``backend`` reproduces PyTorch fp32 on real texts (None: not checked); ``thresholds``: a
    multi-label model's (``parity_thresholds``)."""
    if backend in model.export_checks:
        return parity_from_export(model.export_checks[backend])
    if reference is None or parity_data is None:
        return None
    batches, rows = parity_data
    parity = check_parity(backend, reference, runner_logits(runner, batches), rows, label_names, thresholds)
    if backend == "torch-fp32":
        parity.passed = None  # the reference itself
    return parity
