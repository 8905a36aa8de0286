"""Every figure of a multi-label classifier, from 0/1 label vectors and per-label probabilities (numpy alone).

A label is predicted when its probability reaches its threshold.  During training the best checkpoint is
picked by macro-F1 at the plain threshold 0.5 (thresholds are tuned once, on the best model, not at every
evaluation); the final figures use the thresholds tuned on validation (:func:`tune_thresholds`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from bertstudio.data.findings import count_noun
from bertstudio.evaluation.calibration import reliability_of
from bertstudio.evaluation.metrics import left_out_predictions

DEFAULT_THRESHOLD = 0.5
# A label's own threshold needs validation positives to be tuned on; with fewer, the global threshold
# (tuned on all labels together) is used.  Below ~5 positives one row moves a label's F1 by 20+ points, so a
# per-label optimum is noise.
MIN_POSITIVES_FOR_OWN_THRESHOLD = 5
THRESHOLD_GRID = tuple(round(t, 2) for t in np.arange(0.05, 0.951, 0.05))
CALIBRATION_BINS = 10


# A multi-label run's "accuracy" is the subset accuracy: the share of texts whose every label is right.  Named so
# wherever it is shown: "accuracy 0.0%" beside a macro-F1 of 77% read as a broken model.
EXACT_MATCH = "exact match"


def accuracy_name(multi_label: bool) -> str:
    """What a run's ``accuracy`` is called: "exact match" with several labels per text."""
    return EXACT_MATCH if multi_label else "accuracy"


def sigmoid(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def is_multi_label(labels: np.ndarray) -> bool:
    """Multi-label data carries a 0/1 vector per row; single-label data one class id."""
    return np.asarray(labels).ndim == 2


def predict_sets(probs: np.ndarray, thresholds: float | Sequence[float] = DEFAULT_THRESHOLD) -> np.ndarray:
    """0/1 decisions: each label whose probability reaches its threshold."""
    return (np.asarray(probs) >= np.asarray(thresholds, dtype=np.float64)).astype(np.int64)


def binary_cross_entropy(labels: np.ndarray, probs: np.ndarray) -> float:
    if not len(labels):
        return float("nan")
    p = np.clip(probs, 1e-12, 1 - 1e-12)
    return float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean())


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def label_ranking_average_precision(labels: np.ndarray, probs: np.ndarray) -> float | None:
    """sklearn's LRAP: for each true label, the share of labels ranked at or above it that are true; rows
    without any true label count as 1 (as sklearn does)."""
    if not len(labels):
        return None
    scores = []
    for y, p in zip(labels.astype(bool), probs):
        if not y.any() or y.all():
            scores.append(1.0)
            continue
        ranks_all = (p[None, :] >= p[y][:, None]).sum(axis=1)
        ranks_true = (p[y][None, :] >= p[y][:, None]).sum(axis=1)
        scores.append(float((ranks_true / ranks_all).mean()))
    return float(np.mean(scores))


def label_outcomes(tp: float, fp: float, fn: float, rows: int) -> dict[str, int]:
    """One label's 2x2: texts that have it and got it (found), have it but not given (missed), given without
    having it (extra), and neither (the label's own confusion matrix)."""
    return {"found": int(tp), "missed": int(fn), "extra": int(fp), "neither": int(rows - tp - fp - fn)}


def multilabel_metrics(labels: np.ndarray, probs: np.ndarray, label_names: Sequence[str],
                       thresholds: float | Sequence[float] = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """Micro/macro/weighted F1, per-label precision/recall/F1/support, subset accuracy, Hamming loss, LRAP.

    ``accuracy`` is the subset accuracy (every label of the text right), the strictest figure; the keys match
    :func:`bertstudio.evaluation.metrics.classification_metrics` so the loop and the summary read either.
    """
    y = np.asarray(labels, dtype=np.int64).reshape(len(labels), len(label_names))
    pred = predict_sets(probs, thresholds) if len(y) else np.zeros_like(y)
    tp = (pred & y).sum(axis=0).astype(np.float64)
    fp = (pred & (1 - y)).sum(axis=0).astype(np.float64)
    fn = ((1 - pred) & y).sum(axis=0).astype(np.float64)
    support = y.sum(axis=0)
    f1 = _f1(tp, fp, fn)
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
    micro = float(_f1(tp.sum(), fp.sum(), fn.sum()))
    weighted = float((f1 * support).sum() / support.sum()) if support.sum() else 0.0
    n = len(y)
    # A label no text here has has no F1 to measure: left out of the macro average, as for classes (texts given it
    # anyway are counted in left_out_predicted, and count against subset accuracy, Hamming loss and micro-F1).
    scored = support > 0
    return {
        "accuracy": float((pred == y).all(axis=1).mean()) if n else float("nan"),
        "macro_f1": float(f1[scored].mean()) if scored.any() else (float(f1.mean()) if len(f1) else 0.0),
        "micro_f1": micro,
        "weighted_f1": weighted,
        "hamming_loss": float((pred != y).mean()) if n else float("nan"),
        "label_ranking_average_precision": label_ranking_average_precision(y, np.asarray(probs)),
        "loss": binary_cross_entropy(y, np.asarray(probs, dtype=np.float64)) if n else float("nan"),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(support[i]), **label_outcomes(tp[i], fp[i], fn[i], n)}
                      for i, name in enumerate(label_names)},
        "labels": list(label_names),
        "left_out": [name for name, counted in zip(label_names, scored) if not counted],
        "left_out_predicted": left_out_predictions(pred.sum(axis=0), np.flatnonzero(scored).tolist(), label_names),
        "rows": int(n),
        "task": "multi_label",
        "thresholds": [float(t) for t in np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (len(label_names),))],
        "labels_per_text": float(y.sum(axis=1).mean()) if n else 0.0,
        "predicted_labels_per_text": float(pred.sum(axis=1).mean()) if n else 0.0,
    }


@dataclass
class ThresholdChoice:
    """Decision thresholds tuned on validation: one per label that has positives enough, a global one else."""

    global_threshold: float
    per_label: dict[str, float]
    fallback_labels: list[str] = field(default_factory=list)  # too few validation positives: the global one
    note: str = ""

    def vector(self, label_names: Sequence[str]) -> list[float]:
        return [self.per_label.get(name, self.global_threshold) for name in label_names]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _best_threshold(y: np.ndarray, p: np.ndarray, score) -> float:
    """The grid threshold with the best ``score``; ties go to the one closest to 0.5 (the least tuned)."""
    scores = [(score(y, p >= t), -abs(t - DEFAULT_THRESHOLD), t) for t in THRESHOLD_GRID]
    return float(max(scores)[2])


def _micro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float((pred & y.astype(bool)).sum())
    return float(_f1(np.array(tp), np.array(float((pred & ~y.astype(bool)).sum())),
                     np.array(float((~pred & y.astype(bool)).sum()))))


def tune_thresholds(labels: np.ndarray, probs: np.ndarray, label_names: Sequence[str], *,
                    min_positives: int = MIN_POSITIVES_FOR_OWN_THRESHOLD) -> ThresholdChoice:
    """Per-label thresholds maximising each label's F1 on validation, and a global one maximising micro-F1."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if not len(y):
        return ThresholdChoice(DEFAULT_THRESHOLD, {}, list(label_names), "No validation rows: every label uses 0.5.")
    global_t = _best_threshold(y, p, _micro_f1)
    per_label, fallback = {}, []
    for j, name in enumerate(label_names):
        if y[:, j].sum() < min_positives:
            fallback.append(name)
            continue
        per_label[name] = _best_threshold(y[:, j:j + 1], p[:, j:j + 1], _micro_f1)
    return ThresholdChoice(global_t, per_label, fallback, threshold_note(len(y), per_label, fallback, global_t,
                                                                         min_positives))


def threshold_note(rows: int, per_label: dict[str, float], fallback: Sequence[str], global_t: float,
                   min_positives: int) -> str:
    """What tuning chose, in words. A label's tuned threshold is often 0.5 itself: when validation separates a
    label well, every threshold across the gap scores the same and the tie goes to 0.5. Saying "has its own" then
    read as if the tuning had failed, so the note says which thresholds moved and which stayed at 0.5."""
    moved = {name: t for name, t in per_label.items() if t != DEFAULT_THRESHOLD}
    stayed = len(per_label) - len(moved)
    clauses = []
    if moved:
        own = "a threshold of its own" if len(moved) == 1 else "thresholds of their own"
        clauses.append(f"{count_noun(len(moved), 'label')} got {own} ("
                       + ", ".join(f"{name} {t:.2f}" for name, t in moved.items()) + ")")
    if stayed:
        who = "every label" if stayed == len(per_label) + len(fallback) else count_noun(stayed, "label")
        clauses.append(f"{who} kept 0.5, because no other threshold did better on validation")
    if fallback:
        clauses.append(f"{count_noun(len(fallback), 'label')} with fewer than {min_positives} validation examples "
                       f"{'uses' if len(fallback) == 1 else 'use'} the threshold tuned on all labels together, "
                       f"{global_t:.2f}")
    return f"Thresholds tuned on {rows:,} validation rows: " + "; ".join(clauses) + "."


def saved_choice(label_names: Sequence[str], per_label: dict[str, float], global_t: float, note: str = "",
                 fallback: Sequence[str] = ()) -> ThresholdChoice:
    """The thresholds a model was saved with (``preprocessing.json``), with what training said of them; a model
    saved before that note was kept gets one from the thresholds themselves."""
    fallback = list(fallback) or [name for name in label_names if name not in per_label]
    return ThresholdChoice(global_t, dict(per_label), fallback,
                           note or saved_threshold_note(per_label, fallback, global_t))


def saved_threshold_note(per_label: dict[str, float], fallback: Sequence[str], global_t: float) -> str:
    """``threshold_note`` without the validation rows it was tuned on: for models saved before the note was."""
    moved = {name: t for name, t in per_label.items() if t != DEFAULT_THRESHOLD}
    clauses = [", ".join(f"{name} {t:.2f}" for name, t in moved.items())] if moved else []
    if fallback:
        clauses.append(f"{', '.join(fallback)} {global_t:.2f} (too few validation examples for one of their own)")
    if len(per_label) > len(moved):
        clauses.append(f"{'the others' if clauses else 'every label'} 0.50")
    return ("Thresholds saved with the model, tuned on the validation split when it was trained: "
            + "; ".join(clauses) + ".")


def per_label_calibration(labels: np.ndarray, probs: np.ndarray, label_names: Sequence[str],
                          n_bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Expected calibration error of each label's probability (is "70%" there 70% of the time?), and overall
    (every label's probabilities pooled, with that pooled reliability diagram, which the Evaluate tab draws)."""
    y = np.asarray(labels, dtype=np.float64).reshape(len(labels), len(label_names))
    p = np.asarray(probs, dtype=np.float64).reshape(y.shape)

    def ece(yy: np.ndarray, pp: np.ndarray) -> float | None:
        return reliability_of(pp, yy, n_bins).ece if len(yy) else None

    pooled = reliability_of(p.ravel(), y.ravel(), n_bins)
    return {"ece": pooled.ece if len(y) else None, "bins": n_bins, "reliability": pooled.to_dict(),
            "per_label": {name: ece(y[:, j], p[:, j]) for j, name in enumerate(label_names)}}


def label_set_names(row: np.ndarray, label_names: Sequence[str]) -> list[str]:
    return [label_names[j] for j in np.flatnonzero(np.asarray(row) > 0)]


def label_vectors(cells: Sequence[str], label_names: Sequence[str]) -> np.ndarray | None:
    """"a; b" cells as 0/1 vectors; None when a cell names a label the model does not know."""
    index = {name: i for i, name in enumerate(label_names)}
    out = np.zeros((len(cells), len(label_names)), dtype=np.int64)
    for row, cell in enumerate(cells):
        for name in (part.strip() for part in str(cell).split(";")):
            if name and name not in index:
                return None
            if name:
                out[row, index[name]] = 1
    return out
