"""Does an exported model still predict what the trained one did?

Every export is run on validation rows next to the PyTorch model it came from:
the largest logit difference shows numerical drift, label agreement shows
whether users would see different answers, and on labelled rows the change in
accuracy and macro-F1 shows what a smaller model (INT8) costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from bertstudio.evaluation.metrics import classification_metrics
from bertstudio.evaluation.multilabel_metrics import label_vectors, multilabel_metrics, predict_sets, sigmoid
from bertstudio.results import ParityReport
from bertstudio.runs import RunFolder
from bertstudio.safe_csv import read_escaped_csv

# Generic sentences for a parity check when a model comes without its run's test rows.
FALLBACK_TEXTS = (
    "The parcel arrived two weeks late and the box was crushed.",
    "Great quality, I would buy this again.",
    "I was charged twice for the same order.",
    "It stopped working after three days.",
    "ok",
    "Customer service answered quickly and solved my problem, thank you so much for the help!",
    "Terrible experience from start to finish; nobody replied to my emails for a month.",
    "Not bad, not great.",
    "Where is my refund?",
    "The colour is different from the picture but the fit is perfect.",
    "An absolutely wonderful film with a moving story and brilliant acting.",
    "The match was postponed because of heavy rain in the city.",
    "Shares fell sharply after the company reported lower profits.",
    "Scientists found a new species of frog in the rainforest.",
    "This is the worst product I have ever bought.",
    "Delivery was fast.",
)


@dataclass
class ValidationRows:
    """Texts to compare models on; labels (class indices) when the rows come from a labelled test split."""

    texts: list[str]
    pairs: list[str] | None
    labels: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(self.texts)


def rows_from_predictions(path: Path, label_names: Sequence[str], text_pair: bool,
                          max_rows: int | None, *, multi_label: bool = False) -> ValidationRows:
    """The run's ``test_predictions.csv``: held-out texts with their true labels (0/1 vectors: multi-label)."""
    frame = read_escaped_csv(path, dtype=str, keep_default_na=False, nrows=max_rows)
    index = {name: i for i, name in enumerate(label_names)}
    labels = None
    if multi_label and "label" in frame.columns:
        labels = label_vectors(frame["label"].tolist(), label_names)
    elif "label" in frame.columns and frame["label"].isin(index).all():
        labels = frame["label"].map(index).to_numpy(dtype=np.int64)
    pairs = frame["text_pair"].tolist() if text_pair and "text_pair" in frame.columns else None
    return ValidationRows(frame["text"].tolist(), pairs, labels, f"{len(frame)} test rows of the run")


def validation_rows(run_dir: Path | None, label_names: Sequence[str], text_pair: bool, *,
                    texts: Sequence[str] | None = None, max_rows: int | None = 500,
                    multi_label: bool = False) -> ValidationRows:
    """Given texts, else the run's labelled test rows, else built-in example sentences."""

    if texts:
        chosen = list(texts)[:max_rows] if max_rows else list(texts)
        return ValidationRows(chosen, chosen if text_pair else None, None, f"{len(chosen)} given texts")
    predictions = RunFolder(run_dir).predictions if run_dir is not None else None
    if predictions is not None and predictions.is_file():
        rows = rows_from_predictions(predictions, label_names, text_pair, max_rows, multi_label=multi_label)
        if len(rows):
            return rows
    examples = list(FALLBACK_TEXTS)
    pairs = examples[1:] + examples[:1] if text_pair else None
    return ValidationRows(examples, pairs, None, f"{len(examples)} example sentences (no test rows in the run)")


def per_window(rows: ValidationRows, text_rows: Sequence[int] | None) -> ValidationRows:
    """``rows`` repeated once per window of each text (``text_row`` of an encoding); unchanged without windows."""
    if text_rows is None:
        return rows
    take = list(text_rows)
    return ValidationRows([rows.texts[i] for i in take], [rows.pairs[i] for i in take] if rows.pairs else None,
                          rows.labels[take] if rows.labels is not None else None, f"{rows.source}, per window")


def compare_logits(reference: np.ndarray, exported: np.ndarray, labels: np.ndarray | None,
                   label_names: Sequence[str], source: str, *,
                   thresholds: Sequence[float] | None = None) -> ParityReport:
    """Pure comparison of two models' logits on the same rows (and their labels, when known).

    ``thresholds``: a multi-label model's; the label sets are compared (and each label's probability)."""

    if thresholds is not None:
        return compare_label_sets(reference, exported, labels, label_names, source, thresholds)
    ref_pred, new_pred = reference.argmax(axis=1), exported.argmax(axis=1)
    report = ParityReport(rows=len(reference), source=source,
                          max_abs_logit_diff=float(np.abs(reference - exported).max()) if len(reference) else 0.0,
                          label_agreement=float((ref_pred == new_pred).mean()) if len(reference) else 1.0)
    if labels is not None and len(labels):
        # Metrics need probabilities only for argmax and loss; one-hot predictions keep this cheap and exact.
        add_scores(report, len(labels), classification_metrics(labels, np.eye(len(label_names))[ref_pred], label_names),
                   classification_metrics(labels, np.eye(len(label_names))[new_pred], label_names))
    return report


def add_scores(report: ParityReport, rows: int, before: dict, after: dict) -> None:
    """Accuracy and macro-F1 on the labelled rows, of the reference and of the export (either task's figures)."""
    report.labelled_rows = rows
    report.reference_accuracy, report.accuracy = before["accuracy"], after["accuracy"]
    report.reference_macro_f1, report.macro_f1 = before["macro_f1"], after["macro_f1"]


def compare_label_sets(reference: np.ndarray, exported: np.ndarray, labels: np.ndarray | None,
                       label_names: Sequence[str], source: str, thresholds: Sequence[float]) -> ParityReport:
    """Multi-label parity: the share of rows given exactly the same label set, the largest difference of any
    label's probability, and (with labels) the change in subset accuracy and macro-F1."""
    ref_probs, new_probs = sigmoid(reference), sigmoid(exported)
    ref_sets, new_sets = predict_sets(ref_probs, thresholds), predict_sets(new_probs, thresholds)
    n = len(reference)
    report = ParityReport(rows=n, source=source,
                          max_abs_logit_diff=float(np.abs(reference - exported).max()) if n else 0.0,
                          label_agreement=float((ref_sets == new_sets).all(axis=1).mean()) if n else 1.0,
                          max_abs_probability_diff=float(np.abs(ref_probs - new_probs).max()) if n else 0.0)
    if labels is not None and len(labels):
        add_scores(report, len(labels), multilabel_metrics(labels, ref_sets, label_names),
                   multilabel_metrics(labels, new_sets, label_names))
    return report
