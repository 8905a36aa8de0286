"""The blend with the simple word-count model, for several labels per text.

The same rule as single-label (``blend.py``): a weight chosen on validation, used only when it beats the better
of the two models by at least ``MIN_GAIN`` macro-F1 and on at least ``MIN_WIN_SHARE`` of bootstrap resamples.
Each candidate (either model alone, or a blend) is scored at thresholds tuned for it on the same validation
rows, so no model is judged at thresholds that suit another; the figures compared are all equally optimistic.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bertstudio.evaluation.blend import WEIGHTS, BlendChoice, blend_probabilities, decide_blend
from bertstudio.evaluation.multilabel_metrics import predict_sets, tune_thresholds


def macro_f1_sets(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over the labels some text has, as ``multilabel_metrics`` scores it (a label no text has is left
    out, not counted as 0)."""
    y, p = labels.astype(bool), predicted.astype(bool)
    tp = (y & p).sum(axis=0)
    denominator = y.sum(axis=0) + p.sum(axis=0)
    f1 = np.divide(2 * tp, denominator, out=np.zeros(y.shape[1]), where=denominator > 0)
    present = y.any(axis=0)
    return float(f1[present].mean()) if present.any() else 0.0


def tuned_sets(probs: np.ndarray, labels: np.ndarray, label_names: Sequence[str]) -> np.ndarray:
    return predict_sets(probs, tune_thresholds(labels, probs, label_names).vector(label_names))


def choose_multilabel_blend(fine_tuned: np.ndarray, simple: np.ndarray, labels: np.ndarray,
                            label_names: Sequence[str], *, seed: int = 0) -> BlendChoice:
    """The weight with the best validation macro-F1 (each at its own tuned thresholds), used only if it beats
    both models clearly."""
    y = np.asarray(labels, dtype=np.int64)
    sets = {w: tuned_sets(blend_probabilities(fine_tuned, simple, w), y, label_names) for w in WEIGHTS}
    return decide_blend(sets, y, macro_f1_sets, seed=seed, how=" (each label at its tuned threshold)")
