"""What to know before trusting the scores: classes the model does not tell apart, and rough scores of a few texts."""

from __future__ import annotations

import numpy as np
import pytest

from bertstudio.evaluation.cautions import (
    NEVER_PREDICTED,
    ONE_CLASS_PREDICTED,
    OVER_CONFIDENT,
    ROUGH_RANGE,
    ROUGH_SCORES,
    TOO_FEW,
    TRUSTED,
    UNDER_CONFIDENT,
    confidence_verdict,
    evaluation_findings,
    findings_of,
    findings_to_json,
    texts_for_range,
)
from bertstudio.evaluation.metrics import classification_metrics, softmax, wilson_interval


def metrics_of(matrix: list[list[int]], labels: list[str]) -> dict:
    """classification_metrics of rows laid out as ``matrix`` (rows true, columns predicted)."""
    true, predicted = [], []
    for t, row in enumerate(matrix):
        for p, count in enumerate(row):
            true += [t] * count
            predicted += [p] * count
    return classification_metrics(true, np.eye(len(labels))[predicted], labels)


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def test_a_model_that_labels_every_text_the_majority_class_is_called_not_usable():
    """A tester's 95/5 run: macro-F1 48.3%, accuracy 93.3%, recall 0 for 'negative' in the table, and nowhere a plain
    word that the model never predicts it."""
    found = evaluation_findings(metrics_of([[0, 2], [0, 28]], ["negative", "positive"]), "test")
    assert codes(found) == [ONE_CLASS_PREDICTED, ROUGH_SCORES]
    stuck = found[0]
    assert stuck.level == "warning"
    assert "labels every one of the 30 test texts 'positive'" in stuck.message
    assert "it never predicts 'negative' (0 of 2 found)" in stuck.message and "not usable yet" in stuck.message
    assert "Its 93.3% accuracy is only the share of 'positive' texts" in stuck.message
    assert "more examples of 'negative'" in stuck.hint and "'imbalanced' preset" in stuck.hint
    assert "train longer" in stuck.hint


def test_a_class_never_predicted_by_an_otherwise_working_model_is_named():
    found = evaluation_findings(metrics_of([[20, 0, 0], [0, 25, 0], [0, 6, 0]], ["a", "b", "c"]), "file: new.csv")
    missed = next(f for f in found if f.code == NEVER_PREDICTED)
    assert "never predicts 'c' (0 of 6 found) on the texts of new.csv" in missed.message
    assert "not usable for that class yet" in missed.message and "more examples of 'c'" in missed.hint
    assert ONE_CLASS_PREDICTED not in codes(found)


def test_a_class_given_to_almost_every_text_swallowing_the_others_is_said():
    # 196 of 200 texts 'a', 7 of the 10 texts of the other classes among them
    found = evaluation_findings(metrics_of([[189, 1, 0], [4, 3, 0], [3, 0, 0]], ["a", "b", "c"]), "test")
    stuck = next(f for f in found if f.code == ONE_CLASS_PREDICTED)
    assert "labels 196 of the 200 test texts 'a', 7 of the 10 texts of other classes among them" in stuck.message
    assert "it never predicts 'c' (0 of 3 found)" in stuck.message
    assert NEVER_PREDICTED not in codes(found), "one finding: the same fact seen from both sides"


@pytest.mark.parametrize("matrix", [
    [[194, 2], [1, 3]],  # data almost all 'a', and the model finds 3 of the 4 others: a good model
    [[50, 0], [0, 50]],
    [[30, 0], [0, 0]],  # one class only here: nothing to tell apart
])
def test_no_class_warning_for_a_model_that_tells_the_classes_apart(matrix):
    found = evaluation_findings(metrics_of(matrix, ["a", "b"]), "test")
    assert not {NEVER_PREDICTED, ONE_CLASS_PREDICTED} & set(codes(found))


def test_scores_of_a_few_texts_say_how_far_they_could_move():
    """A 25-row file: 'Macro-F1 33.3% · Accuracy 50.0% ... On 4 test texts' with no word that one text moves
    accuracy by 25 points."""
    found = evaluation_findings(metrics_of([[1, 1], [1, 1]], ["a", "b"]), "test")
    rough = next(f for f in found if f.code == ROUGH_SCORES)
    assert rough.message.startswith("Scores on only 4 test texts are rough: one text more or less right changes "
                                    "accuracy by 25 points")
    assert "anywhere from 15% to 85% (95% range)" in rough.message
    assert "Macro-F1 is less certain still: 'a' has only 2 texts here." in rough.message
    assert f"about {texts_for_range(0.5)} test texts would narrow the range" in rough.hint


@pytest.mark.parametrize(("rows", "accuracy", "rough"), [
    (300, 0.5, True),  # 50% right: +-5.6 points
    (500, 0.5, False),
    (100, 0.9, True),
    (200, 0.9, False),
    (100, 0.99, False),
])
def test_scores_are_called_rough_only_when_their_range_spans_ten_points(rows, accuracy, rough):
    right = round(rows * accuracy)
    found = evaluation_findings(metrics_of([[right, 0], [rows - right, 0]], ["a", "b"]), "test")
    assert (ROUGH_SCORES in codes(found)) is rough
    low, high = wilson_interval(right, rows)
    assert (high - low >= ROUGH_RANGE) is rough


def test_one_text_is_only_mentioned_where_it_moves_accuracy_by_a_point():
    found = evaluation_findings(metrics_of([[150, 0], [150, 0]], ["a", "b"]), "test")
    rough = next(f for f in found if f.code == ROUGH_SCORES)
    assert "one text" not in rough.message and "Scores on only 300 test texts" in rough.message


def test_texts_for_range_is_the_fewest_texts_under_the_range():
    for accuracy in (0.5, 0.9, 1.0):
        n = texts_for_range(accuracy)
        inside = [wilson_interval(round(accuracy * k), k) for k in (n - 1, n)]
        assert inside[0][1] - inside[0][0] >= ROUGH_RANGE > inside[1][1] - inside[1][0]


def test_multi_label_figures_get_no_single_label_findings():
    assert evaluation_findings({"task": "multi_label", "rows": 4, "accuracy": 0.5}, "test") == []


def test_findings_are_read_back_as_saved_or_computed_for_older_files():
    metrics = metrics_of([[0, 2], [0, 28]], ["negative", "positive"])
    found = evaluation_findings(metrics, "test")
    assert findings_of({**metrics, "findings": findings_to_json(found)}, "test") == found
    assert findings_of(metrics, "test") == found, "an eval.json or summary from before findings: computed"
    assert findings_of({**metrics, "findings": []}, "test") == [], "saved as none: none"


def calibrated_logits(n: int, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, k))
    labels = (rng.random(n)[:, None] > softmax(logits).cumsum(axis=1)).sum(axis=1)
    return logits, np.minimum(labels, k - 1)


def test_confidence_is_judged_against_what_chance_gives_on_this_many_texts():
    """A calibrated model shows a gap of several points on 400 texts by chance alone: that is a yes; 15 points is a
    no, said with which way it leans."""
    logits, labels = calibrated_logits(400)
    trusted = confidence_verdict(softmax(logits), labels, "test")
    assert trusted.kind == TRUSTED and trusted.sentence.startswith("Yes: its confidence is off by")
    assert "no more than chance gives on 400 test texts" in trusted.sentence
    over = confidence_verdict(softmax(logits, 0.5), labels, "test")
    assert over.kind == OVER_CONFIDENT and over.ece > over.chance_ece and over.mean_confidence > over.accuracy
    assert over.sentence.startswith("Not fully: it is over-confident, sure 86% on average and right 71% of the time")
    assert confidence_verdict(softmax(logits, 2.5), labels, "test").kind == UNDER_CONFIDENT


def test_too_few_texts_get_no_verdict():
    logits, labels = calibrated_logits(30)
    few = confidence_verdict(softmax(logits, 0.5), labels, "validation")
    assert few.kind == TOO_FEW and few.chance_ece >= 0.10
    assert few.sentence.startswith("Too few validation texts to tell (30): on so few, chance alone puts even a "
                                   "well-calibrated model's bars up to")
