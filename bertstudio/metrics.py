"""Classification figures used during training and in every summary."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()) if len(labels) else float("nan")


def classification_metrics(labels: Sequence[int], probs: np.ndarray, label_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro/micro/weighted F1, per-class report and confusion matrix.

    Macro-F1 is the headline: on imbalanced data a model that ignores the rare
    classes still scores high accuracy, but not high macro-F1.
    """
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    y = np.asarray(labels, dtype=np.int64)
    pred = probs.argmax(axis=-1) if len(y) else np.zeros(0, dtype=np.int64)
    ids = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=ids, zero_division=0)
    return {
        "accuracy": float((pred == y).mean()) if len(y) else float("nan"),
        "macro_f1": float(f1_score(y, pred, labels=ids, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y, pred, labels=ids, average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(y, pred, labels=ids, average="weighted", zero_division=0)),
        "loss": cross_entropy(probs, y),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(label_names)
        },
        "labels": list(label_names),
        "confusion_matrix": confusion_matrix(y, pred, labels=ids).tolist(),
        "rows": int(len(y)),
    }
