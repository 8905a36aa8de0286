"""A multi-label run's final scoring: thresholds tuned on validation, saved with the model, and eval.json.

Like :func:`bertstudio.evaluation.report.finalize_run` for single-label runs: the thresholds are always
chosen on the validation split, never on the rows being evaluated; the figures at the plain 0.5 threshold are
kept beside the tuned ones so the gain is visible.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bertstudio.data.findings import Finding
from bertstudio.evaluation.metrics import left_out_note
from bertstudio.evaluation.multilabel_metrics import (
    DEFAULT_THRESHOLD,
    ThresholdChoice,
    label_set_names,
    multilabel_metrics,
    per_label_calibration,
    predict_sets,
    tune_thresholds,
)
from bertstudio.evaluation.report import read_preprocessing, save_validation_logits
from bertstudio.runs import RunFolder, atomic_write_json
from bertstudio.safe_csv import write_csv

SAME_ROWS_NOTE = ("These are validation rows, the same the thresholds were tuned on, so the figures are "
                  "optimistic; a test split gives honest ones.")


@dataclass
class MultiLabelReport:
    evaluated_on: str
    metrics: dict[str, Any]  # at the tuned thresholds
    metrics_at_half: dict[str, Any]  # at 0.5 for every label
    thresholds: ThresholdChoice
    calibration: dict[str, Any]
    path: Path | None = None
    notes: list[Finding] = field(default_factory=list)  # how another file was read (labels read as the model's)

    def headline(self) -> dict[str, Any]:
        """The figures a person reads first (the CLI's last line)."""
        m = self.metrics
        out = {k: m[k] for k in ("accuracy", "macro_f1", "micro_f1", "hamming_loss", "label_ranking_average_precision")}
        out.update(ece=self.calibration["ece"], rows=m["rows"], evaluated_on=self.evaluated_on)
        if self.path is not None:
            out["eval_file"] = str(self.path)
        return out

    def lines(self) -> list[str]:
        m, half = self.metrics, self.metrics_at_half
        return [f"Evaluated on {self.evaluated_on} ({m['rows']:,} rows, several labels per text): macro-F1 "
                f"{m['macro_f1']:.4f} (at 0.5 for every label: {half['macro_f1']:.4f}), micro-F1 {m['micro_f1']:.4f}, "
                f"every label right (subset accuracy) {m['accuracy']:.4f}, Hamming loss {m['hamming_loss']:.4f}, "
                f"label ranking average precision {m['label_ranking_average_precision'] or float('nan'):.4f}",
                *self.left_out_lines(),
                f"Calibration error (ECE, every label's probabilities pooled): {self.calibration['ece']:.4f}",
                self.thresholds.note]

    def left_out_lines(self) -> list[str]:
        """The note on labels no text here has (left out of macro-F1), as single-label evaluation prints it."""
        m = self.metrics
        if not m.get("left_out"):
            return []
        return [f"Note: {left_out_note(m['left_out'], m.get('left_out_predicted'), multi_label=True)}"]

    def to_dict(self) -> dict[str, Any]:
        note = self.thresholds.note + (f" {SAME_ROWS_NOTE}" if self.evaluated_on == "validation" else "")
        return {"evaluated_on": self.evaluated_on, **self.metrics, "log_loss": self.metrics["loss"],
                "at_threshold_0_5": {k: self.metrics_at_half[k] for k in
                                     ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "hamming_loss")},
                "threshold_choice": {**self.thresholds.to_dict(), "note": note},
                "calibration_per_label": self.calibration, "ece": self.calibration["ece"],
                "temperature": 1.0, "created_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                **({"notes": [note.message for note in self.notes]} if self.notes else {})}


def save_thresholds(run_dir: Path, choice: ThresholdChoice, **extra: Any) -> None:
    """Record the thresholds (and the multi-label problem type) where prediction reads them."""
    prep = read_preprocessing(run_dir)
    prep.model_copy(update={"problem_type": "multi_label_classification", "thresholds": dict(choice.per_label),
                            "threshold": float(choice.global_threshold), "threshold_note": choice.note,
                            "threshold_fallback": list(choice.fallback_labels), **extra}
                    ).write(RunFolder(run_dir).preprocessing)


def build_multilabel_report(probs: np.ndarray, labels: np.ndarray, label_names: Sequence[str],
                            choice: ThresholdChoice, *, evaluated_on: str) -> MultiLabelReport:
    return MultiLabelReport(evaluated_on=evaluated_on,
                            metrics=multilabel_metrics(labels, probs, label_names, choice.vector(label_names)),
                            metrics_at_half=multilabel_metrics(labels, probs, label_names, DEFAULT_THRESHOLD),
                            thresholds=choice, calibration=per_label_calibration(labels, probs, label_names))


def finalize_multilabel_run(run_dir: str | Path, *, val_logits: np.ndarray, val_probs: np.ndarray,
                            val_labels: np.ndarray, test_probs: np.ndarray, test_labels: np.ndarray,
                            label_names: Sequence[str], evaluated_on: str = "test",
                            preprocessing: dict[str, Any] | None = None) -> MultiLabelReport:
    """Tune thresholds on validation, save them and the validation logits, write eval.json."""
    run_dir = Path(run_dir)
    save_validation_logits(run_dir, val_logits, val_labels, label_names)
    choice = tune_thresholds(val_labels, val_probs, label_names)
    save_thresholds(run_dir, choice, **(preprocessing or {}))
    report = build_multilabel_report(test_probs, test_labels, label_names, choice, evaluated_on=evaluated_on)
    atomic_write_json(RunFolder(run_dir).eval, report.to_dict())
    report.path = RunFolder(run_dir).eval
    return report


def write_multilabel_predictions(path: Path, dataset, probs: np.ndarray, label_names: Sequence[str],
                                 thresholds: Sequence[float]) -> None:
    """test_predictions.csv for a multi-label run: the true and predicted label sets, what was missed and what
    was added, and every label's probability (labels joined by '; ')."""
    import pandas as pd

    labels = np.asarray(dataset["label"])
    pred = predict_sets(probs, thresholds)
    frame = pd.DataFrame({"text": dataset["text"]})
    if "text_pair" in dataset.column_names:
        frame["text_pair"] = dataset["text_pair"]
    frame["label"] = [join_labels(label_set_names(row, label_names)) for row in labels]
    frame["predicted"] = [join_labels(label_set_names(row, label_names)) for row in pred]
    frame["missed"] = [join_labels(label_set_names((y > 0) & (p == 0), label_names)) for y, p in zip(labels, pred)]
    frame["extra"] = [join_labels(label_set_names((y == 0) & (p > 0), label_names)) for y, p in zip(labels, pred)]
    frame["correct"] = (pred == (labels > 0)).all(axis=1)
    frame["confidence"] = np.where(pred > 0, probs, 1 - probs).min(axis=1) if len(probs) else []
    p = np.clip(probs, 1e-12, 1 - 1e-12)
    frame["loss"] = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean(axis=1) if len(probs) else []
    for i, name in enumerate(label_names):
        frame[f"prob_{name}"] = probs[:, i]
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write_csv(frame, tmp)
    os.replace(tmp, path)


def join_labels(names: Sequence[str]) -> str:
    return "; ".join(names)
