"""The label-noise finder catches labels flipped on purpose."""

from __future__ import annotations

import numpy as np
import pytest

from bertstudio.evaluation.noise import (
    fold_count,
    label_noise_report,
    out_of_fold_probs,
)

TOPICS = {
    "billing": (["invoice", "refund", "charge", "payment", "receipt", "bank transfer"],
                ["was wrong", "is missing", "was taken twice", "needs fixing"]),
    "delivery": (["parcel", "courier", "package", "shipment", "tracking number", "delivery van"],
                 ["arrived late", "got lost", "never came", "was left outside"]),
    "praise": (["service", "team", "shop", "support staff", "website", "checkout"],
               ["was wonderful", "made my day", "was fantastic", "deserves a medal"]),
    "product": (["blender", "kettle", "lamp", "vacuum cleaner", "toaster", "heater"],
                ["broke after a week", "stopped working", "smells of burning", "has a cracked lid"]),
}
OPENERS = ["My", "The", "Honestly, the", "Hello, my", "Today the"]


def synthetic_rows(n: int = 400, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Templated sentences; each class has its own nouns and phrases, so the classes are learnable."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        cls = i % len(TOPICS)
        nouns, phrases = list(TOPICS.values())[cls]
        texts.append(f"{OPENERS[rng.integers(len(OPENERS))]} {nouns[rng.integers(len(nouns))]} "
                     f"{phrases[rng.integers(len(phrases))]}.")
        labels.append(cls)
    return texts, np.array(labels)


def flip(labels: np.ndarray, share: float, n_classes: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), size=int(share * len(labels)), replace=False)
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, n_classes, len(flipped))) % n_classes
    return noisy, flipped


def test_flipped_labels_rank_near_the_top_with_encoder_features():
    texts, labels = synthetic_rows()
    noisy, flipped = flip(labels, 0.05, len(TOPICS))
    report = label_noise_report(texts, noisy, list(TOPICS))  # the bundled MiniLM encoder
    top = report.top(0.10)
    caught = set(top["training_row"]) & set(flipped.tolist())
    assert len(caught) >= len(flipped) / 2, f"only {len(caught)} of {len(flipped)} flipped rows in the top 10%"
    assert report.rows_checked == 400 and report.folds == 5
    first = report.table.iloc[0]
    assert first["given_label"] != first["suspected_label"]
    assert first["given_label"] == list(TOPICS)[noisy[first["training_row"]]]
    assert (np.diff(report.table["given_label_prob"].to_numpy()) >= -1e-12).all(), "ranked by self-confidence"


def test_tfidf_features_work_too(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts, labels = synthetic_rows()
    noisy, flipped = flip(labels, 0.05, len(TOPICS))
    report = label_noise_report(texts, noisy, list(TOPICS), features=TfidfVectorizer().fit_transform(texts))
    assert len(set(report.top(0.10)["training_row"]) & set(flipped.tolist())) >= len(flipped) / 2
    saved = report.to_csv(tmp_path / "issues.csv")
    assert saved.read_text().splitlines()[0] == ("rank,training_row,text,given_label,suspected_label,confidence,"
                                                 "given_label_prob")


def test_out_of_fold_probabilities_are_distributions_and_never_see_their_own_row():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 5))
    labels = np.arange(60) % 3
    probs = out_of_fold_probs(features, labels, 4)  # a 4th class nobody has gets probability 0
    assert probs.shape == (60, 4) and np.allclose(probs.sum(axis=1), 1) and (probs[:, 3] == 0).all()
    # pure-noise features: out-of-fold predictions are near chance, not memorised
    assert (probs.argmax(axis=1) == labels).mean() < 0.7


def test_fold_count_adapts_to_small_data():
    from bertstudio.errors import DataError

    assert fold_count(np.arange(100) % 4) == 5
    assert fold_count(np.array([0, 0, 0, 1, 1, 1])) == 3
    with pytest.raises(DataError):
        fold_count(np.array([0, 1]))
