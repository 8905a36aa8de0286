"""Cheap baselines trained on the same split, so a fine-tuned score has something to be compared with.

If TF-IDF with logistic regression, trained in seconds, scores within a point of
the fine-tuned transformer, the transformer is not worth its cost on this data;
and if a frozen encoder with a linear classifier on top is as good, fine-tuning
the whole encoder was not needed.  Both are honest, untuned defaults.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from bertstudio.errors import DataError
from bertstudio.evaluation.features import DEFAULT_ENCODER, encode_texts
from bertstudio.evaluation.metrics import classification_metrics, many_classes_warning_silenced
from bertstudio.models.word_counts import WordCountModel, joined_texts

MAX_ENCODER_TRAIN_ROWS = 10_000  # encoding is the slow part; a linear probe saturates long before this


@dataclass
class BaselineResult:
    """One baseline's scores on the evaluated rows."""

    name: str
    accuracy: float
    macro_f1: float
    train_rows: int
    eval_rows: int
    seconds: float
    description: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def linear_classifier(*, dense: bool, C: float = 1.0):
    """Logistic regression; dense features (encoder vectors) are standardised first.

    On sparse TF-IDF features Newton-CG converges in a handful of iterations where
    L-BFGS needs over ten times longer for the same solution.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not dense:
        return LogisticRegression(C=C, solver="newton-cg", max_iter=1000)
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))


def full_probabilities(classifier, features, n_classes: int) -> np.ndarray:
    """predict_proba spread over all ``n_classes`` columns (a class missing from the training rows gets 0)."""
    probs = np.zeros((features.shape[0], n_classes))
    probs[:, classifier.classes_] = classifier.predict_proba(features)
    return probs


def dataset_texts(dataset, *, joined: bool) -> tuple[list[str], list[str] | None]:
    """(texts, text pairs) of a split; ``joined`` glues the pair onto the text for bag-of-words models."""
    texts = list(dataset["text"])
    pairs = list(dataset["text_pair"]) if "text_pair" in dataset.column_names else None
    if joined:
        return joined_texts(texts, pairs), None
    return texts, pairs


def _scored(name: str, description: str, probs: np.ndarray, labels: np.ndarray, label_names: Sequence[str],
            train_rows: int, started: float) -> BaselineResult:
    metrics = classification_metrics(labels, probs, label_names)
    return BaselineResult(name=name, accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"],
                          train_rows=train_rows, eval_rows=int(len(labels)),
                          seconds=round(time.perf_counter() - started, 2), description=description)


def tfidf_baseline(train, evaluated, label_names: Sequence[str]) -> BaselineResult:
    """The simple word-count model every run trains beside the fine-tuned one (``models.word_counts``)."""
    started = time.perf_counter()
    model = WordCountModel.fit(dataset_texts(train, joined=True)[0], np.asarray(train["label"]), label_names)
    probs = model.probabilities(dataset_texts(evaluated, joined=True)[0])
    return _scored("TF-IDF + logistic regression", "Word and character n-gram counts; no neural network.", probs,
                   np.asarray(evaluated["label"]), label_names, model.train_rows, started)


def sample_rows(n_rows: int, limit: int, seed: int) -> np.ndarray:
    """All row indices, or a seeded random ``limit`` of them in their original order."""
    if n_rows <= limit:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=limit, replace=False))


def encoder_baseline(train, evaluated, label_names: Sequence[str], *, encoder: str = DEFAULT_ENCODER,
                     max_train_rows: int = MAX_ENCODER_TRAIN_ROWS, seed: int = 0) -> BaselineResult:
    """The pre-trained encoder kept frozen (mean-pooled sentence vectors), logistic regression on top."""

    started = time.perf_counter()
    total = len(train)
    rows = sample_rows(total, max_train_rows, seed)
    train = train.select(rows)
    texts, pairs = dataset_texts(train, joined=False)
    features = encode_texts(texts, encoder, text_pairs=pairs)
    with many_classes_warning_silenced():
        classifier = linear_classifier(dense=True).fit(features, np.asarray(train["label"]))
    eval_texts, eval_pairs = dataset_texts(evaluated, joined=False)
    probs = full_probabilities(classifier, encode_texts(eval_texts, encoder, text_pairs=eval_pairs),
                               len(label_names))
    sampled = f" (trained on a random {len(rows):,} of the {total:,} training rows)" if len(rows) < total else ""
    return _scored(f"Frozen {encoder} + logistic regression",
                   f"The pre-trained model without fine-tuning{sampled}: shows what fine-tuning added.",
                   probs, np.asarray(evaluated["label"]), label_names, len(rows), started)


def baseline_report(split, *, evaluated=None, encoder: str | None = DEFAULT_ENCODER,
                    max_encoder_rows: int = MAX_ENCODER_TRAIN_ROWS, seed: int = 0) -> list[BaselineResult]:
    """Both baselines trained on ``split.train`` and scored on ``evaluated``.

    ``evaluated`` defaults to the test split (the validation split when there is
    no test split).  ``encoder=None`` skips the encoder baseline.
    """

    if evaluated is None:
        evaluated = split.test if split.test is not None and len(split.test) else split.validation
    if len(split.train) == 0 or evaluated is None or len(evaluated) == 0:
        raise DataError("There are no rows to train or score the baselines on.",
                        "Use a data file with more rows, so some can be held out for testing.")
    results = [tfidf_baseline(split.train, evaluated, split.label_names)]
    if encoder:
        results.append(encoder_baseline(split.train, evaluated, split.label_names, encoder=encoder,
                                        max_train_rows=max_encoder_rows, seed=seed))
    return results
