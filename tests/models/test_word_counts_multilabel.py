"""The simple word-count model with several labels per text: one logistic regression per label, saved without
pickle."""

from __future__ import annotations

import numpy as np

from bertstudio.models.word_counts import WordCountModel

TEXTS = ["happy glad", "angry mad", "happy angry", "scared", "glad mad scared", "calm day"] * 5
LABELS = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]] * 5)


def test_one_vs_rest_probabilities_are_per_label_and_survive_save_and_load(tmp_path):
    model = WordCountModel.fit(TEXTS, LABELS, ["joy", "anger", "fear"])
    assert model.multi_label
    probs = model.probabilities(["happy and mad", "nothing at all"])
    assert probs.shape == (2, 3) and not np.allclose(probs.sum(axis=1), 1)  # not a softmax over labels
    assert probs[0, 0] > 0.5 and probs[0, 1] > 0.5 and probs[0, 2] < 0.5
    model.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.pickle"))
    loaded = WordCountModel.load(tmp_path)
    assert loaded.multi_label and np.allclose(loaded.probabilities(["happy and mad"]), probs[:1], atol=1e-6)


def test_a_label_on_every_text_is_a_constant():
    labels = LABELS.copy()
    labels[:, 2] = 1
    model = WordCountModel.fit(TEXTS, labels, ["joy", "anger", "always"])
    assert model.probabilities(["anything"])[0, 2] > 0.99


def test_labels_fitted_side_by_side_equal_labels_fitted_one_by_one(monkeypatch):
    """The labels' fits run on a thread per core; each must be the fit it would be alone."""
    from sklearn.linear_model import LogisticRegression

    from bertstudio.models import word_counts

    labels = LABELS.copy()
    labels[:, 2] = 0  # a constant label among the fitted ones
    features = word_counts.fit_features(TEXTS)[1]
    monkeypatch.setattr(word_counts, "usable_cores", lambda: 4)
    coef, intercept = word_counts.fit_one_vs_rest(features, labels)
    for j in (0, 1):
        alone = LogisticRegression(C=word_counts.REGULARISATION_C, solver="newton-cg", max_iter=1000)
        alone.fit(features, labels[:, j])
        np.testing.assert_allclose(coef[j], alone.coef_[0], rtol=1e-5, atol=1e-6)
        assert abs(intercept[j] - alone.intercept_[0]) < 1e-5
    assert intercept[2] == -10.0 and not coef[2].any()
