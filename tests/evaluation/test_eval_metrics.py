"""Every evaluation metric against scikit-learn or values computed by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bertstudio.evaluation.metrics import (
    classification_metrics,
    confusion_frame,
    evaluation_metrics,
    left_out_note,
    log_loss,
    normalize_rows,
    per_class_frame,
    ranking_scores,
    wilson_interval,
)
from bertstudio.models.word_counts import WordCountModel

NAMES = ["a", "b", "c"]


def random_probs(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels]  # informative but imperfect
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probs


def test_headline_metrics_match_sklearn():
    from sklearn import metrics as sk

    labels, probs = random_probs(300, 3)
    pred = probs.argmax(axis=1)
    m = evaluation_metrics(labels, probs, NAMES)
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(labels, pred))
    for avg in ("macro", "micro", "weighted"):
        assert m[f"{avg}_f1"] == pytest.approx(sk.f1_score(labels, pred, average=avg))
    assert m["log_loss"] == pytest.approx(sk.log_loss(labels, probs, labels=[0, 1, 2]))
    assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(labels, probs, multi_class="ovr", average="macro"))
    onehot = np.eye(3)[labels]
    assert m["pr_auc"] == pytest.approx(sk.average_precision_score(onehot, probs, average="macro"))
    precision, recall, f1, support = sk.precision_recall_fscore_support(labels, pred)
    for i, name in enumerate(NAMES):
        row = m["per_class"][name]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (precision[i], recall[i], f1[i], support[i]))
        assert row["roc_auc"] == pytest.approx(sk.roc_auc_score(labels == i, probs[:, i]))
    assert m["confusion_matrix"] == sk.confusion_matrix(labels, pred).tolist()
    assert np.asarray(m["confusion_matrix_normalized"]) == pytest.approx(
        sk.confusion_matrix(labels, pred, normalize="true"))


def test_hand_computed_example():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    m = evaluation_metrics(labels, probs, ["neg", "pos"])
    assert m["accuracy"] == 0.75
    assert m["confusion_matrix"] == [[1, 1], [0, 2]]
    assert m["confusion_matrix_normalized"] == [[0.5, 0.5], [0.0, 1.0]]
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.7])))
    # positive-class scores 0.1, 0.6 (negatives) vs 0.8, 0.7 (positives): every pair ranked right
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == 1.0
    assert m["per_class"]["pos"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["neg"]["recall"] == 0.5
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_class_absent_from_labels_is_left_out_not_zero():
    labels, probs = random_probs(200, 3, seed=1)
    keep = labels != 2
    labels, probs = labels[keep], probs[keep]
    scores = ranking_scores(labels, probs)
    assert scores["roc_auc_per_class"][2] is None and scores["pr_auc_per_class"][2] is None
    assert scores["roc_auc"] == pytest.approx(np.mean(scores["roc_auc_per_class"][:2]))
    m = evaluation_metrics(labels, probs, NAMES)
    assert m["per_class"]["c"]["support"] == 0
    assert m["confusion_matrix_normalized"][2] == [0.0, 0.0, 0.0]  # no NaN for an empty row


def test_macro_f1_averages_the_classes_the_rows_can_score():
    """A perfect model on a file without one of its classes scored macro-F1 0.667: the missing class, never
    predicted, counted as F1 0. It is left out (and named)."""
    labels = np.array([0, 0, 1, 1])
    perfect = np.eye(3)[labels] * 0.9 + 0.05
    m = evaluation_metrics(labels, perfect, NAMES)
    assert (m["accuracy"], m["macro_f1"], m["left_out"], m["left_out_predicted"]) == (1.0, 1.0, ["c"], {})
    assert m["per_class"]["c"]["support"] == 0


def test_a_class_without_rows_stays_left_out_when_the_model_predicts_it():
    """Changed rule: a class without rows that the model predicted for a few rows was scored, as F1 0 (a tester's
    file without Sports, 2 of 149 rows predicted Sports: macro-F1 0.571 against 0.761 over the classes present).
    Those rows already count as misses of their true classes; the class is left out and the note counts them."""
    labels = np.array([0, 0, 1, 1])
    wrong_once = np.eye(3)[labels] * 0.9 + 0.05
    wrong_once[0] = [0.05, 0.05, 0.9]  # one "a" text predicted as "c": a's recall falls, c has nothing to score
    m = evaluation_metrics(labels, wrong_once, NAMES)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert (m["left_out"], m["left_out_predicted"]) == (["c"], {"c": 1})
    note = left_out_note(m["left_out"], m["left_out_predicted"])
    assert "no rows here belong to 'c'" in note and "predicted 'c' for 1 row:" in note
    assert "misses of those rows' true classes" in note


def test_a_class_missing_from_a_small_split_does_not_make_a_perfect_model_look_bad():
    """Training scores its validation and test splits (and picks its checkpoint) with the same function: a class
    absent from a small split must not pull a model without a mistake below 1."""
    labels = np.array([0, 1, 0, 1, 3])
    m = classification_metrics(labels, np.eye(4)[labels], list("abcd"))
    assert (m["macro_f1"], m["left_out"]) == (1.0, ["c"])


def test_left_out_note_without_predictions_names_the_classes_only():
    note = left_out_note(["c"], {})
    assert note == ("no rows here belong to 'c', so macro-F1 averages the other classes (a class without rows has "
                    "no F1 to average).")
    assert "2 rows" in left_out_note(["c", "d"], {"c": 2, "d": 0}) and "'d' for" not in left_out_note(
        ["c", "d"], {"c": 2, "d": 0})


def test_multilabel_macro_f1_leaves_out_a_label_no_text_has_or_was_given():
    from bertstudio.evaluation.multilabel_metrics import multilabel_metrics

    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    m = multilabel_metrics(labels, labels * 0.9 + 0.05, NAMES)
    assert (m["macro_f1"], m["left_out"]) == (1.0, ["c"])


def test_multilabel_macro_f1_leaves_out_a_label_no_text_has_even_when_given():
    """Changed rule, as for classes: a label no text has was scored F1 0 once the model gave it to one text."""
    from bertstudio.evaluation.multilabel_metrics import multilabel_metrics

    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    probs = labels * 0.9 + 0.05
    probs[0, 2] = 0.9  # the first text also gets "c"
    m = multilabel_metrics(labels, probs, NAMES)
    assert (m["macro_f1"], m["left_out"], m["left_out_predicted"]) == (1.0, ["c"], {"c": 1})
    assert m["accuracy"] == pytest.approx(2 / 3)  # the extra label still counts against the text
    note = left_out_note(m["left_out"], m["left_out_predicted"], multi_label=True)
    assert "no texts here have 'c'" in note and "gave 'c' to 1 text:" in note


def test_binary_with_one_class_only_has_no_auc():
    probs = np.array([[0.2, 0.8], [0.4, 0.6]])
    scores = ranking_scores([1, 1], probs)
    assert scores["roc_auc"] is None and scores["pr_auc"] is None


def test_no_rows_is_a_user_error():
    from bertstudio.errors import DataError

    with pytest.raises(DataError):
        evaluation_metrics([], np.zeros((0, 3)), NAMES)


def test_log_loss_and_normalize_rows():
    assert log_loss([1], np.array([[0.5, 0.5]])) == pytest.approx(np.log(2))
    assert normalize_rows(np.array([[1, 3], [0, 0]])).tolist() == [[0.25, 0.75], [0.0, 0.0]]


def test_frames_for_the_app():
    labels, probs = random_probs(60, 3)
    m = evaluation_metrics(labels, probs, NAMES)
    table = per_class_frame(m)
    assert list(table["label"]) == NAMES and {"precision", "recall", "f1", "support"} <= set(table.columns)
    counts = confusion_frame(m)
    assert counts.loc["a"].sum() == (labels == 0).sum() and list(counts.columns) == NAMES
    share = confusion_frame(m, normalized=True)
    assert share.sum(axis=1).to_numpy() == pytest.approx(np.ones(3))
    legacy = {k: v for k, v in m.items() if k != "confusion_matrix_normalized"}
    assert confusion_frame(legacy, normalized=True).to_numpy() == pytest.approx(share.to_numpy())


def test_fitting_on_many_classes_of_few_rows_says_nothing_on_the_console():
    """scikit-learn's "number of unique classes is greater than 50% of the number of samples" reached the training
    console; the data check says it in words already."""
    texts = [f"text number {i} about topic {i % 40}" for i in range(60)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        WordCountModel.fit(texts, [i % 40 for i in range(60)], [f"class {i}" for i in range(40)])


def test_wilson_interval_stays_honest_on_a_few_texts():
    assert wilson_interval(2, 4) == pytest.approx((0.150, 0.850), abs=1e-3)
    assert wilson_interval(4, 4) == pytest.approx((0.510, 1.0), abs=1e-3)  # 4 of 4 right is not "100% to 100%"
    low, high = wilson_interval(930, 1000)
    assert low < 0.93 < high and high - low == pytest.approx(0.032, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
