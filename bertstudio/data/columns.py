"""Guessing which column holds the text and which the label, so the user only confirms."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bertstudio.errors import DataError

if TYPE_CHECKING:
    import datasets

SAMPLE_ROWS = 2_000

TEXT_NAMES = ("text", "sentence", "review", "comment", "message", "content", "body", "title")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "intent", "sentiment", "y")
PAIR_NAMES = (
    ("text_a", "text_b"),
    ("sentence1", "sentence2"),
    ("question1", "question2"),
    ("premise", "hypothesis"),
    ("text1", "text2"),
    ("sentence_a", "sentence_b"),
)
# A label column has few distinct values: at most this share of the rows (and at
# least two values), so ids and free text are never taken for labels.
_MAX_LABEL_DISTINCT_SHARE = 0.5
_MIN_TEXT_DISTINCT_SHARE = 0.5


@dataclass
class ColumnProfile:
    """What a column looks like in the sample."""

    name: str
    mean_length: float
    n_distinct: int
    n_filled: int


@dataclass
class ColumnGuess:
    """The guessed roles of the columns, and why (shown to the user)."""

    text: str
    label: str | None
    text_pair: str | None = None
    reasons: list[str] = field(default_factory=list)


def guess_columns(ds: datasets.Dataset, *, sample_rows: int = SAMPLE_ROWS) -> ColumnGuess:
    """Guess text, label and optional second-text columns from names first, then content."""
    if not ds.column_names:
        raise DataError("The data has no columns.", hint="Use a file with a header row and data rows.")
    sample = ds.select(range(min(sample_rows, ds.num_rows))).to_dict()
    profiles = {name: profile_column(name, sample[name]) for name in ds.column_names}
    return guess_from_profiles(profiles)


def profile_column(name: str, values: list[object]) -> ColumnProfile:
    filled = [str(v).strip() for v in values if v is not None and str(v).strip()]
    mean = sum(map(len, filled)) / len(filled) if filled else 0.0
    return ColumnProfile(name, mean, len(set(filled)), len(filled))


def guess_from_profiles(profiles: dict[str, ColumnProfile]) -> ColumnGuess:
    """The heuristics on column summaries (a pure function, easy to test)."""
    reasons: list[str] = []
    by_key = {_name_key(name): name for name in profiles}

    text, pair = _pair_by_name(by_key)
    if text and pair:
        reasons.append(f"'{text}' and '{pair}' look like a pair of texts (by their names).")
    else:
        text = _by_name(by_key, TEXT_NAMES, exclude=set())
        if text:
            reasons.append(f"'{text}' looks like the text column (by its name).")
        else:
            text = _text_by_content(profiles)
            reasons.append(
                f"'{text}' holds the longest texts (about {profiles[text].mean_length:.0f} characters on average)."
            )

    taken = {text, pair} - {None}
    label = _by_name(by_key, LABEL_NAMES, exclude=taken)
    if label:
        reasons.append(f"'{label}' looks like the label column (by its name).")
    else:
        label = _label_by_content(profiles, exclude=taken)
        if label:
            p = profiles[label]
            reasons.append(
                f"'{label}' has only {p.n_distinct:,} different values in {p.n_filled:,} rows, "
                "so it looks like the label column."
            )
        else:
            reasons.append("No column looks like a label column; please choose it.")
    return ColumnGuess(text=text, label=label, text_pair=pair, reasons=reasons)


def _name_key(name: str) -> str:
    """'Review Text', 'review-text' and 'review_text' compare equal."""
    return re.sub(r"[\s\-.]+", "_", name.strip().lower())


def _pair_by_name(by_key: dict[str, str]) -> tuple[str | None, str | None]:
    for first, second in PAIR_NAMES:
        if first in by_key and second in by_key:
            return by_key[first], by_key[second]
    return None, None


def _by_name(by_key: dict[str, str], names: tuple[str, ...], *, exclude: set[str]) -> str | None:
    """Exact name matches first (in priority order), then names containing the word ('review_text')."""
    candidates = {key: col for key, col in by_key.items() if col not in exclude}
    for wanted in names:
        if wanted in candidates:
            return candidates[wanted]
    for wanted in names:
        if len(wanted) < 3:  # 'y' inside a word means nothing
            continue
        for key, col in candidates.items():
            if wanted in key.split("_"):
                return col
    return None


def _text_by_content(profiles: dict[str, ColumnProfile]) -> str:
    """Longest mean length among columns with many distinct values (else simply the longest)."""
    varied = [
        p for p in profiles.values()
        if p.n_filled and p.n_distinct >= _MIN_TEXT_DISTINCT_SHARE * p.n_filled
    ]
    pool = varied or list(profiles.values())
    return max(pool, key=lambda p: p.mean_length).name


def _label_by_content(profiles: dict[str, ColumnProfile], *, exclude: set[str]) -> str | None:
    """The column with the fewest distinct values relative to its rows (at least two values)."""
    candidates = [
        p for p in profiles.values()
        if p.name not in exclude
        and p.n_filled
        and p.n_distinct >= 2
        and (p.n_distinct <= _MAX_LABEL_DISTINCT_SHARE * p.n_filled or p.n_distinct <= 2)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda p: (p.n_distinct / p.n_filled, p.mean_length)).name
