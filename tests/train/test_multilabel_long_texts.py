"""Several labels per text on texts longer than the maximum length: windows carry their text's label vector,
the combination of windows is chosen on validation by a multi-label score, thresholds are tuned per text, and
prediction, serving and every export read the same windows (tiny BERT, texts whose labels sit at their end)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import write_multilabel_csv

from bertstudio.config import config_from_preset, make_config
from bertstudio.data.long_texts import LongTexts, labels_per_text, tokenize_long_split
from bertstudio.evaluation.multilabel_metrics import multilabel_metrics, sigmoid, tune_thresholds
from bertstudio.results import Preprocessing
from bertstudio.runs import RunFolder
from bertstudio.train.long_texts import choose_aggregation

NAMES = ["anger", "fear", "joy"]


def test_every_window_carries_its_texts_label_vector(tiny_bert_dir):
    import datasets
    from transformers import AutoTokenizer

    vectors = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    texts = ["word " * 40 + "angry", "short one"]
    dataset = datasets.Dataset.from_dict({"text": texts, "label": vectors})
    windows = tokenize_long_split(dataset, AutoTokenizer.from_pretrained(tiny_bert_dir), LongTexts("windows", 16))
    rows = np.asarray(windows["text_row"])
    assert (rows == 0).sum() > 1 and (rows == 1).sum() == 1  # the long text in several windows
    assert np.array_equal(np.asarray(windows["label"]), np.asarray(vectors)[rows])
    assert np.array_equal(labels_per_text(windows), np.asarray(vectors))  # one vector per text again


def test_windows_are_combined_by_the_multilabel_score_on_validation():
    import datasets

    # Text 0 has 'anger' in one window only: the max of its windows finds it, the mean of three does not.
    val = datasets.Dataset.from_dict({"text_row": [0, 0, 0, 1],
                                      "label": [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]})
    logits = np.array([[3.0, -3.0], [-2.0, -3.0], [-2.0, -3.0], [-3.0, 3.0]])

    def macro_f1(labels, scores):
        return multilabel_metrics(labels, sigmoid(scores), ["anger", "fear"])["macro_f1"]

    choice = choose_aggregation(make_config(long_texts="windows"), logits, val, macro_f1)
    assert choice.value == "max" and "mean 0.500, max 1.000" in choice.reason


@pytest.fixture(scope="module", params=["windows", "head_tail"])
def long_multilabel_run(request, tmp_path_factory, tiny_bert_dir):
    from bertstudio.train.pipeline import train

    root = tmp_path_factory.mktemp(f"long-multilabel-{request.param}")
    cfg = config_from_preset(data=str(write_multilabel_csv(root / "long.csv", long=True)), model=str(tiny_bert_dir),
                             max_length=16, long_texts=request.param, window_stride=7, epochs=2, batch_size=16,
                             output_dir=str(root / "run"), seed=3)
    return request.param, train(cfg), root / "run"


def test_the_run_is_scored_per_text_with_thresholds_tuned_per_text(long_multilabel_run):
    strategy, summary, run = long_multilabel_run
    folder = RunFolder(run)
    prep = Preprocessing.read(folder.preprocessing)
    assert prep.multi_label and prep.long_texts == strategy and prep.label_names == NAMES
    split = json.loads(folder.path.joinpath("data_report.json").read_text())["split"]
    evaluated = pd.read_csv(folder.predictions, keep_default_na=False)
    assert len(evaluated) == split["test"] == summary.metrics["rows"]  # one row per text, never per window
    assert {"label", "predicted", "missed", "extra", "prob_joy"} <= set(evaluated.columns)
    saved = np.load(folder.path / "validation_logits.npz")
    assert saved["logits"].shape == saved["labels"].shape == (split["validation"], 3)
    if summary.simple_model is None or not summary.simple_model.blend.used:
        tuned = tune_thresholds(saved["labels"], sigmoid(saved["logits"]), NAMES)
        assert prep.threshold_vector() == tuned.vector(NAMES)
    if strategy == "windows":
        decisions = json.loads(folder.config.read_text())["decisions"]
        assert any(d["field"] == "window_aggregation" for d in decisions)
        assert prep.window_aggregation in ("mean", "max")


def test_prediction_and_re_evaluation_read_the_texts_as_the_run_did(long_multilabel_run):
    from bertstudio.evaluation.run import evaluate_run
    from bertstudio.predict.predictor import load_predictor

    _, summary, run = long_multilabel_run
    evaluated = pd.read_csv(RunFolder(run).predictions, keep_default_na=False)
    batch = load_predictor(run).predict(evaluated["text"].tolist())
    assert batch.labels == evaluated["predicted"].tolist()
    np.testing.assert_allclose(np.asarray(batch.probs), evaluated[[f"prob_{n}" for n in NAMES]], atol=1e-4)
    report = evaluate_run(run)
    assert report.metrics["macro_f1"] == pytest.approx(summary.macro_f1)


def test_serving_and_every_export_give_the_same_label_sets(long_multilabel_run):
    from fastapi.testclient import TestClient

    from bertstudio.export.core import export_run
    from bertstudio.predict.predictor import load_predictor
    from bertstudio.predict.serve import create_app

    strategy, _, run = long_multilabel_run
    texts = pd.read_csv(RunFolder(run).predictions, keep_default_na=False)["text"].tolist()
    reference = load_predictor(run)
    expected = reference.predict(texts)
    body = TestClient(create_app(reference)).post("/predict", json={"texts": texts[:3]}).json()
    assert [p["labels"] for p in body["predictions"]] == expected.label_sets[:3]
    thresholds = np.asarray(Preprocessing.read(RunFolder(run).preprocessing).threshold_vector())
    for result in export_run(run, "all"):
        assert result.parity.rows == len(texts) and result.parity.labelled_rows == len(texts)
        exact = result.format != "onnx-int8"
        tolerance = 1e-4 if exact else 1e-2
        assert result.parity.max_abs_probability_diff < tolerance
        if exact:
            assert result.parity.label_agreement == 1.0, result.format
        exported = load_predictor(result.folder)
        assert Preprocessing.read(result.folder / "preprocessing.json").long_texts == strategy
        if result.format == "hf":  # the HF folder holds the transformer alone (a blend stays in the run)
            continue
        got = exported.predict(texts)
        if exact:
            assert got.label_sets == expected.label_sets, result.format
        else:
            assert_flips_only_at_thresholds(got, expected, thresholds, tolerance)


def assert_flips_only_at_thresholds(got, expected, thresholds, tolerance):
    """INT8 moves probabilities by up to ``tolerance``: a label may come out differently only where its
    probability lies that close to its threshold (a tiny random model puts many there)."""
    names = expected.label_names
    chosen = np.asarray([[n in labels for n in names] for labels in got.label_sets])
    reference = np.asarray([[n in labels for n in names] for labels in expected.label_sets])
    near = np.abs(np.asarray(expected.probs) - thresholds) < tolerance
    assert not np.any((chosen != reference) & ~near)
