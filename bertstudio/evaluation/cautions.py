"""What a person must know before trusting an evaluation's scores, said plainly with what to do: a class the model
never predicts, or one it gives to (almost) every text, and how far the scores of a small test set could move.

A macro-F1 of 48% beside an accuracy of 93% and a recall of 0 in the per-class table are the facts, but a newcomer
reads the 93%; these findings say what the facts mean. They are pure functions of the metrics
(:func:`bertstudio.evaluation.metrics.classification_metrics`: confusion matrix, labels, rows, accuracy), so
eval.json, ``bertstudio train``, ``bertstudio evaluate`` and the Evaluate tab say the same words, for new runs and
for eval.json and summary.json files written before them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bertstudio.data.findings import Finding, count_noun
from bertstudio.evaluation.calibration import chance_ece, reliability_of
from bertstudio.evaluation.metrics import wilson_interval

# A class given to at least this share of the texts is given to (almost) all of them: one text in twenty left for
# every other class together.
ALMOST_ALL = 0.95
# ... and it swallows the other classes when it takes at least this share of their texts too: with fewer, the data
# itself is almost all that class (a 97%-'positive' test split predicted 97% 'positive' is a good model, not a
# stuck one).
SWALLOWED = 0.5
# Scores are called rough when the 95% range of accuracy spans this much or more: a range of ten points is where a
# score stops telling a good model from a mediocre one, and where run-against-run or model-against-baseline
# differences of a few points (what people decide on here) are no longer told from chance. 50% right needs about
# 380 texts to get under it, 90% right about 140, 99% right about 35.
ROUGH_RANGE = 0.10
# A class with fewer texts than this moves its F1, and macro-F1 with it, by several points per text.
FEW_OF_A_CLASS = 10
NOT_LEARNED_HINT = ("Give it more examples of {names} (the rarer a class in training, the more a model learns to "
                    "ignore it), train with the 'imbalanced' preset (rare classes count more and the checkpoint with "
                    "the best macro-F1 is kept), or train longer (more epochs, or let a stopped run finish).")

NEVER_PREDICTED = "class_never_predicted"
ONE_CLASS_PREDICTED = "one_class_predicted"
ROUGH_SCORES = "rough_scores"


def texts_noun(evaluated_on: str) -> str:
    """The evaluated rows in words: 'test texts', 'validation texts', 'texts of reviews.csv'."""
    if evaluated_on.startswith("file: "):
        return f"texts of {evaluated_on.removeprefix('file: ')}"
    return f"{evaluated_on} texts"


# --- classes the model does not tell apart -------------------------------------------------------------------


@dataclass
class MissedClass:
    """A class with texts here that the model never gives to any text."""

    name: str
    texts: int


@dataclass
class DominantClass:
    """A class the model gives to (almost) every text, the texts of the other classes included."""

    name: str
    given: int  # texts the model gave it
    rows: int  # texts evaluated
    others: int  # texts of the other classes
    others_given: int  # of those, the ones the model gave this class


def missed_classes(matrix: np.ndarray, labels: Sequence[str]) -> list[MissedClass]:
    """Classes with texts here that no text was predicted as (``matrix``: rows true, columns predicted)."""
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    return [MissedClass(str(name), int(support[i])) for i, name in enumerate(labels)
            if support[i] > 0 and predicted[i] == 0]


def dominant_class(matrix: np.ndarray, labels: Sequence[str]) -> DominantClass | None:
    """The class given to at least ``ALMOST_ALL`` of the texts and to at least ``SWALLOWED`` of the other classes'
    texts; None when there is none, or when the texts are all of one class (nothing to tell apart)."""
    rows = int(matrix.sum())
    if rows == 0:
        return None
    predicted = matrix.sum(axis=0)
    top = int(predicted.argmax())
    others = rows - int(matrix[top].sum())
    others_given = int(predicted[top] - matrix[top, top])
    if others == 0 or predicted[top] < ALMOST_ALL * rows or others_given < SWALLOWED * others:
        return None
    return DominantClass(str(labels[top]), int(predicted[top]), rows, others, others_given)


def _missed_words(missed: Sequence[MissedClass]) -> str:
    """"'negative' (0 of 2 found)", joined by "or"."""
    return " or ".join(f"'{m.name}' (0 of {m.texts:,} found)" for m in missed)


def dominant_finding(dominant: DominantClass, missed: Sequence[MissedClass], accuracy: float,
                     noun: str) -> Finding:
    if dominant.given == dominant.rows:
        said = f"The model labels every one of the {dominant.rows:,} {noun} '{dominant.name}'"
        reading = f"Its {accuracy:.1%} accuracy is only the share of '{dominant.name}' texts"
    else:
        said = (f"The model labels {dominant.given:,} of the {dominant.rows:,} {noun} '{dominant.name}', "
                f"{dominant.others_given:,} of the {count_noun(dominant.others, 'text')} of other classes among them")
        reading = f"Its {accuracy:.1%} accuracy mostly reflects how common '{dominant.name}' texts are"
    never = f"; it never predicts {_missed_words(missed)}" if missed else ""
    return Finding("warning", ONE_CLASS_PREDICTED,
                   f"{said}{never}: it has not learned to tell the classes apart, so it is not usable yet. "
                   f"{reading}, not skill.", hint=_not_learned_hint(missed, "the other classes"),
                   count=dominant.given)


def missed_finding(missed: Sequence[MissedClass], noun: str) -> Finding:
    which = "that class" if len(missed) == 1 else "those classes"
    return Finding("warning", NEVER_PREDICTED,
                   f"The model never predicts {_missed_words(missed)} on the {noun}: it is not usable for {which} "
                   f"yet, whatever its overall scores. A text of {_names(missed)} always gets another label.",
                   hint=_not_learned_hint(missed), count=sum(m.texts for m in missed))


def _names(missed: Sequence[MissedClass], joiner: str = " or ") -> str:
    return joiner.join(f"'{m.name}'" for m in missed)


def _not_learned_hint(missed: Sequence[MissedClass], otherwise: str = "") -> str:
    return NOT_LEARNED_HINT.format(names=_names(missed, " and ") if missed else otherwise)


def class_finding(metrics: Mapping[str, Any], evaluated_on: str) -> Finding | None:
    """One finding about the classes the model does not tell apart: the class it gives to (almost) everything
    (naming the classes it never predicts, the same fact seen from the other side), else the classes it never
    predicts; None when it predicts every class that has texts here."""
    matrix = np.asarray(metrics.get("confusion_matrix") or [[]], dtype=np.int64)
    labels = list(metrics.get("labels") or [])
    if matrix.size == 0 or matrix.shape != (len(labels), len(labels)):
        return None
    missed = missed_classes(matrix, labels)
    noun = texts_noun(evaluated_on)
    dominant = dominant_class(matrix, labels)
    if dominant is not None:
        return dominant_finding(dominant, missed, float(metrics.get("accuracy", 0.0)), noun)
    return missed_finding(missed, noun) if missed else None


# --- how far the scores could move ---------------------------------------------------------------------------


def texts_for_range(accuracy: float, width: float = ROUGH_RANGE, start: int = 1) -> int:
    """The fewest texts whose 95% range of ``accuracy`` is narrower than ``width`` (the range shrinks as texts
    grow, so a doubling search and then a halving one find it)."""
    def narrow(n: int) -> bool:
        low, high = wilson_interval(round(accuracy * n), n)
        return high - low < width

    high = max(start, 1)
    while not narrow(high):
        high *= 2
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if narrow(middle) else (middle, high)
    return high


def smallest_class(metrics: Mapping[str, Any]) -> tuple[str, int] | None:
    """The class with the fewest texts here, among those with any (macro-F1 averages those)."""
    supports = [(name, int(v.get("support", 0))) for name, v in (metrics.get("per_class") or {}).items()]
    supports = [(name, n) for name, n in supports if n > 0]
    return min(supports, key=lambda s: s[1]) if supports else None


def rough_scores_finding(metrics: Mapping[str, Any], evaluated_on: str) -> Finding | None:
    """How far accuracy could move on new texts when the evaluated texts are few: the 95% range (Wilson) and, on
    100 texts or fewer, what one text changes; None when the range is narrower than ``ROUGH_RANGE``."""
    rows, accuracy = int(metrics.get("rows") or 0), metrics.get("accuracy")
    if rows == 0 or accuracy is None:
        return None
    low, high = wilson_interval(round(accuracy * rows), rows)
    if high - low < ROUGH_RANGE:
        return None
    noun = texts_noun(evaluated_on)
    one_text = (f"one text more or less right changes accuracy by {100 / rows:.0f} points, and "
                if rows <= 100 else "")
    message = (f"Scores on only {rows:,} {noun} are rough: {one_text}accuracy on new texts could be anywhere from "
               f"{low:.0%} to {high:.0%} (95% range).")
    rare = smallest_class(metrics)
    if rare is not None and rare[1] < FEW_OF_A_CLASS:
        message += f" Macro-F1 is less certain still: '{rare[0]}' has only {count_noun(rare[1], 'text')} here."
    needed = texts_for_range(float(accuracy), start=rows)
    return Finding("warning", ROUGH_SCORES, message,
                   hint=f"Read them as a first impression, and compare runs only when they differ by more than that. "
                        f"More labeled texts make a bigger test split: about {needed:,} {noun} would narrow the "
                        f"range to under {ROUGH_RANGE * 100:.0f} points.", count=rows)


# --- can its confidence be trusted ---------------------------------------------------------------------------

# Below this average gap confidence is taken at its word whatever chance says: "90% sure" then means 87% to 93%.
CLOSE_ENOUGH = 0.03
# When chance alone puts a calibrated model's bars this far off the line, no verdict: the gaps calibration fixes are
# 3 to 10 points, hidden in such noise (about 70 texts or fewer: bench/calibration_small_splits.py).
TOO_NOISY = 0.10
TRUSTED, OVER_CONFIDENT, UNDER_CONFIDENT, TOO_FEW = "trusted", "over_confident", "under_confident", "too_few"


@dataclass
class ConfidenceVerdict:
    """Whether the probabilities predict gives can be taken at their word on these texts, judged against what
    chance alone gives a perfectly calibrated model (``calibration.chance_ece``), with the sentence that says so."""

    kind: str  # TRUSTED, OVER_CONFIDENT, UNDER_CONFIDENT or TOO_FEW
    ece: float  # the average gap between how sure it said it was and how often it was right
    chance_ece: float  # the gap chance alone gives a calibrated model here (9 times in 10 at most)
    mean_confidence: float
    accuracy: float
    rows: int
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def points_text(share: float) -> str:
    """A gap between two shares in whole percentage points: 0.123 -> '12 points', 0.01 -> '1 point'."""
    return f"{share * 100:.0f} point{'' if round(share * 100) == 1 else 's'}"


def confidence_verdict(probs: np.ndarray, labels: Sequence[int], evaluated_on: str) -> ConfidenceVerdict:
    """Can its confidence be trusted on these texts: yes (a gap within chance or under ``CLOSE_ENOUGH``), not fully
    (over- or under-confident, by the sign of confidence minus accuracy), or too few texts to tell."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    confidence, correct = p.max(axis=1), p.argmax(axis=1) == y
    ece, chance = reliability_of(confidence, correct).ece, chance_ece(confidence)
    mean_confidence, accuracy = float(confidence.mean()), float(correct.mean())
    noun = texts_noun(evaluated_on)
    sure = f"sure {mean_confidence:.0%} on average and right {accuracy:.0%} of the time"
    if chance >= TOO_NOISY:
        kind = TOO_FEW
        sentence = (f"Too few {noun} to tell ({len(y):,}): on so few, chance alone puts even a well-calibrated "
                    f"model's bars up to {points_text(chance)} off the line.")
    elif ece <= max(chance, CLOSE_ENOUGH):
        kind = TRUSTED
        sentence = (f"Yes: its confidence is off by {points_text(ece)} on average ({sure}), no more than chance "
                    f"gives on {len(y):,} {noun}.")
    else:
        kind = OVER_CONFIDENT if mean_confidence > accuracy else UNDER_CONFIDENT
        word = "over-confident" if kind == OVER_CONFIDENT else "under-confident"
        sentence = (f"Not fully: it is {word}, {sure}: off by {points_text(ece)} on average, where chance alone "
                    f"gives at most {points_text(chance)}.")
    return ConfidenceVerdict(kind, float(ece), float(chance), mean_confidence, accuracy, int(len(y)), sentence)


# --- all of them -----------------------------------------------------------------------------------------------


def evaluation_findings(metrics: Mapping[str, Any], evaluated_on: str) -> list[Finding]:
    """What to know before trusting the scores, most important first: a model that does not tell the classes
    apart is not usable however precise its scores. Single-label metrics only (a multi-label run's labels are
    each given or not, with no confusion matrix): [] for others."""
    if metrics.get("task") == "multi_label":
        return []
    found = [class_finding(metrics, evaluated_on), rough_scores_finding(metrics, evaluated_on)]
    return [f for f in found if f is not None]


def findings_to_json(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [{k: v for k, v in asdict(f).items() if k != "examples"} for f in findings]


def findings_of(figures: Mapping[str, Any], evaluated_on: str) -> list[Finding]:
    """The findings of an eval.json (as saved) or of figures without them: eval.json files written before findings
    existed, a summary's metrics (computed then, with the same words)."""
    saved = figures.get("findings")
    if saved is None:
        return evaluation_findings(figures, evaluated_on)
    return [Finding(**item) for item in saved]
