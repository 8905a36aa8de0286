"""Error analysis: every evaluated row with what the model thought, and tags for the rows worth a look.

The table answers "where does the model go wrong, and how sure was it?".  Three
tags point at the interesting rows:

- confident-and-wrong: wrong while very sure (often a mislabeled row, or a blind spot);
- right-but-unsure: right, but the runner-up was close (fragile, could flip);
- near miss: wrong, but the true label was the model's second choice.

The filter and sort helpers are pure functions of the table, for the app's controls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from bertstudio.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

TAG_CONFIDENT_WRONG = "confident-and-wrong"
TAG_UNSURE_RIGHT = "right-but-unsure"
TAG_NEAR_MISS = "near miss"
TAGS = (TAG_CONFIDENT_WRONG, TAG_UNSURE_RIGHT, TAG_NEAR_MISS)
TAG_SEPARATOR = ", "

CONFIDENT_THRESHOLD = 0.8
CONFIDENT_TOP_SHARE = 0.1  # ... or among the 10% most confident rows, for models that are never 80% sure
UNSURE_MARGIN = 0.2

LABEL_SET_SEPARATOR = "; "  # how a multi-label error table writes a text's labels in one cell
SortKey = Literal["confidence", "loss", "margin", "entropy"]


def label_ids(labels: Sequence[int] | Sequence[str], label_names: Sequence[str]) -> np.ndarray:
    """Label ids from ids or names (names must be among ``label_names``)."""
    values = list(labels)
    if values and isinstance(values[0], str):
        index = {name: i for i, name in enumerate(label_names)}
        return np.asarray([index[v] for v in values], dtype=np.int64)
    return np.asarray(values, dtype=np.int64)


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy of each row's distribution, in nats (0: certain; log K: no idea)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def top_two_margin(probs: np.ndarray) -> np.ndarray:
    """Probability of the top class minus that of the runner-up."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape[1] < 2:
        return np.ones(len(p))
    top2 = np.sort(p, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def true_label_rank(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """1 when the true label got the highest probability, 2 when second, and so on."""
    p = np.asarray(probs, dtype=np.float64)
    true_prob = p[np.arange(len(labels)), labels]
    return (p > true_prob[:, None]).sum(axis=1) + 1


def confident_threshold(confidence: np.ndarray) -> float:
    """0.8, or lower when the model rarely gets that sure: the confidence of its top decile."""
    if len(confidence) == 0:
        return CONFIDENT_THRESHOLD
    return float(min(CONFIDENT_THRESHOLD, np.quantile(confidence, 1 - CONFIDENT_TOP_SHARE)))


def row_tags(correct: np.ndarray, confidence: np.ndarray, margin: np.ndarray, rank: np.ndarray) -> list[str]:
    """The tags of each row, joined into one readable string ('' for none)."""
    confident_wrong = ~correct & (confidence >= confident_threshold(confidence))
    unsure_right = correct & (margin < UNSURE_MARGIN)
    near_miss = ~correct & (rank == 2)
    flags = zip(confident_wrong, unsure_right, near_miss)
    return [TAG_SEPARATOR.join(tag for tag, on in zip(TAGS, row) if on) for row in flags]


def error_table(texts: Sequence[str], labels: Sequence[int] | Sequence[str], probs: np.ndarray,
                label_names: Sequence[str], *, text_pairs: Sequence[str] | None = None) -> pd.DataFrame:
    """Every evaluated row: text, true and predicted label, confidence, loss, entropy, margin, tags.

    ``row`` is the position in the evaluated data, so filtered views can point back to it.
    """
    import pandas as pd

    p = np.asarray(probs, dtype=np.float64)
    y = label_ids(labels, label_names)
    pred = p.argmax(axis=1)
    correct = pred == y
    confidence = p.max(axis=1)
    margin = top_two_margin(p)
    rank = true_label_rank(p, y)
    names = np.asarray(label_names, dtype=object)
    columns = {"row": np.arange(len(y)), "text": list(texts)}
    if text_pairs is not None:
        columns["text_pair"] = list(text_pairs)
    columns.update({
        "label": names[y], "predicted": names[pred], "correct": correct, "confidence": confidence,
        "loss": -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)), "entropy": entropy(p), "margin": margin,
        "true_rank": rank, "tags": row_tags(correct, confidence, margin, rank),
    })
    return pd.DataFrame(columns)


# --- views for the app ---------------------------------------------------------------------


def has_tag(table: pd.DataFrame, tag: str) -> pd.Series:
    return table["tags"].str.split(TAG_SEPARATOR, regex=False).apply(lambda tags: tag in tags)


def label_matches(column: pd.Series, label: str, label_sets: bool) -> np.ndarray:
    """Rows whose label is ``label``; with label sets ("billing; refund"), rows whose set holds it (a filter on
    one label that matched whole sets found only the texts with that label alone)."""
    if not label_sets:
        return (column == label).to_numpy()
    return column.str.split(LABEL_SET_SEPARATOR, regex=False).apply(lambda names: label in names).to_numpy(dtype=bool)


def filter_errors(table: pd.DataFrame, *, true_label: str | None = None, predicted: str | None = None,
                  tag: str | None = None, search: str | None = None, wrong_only: bool = False) -> pd.DataFrame:
    """The rows matching every given condition; ``search`` is a case-insensitive substring of the text."""
    keep = np.ones(len(table), dtype=bool)
    label_sets = "missed" in table.columns  # multi-label tables list what each text missed
    if true_label is not None:
        keep &= label_matches(table["label"], true_label, label_sets)
    if predicted is not None:
        keep &= label_matches(table["predicted"], predicted, label_sets)
    if tag is not None:
        if tag not in TAGS:
            raise ConfigError(f"Unknown tag '{tag}'.", f"Use one of: {', '.join(TAGS)}.")
        keep &= has_tag(table, tag).to_numpy()
    if search:
        text = table["text"].astype(str)
        if "text_pair" in table.columns:
            text = text + " " + table["text_pair"].astype(str)
        keep &= text.str.contains(search, case=False, regex=False).to_numpy()
    if wrong_only:
        keep &= ~table["correct"].to_numpy()
    return table[keep]


def sort_errors(table: pd.DataFrame, by: SortKey = "loss", *, descending: bool = True) -> pd.DataFrame:
    """Rows ordered by one column (default: highest loss first, the worst mistakes on top)."""
    if by not in ("confidence", "loss", "margin", "entropy"):
        raise ConfigError(f"Cannot sort by '{by}'.", "Sort by confidence, loss, margin or entropy.")
    return table.sort_values(by, ascending=not descending, kind="stable")


def tag_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many rows carry each tag."""
    return {tag: int(has_tag(table, tag).sum()) for tag in TAGS}
