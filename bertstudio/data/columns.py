"""Guessing which column holds the text and which the label, so the user only confirms."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bertstudio.data.findings import Finding
from bertstudio.errors import DataError

if TYPE_CHECKING:
    import datasets

SAMPLE_ROWS = 2_000

TEXT_NAMES = ("text", "sentence", "review", "comment", "message", "content", "body", "feedback", "description",
              "tweet", "utterance", "document", "article", "abstract", "title", "headline")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "intent", "sentiment", "y")
# Names that often hold what a person wants predicted, but sometimes a measurement ("score" of 0.8731...): taken
# by name only when the column repeats its values as labels do ("stars" of 1-5 before a "country" of 3 codes).
LABEL_LIKE_NAMES = ("rating", "ratings", "stars", "star", "score", "grade", "topic", "topics", "emotion", "emotions",
                    "polarity", "genre", "tag", "tags", "outcome", "verdict", "priority", "severity", "department",
                    "team", "type", "classification", "categories", "classes", "annotation")
PAIR_NAMES = (
    ("text_a", "text_b"),
    ("sentence1", "sentence2"),
    ("question1", "question2"),
    ("premise", "hypothesis"),
    ("text1", "text2"),
    ("sentence_a", "sentence_b"),
    ("question", "answer"),
    ("query", "document"),
    ("query", "passage"),
    ("claim", "evidence"),
)
# A label column has few distinct values: at most this share of the rows (and at
# least two values), so ids and free text are never taken for labels.
_MAX_LABEL_DISTINCT_SHARE = 0.5
_MIN_TEXT_DISTINCT_SHARE = 0.5
# A column of ids trained as if it were the text ("id,label" files): every value one word of at most this
# many characters, and either every value a number or every value different.
_MAX_CODE_CHARS = 40
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")
_CODE_EXAMPLES = 3


@dataclass
class ColumnProfile:
    """What a column looks like in the sample."""

    name: str
    mean_length: float
    n_distinct: int
    n_filled: int
    all_numbers: bool = False
    all_codes: bool = False  # one short word each, every value different: ids, not texts
    examples: tuple[str, ...] = ()

    @property
    def looks_like_ids(self) -> bool:
        return self.all_numbers or self.all_codes


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
    n_distinct = len(set(filled))
    all_numbers = bool(filled) and all(_NUMBER.fullmatch(v) for v in filled)
    all_codes = (len(filled) > 1 and n_distinct == len(filled)
                 and all(len(v) <= _MAX_CODE_CHARS and not any(ch.isspace() for ch in v) for v in filled))
    return ColumnProfile(name, mean, n_distinct, len(filled), all_numbers, all_codes,
                         tuple(filled[:_CODE_EXAMPLES]))


def text_column_findings(ds: datasets.Dataset, text_col: str, *, sample_rows: int = SAMPLE_ROWS) -> list[Finding]:
    """A warning when the text column holds numbers or ids rather than texts (guessed or chosen alike)."""
    sample = ds.select_columns([text_col]).select(range(min(sample_rows, ds.num_rows)))[text_col]
    profile = profile_column(text_col, sample)
    if not profile.looks_like_ids:
        return []
    what = "only numbers" if profile.all_numbers else "only short codes, each different,"
    return [Finding(
        "warning", "text_looks_like_ids",
        f"The text column '{text_col}' holds {what} rather than texts: a model cannot learn anything "
        "from ids.",
        hint="Choose the column with the texts (on the command line: --text NAME). If these really are "
             "your texts, carry on.",
        examples=list(profile.examples))]


def guess_from_profiles(profiles: dict[str, ColumnProfile]) -> ColumnGuess:
    """The heuristics on column summaries (a pure function, easy to test)."""
    reasons: list[str] = []
    by_key = {_name_key(name): name for name in profiles}

    text, pair = _pair_by_name(by_key, profiles)
    if text and pair:
        reasons.append(f"'{text}' and '{pair}' look like a pair of texts (by their names).")
    else:
        text = _by_name(by_key, TEXT_NAMES, exclude=_id_columns(profiles))
        if text:
            reasons.append(f"'{text}' looks like the text column (by its name).")
        else:
            text, why = _text_by_content(profiles, avoid={_by_name(by_key, LABEL_NAMES, exclude=set())})
            reasons.append(why)

    taken = {text, pair} - {None}
    label = _by_name(by_key, LABEL_NAMES, exclude=taken) or _by_name(
        by_key, LABEL_LIKE_NAMES, exclude=taken | {name for name, p in profiles.items() if not _repeats(p)})
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
            reasons.append(no_label_column_why(profiles, taken))
    return ColumnGuess(text=text, label=label, text_pair=pair, reasons=reasons)


def no_label_column_why(profiles: dict[str, ColumnProfile], taken: set[str]) -> str:
    """Why none of the columns left over after the text looks like labels, column by column, in plain words."""
    others = [p for name, p in profiles.items() if name not in taken]
    if not others:
        return (f"The file has one column ('{next(iter(profiles))}'): texts without labels." if len(profiles) == 1
                else "Every column holds texts; none holds labels.")
    return "No column looks like labels: " + "; ".join(_why_not_labels(p) for p in others) + "."


def _why_not_labels(p: ColumnProfile) -> str:
    if not p.n_filled:
        return f"'{p.name}' is empty"
    if p.n_distinct < 2:
        return f"'{p.name}' holds one value only"
    kind = "numbers" if p.all_numbers else "values"
    return f"'{p.name}' has {p.n_distinct:,} different {kind} in {p.n_filled:,} rows, too many for classes"


def _name_key(name: str) -> str:
    """'Review Text', 'review-text' and 'review_text' compare equal."""
    return re.sub(r"[\s\-.]+", "_", name.strip().lower())


def _id_columns(profiles: dict[str, ColumnProfile]) -> set[str]:
    """Columns holding ids, passed over for the text while a column with real texts exists."""
    ids = {name for name, p in profiles.items() if p.looks_like_ids}
    return ids if any(_varied(p) and not p.looks_like_ids for p in profiles.values()) else set()


def _varied(profile: ColumnProfile) -> bool:
    """Many different values, as texts have (labels repeat)."""
    return bool(profile.n_filled) and profile.n_distinct >= _MIN_TEXT_DISTINCT_SHARE * profile.n_filled


def _pair_by_name(by_key: dict[str, str], profiles: dict[str, ColumnProfile]) -> tuple[str | None, str | None]:
    """Two columns named as a pair of texts, unless the second holds the labels: "question,answer" with yes/no
    answers, and no other column named as labels or repeating more."""
    for first, second in PAIR_NAMES:
        if first not in by_key or second not in by_key:
            continue
        text, pair = by_key[first], by_key[second]
        labelled = _by_name(by_key, LABEL_NAMES, exclude={text, pair}) is not None
        if labelled or _label_by_content(profiles, exclude={text}) != pair:
            return text, pair
    return None, None


def has_class_labels(profiles: dict[str, ColumnProfile]) -> bool:
    """Whether a table's guessed label column holds classes: at least two values, each shared by several rows
    (a legend's codes, each on one row, or an archive whose rows all carry one label, cannot be trained on)."""
    label = guess_from_profiles(profiles).label
    return label is not None and profiles[label].n_distinct >= 2 and _label_like(profiles[label])


def _label_like(profile: ColumnProfile) -> bool:
    """Few distinct values for its rows, as labels have: at most two, or at most half the rows."""
    return profile.n_distinct <= 2 or profile.n_distinct <= _MAX_LABEL_DISTINCT_SHARE * profile.n_filled


def _repeats(profile: ColumnProfile) -> bool:
    """At least two values, repeated as classes are (see :func:`_label_like`)."""
    return bool(profile.n_filled) and profile.n_distinct >= 2 and _label_like(profile)


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


def _text_by_content(profiles: dict[str, ColumnProfile], *, avoid: set[str | None]) -> tuple[str, str]:
    """The column of texts, and why.  Ids and the columns in ``avoid`` (named as labels) are passed over while
    another column exists; among the rest, the longest of those with many distinct values, else the one with the
    most distinct values: feedback that often repeats ("Great service!") still varies more than its labels, while
    a column of ids varies most of all."""
    allowed = [p for p in profiles.values() if p.name not in avoid] or list(profiles.values())
    pool = [p for p in allowed if not p.looks_like_ids] or allowed
    varied = [p for p in pool if _varied(p)]
    if varied:
        chosen = max(varied, key=lambda p: p.mean_length)
        return chosen.name, (f"'{chosen.name}' holds the longest texts (about {chosen.mean_length:.0f} characters "
                             "on average).")
    chosen = max(pool, key=lambda p: (p.n_distinct, p.mean_length))
    return chosen.name, (f"'{chosen.name}' holds the texts: it has the most different values "
                         f"({chosen.n_distinct:,} in {chosen.n_filled:,} rows).")


def _label_by_content(profiles: dict[str, ColumnProfile], *, exclude: set[str]) -> str | None:
    """The column with the fewest distinct values relative to its rows (at least two values)."""
    candidates = [p for p in profiles.values() if p.name not in exclude and _repeats(p)]
    if not candidates:
        return None
    return min(candidates, key=lambda p: (p.n_distinct / p.n_filled, p.mean_length)).name
