"""Which training rows are probably mislabeled?

Confident learning (Northcutt et al., 2021): get a probability for every
training row from a model that never saw that row (k-fold, out-of-fold), then
flag rows whose given label the model finds implausible compared with how sure
it is per class in general; rank them by how little probability the given label
got.  The model is a logistic regression on frozen-encoder sentence vectors:
computed once, cheap to cross-validate, and, unlike the fine-tuned model, it has
not memorised the wrong labels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from bertstudio.errors import DataError
from bertstudio.evaluation.baselines import full_probabilities, linear_classifier
from bertstudio.evaluation.features import DEFAULT_ENCODER, encode_texts
from bertstudio.safe_csv import write_csv

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_FOLDS = 5


@dataclass
class LabelNoiseReport:
    """Rows suspected of a wrong label, most suspicious first."""

    # rank, training_row, text[, text_pair], given_label, suspected_label, confidence, given_label_prob
    table: pd.DataFrame
    rows_checked: int
    folds: int
    features: str  # what the out-of-fold model saw, e.g. "bundled-minilm encoder"
    note: str | None = None  # why that encoder, when it stands in for the one expected

    @property
    def n_flagged(self) -> int:
        return len(self.table)

    def top(self, share: float) -> pd.DataFrame:
        """The most suspicious ``share`` of all checked rows (fewer if fewer were flagged)."""
        return self.table.head(int(np.ceil(share * self.rows_checked)))

    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(self.table, path)  # texts and labels a spreadsheet would run as formulas are escaped
        return path

    def summary(self) -> str:
        return (f"{self.n_flagged:,} of {self.rows_checked:,} training rows look mislabeled "
                f"({self.folds}-fold check on {self.features}).") + (f" {self.note}" if self.note else "")


def fold_count(labels: np.ndarray, wanted: int = DEFAULT_FOLDS) -> int:
    """``wanted`` folds, fewer when the data is too small for each fold to hold rows of every class."""
    if len(labels) < 2 * 2:
        raise DataError("Too few training rows to look for label mistakes.", "Add more labeled rows.")
    largest_class = int(np.bincount(labels).max())
    return int(max(2, min(wanted, largest_class, len(labels) // 2)))


def out_of_fold_probs(features, labels: Sequence[int], n_classes: int, *, folds: int = DEFAULT_FOLDS,
                      seed: int = 0) -> np.ndarray:
    """For every row, class probabilities from a logistic regression fitted on the other folds."""
    from scipy import sparse
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels, dtype=np.int64)
    probs = np.zeros((len(y), n_classes))
    dense = not sparse.issparse(features)
    splitter = StratifiedKFold(n_splits=fold_count(y, folds), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has fewer members than n_splits"
        for train_idx, held_idx in splitter.split(np.zeros(len(y)), y):
            classifier = linear_classifier(dense=dense).fit(features[train_idx], y[train_idx])
            probs[held_idx] = full_probabilities(classifier, features[held_idx], n_classes)
    return probs


def rank_label_issues(labels: Sequence[int], oof_probs: np.ndarray) -> np.ndarray:
    """Row indices cleanlab flags as label issues, lowest probability of the given label first."""
    from cleanlab.filter import find_label_issues

    y = np.asarray(labels, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns about tiny classes; the ranking is still usable
        return np.asarray(find_label_issues(y, oof_probs, return_indices_ranked_by="self_confidence"),
                          dtype=np.int64)


def issue_table(indices: np.ndarray, texts: Sequence[str], labels: np.ndarray, oof_probs: np.ndarray,
                label_names: Sequence[str], text_pairs: Sequence[str] | None = None) -> pd.DataFrame:
    """The flagged rows in rank order, with the label the out-of-fold model would have given."""
    import pandas as pd

    names = np.asarray(label_names, dtype=object)
    picked = oof_probs[indices]
    suspected = picked.argmax(axis=1) if len(indices) else np.zeros(0, dtype=np.int64)
    # "training_row": the row's place among the run's training texts (after the split), not its line in the file.
    columns = {"rank": np.arange(1, len(indices) + 1), "training_row": indices,
               "text": [texts[i] for i in indices]}
    if text_pairs is not None:
        columns["text_pair"] = [text_pairs[i] for i in indices]
    columns.update({
        "given_label": names[labels[indices]], "suspected_label": names[suspected],
        "confidence": picked.max(axis=1) if len(indices) else np.zeros(0),
        "given_label_prob": picked[np.arange(len(indices)), labels[indices]],
    })
    return pd.DataFrame(columns)


def label_noise_report(texts: Sequence[str], labels: Sequence[int], label_names: Sequence[str], *,
                       features=None, encoder: str = DEFAULT_ENCODER, text_pairs: Sequence[str] | None = None,
                       folds: int = DEFAULT_FOLDS, seed: int = 0) -> LabelNoiseReport:
    """Rank the rows most likely mislabeled.

    ``features`` (rows x dims, dense or sparse) skips encoding; by default the
    rows are encoded with the frozen ``encoder``.
    """
    y = np.asarray(labels, dtype=np.int64)
    description = "given features"
    if features is None:
        features = encode_texts(texts, encoder, text_pairs=text_pairs)
        description = f"{encoder} encoder"
    oof = out_of_fold_probs(features, y, len(label_names), folds=folds, seed=seed)
    indices = rank_label_issues(y, oof)
    return LabelNoiseReport(table=issue_table(indices, list(texts), y, oof, label_names, text_pairs),
                            rows_checked=int(len(y)), folds=fold_count(y, folds), features=description)
