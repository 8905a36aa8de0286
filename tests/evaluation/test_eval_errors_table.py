"""The error-analysis table: its figures, its tags and the app's filters."""

from __future__ import annotations

import numpy as np
import pytest

from bertstudio.errors import ConfigError
from bertstudio.evaluation.errors_table import (
    TAG_CONFIDENT_WRONG,
    TAG_NEAR_MISS,
    TAG_UNSURE_RIGHT,
    error_table,
    filter_errors,
    sort_errors,
    tag_counts,
)

NAMES = ["billing", "delivery", "praise"]
TEXTS = ["refund please", "parcel late", "love it", "where is my parcel", "charged twice", "great service"]
LABELS = ["billing", "delivery", "praise", "delivery", "billing", "praise"]
PROBS = np.array([
    [0.95, 0.03, 0.02],  # right, sure
    [0.50, 0.45, 0.05],  # wrong (billing), true label second: near miss; 0.5 < 0.8 so not confident
    [0.30, 0.15, 0.55],  # right but margin 0.25: fine
    [0.05, 0.50, 0.45],  # right, margin 0.05: unsure
    [0.02, 0.08, 0.90],  # wrong at 0.90, true label last: confident-and-wrong only
    [0.05, 0.85, 0.10],  # wrong at 0.85, true label second: confident-and-wrong and near miss
])


@pytest.fixture
def table():
    return error_table(TEXTS, LABELS, PROBS, NAMES)


def test_columns_and_figures(table):
    assert list(table.columns) == ["row", "text", "label", "predicted", "correct", "confidence", "loss", "entropy",
                                   "margin", "true_rank", "tags"]
    assert table["predicted"].tolist() == ["billing", "billing", "praise", "delivery", "praise", "delivery"]
    assert table["correct"].tolist() == [True, False, True, True, False, False]
    assert table["confidence"].tolist() == pytest.approx([0.95, 0.5, 0.55, 0.5, 0.9, 0.85])
    assert table["margin"].tolist() == pytest.approx([0.92, 0.05, 0.25, 0.05, 0.82, 0.75])
    assert table.loc[1, "loss"] == pytest.approx(-np.log(0.45))
    assert table.loc[0, "entropy"] == pytest.approx(-(PROBS[0] * np.log(PROBS[0])).sum())
    assert table["true_rank"].tolist() == [1, 2, 1, 1, 3, 2]


def test_tags(table):
    assert table["tags"].tolist() == [
        "", TAG_NEAR_MISS, "", TAG_UNSURE_RIGHT, TAG_CONFIDENT_WRONG, f"{TAG_CONFIDENT_WRONG}, {TAG_NEAR_MISS}"]
    assert tag_counts(table) == {TAG_CONFIDENT_WRONG: 2, TAG_UNSURE_RIGHT: 1, TAG_NEAR_MISS: 2}


def test_confident_means_top_decile_for_a_model_that_is_never_80_percent_sure():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([5, 5, 5], size=100)  # confidences well below 0.8
    labels = (probs.argmax(axis=1) + 1) % 3  # every row wrong
    table = error_table([f"t{i}" for i in range(100)], labels, probs, NAMES)
    tagged = filter_errors(table, tag=TAG_CONFIDENT_WRONG)
    assert 8 <= len(tagged) <= 12
    assert tagged["confidence"].min() >= table["confidence"].quantile(0.9) - 1e-12


def test_filters_and_sorting(table):
    assert filter_errors(table, true_label="praise")["row"].tolist() == [2, 5]
    assert filter_errors(table, predicted="billing", wrong_only=True)["row"].tolist() == [1]
    assert filter_errors(table, tag=TAG_NEAR_MISS)["row"].tolist() == [1, 5]
    assert filter_errors(table, search="PARCEL")["row"].tolist() == [1, 3]
    assert filter_errors(table, search="parcel", tag=TAG_UNSURE_RIGHT)["row"].tolist() == [3]
    assert sort_errors(table)["row"].tolist()[0] == 4  # highest loss first: 0.02 on the true label
    assert sort_errors(table, "confidence", descending=False)["row"].tolist()[:2] == [1, 3]
    with pytest.raises(ConfigError):
        filter_errors(table, tag="nonsense")
    with pytest.raises(ConfigError):
        sort_errors(table, "text")


def test_integer_labels_and_text_pairs():
    table = error_table(["a", "b"], [0, 2], PROBS[:2], NAMES, text_pairs=["x", "y"])
    assert table["label"].tolist() == ["billing", "praise"] and table["text_pair"].tolist() == ["x", "y"]
    assert filter_errors(table, search="y")["row"].tolist() == [1]
