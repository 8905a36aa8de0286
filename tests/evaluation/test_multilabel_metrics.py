"""Multi-label figures against hand-computed values, threshold tuning, calibration, the blend, the error table."""

from __future__ import annotations

import numpy as np
import pytest

from bertstudio.evaluation.blend import verdict
from bertstudio.evaluation.multilabel_blend import choose_multilabel_blend
from bertstudio.evaluation.multilabel_errors import multilabel_error_table
from bertstudio.evaluation.multilabel_metrics import (
    label_ranking_average_precision,
    multilabel_metrics,
    per_label_calibration,
    sigmoid,
    tune_thresholds,
)

NAMES = ["a", "b", "c"]
Y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
P = np.array([[0.9, 0.2, 0.4], [0.1, 0.8, 0.7], [0.6, 0.3, 0.1], [0.2, 0.1, 0.05]])


def test_figures_by_hand():
    m = multilabel_metrics(Y, P, NAMES)
    # Predicted at 0.5: [1,0,0], [0,1,1], [1,0,0], [0,0,0].
    # a: tp 2 fp 0 fn 0 -> F1 1.   b: tp 1 fp 0 fn 1 -> F1 2/3.   c: tp 0 fp 1 fn 1 -> F1 0.
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2, "found": 2,
                                   "missed": 0, "extra": 0, "neither": 2}
    assert m["per_class"]["b"]["f1"] == pytest.approx(2 / 3) and m["per_class"]["b"]["recall"] == 0.5
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "found": 0,
                                   "missed": 1, "extra": 1, "neither": 2}
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    # micro: tp 3, fp 1, fn 2 -> 6 / (6 + 3)
    assert m["micro_f1"] == pytest.approx(6 / 9)
    assert m["weighted_f1"] == pytest.approx((1 * 2 + 2 / 3 * 2 + 0 * 1) / 5)
    assert m["accuracy"] == 0.25  # only the last row (no labels, none predicted) is exactly right
    assert m["hamming_loss"] == pytest.approx(3 / 12)
    assert m["rows"] == 4 and m["task"] == "multi_label"


def test_agrees_with_sklearn():
    from sklearn.metrics import f1_score, hamming_loss, label_ranking_average_precision_score

    rng = np.random.default_rng(0)
    y = (rng.random((50, 5)) < 0.3).astype(int)
    p = rng.random((50, 5))
    m = multilabel_metrics(y, p, list("vwxyz"), [0.3, 0.4, 0.5, 0.6, 0.7])
    pred = (p >= np.array([0.3, 0.4, 0.5, 0.6, 0.7])).astype(int)
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
    assert m["micro_f1"] == pytest.approx(f1_score(y, pred, average="micro", zero_division=0))
    assert m["hamming_loss"] == pytest.approx(hamming_loss(y, pred))
    assert label_ranking_average_precision(y, p) == pytest.approx(label_ranking_average_precision_score(y, p))


def test_sigmoid_is_stable():
    assert sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist() == [0.0, 0.5, 1.0]


def test_thresholds_tuned_per_label_with_a_global_fallback():
    rng = np.random.default_rng(1)
    n = 200
    y = np.zeros((n, 2), dtype=int)
    y[:, 0] = rng.random(n) < 0.5
    y[:3, 1] = 1  # label b: 3 positives, too few for its own threshold
    # Label a's positives score around 0.3, its negatives around 0.1: 0.5 would miss them all.
    p = np.column_stack([np.where(y[:, 0], 0.3, 0.1) + rng.normal(0, 0.02, n), np.where(y[:, 1], 0.9, 0.1)])
    choice = tune_thresholds(y, p, ["a", "b"])
    assert 0.1 < choice.per_label["a"] <= 0.3 and "b" not in choice.per_label
    assert choice.fallback_labels == ["b"] and choice.vector(["a", "b"])[1] == choice.global_threshold
    assert multilabel_metrics(y, p, ["a", "b"], choice.vector(["a", "b"]))["per_class"]["a"]["f1"] == 1.0
    assert "fewer than 5 validation examples" in choice.note


def test_calibration_per_label():
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    p = np.array([[1.0, 0.5], [1.0, 0.5], [0.0, 0.5], [0.0, 0.5]])
    cal = per_label_calibration(y, p, ["sure", "unsure"])
    assert cal["per_label"]["sure"] == pytest.approx(0.0)  # says 100% or 0% and is always right
    assert cal["per_label"]["unsure"] == pytest.approx(0.0)  # says 50% and is right half the time
    wrong = per_label_calibration(np.array([[0], [0]]), np.array([[0.9], [0.9]]), ["x"])
    assert wrong["ece"] == pytest.approx(0.9)


def test_the_pooled_reliability_diagram_counts_every_label_decision():
    cal = per_label_calibration(Y, P, NAMES)
    diagram = cal["reliability"]
    assert diagram["rows"] == Y.size and sum(b["count"] for b in diagram["bins"]) == Y.size
    assert diagram["ece"] == pytest.approx(cal["ece"])
    top = diagram["bins"][-1]  # (0.9, 1.0]: nothing; (0.8, 0.9]: 0.9 (has 'a') and 0.8 is in (0.7, 0.8]
    assert top["count"] == 0
    [high] = [b for b in diagram["bins"] if b["lower"] == pytest.approx(0.8)]
    assert high["count"] == 1 and high["accuracy"] == 1.0 and high["confidence"] == pytest.approx(0.9)


def test_blend_used_only_when_it_clearly_helps():
    rng = np.random.default_rng(2)
    n = 400
    y = (rng.random((n, 3)) < 0.4).astype(int)
    noise = lambda: rng.normal(0, 0.35, (n, 3))  # noqa: E731
    fine, simple = np.clip(y + noise(), 0, 1), np.clip(y + noise(), 0, 1)
    choice = choose_multilabel_blend(fine, simple, y, NAMES, seed=0)
    assert choice.used and 0 < choice.weight < 1  # two independent noisy views: their average is better
    alone = choose_multilabel_blend(y.astype(float), simple, y, NAMES, seed=0)
    assert not alone.used and alone.weight == 1.0 and alone.fine_tuned_f1 == 1.0


def test_verdict_names_the_multilabel_figure():
    text = verdict(0.52, 0.40, metric="macro-F1 over the labels")
    assert text.startswith("The fine-tuned model beats a simple word-count model: 52.0% against 40.0% (macro-F1 "
                           "over the labels") and "12.0 percentage points better" in text


def test_error_table_shows_missed_and_extra_labels():
    table = multilabel_error_table(["t0", "t1", "t2", "t3"], Y, P, NAMES, [0.5, 0.5, 0.5])
    assert table["predicted"].tolist() == ["a", "b; c", "a", ""]
    assert table["missed"].tolist() == ["c", "", "b", ""]
    assert table["extra"].tolist() == ["", "c", "", ""]
    assert table["correct"].tolist() == [False, False, False, True]
    assert "near miss" in table.loc[0, "tags"] and "near miss" in table.loc[2, "tags"]
    assert table.loc[3, "tags"] == ""  # right, and every probability at least 0.1 from its threshold


def test_the_threshold_note_says_when_tuning_kept_0_5():
    """Validation that separates every label perfectly scores the same at every threshold across the gap, and the
    tie goes to 0.5: the note said "5 labels have their own" while every threshold was 0.5."""
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 5)
    p = np.where(y == 1, 0.9, 0.1)
    choice = tune_thresholds(y, p, ["a", "b"])
    assert choice.vector(["a", "b"]) == [0.5, 0.5]
    assert choice.note == ("Thresholds tuned on 20 validation rows: every label kept 0.5, because no other threshold "
                           "did better on validation.")
    shifted = np.column_stack([np.where(y[:, 0] == 1, 0.3, 0.1), p[:, 1]])  # label a's positives sit at 0.3
    note = tune_thresholds(y, shifted, ["a", "b"]).note
    assert "1 label got a threshold of its own (a 0." in note and "1 label kept 0.5" in note


def test_saved_thresholds_keep_what_training_said_or_say_what_they_are():
    from bertstudio.evaluation.multilabel_metrics import saved_choice

    said = "Thresholds tuned on 40 validation rows: 1 label got a threshold of its own (b 0.30)."
    kept = saved_choice(NAMES, {"a": 0.5, "b": 0.3}, 0.45, said, ["c"])
    assert kept.note == said and kept.fallback_labels == ["c"] and kept.vector(NAMES) == [0.5, 0.3, 0.45]
    # A model saved before the note was kept: the labels without a threshold of their own used the global one.
    older = saved_choice(NAMES, {"a": 0.5, "b": 0.3}, 0.45)
    assert older.fallback_labels == ["c"]
    assert older.note == ("Thresholds saved with the model, tuned on the validation split when it was trained: b 0.30; "
                          "c 0.45 (too few validation examples for one of their own); the others 0.50.")
