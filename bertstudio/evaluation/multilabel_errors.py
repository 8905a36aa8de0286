"""The error browser for multi-label runs: per text, the labels it has, those the model gave, and what was
missed and what was added.

The columns and tags are those of :func:`bertstudio.evaluation.errors_table.error_table`, so the app's filters
and sorting work unchanged; for label sets they mean:

- confident-and-wrong: the set is wrong although every label decision was far from its threshold;
- right-but-unsure: the set is right, but some label's probability was close to its threshold (could flip);
- near miss: wrong by exactly one label (one missed or one extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from bertstudio.evaluation.errors_table import (
    LABEL_SET_SEPARATOR,
    TAG_CONFIDENT_WRONG,
    TAG_NEAR_MISS,
    TAG_SEPARATOR,
    TAG_UNSURE_RIGHT,
)
from bertstudio.evaluation.multilabel_metrics import label_set_names, predict_sets

if TYPE_CHECKING:
    import pandas as pd

UNSURE_DISTANCE = 0.1  # a probability this close to its threshold could flip with a small change of the text
CONFIDENT_DISTANCE = 0.3  # every decision at least this far from its threshold: the model was sure


def multilabel_error_table(texts: Sequence[str], labels: np.ndarray, probs: np.ndarray, label_names: Sequence[str],
                           thresholds: Sequence[float], *, text_pairs: Sequence[str] | None = None) -> pd.DataFrame:
    import pandas as pd

    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    pred = predict_sets(p, t)
    wrong_labels = (pred != y).sum(axis=1)
    correct = wrong_labels == 0
    distance = np.abs(p - t).min(axis=1) if p.size else np.zeros(len(y))
    certainty = np.where(pred > 0, p, 1 - p).min(axis=1) if p.size else np.zeros(len(y))
    clipped = np.clip(p, 1e-12, 1 - 1e-12)
    loss = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).mean(axis=1) if p.size else np.zeros(len(y))
    entropy = -(clipped * np.log(clipped) + (1 - clipped) * np.log(1 - clipped)).mean(axis=1) if p.size else loss
    tags = []
    for ok, dist, n_wrong in zip(correct, distance, wrong_labels):
        row = [TAG_CONFIDENT_WRONG] if not ok and dist >= CONFIDENT_DISTANCE else []
        row += [TAG_UNSURE_RIGHT] if ok and dist < UNSURE_DISTANCE else []
        row += [TAG_NEAR_MISS] if n_wrong == 1 else []
        tags.append(TAG_SEPARATOR.join(row))
    columns = {"row": np.arange(len(y)), "text": list(texts)}
    if text_pairs is not None:
        columns["text_pair"] = list(text_pairs)
    names = list(label_names)
    columns.update({
        "label": [_joined(label_set_names(r, names)) for r in y],
        "predicted": [_joined(label_set_names(r, names)) for r in pred],
        "missed": [_joined(label_set_names((a > 0) & (b == 0), names)) for a, b in zip(y, pred)],
        "extra": [_joined(label_set_names((a == 0) & (b > 0), names)) for a, b in zip(y, pred)],
        "correct": correct, "confidence": certainty, "loss": loss, "entropy": entropy, "margin": distance,
        "true_rank": wrong_labels + 1, "tags": tags,
    })
    return pd.DataFrame(columns)


def _joined(names: list[str]) -> str:
    return LABEL_SET_SEPARATOR.join(names)
