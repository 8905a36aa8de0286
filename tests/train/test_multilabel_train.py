"""Multi-label training end to end: sigmoid head, positive weights, thresholds tuned on validation and saved."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import write_multilabel_csv

from bertstudio.cli import main
from bertstudio.predict.predictor import load_predictor
from bertstudio.results import Preprocessing, Summary
from bertstudio.runs import RunFolder
from bertstudio.train.multilabel import MAX_POS_WEIGHT, positive_weights, summed_bce, weighting_decision


def test_run_folder_of_a_multilabel_run(multilabel_run):
    run = RunFolder(multilabel_run)
    prep = Preprocessing.read(run.preprocessing)
    assert prep.multi_label and prep.label_separator == ";" and prep.label_names == ["anger", "fear", "joy"]
    assert 0 < prep.threshold < 1 and set(prep.thresholds) <= set(prep.label_names)
    model_config = json.loads((run.model / "config.json").read_text())
    assert model_config["problem_type"] == "multi_label_classification"
    config = json.loads(run.config.read_text())
    assert config["task"] == "multi_label" and config["label_separator"] == ";"
    assert any(d["field"] == "task" and "joined by ';'" in d["reason"] for d in config["decisions"])
    evaluation = json.loads(run.eval.read_text())
    for key in ("macro_f1", "micro_f1", "weighted_f1", "hamming_loss", "label_ranking_average_precision",
                "at_threshold_0_5", "threshold_choice", "calibration_per_label"):
        assert key in evaluation
    summary = Summary.read(run.summary)
    assert summary.macro_f1 == evaluation["macro_f1"] and summary.metrics["task"] == "multi_label"
    assert summary.simple_model is not None and "macro-F1 over the labels" in summary.simple_model.verdict
    predictions = pd.read_csv(run.predictions, keep_default_na=False)
    assert {"label", "predicted", "missed", "extra", "prob_joy"} <= set(predictions.columns)
    assert predictions["label"].str.len().gt(0).all()


def test_saved_thresholds_decide_the_label_sets(multilabel_run, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(RunFolder(multilabel_run).model, folder)
    prep = Preprocessing.read(folder / "preprocessing.json")
    texts = ["happy smiling", "scared and furious"]
    for threshold, expected in ((0.01, ["anger", "fear", "joy"]), (0.99, [])):
        prep.model_copy(update={"thresholds": {}, "threshold": threshold}).write(folder / "preprocessing.json")
        batch = load_predictor(folder).predict(texts)
        assert batch.label_sets == [expected, expected]
        assert batch.labels == ["; ".join(expected)] * 2


def test_train_through_the_cli(tmp_path, tiny_bert_dir, capsys):
    data = write_multilabel_csv(tmp_path / "tags.csv", separator="|")
    out = tmp_path / "run"
    assert main(["train", str(data), "--model", str(tiny_bert_dir), "--max-steps", "3", "--max-length", "16",
                 "--out", str(out), "--simple-model", "no", "--quiet"]) == 0
    headline = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= headline["macro_f1"] <= 1
    prep = Preprocessing.read(RunFolder(out).preprocessing)
    assert prep.multi_label and prep.label_separator == "|"


def test_zero_one_columns_train_and_predict(tmp_path, tiny_bert_dir):
    from bertstudio.config import config_from_preset
    from bertstudio.train.pipeline import train

    rows = [{"text": f"{'happy' if i % 2 else 'angry'} {'scared' if i % 3 == 0 else 'calm'} {i}", "joy": i % 2,
             "anger": 1 - i % 2, "fear": int(i % 3 == 0)} for i in range(60)]
    data = tmp_path / "columns.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    summary = train(config_from_preset("balanced", data=str(data), model=str(tiny_bert_dir), max_steps=2,
                                       max_length=16, output_dir=str(tmp_path / "run"), simple_model=False))
    assert summary.label_names == ["anger", "fear", "joy"]
    prep = Preprocessing.read(RunFolder(tmp_path / "run").preprocessing)
    assert prep.label_columns == ["joy", "anger", "fear"] and prep.label_separator is None


def test_positive_weights_for_rare_labels():
    labels = np.zeros((200, 3))
    labels[:100, 0] = 1  # half the texts
    labels[:8, 1] = 1  # 4%: sqrt(192/8) ~ 4.9
    weights = positive_weights(labels, "balanced")  # label 2 is on no text: sqrt(199) capped
    assert weights[0] == pytest.approx(1.0) and weights[1] == pytest.approx(np.sqrt(192 / 8))
    assert weights[2] == MAX_POS_WEIGHT and positive_weights(labels, "none") is None
    assert weighting_decision({"a": 50, "b": 4}, 100)[0] == "balanced"
    value, reason = weighting_decision({"a": 50, "b": 30}, 100)
    assert value == "none" and "at least 5%" in reason


def test_loss_is_mean_binary_cross_entropy_per_row():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels) * 2  # mean x rows
    assert summed_bce(logits, labels, None).item() == pytest.approx(expected.item())


@pytest.mark.parametrize("task", ["multi_label", "single_label"])
def test_best_checkpoint_breaks_a_flat_macro_f1_by_the_loss(task):
    """Single-label too: an easy file at 100% validation macro-F1 from the first evaluation kept that first
    checkpoint (loss 0.62, 57% confidence) and stopped early while the loss fell to 0.04."""
    from bertstudio.train.loop import BestSoFar, score_for

    first = {"task": task, "macro_f1": 0.0, "accuracy": 0.0, "loss": 0.236}
    later = {"task": task, "macro_f1": 0.0, "accuracy": 0.0, "loss": 0.218}
    better = {"task": task, "macro_f1": 0.01, "accuracy": 0.0, "loss": 0.5}
    assert score_for(later, "macro_f1") > score_for(first, "macro_f1")
    best = BestSoFar()
    model = torch.nn.Linear(1, 1)
    assert best.offer(first, score_for(first, "macro_f1"), 1, 1.0, model)
    assert best.offer(later, score_for(later, "macro_f1"), 2, 2.0, model) and best.evaluations_without_gain == 0
    assert not best.offer(first, score_for(first, "macro_f1"), 3, 3.0, model) and best.step == 2
    assert score_for(better, "macro_f1") > score_for(later, "macro_f1")
    assert score_for(later, "val_loss") == -0.218


def test_evaluating_again_keeps_what_training_said_of_its_thresholds(multilabel_run, tmp_path, capsys):
    """`evaluate RUN` rewrote eval.json with "Thresholds saved with the model" and no fallback labels."""
    run = tmp_path / "run"
    shutil.copytree(multilabel_run, run, ignore=shutil.ignore_patterns("exports"))
    prep = Preprocessing.read(RunFolder(run).preprocessing)
    assert prep.threshold_note.startswith("Thresholds tuned on ")
    assert Summary.read(RunFolder(run).summary).metrics["threshold_note"] == prep.threshold_note  # said at the end
    assert main(["evaluate", str(run)]) == 0
    assert prep.threshold_note in capsys.readouterr().out
    choice = json.loads(RunFolder(run).eval.read_text())["threshold_choice"]
    assert choice["note"].startswith(prep.threshold_note) and choice["fallback_labels"] == prep.threshold_fallback


def test_evaluating_a_file_with_labels_spelt_otherwise_scores_it_and_says_how_it_was_read(multilabel_run, tmp_path,
                                                                                        capsys):
    """`evaluate RUN --data FILE` refused 'Joy' for a model trained on 'joy' ("labels that never appear in the
    training file"), though single-label evaluation read it with a note."""
    run = tmp_path / "run"
    shutil.copytree(multilabel_run, run, ignore=shutil.ignore_patterns("exports"))
    typed = write_multilabel_csv(tmp_path / "typed.csv", rows=30)
    frame = pd.read_csv(typed)
    frame["labels"] = frame["labels"].str.title()
    frame.to_csv(typed, index=False)
    same = write_multilabel_csv(tmp_path / "same.csv", rows=30)
    assert main(["evaluate", str(run), "--data", str(same)]) == 0
    as_trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["evaluate", str(run), "--data", str(typed)]) == 0
    out = capsys.readouterr().out
    assert "'Joy' as 'joy'" in out and json.loads(out.strip().splitlines()[-1])["macro_f1"] == as_trained["macro_f1"]
    saved = json.loads((run / "eval-typed.json").read_text())
    assert any("'Joy' as 'joy'" in note for note in saved["notes"])
