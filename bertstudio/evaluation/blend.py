"""The fine-tuned model against the simple word-count model, and a blend of the two when it really helps.

Everything is decided on the validation split (never on test): the blend's weight, and whether the blend is used
at all. Choosing a weight on validation flatters the blend a little, so it is used only when it beats the better
of the two models on at least ``MIN_WIN_SHARE`` of bootstrap resamples of the validation rows *and* by at least
``MIN_GAIN`` macro-F1: a gain that small data cannot tell from luck is not worth shipping a second model for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from bertstudio.models.word_counts import WordCountModel, joined_texts

WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))  # share of the fine-tuned model's probabilities
MIN_GAIN = 0.005  # half a point of macro-F1
MIN_WIN_SHARE = 0.9
BOOTSTRAP_ROUNDS = 200
SAME_SCORE_POINTS = 0.5  # closer than this (in points) counts as "as good" in the verdict
SCORE_MEANING = "the average of each class's score, where 100% means no mistakes"
RE_DRAWS = f"{BOOTSTRAP_ROUNDS} random re-draws of those texts"


def macro_f1(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """Macro-F1 over the classes with rows in ``labels``, as ``metrics.classification_metrics`` scores it (a class
    without rows is left out, not counted as 0); vectorised so the bootstrap stays cheap."""
    index = labels * n_classes + predicted
    confusion = np.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    true_positive = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros(n_classes), where=denominator > 0)
    present = confusion.sum(axis=1) > 0
    return float(f1[present].mean()) if present.any() else 0.0


def blend_probabilities(fine_tuned: np.ndarray, simple: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` of the fine-tuned model's (calibrated) probabilities plus the rest of the simple model's."""
    return weight * np.asarray(fine_tuned) + (1.0 - weight) * np.asarray(simple)


def saved_simple_probabilities(model_folder: Path, texts: Sequence[str],
                               text_pairs: Sequence[str] | None = None) -> np.ndarray:
    """The probabilities of the simple word-count model a blended run saved beside its weights, on these texts
    (a pair's halves joined, as predict joins them)."""
    return WordCountModel.load(model_folder).probabilities(joined_texts(texts, text_pairs))


@dataclass
class BlendChoice:
    """What validation said: each model's macro-F1, the best blend, and whether it is used."""

    weight: float  # share of the fine-tuned model; 1.0 means the fine-tuned model alone
    used: bool
    fine_tuned_f1: float
    simple_f1: float
    blend_f1: float
    win_share: float  # share of bootstrap resamples where the blend beat the better single model
    reason: str

    def __post_init__(self) -> None:
        # Scores come from numpy: plain Python values, so what is saved reads back as what was decided.
        self.used = bool(self.used)
        for name in ("weight", "fine_tuned_f1", "simple_f1", "blend_f1", "win_share"):
            setattr(self, name, float(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Score = Callable[[np.ndarray, np.ndarray], float]  # (labels, predictions) -> macro-F1


def win_share(labels: np.ndarray, blend: np.ndarray, best_single: np.ndarray, score: Score, seed: int) -> float:
    """Share of bootstrap resamples of the validation rows on which the blend's predictions score higher."""
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(BOOTSTRAP_ROUNDS):
        rows = rng.integers(0, len(labels), len(labels))
        wins += score(labels[rows], blend[rows]) > score(labels[rows], best_single[rows])
    return wins / BOOTSTRAP_ROUNDS


def decide_blend(predictions: dict[float, np.ndarray], labels: np.ndarray, score: Score, *, seed: int,
                 how: str = "") -> BlendChoice:
    """The rule for both tasks: ``predictions`` per weight in ``WEIGHTS`` (1.0: the fine-tuned model alone, 0.0: the
    simple one), scored by ``score``; the best weight is used only if it beats both models clearly."""
    scores = {w: score(labels, predicted) for w, predicted in predictions.items()}
    fine_f1, simple_f1 = scores[1.0], scores[0.0]
    best_weight = max(scores, key=lambda w: (scores[w], w))  # ties go to more of the fine-tuned model
    best_single = predictions[1.0] if fine_f1 >= simple_f1 else predictions[0.0]
    gain = scores[best_weight] - max(fine_f1, simple_f1)
    share = (win_share(labels, predictions[best_weight], best_single, score, seed)
             if 0.0 < best_weight < 1.0 and gain > 0 else 0.0)
    used = 0.0 < best_weight < 1.0 and gain >= MIN_GAIN and share >= MIN_WIN_SHARE
    reason = blend_reason(used, best_weight, scores[best_weight], gain, share, how)
    return BlendChoice(weight=best_weight if used else 1.0, used=used, fine_tuned_f1=fine_f1, simple_f1=simple_f1,
                       blend_f1=scores[best_weight], win_share=share, reason=reason)


def choose_blend(fine_tuned: np.ndarray, simple: np.ndarray, labels: Sequence[int], *, seed: int = 0) -> BlendChoice:
    """The weight with the best validation macro-F1, used only if it beats both models clearly (module doc)."""
    n_classes = fine_tuned.shape[1]
    predictions = {w: blend_probabilities(fine_tuned, simple, w).argmax(axis=1) for w in WEIGHTS}
    return decide_blend(predictions, np.asarray(labels, dtype=np.int64),
                        lambda y, predicted: macro_f1(y, predicted, n_classes), seed=seed)


def blend_reason(used: bool, weight: float, blend_f1: float, gain: float, share: float, how: str = "") -> str:
    """Why the blend is used or not, in one sentence (``how``: how the blend was scored, if worth saying)."""
    # Worded for a person without statistics: "percentage points" rather than "points of macro-F1", and the
    # bootstrap as what it is (random re-draws of the same texts, a check against luck).
    if used:
        return (f"The blend ({weight:.0%} fine-tuned) scored {blend_f1:.1%} macro-F1 on the validation texts{how}, "
                f"{gain * 100:.1f} percentage points more than the better of the two alone, and it came out ahead "
                f"in {share:.0%} of {RE_DRAWS}, so the gain is not luck.")
    if gain < MIN_GAIN:
        return "Blending did not raise the score on the validation texts by half a percentage point or more."
    return (f"The blend's gain ({gain * 100:.1f} percentage points) may be luck: it came out ahead in only "
            f"{share:.0%} of {RE_DRAWS} (it needs {MIN_WIN_SHARE:.0%}).")


def verdict(fine_tuned_f1: float, simple_f1: float, *, speedup: float | None = None, metric: str = "macro-F1") -> str:
    """One sentence a person can act on: does fine-tuning beat a simple word-count model on this data?"""
    gap = (fine_tuned_f1 - simple_f1) * 100
    if gap >= SAME_SCORE_POINTS:
        return (f"The fine-tuned model beats a simple word-count model: {fine_tuned_f1:.1%} against "
                f"{simple_f1:.1%} ({metric}, {SCORE_MEANING}), {gap:.1f} percentage points better.")
    faster = f", and it is about {speedup:,.0f}x faster to run" if speedup and speedup >= 2 else ""
    if gap > -SAME_SCORE_POINTS:
        return (f"A simple word-count model does as well: {simple_f1:.1%} against {fine_tuned_f1:.1%} for the "
                f"fine-tuned model ({metric}, {SCORE_MEANING}){faster}. Consider it, or the blend of both.")
    return (f"A simple word-count model does better: {simple_f1:.1%} against {fine_tuned_f1:.1%} for the fine-tuned "
            f"model ({metric}, {SCORE_MEANING}){faster}. Consider it, or the blend of both; more data or another "
            "model may help the fine-tuned one.")
