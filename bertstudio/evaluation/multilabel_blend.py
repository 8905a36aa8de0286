"""The blend with the simple word-count model, for several labels per text.

The same rule as single-label (``blend.py``): a weight chosen on validation, used only when it beats the better
of the two models by at least ``MIN_GAIN`` macro-F1 and on at least ``MIN_WIN_SHARE`` of bootstrap resamples.
Each candidate (either model alone, or a blend) is scored at thresholds tuned for it on the same validation
rows, so no model is judged at thresholds that suit another; the figures compared are all equally optimistic.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bertstudio.evaluation.blend import (
    BOOTSTRAP_ROUNDS,
    MIN_GAIN,
    MIN_WIN_SHARE,
    WEIGHTS,
    BlendChoice,
    blend_probabilities,
    blend_reason,
)
from bertstudio.evaluation.multilabel_metrics import predict_sets, tune_thresholds


def macro_f1_sets(labels: np.ndarray, predicted: np.ndarray) -> float:
    y, p = labels.astype(bool), predicted.astype(bool)
    tp = (y & p).sum(axis=0)
    denominator = y.sum(axis=0) + p.sum(axis=0)
    return float(np.divide(2 * tp, denominator, out=np.zeros(y.shape[1]), where=denominator > 0).mean())


def tuned_sets(probs: np.ndarray, labels: np.ndarray, label_names: Sequence[str]) -> np.ndarray:
    return predict_sets(probs, tune_thresholds(labels, probs, label_names).vector(label_names))


def _win_share(labels: np.ndarray, blend: np.ndarray, best_single: np.ndarray, seed: int) -> float:
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(BOOTSTRAP_ROUNDS):
        rows = rng.integers(0, len(labels), len(labels))
        wins += macro_f1_sets(labels[rows], blend[rows]) > macro_f1_sets(labels[rows], best_single[rows])
    return wins / BOOTSTRAP_ROUNDS


def choose_multilabel_blend(fine_tuned: np.ndarray, simple: np.ndarray, labels: np.ndarray,
                            label_names: Sequence[str], *, seed: int = 0) -> BlendChoice:
    """The weight with the best validation macro-F1 (each at its own tuned thresholds), used only if it beats
    both models clearly."""
    y = np.asarray(labels, dtype=np.int64)
    sets = {w: tuned_sets(blend_probabilities(fine_tuned, simple, w), y, label_names) for w in WEIGHTS}
    scores = {w: macro_f1_sets(y, s) for w, s in sets.items()}
    fine_f1, simple_f1 = scores[1.0], scores[0.0]
    best_weight = max(scores, key=lambda w: (scores[w], w))
    best_single = sets[1.0] if fine_f1 >= simple_f1 else sets[0.0]
    gain = scores[best_weight] - max(fine_f1, simple_f1)
    share = _win_share(y, sets[best_weight], best_single, seed) if 0.0 < best_weight < 1.0 and gain > 0 else 0.0
    used = 0.0 < best_weight < 1.0 and gain >= MIN_GAIN and share >= MIN_WIN_SHARE
    reason = blend_reason(used, best_weight, scores[best_weight], gain, share,
                          " (each label at its tuned threshold)")
    return BlendChoice(weight=best_weight if used else 1.0, used=used, fine_tuned_f1=fine_f1, simple_f1=simple_f1,
                       blend_f1=scores[best_weight], win_share=share, reason=reason)
