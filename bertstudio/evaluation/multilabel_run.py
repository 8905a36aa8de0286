"""Evaluating a saved multi-label run again: on its test rows or on another labelled file, with the thresholds
saved with its model (tuned on validation when it was trained), and its error table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from bertstudio.data.findings import Finding
from bertstudio.data.inspect import read_and_prepare
from bertstudio.data.multilabel import LabelSettings
from bertstudio.errors import DataError
from bertstudio.evaluation.blend import blend_probabilities, saved_simple_probabilities
from bertstudio.evaluation.features import make_dataset
from bertstudio.evaluation.multilabel_errors import multilabel_error_table
from bertstudio.evaluation.multilabel_metrics import ThresholdChoice, label_vectors, saved_choice, sigmoid
from bertstudio.evaluation.multilabel_report import (
    MultiLabelReport,
    build_multilabel_report,
    write_multilabel_predictions,
)
from bertstudio.evaluation.report import read_preprocessing
from bertstudio.results import Preprocessing
from bertstudio.runs import RunFolder, atomic_write_json

if TYPE_CHECKING:
    import pandas as pd


def saved_thresholds(prep: Preprocessing) -> ThresholdChoice:
    """The thresholds saved with the model, with what training said of them (evaluating again kept only "saved
    with the model")."""
    return saved_choice(prep.label_names, dict(prep.thresholds), prep.threshold, prep.threshold_note,
                        prep.threshold_fallback)


def label_matrix_of(cells: list[str], label_names: list[str], where: str) -> np.ndarray:
    labels = label_vectors(cells, label_names)
    if labels is None:
        raise DataError(f"{where} has labels the model was never trained on.",
                        f"The model only knows: {', '.join(label_names)}. Fix those labels, or remove those rows.")
    return labels


def multilabel_predictions_dataset(run_dir: Path, prep: Preprocessing, frame: pd.DataFrame):
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    labels = label_matrix_of(frame["label"].tolist(), list(prep.label_names), RunFolder(run_dir).predictions.name)
    return make_dataset(frame["text"].tolist(), pairs, labels.tolist())


def multilabel_file_dataset(path: str | Path, prep: Preprocessing, *, text_column: str | None,
                            label_column: str | None, text_pair_column: str | None,
                            sheet: str | None = None) -> tuple[Any, list[Finding]]:
    """Rows of another labelled file, read with the run's label layout (separator or 0/1 columns), and the notes
    on reading it (labels read as the model spells them)."""
    layout = LabelSettings(task="multi_label", separator=prep.label_separator, label_columns=prep.label_columns,
                           label_names=list(prep.label_names))
    _, _, prepared = read_and_prepare(str(path), text_column=text_column or prep.text_column,
                                      label_column=label_column, text_pair_column=text_pair_column or "",
                                      casefold_labels=prep.casefold_labels, labels=layout, sheet=sheet)
    prepared.raise_if_errors(scoring=True)
    pairs = prepared.dataset["text_pair"] if prepared.has_pair else None
    notes = [f for f in prepared.report.findings if f.code == "labels_read_as"]
    return make_dataset(prepared.dataset["text"], pairs, prepared.dataset["label"]), notes


def final_probabilities(run_dir: Path, prep: Preprocessing, logits: np.ndarray, dataset) -> np.ndarray:
    """Each label's probability as the run's final model gives it (with the blend, when the run kept one)."""
    probs = sigmoid(logits)
    if prep.blend_weight < 1:
        pairs = dataset["text_pair"] if "text_pair" in dataset.column_names else None
        simple = saved_simple_probabilities(RunFolder(run_dir).model, dataset["text"], pairs)
        probs = blend_probabilities(probs, simple, prep.blend_weight)
    return probs


def evaluate_multilabel(run_dir: Path, dataset, logits: np.ndarray, *, evaluated_on: str,
                        data: str | Path | None, notes: Sequence[Finding] = ()) -> MultiLabelReport:
    prep = read_preprocessing(run_dir)
    names = list(prep.label_names)
    labels = np.asarray(dataset["label"], dtype=np.int64)
    probs = final_probabilities(run_dir, prep, logits, dataset)
    report = build_multilabel_report(probs, labels, names, saved_thresholds(prep), evaluated_on=evaluated_on)
    report.notes = list(notes)
    if data is not None:
        write_multilabel_predictions(RunFolder(run_dir).predictions_on(data), dataset, probs, names,
                                     prep.threshold_vector())
    path = RunFolder(run_dir).eval_on(data)
    atomic_write_json(path, report.to_dict())
    report.path = path
    return report


def multilabel_error_table_of(frame: pd.DataFrame, prep: Preprocessing, where: str) -> pd.DataFrame:
    names = list(prep.label_names)
    probs = frame[[f"prob_{name}" for name in names]].astype(float).to_numpy()
    labels = label_matrix_of(frame["label"].tolist(), names, where)
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    return multilabel_error_table(frame["text"].tolist(), labels, probs, names, prep.threshold_vector(),
                                  text_pairs=pairs)


def raise_single_label_only(check: str) -> None:
    raise DataError(f"{check} works on runs with one label per text; this run has several labels per text.",
                    "The simple word-count model trained beside the run is its baseline: see its verdict in the "
                    "summary (Train and Evaluate tabs).")
