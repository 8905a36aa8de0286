"""The benchmark's parity check for a multi-label model compares label sets (and probabilities), not top labels."""

from __future__ import annotations

import numpy as np

from bertstudio.benchmark.backends import torch_runner
from bertstudio.benchmark.models import load_tokenizer, load_torch_model, preprocessing_for, resolve_model
from bertstudio.benchmark.parity import check_parity, parity_batches, parity_thresholds, runner_logits
from bertstudio.export.parity import ValidationRows

NAMES = ["anger", "fear", "joy"]


def test_same_top_label_but_another_label_set_fails_parity():
    reference = np.array([[3.0, 1.0, -2.0], [2.0, -3.0, -3.0]])
    moved = np.array([[3.0, -1.0, -2.0], [2.0, -3.0, -3.0]])  # 'fear' drops below 0.5 on the first text
    rows = ValidationRows(["a", "b"], None, np.array([[1, 1, 0], [1, 0, 0]]), "2 test rows of the run")
    parity = check_parity("onnx-int8", reference, moved, rows, NAMES, thresholds=[0.5, 0.5, 0.5])
    assert parity.agreement == 0.5 and parity.passed is False  # one text lost a label: subset accuracy fell
    assert parity.max_probability_diff == np.abs(1 / (1 + np.exp(-1.0)) - 1 / (1 + np.exp(1.0)))
    top_label_only = check_parity("onnx-int8", reference, moved, ValidationRows(["a", "b"], None, None, "x"), NAMES)
    assert top_label_only.agreement == 1.0  # what the check said before: the top label never moved


def test_a_multilabel_run_is_checked_on_label_sets_with_its_thresholds(multilabel_run):
    model = resolve_model(str(multilabel_run))
    prep = preprocessing_for(model)
    assert parity_thresholds(prep) == prep.threshold_vector()
    batches, rows = parity_batches(model, load_tokenizer(model), prep, max_rows=12)
    assert rows.labels.shape == (len(rows), len(NAMES))  # 0/1 vectors read from the label sets
    runner = torch_runner(load_torch_model(model), "torch-fp32", "cpu")
    logits = runner_logits(runner, batches)
    parity = check_parity("onnx", logits, logits + 1e-6, rows, prep.label_names, parity_thresholds(prep))
    assert parity.agreement == 1.0 and parity.passed and parity.max_probability_diff < 1e-6
