"""A run's eval.json and summary score what the run ships, as `bertstudio evaluate RUN` scores it afterwards.

A blended run wrote eval.json and summary.calibration before the blend was chosen, so they (and the HTML report)
described the fine-tuned model alone beside the blend's accuracy; a run without a simple model put the
uncalibrated loss in summary.metrics.loss where a run with one put the calibrated one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import LABELS, make_tiny_run, sample_texts

from bertstudio.evaluation.blend import BlendChoice
from bertstudio.evaluation.features import make_dataset
from bertstudio.evaluation.metrics import log_loss, softmax
from bertstudio.evaluation.run import evaluate_run, open_run, run_logits
from bertstudio.models.word_counts import WordCountModel
from bertstudio.results import Preprocessing, Summary
from bertstudio.runs import RunFolder
from bertstudio.train import simple_model
from bertstudio.train.pipeline import finish_single_label
from bertstudio.train.simple_model import SimpleModelRun

WEIGHT = 0.3


def rows(count: int, offset: int):
    """Labeled rows of the tiny run's kind (``offset`` shifts which texts and labels they are)."""
    texts = sample_texts(count + offset)[offset:]
    return make_dataset(texts, labels=[(i + offset) % 3 for i in range(count)])


def finish(tmp_path, simple: SimpleModelRun | None) -> tuple[RunFolder, Summary]:
    """A tiny run finished as the pipeline finishes one, on its model's real logits (those evaluate computes)."""
    run = make_tiny_run(tmp_path / "run")
    config = json.loads((run / "config.json").read_text())  # one precision for training's logits and evaluate's
    (run / "config.json").write_text(json.dumps({**config, "precision": "fp32"}))
    loaded = open_run(run)
    validation, evaluation = rows(30, 0), rows(24, 5)
    summary = finish_single_label(
        RunFolder(run), Summary(accuracy=0.0, macro_f1=0.0, evaluated_on="test"),
        val_logits=run_logits(loaded, validation), val_labels=np.asarray(validation["label"]),
        eval_logits=run_logits(loaded, evaluation), eval_labels=np.asarray(evaluation["label"]),
        evaluation=evaluation, evaluated_on="test", label_names=LABELS, simple=simple, eval_seconds=1.0, seed=0)
    return RunFolder(run), summary


@pytest.fixture
def blended(tmp_path, monkeypatch) -> tuple[RunFolder, Summary]:
    """A run whose validation chose the blend at 30% fine-tuned, with a simple model that knows the evaluated
    rows' labels: the blend and the fine-tuned model alone score very differently."""
    chosen = BlendChoice(weight=WEIGHT, used=True, fine_tuned_f1=0.3, simple_f1=0.5, blend_f1=0.6, win_share=1.0,
                         reason="the blend won")
    monkeypatch.setattr(simple_model, "choose_blend", lambda *args, **kwargs: chosen)
    known = rows(24, 5)
    model = WordCountModel.fit(known["text"], known["label"], LABELS)
    return finish(tmp_path, SimpleModelRun(model, model.probabilities(rows(30, 0)["text"]), seconds=0.1))


def test_a_blended_run_writes_the_eval_json_evaluate_writes(blended):
    run, summary = blended
    trained = json.loads(run.eval.read_text())
    assert trained["blend_weight"] == WEIGHT and "blend the run ships" in trained["scored_model"]
    assert "not what the run ships" in trained["fine_tuned_alone"]["model"]
    assert Preprocessing.read(run.preprocessing).blend_weight == WEIGHT
    evaluated = evaluate_run(run.path).to_dict()  # `bertstudio evaluate RUN` afterwards
    for key in ("accuracy", "macro_f1", "ece", "ece_calibrated", "log_loss", "temperature", "blend_weight"):
        assert trained[key] == pytest.approx(evaluated[key], abs=1e-6), key
    assert trained["reliability_calibrated"]["bins"] == pytest.approx(evaluated["reliability_calibrated"]["bins"])


def test_a_blended_runs_summary_takes_its_scores_and_calibration_from_the_blend(blended):
    run, summary = blended
    trained = json.loads(run.eval.read_text())
    assert summary.simple_model.blend.used and trained["fine_tuned_alone"]["macro_f1"] != trained["macro_f1"]
    assert (summary.accuracy, summary.macro_f1) == pytest.approx((trained["accuracy"], trained["macro_f1"]))
    assert summary.calibration.ece == pytest.approx(trained["ece"])
    assert summary.calibration.ece_calibrated == pytest.approx(trained["ece_calibrated"])
    assert summary.metrics["loss"] == pytest.approx(trained["log_loss"])
    assert Summary.read(run.summary).calibration == summary.calibration


def test_without_a_simple_model_the_summary_loss_is_of_the_calibrated_probabilities(tmp_path):
    run, summary = finish(tmp_path, None)
    trained = json.loads(run.eval.read_text())
    evaluation = rows(24, 5)
    logits = run_logits(open_run(run.path), evaluation)
    calibrated = log_loss(evaluation["label"], softmax(logits, trained["temperature"]))
    assert trained["temperature"] != pytest.approx(1.0)  # otherwise both meanings would agree
    assert summary.metrics["loss"] == pytest.approx(calibrated) == pytest.approx(trained["log_loss"])
    assert summary.calibration.ece_calibrated == pytest.approx(trained["ece_calibrated"])


def test_the_html_report_says_its_calibration_figures_are_the_blends(blended):
    from bertstudio.history.report import _fmt, render_report

    run, summary = blended
    page = render_report(run.path)
    assert f"{_fmt(summary.calibration.ece)} before and {_fmt(summary.calibration.ece_calibrated)} after" in page
    assert "figures of the blend the run ships: 30% the fine-tuned model" in page


def test_a_bf16_run_scores_its_texts_as_evaluate_and_predict_run_the_model(tmp_path, tiny_bert_dir, monkeypatch):
    """Tester: a run trained in bf16 reported a test macro-F1 (training's mixed precision) that evaluate and predict
    (its bf16 weights) did not give. Training now scores the kept model as they run it: the same logits."""
    from helpers import write_topic_csv

    from bertstudio import hardware
    from bertstudio.config import config_from_preset
    from bertstudio.evaluation.run import rebuild_split
    from bertstudio.train.pipeline import train

    monkeypatch.setattr(hardware, "fast_bf16_here", lambda: True)
    data = write_topic_csv(tmp_path / "topics.csv", 30)
    run = tmp_path / "run"
    train(config_from_preset(data=str(data), model=str(tiny_bert_dir), output_dir=str(run), max_length=16,
                             batch_size=16, max_steps=3, precision="bf16", early_stopping_patience=0,
                             simple_model=False))
    loaded = open_run(run)
    assert loaded.precision == "bf16"
    with np.load(RunFolder(run).validation_logits) as saved:  # what training fitted the temperature on
        np.testing.assert_array_equal(run_logits(loaded, rebuild_split(loaded.config).validation), saved["logits"])
    summary = Summary.read(RunFolder(run).summary)
    assert evaluate_run(run).metrics["macro_f1"] == summary.macro_f1


def test_the_model_training_scores_is_the_shipped_one_in_predict_s_precision(tiny_bert_dir, monkeypatch):
    import torch
    from transformers import AutoModelForSequenceClassification

    from bertstudio import hardware
    from bertstudio.config import make_config
    from bertstudio.hardware import detect_device
    from bertstudio.train.pipeline import make_accelerator, model_as_predicted

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=3).eval()
    accelerator = make_accelerator(make_config(precision="bf16"), detect_device("cpu"))
    prepared = accelerator.prepare(model)
    batch = {"input_ids": torch.randint(1000, 2000, (2, 9))}
    for fast, dtype in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(hardware, "fast_bf16_here", lambda fast=fast: fast)
        scorer = model_as_predicted(prepared, make_config(precision="bf16"), accelerator)
        assert next(scorer.parameters()).dtype == dtype and "forward" not in scorer.__dict__  # no autocast
        with torch.inference_mode():
            as_predict = copy_in(model, dtype)(**batch).logits
            assert torch.equal(scorer(**batch).logits, as_predict)
    assert next(prepared.parameters()).dtype == torch.float32  # the run saves its own weights unchanged
    fp32 = make_config(precision="fp32")
    assert model_as_predicted(model, fp32, make_accelerator(fp32, detect_device("cpu"))) is model


def copy_in(model, dtype):
    """A copy of ``model`` as predict loads it: its weights cast to ``dtype``, the class's own forward."""
    import copy

    fresh = copy.deepcopy(model)
    for patched in ("forward", "_original_forward"):
        fresh.__dict__.pop(patched, None)
    return fresh.to(dtype)
