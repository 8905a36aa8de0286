"""The end of a multi-label run: the blend with the simple model (or not), thresholds tuned on validation and
saved with the model, the honest figures on the evaluated rows, and the predictions file."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from bertstudio.data.long_texts import labels_per_text
from bertstudio.data.multilabel_prepare import label_matrix
from bertstudio.evaluation.blend import blend_probabilities
from bertstudio.evaluation.multilabel_blend import choose_multilabel_blend
from bertstudio.evaluation.multilabel_metrics import multilabel_metrics, sigmoid, tune_thresholds
from bertstudio.evaluation.multilabel_report import finalize_multilabel_run, write_multilabel_predictions
from bertstudio.results import CalibrationFigures, SimpleModelFigures, Summary
from bertstudio.runs import RunFolder
from bertstudio.train.simple_model import compared_figures, split_texts


def labels_of(dataset) -> np.ndarray:
    """One 0/1 vector per text: a text read in windows (long texts) counts once, as its logits do."""
    return labels_per_text(dataset, label_matrix(dataset))


def at_own_thresholds(val_probs: np.ndarray, val_labels: np.ndarray, probs: np.ndarray, labels: np.ndarray,
                      label_names: list[str]) -> dict[str, Any]:
    """A model's figures on ``labels`` at thresholds tuned on its own validation probabilities."""
    return multilabel_metrics(labels, probs, label_names, tune_thresholds(val_labels, val_probs, label_names)
                              .vector(label_names))


def simple_model_figures(simple, blend, *, val_probs, val_labels, eval_probs, eval_labels, eval_dataset,
                         label_names, fine_tuned_seconds: float) -> tuple[np.ndarray, SimpleModelFigures]:
    """(the simple model's probabilities on the evaluated rows, the figures the summary and verdict need)."""
    start = time.perf_counter()
    simple_eval = simple.model.probabilities(split_texts(eval_dataset))
    simple_seconds = time.perf_counter() - start
    figures = compared_figures(
        at_own_thresholds(val_probs, val_labels, eval_probs, eval_labels, label_names),
        at_own_thresholds(simple.validation_probs, val_labels, simple_eval, eval_labels, label_names), blend,
        fit_seconds=simple.seconds, fine_tuned_seconds=fine_tuned_seconds, simple_seconds=simple_seconds,
        metric="macro-F1 over the labels")
    return simple_eval, figures


def finish_multilabel(run: RunFolder, summary: Summary, *, val_logits: np.ndarray, eval_logits: np.ndarray,
                      validation, evaluation, evaluated_on: str, label_names: list[str], simple, seed: int,
                      eval_seconds: float, preprocessing: dict[str, Any],
                      keep_simple_model: Callable[..., None]) -> Summary:
    """Blend or not (decided on validation), tune and save thresholds, write eval.json, predictions, summary.

    ``keep_simple_model(run, model, blend)`` saves the simple model (and into ``model/`` when the blend won)."""
    val_labels, eval_labels = labels_of(validation), labels_of(evaluation)
    val_probs, eval_probs = sigmoid(val_logits), sigmoid(eval_logits)
    final_val, final_eval = val_probs, eval_probs
    blend = None
    if simple is not None:
        blend = choose_multilabel_blend(val_probs, simple.validation_probs, val_labels, label_names, seed=seed)
        simple_eval, summary.simple_model = simple_model_figures(
            simple, blend, val_probs=val_probs, val_labels=val_labels, eval_probs=eval_probs,
            eval_labels=eval_labels, eval_dataset=evaluation, label_names=label_names,
            fine_tuned_seconds=eval_seconds)
        final_val = blend_probabilities(val_probs, simple.validation_probs, blend.weight)
        final_eval = blend_probabilities(eval_probs, simple_eval, blend.weight)
    report = finalize_multilabel_run(run.path, val_logits=val_logits, val_probs=final_val, val_labels=val_labels,
                                     test_probs=final_eval, test_labels=eval_labels, label_names=label_names,
                                     evaluated_on=evaluated_on, preprocessing=preprocessing)
    if blend is not None:
        keep_simple_model(run, simple.model, blend)
    summary.metrics = {**report.metrics, "threshold_note": report.thresholds.note}  # said as training ends
    summary.accuracy, summary.macro_f1 = report.metrics["accuracy"], report.metrics["macro_f1"]
    summary.calibration = CalibrationFigures(temperature=1.0, ece=report.calibration["ece"],
                                             ece_calibrated=report.calibration["ece"])
    write_multilabel_predictions(run.predictions, evaluation, final_eval, label_names,
                                 report.thresholds.vector(label_names))
    summary.write(run.summary)
    return summary
