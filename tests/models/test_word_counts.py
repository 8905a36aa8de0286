"""The simple word-count model: learns, saves without pickle, and predicts the same after loading."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertstudio.errors import ModelError
from bertstudio.models import word_counts
from bertstudio.models.word_counts import (INFO_FILE, WEIGHTS_FILE, Block, WordCountModel, blocks_for, fit_features,
                                           joined_texts)

TOPICS = {"billing": ["invoice", "refund", "charged", "payment"], "delivery": ["parcel", "courier", "late", "box"],
          "praise": ["lovely", "great", "thanks", "wonderful"]}


def texts_and_labels(n: int = 90) -> tuple[list[str], list[int], list[str]]:
    names = list(TOPICS)
    texts, labels = [], []
    for i in range(n):
        label = i % 3
        words = TOPICS[names[label]]
        texts.append(f"the {words[i % 4]} was {words[(i + 1) % 4]} again {i}")
        labels.append(label)
    return texts, labels, names


def test_learns_a_separable_problem_and_gives_probabilities():
    texts, labels, names = texts_and_labels()
    model = WordCountModel.fit(texts, labels, names)
    probs = model.probabilities(["my refund and payment", "the courier lost the parcel", "lovely, thanks"])
    assert probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert probs.argmax(axis=1).tolist() == [0, 1, 2]


def test_features_are_sklearns_tfidf_from_saved_state():
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts, _, _ = texts_and_labels(30)
    reference = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode", dtype=np.float32)
    expected = reference.fit_transform(texts).toarray()
    block = Block("word", (1, 2), list(reference.get_feature_names_out()), reference.idf_)
    np.testing.assert_allclose(block.features(texts).toarray(), expected, atol=1e-6)


def test_big_fits_count_in_chunks_with_the_same_arithmetic(monkeypatch):
    """Above VOCABULARY_ROWS the terms come from a sample and the rows are made chunk by chunk: the rows must be
    what TfidfVectorizer makes with those terms (idf over every text), and what prediction rebuilds from them."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts, _, _ = texts_and_labels(90)
    monkeypatch.setattr(word_counts, "VOCABULARY_ROWS", 40)
    monkeypatch.setattr(word_counts, "COUNT_CHUNK_ROWS", 7)  # chunks that do not divide the rows evenly
    monkeypatch.setattr(word_counts, "MAX_CHAR_FEATURES", 150)  # fewer terms than the sample has: the cut applies
    blocks, rows = fit_features(texts)
    assert [b.analyzer for b in blocks] == ["word", "char_wb"] and len(blocks[1].terms) == 150
    expected = []
    for block in blocks:
        reference = TfidfVectorizer(analyzer=block.analyzer, ngram_range=block.ngram_range, sublinear_tf=True,
                                    strip_accents="unicode", vocabulary=block.terms, dtype=np.float32)
        expected.append(reference.fit_transform(texts).toarray())
        np.testing.assert_allclose(block.idf, reference.idf_, rtol=1e-6)
    np.testing.assert_allclose(rows.toarray(), np.hstack(expected), atol=1e-6)
    model = WordCountModel(["a"], blocks, np.zeros((1, rows.shape[1]), np.float32), np.zeros(1, np.float32))
    np.testing.assert_allclose(model.features(texts).toarray(), rows.toarray(), atol=1e-6)


def test_binary_probabilities_match_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    texts, labels, names = texts_and_labels(60)
    keep = [i for i, y in enumerate(labels) if y < 2]
    texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    model = WordCountModel.fit(texts, labels, names[:2])
    reference = LogisticRegression(C=10.0, solver="newton-cg", max_iter=1000).fit(model.features(texts), labels)
    np.testing.assert_allclose(model.probabilities(texts), reference.predict_proba(model.features(texts)),
                               atol=1e-4)


def test_a_class_missing_from_training_is_never_predicted():
    texts, labels, names = texts_and_labels()
    two = [(t, y) for t, y in zip(texts, labels) if y != 1]
    model = WordCountModel.fit([t for t, _ in two], [y for _, y in two], names)
    assert model.probabilities(["parcel courier late box"])[0, 1] < 1e-6


def test_save_and_load_give_the_same_predictions_without_pickle(tmp_path):
    texts, labels, names = texts_and_labels()
    model = WordCountModel.fit(texts, labels, names)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([INFO_FILE, WEIGHTS_FILE])
    again = WordCountModel.load(tmp_path)
    assert again.label_names == names
    np.testing.assert_allclose(again.probabilities(texts), model.probabilities(texts), atol=1e-6)


def test_missing_or_damaged_files_are_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no simple word-count model"):
        WordCountModel.load(tmp_path)
    texts, labels, names = texts_and_labels()
    WordCountModel.fit(texts, labels, names).save(tmp_path)
    info = json.loads((tmp_path / INFO_FILE).read_text())
    info["blocks"][0]["terms"] = info["blocks"][0]["terms"][:3]
    (tmp_path / INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(ModelError, match="does not fit together"):
        WordCountModel.load(tmp_path)
    (tmp_path / INFO_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="damaged"):
        WordCountModel.load(tmp_path)


def test_character_grams_only_for_short_texts():
    assert [b.analyzer for b, _ in blocks_for(["short text"] * 5)] == ["word", "char_wb"]
    assert [b.analyzer for b, _ in blocks_for(["long " * 200] * 5)] == ["word"]


def test_pairs_are_joined_and_missing_text_is_empty():
    assert joined_texts(["a", None], ["b", None]) == ["a [SEP] b", " [SEP] "]
    assert joined_texts(["a"], None) == ["a"]
