"""Blending the fine-tuned model with the simple one: chosen on validation, used only when it clearly helps."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from bertstudio.evaluation.blend import (
    MIN_GAIN,
    WEIGHTS,
    blend_probabilities,
    choose_blend,
    decide_blend,
    macro_f1,
    verdict,
)
from bertstudio.evaluation.metrics import classification_metrics


def one_hot(predicted: np.ndarray, n: int, confidence: float = 0.8) -> np.ndarray:
    probs = np.full((len(predicted), n), (1 - confidence) / (n - 1))
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


def test_macro_f1_matches_sklearn_over_the_classes_with_rows():
    """The blend is judged by the rule every score uses (``classification_metrics``): a class without validation
    rows is left out of the average; it counted as 0 here, so the blend's reported F1 differed from the run's."""
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    assert macro_f1(y, p, 4) == f1_score(y, p, labels=range(3), average="macro", zero_division=0)
    p[:5] = 3  # predictions of the class without rows: misses of their true classes, not a class scored 0
    expected = f1_score(y, p, labels=range(3), average="macro", zero_division=0)
    assert macro_f1(y, p, 4) == expected == classification_metrics(y, np.eye(4)[p], list("abcd"))["macro_f1"]


def test_two_models_right_on_different_rows_are_blended():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 600)
    fine = y.copy()
    fine[:200] = (y[:200] + 1) % 3  # wrong on the first third, confidently
    simple = y.copy()
    simple[200:400] = (y[200:400] + 1) % 3  # wrong on the second third
    # the simple model is sure where it is right, unsure where wrong: together they get nearly everything right
    fine_p = one_hot(fine, 3, 0.6)
    simple_p = one_hot(simple, 3, 0.9)
    simple_p[200:400] = one_hot(simple[200:400], 3, 0.4)
    choice = choose_blend(fine_p, simple_p, y)
    assert choice.used and 0 < choice.weight < 1
    assert choice.blend_f1 >= max(choice.fine_tuned_f1, choice.simple_f1) + MIN_GAIN
    assert "came out ahead in" in choice.reason and "200 random re-draws of those texts" in choice.reason
    assert "resampled" not in choice.reason and "points of" not in choice.reason


def test_no_blend_when_one_model_is_simply_better():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 400)
    fine = one_hot(y, 4, 0.9)
    simple = one_hot(rng.integers(0, 4, 400), 4, 0.9)  # guessing
    choice = choose_blend(fine, simple, y)
    assert not choice.used and choice.weight == 1.0
    assert choice.fine_tuned_f1 == 1.0


def test_blend_is_a_weighted_mean():
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    np.testing.assert_allclose(blend_probabilities(a, b, 0.25), [[0.25, 0.75]])


def test_verdict_words_each_case():
    better = verdict(0.93, 0.85)
    assert better.startswith("The fine-tuned model beats a simple word-count model: 93.0% against 85.0%")
    assert "8.0 percentage points better" in better and "100% means no mistakes" in better
    assert "points of macro-F1" not in better
    same = verdict(0.817, 0.819, speedup=200)
    assert same.startswith("A simple word-count model does as well") and "200x faster" in same
    worse = verdict(0.80, 0.831)
    assert worse.startswith("A simple word-count model does better") and "faster" not in worse


def test_a_blend_that_helps_too_little_is_saved_as_not_used():
    """Scores from numpy made ``used`` a numpy bool, which JSON wrote as the string "False": read back as a plain
    value it was true, and the Train tab and the history said runs were blended when they were not."""
    import json

    from bertstudio.results import BlendFigures, SimpleModelFigures

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    fine = one_hot(np.where(rng.random(300) < 0.85, y, 1 - y), 2, 0.7)
    simple = one_hot(np.where(rng.random(300) < 0.84, y, 1 - y), 2, 0.7)
    # Scored as the multi-label path and sklearn score: numpy floats, so the comparisons give numpy booleans.
    predictions = {w: blend_probabilities(fine, simple, w).argmax(axis=1) for w in WEIGHTS}
    choice = decide_blend(predictions, y, lambda t, predicted: np.float64(macro_f1(t, predicted, 2)), seed=0)
    assert 0 < choice.blend_f1 - max(choice.fine_tuned_f1, choice.simple_f1) < MIN_GAIN  # helped, too little
    assert type(choice.used) is bool and not choice.used
    assert all(type(v) is float for v in (choice.weight, choice.blend_f1))
    saved = json.loads(json.dumps(choice.to_dict(), default=str))
    assert BlendFigures.model_validate(saved).used == choice.used
    # A summary written before the fix reads right too.
    old = SimpleModelFigures(accuracy=0.8, macro_f1=0.8, validation_macro_f1=0.8, fine_tuned_accuracy=0.9,
                             fine_tuned_macro_f1=0.9, fit_seconds=1.0, blend={"used": "False", "weight": 1.0})
    assert old.blend.used is False
