"""`bertstudio evaluate` scores the model the run ships: the blend with the simple word-count model when the run
kept it, with the temperature predict applies (a tester's blended run: evaluate said macro-F1 0.680, the fine-tuned
part alone, where summary.json and predict gave 0.808), and its log loss means what summary.json's means."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bertstudio.cli import main
from bertstudio.evaluation.calibration import TemperatureFit, reliability_diagram
from bertstudio.evaluation.metrics import classification_metrics, log_loss, softmax
from bertstudio.evaluation.report import build_report
from bertstudio.evaluation.run import evaluate_run
from bertstudio.models.word_counts import WordCountModel
from bertstudio.predict.predictor import load_predictor
from bertstudio.results import Preprocessing
from bertstudio.runs import EVAL_FILE
from tests.helpers import LABELS, make_tiny_run, sample_texts

WEIGHT = 0.3
TEMPERATURE = 2.0


@pytest.fixture(scope="module")
def blended_run(tmp_path_factory) -> Path:
    """A tiny run whose final model is a blend: 30% fine-tuned (random weights), 70% a simple model fitted on the
    test texts' own labels, so the blend and the fine-tuned model alone score very differently."""
    run = make_tiny_run(tmp_path_factory.mktemp("blended-eval"), temperature=TEMPERATURE)
    config = json.loads((run / "config.json").read_text())  # fp32 as predict runs it ('auto' may be bf16 here)
    (run / "config.json").write_text(json.dumps({**config, "precision": "fp32"}))
    test = pd.read_csv(run / "test_predictions.csv")
    WordCountModel.fit(test["text"].tolist(), [LABELS.index(v) for v in test["label"]], LABELS).save(run / "model")
    prep = Preprocessing.read(run / "model" / "preprocessing.json")
    prep.model_copy(update={"blend_weight": WEIGHT}).write(run / "model" / "preprocessing.json")
    return run


def predicted_by_the_run(run: Path, texts: list[str]) -> np.ndarray:
    """The probabilities predict and serve give: the reference evaluate must reproduce."""
    return load_predictor(run).predict(texts).probs


def test_evaluate_scores_the_blend_the_run_ships(blended_run, capsys):
    test = pd.read_csv(blended_run / "test_predictions.csv")
    labels = np.asarray([LABELS.index(v) for v in test["label"]])
    shipped = classification_metrics(labels, predicted_by_the_run(blended_run, test["text"].tolist()), LABELS)
    assert main(["evaluate", str(blended_run)]) == 0
    out = capsys.readouterr().out
    saved = json.loads((blended_run / EVAL_FILE).read_text())
    assert (saved["accuracy"], saved["macro_f1"]) == pytest.approx((shipped["accuracy"], shipped["macro_f1"]))
    assert saved["log_loss"] == pytest.approx(shipped["loss"], abs=1e-5) == saved["log_loss_calibrated"]
    assert saved["blend_weight"] == WEIGHT and "blend the run ships" in saved["scored_model"]
    alone = saved["fine_tuned_alone"]  # shown beside it, and labelled as not what the run ships
    assert "not what the run ships" in alone["model"] and alone["macro_f1"] != pytest.approx(saved["macro_f1"])
    assert "The fine-tuned model alone (not what the run ships)" in out


def test_evaluate_on_a_file_writes_and_scores_what_predict_gives(blended_run, tmp_path):
    texts = sample_texts(30)
    data = tmp_path / "other.csv"
    pd.DataFrame({"text": texts, "label": [LABELS[(i * 2) % 3] for i in range(30)]}).to_csv(data, index=False)
    report = evaluate_run(blended_run, data=data)
    written = pd.read_csv(blended_run / "predictions-other.csv")
    expected = predicted_by_the_run(blended_run, texts)
    np.testing.assert_allclose(written[[f"prob_{n}" for n in LABELS]].to_numpy(), expected, atol=1e-5)
    labels = np.asarray([(i * 2) % 3 for i in range(30)])
    assert report.metrics["macro_f1"] == pytest.approx(classification_metrics(labels, expected, LABELS)["macro_f1"])
    assert report.reliability_calibrated.ece == pytest.approx(reliability_diagram(expected, labels).ece, abs=1e-5)


def test_build_report_names_what_each_log_loss_is():
    """eval.json's log_loss was of the uncalibrated probabilities while summary.json's metrics.loss was of the
    calibrated ones, and neither said so: now both are the probabilities the run ships, and the uncalibrated
    figure has its own name."""
    logits = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [4.0, 0.0, 0.0], [0.0, 0.0, 4.0]])
    labels = [0, 1, 1, 2]
    report = build_report(logits, labels, LABELS, TemperatureFit(2.0, 30, 1.0, 0.9, 0.2, 0.1), evaluated_on="test")
    saved = report.to_dict()
    assert saved["log_loss"] == saved["loss"] == saved["log_loss_calibrated"] == pytest.approx(
        log_loss(labels, softmax(logits, 2.0)))
    assert saved["log_loss_uncalibrated"] == pytest.approx(log_loss(labels, softmax(logits)))
    assert saved["blend_weight"] == 1.0 and "fine_tuned_alone" not in saved
    assert saved["scored_model"].startswith("the fine-tuned model (temperature-scaled")


def test_build_report_blends_before_and_after_temperature_scaling():
    logits = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [3.0, 0.0, 0.0]])
    simple = np.array([[0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    labels = [1, 1, 2]  # the simple model is right where the fine-tuned one is wrong
    report = build_report(logits, labels, LABELS, TemperatureFit(2.0, 30, 1.0, 0.9, 0.2, 0.1), evaluated_on="test",
                          simple_probs=simple, blend_weight=0.25)
    after = 0.25 * softmax(logits, 2.0) + 0.75 * simple
    assert report.metrics["accuracy"] == 1.0 and report.fine_tuned_alone.accuracy == pytest.approx(1 / 3)
    assert report.log_loss_calibrated == pytest.approx(log_loss(labels, after))
    assert report.reliability.ece == pytest.approx(reliability_diagram(0.25 * softmax(logits) + 0.75 * simple,
                                                                       labels).ece)


def test_a_temperature_kept_at_one_is_not_called_temperature_scaling():
    """With T kept at 1 ('Only 4 validation rows: temperature kept at 1') eval.json and evaluate said the scores
    were of the 'temperature-scaled probabilities': a fit the note had just refused, as if applied."""
    logits = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
    kept = TemperatureFit(1.0, 4, 1.0, 1.0, 0.2, 0.2, note="Only 4 validation rows: temperature kept at 1.")
    alone = build_report(logits, [0, 1], LABELS, kept, evaluated_on="test")
    assert alone.scored_model == ("the fine-tuned model (probabilities without temperature scaling, as predict "
                                  "gives them)")
    blended = build_report(logits, [0, 1], LABELS, kept, evaluated_on="test", simple_probs=softmax(logits),
                           blend_weight=0.5)
    assert "temperature-scaled" not in blended.scored_model and "without temperature scaling" in blended.scored_model
