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
# A column of a handful of short values, each on several rows (a channel: "web form", "email", "phone call") holds
# categories, not texts, even when it is named 'text': a model trained or run on it labels every row alike.
_MAX_CATEGORY_VALUES = 20
_MAX_CATEGORY_CHARS = 30
# Real texts are words: most values hold a space, or are long (Chinese and Japanese texts have no spaces). Dates,
# codes and numbers vary as much as texts do, yet a model reads nothing in them.
_MIN_SPACED_SHARE = 0.5
_MIN_UNSPACED_TEXT_CHARS = 20


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
    spaced_share: float = 0.0  # share of the values holding a space (words, not codes)
    distinct_examples: tuple[str, ...] = ()  # the first few different values, to name categories by

    @property
    def looks_like_ids(self) -> bool:
        return self.all_numbers or self.all_codes

    @property
    def looks_like_categories(self) -> bool:
        """A handful of different short values, each on several rows on average: a channel or a status."""
        return (bool(self.n_filled) and self.n_distinct <= _MAX_CATEGORY_VALUES
                and self.mean_length <= _MAX_CATEGORY_CHARS and self.n_filled >= 2 * self.n_distinct)

    @property
    def holds_texts(self) -> bool:
        """Real texts: many different values, words rather than codes, numbers or dates."""
        return (_varied(self) and not self.looks_like_ids
                and (self.spaced_share >= _MIN_SPACED_SHARE or self.mean_length >= _MIN_UNSPACED_TEXT_CHARS))


@dataclass
class ColumnGuess:
    """The guessed roles of the columns, and why (shown to the user)."""

    text: str
    label: str | None
    text_pair: str | None = None
    reasons: list[str] = field(default_factory=list)
    text_note: Finding | None = None  # a column named as the text passed over, said as such
    label_note: Finding | None = None  # another column that could hold the labels, and how to choose it

    def notes(self, *, text_chosen: bool, label_chosen: bool) -> list[Finding]:
        """What to tell about the guess, leaving out the columns the person chose themselves."""
        return [note for note, chosen in ((self.text_note, text_chosen), (self.label_note, label_chosen))
                if note is not None and not chosen]


def guess_columns(ds: datasets.Dataset, *, sample_rows: int = SAMPLE_ROWS) -> ColumnGuess:
    """Guess text, label and optional second-text columns from names first, then content."""
    return guess_from_profiles(sample_profiles(ds, sample_rows=sample_rows))


def sample_profiles(ds: datasets.Dataset, *, sample_rows: int = SAMPLE_ROWS) -> dict[str, ColumnProfile]:
    """Every column's profile, from the first ``sample_rows`` rows."""
    if not ds.column_names:
        raise DataError("The data has no columns.", hint="Use a file with a header row and data rows.")
    sample = ds.select(range(min(sample_rows, ds.num_rows))).to_dict()
    return {name: profile_column(name, sample[name]) for name in ds.column_names}


def profile_column(name: str, values: list[object]) -> ColumnProfile:
    filled = [str(v).strip() for v in values if v is not None and str(v).strip()]
    mean = sum(map(len, filled)) / len(filled) if filled else 0.0
    distinct = list(dict.fromkeys(filled))  # in order of first appearance
    all_numbers = bool(filled) and all(_NUMBER.fullmatch(v) for v in filled)
    spaced = [any(ch.isspace() for ch in v) for v in filled]
    all_codes = (len(filled) > 1 and len(distinct) == len(filled)
                 and all(len(v) <= _MAX_CODE_CHARS and not has_space for v, has_space in zip(filled, spaced)))
    return ColumnProfile(name, mean, len(distinct), len(filled), all_numbers, all_codes,
                         tuple(filled[:_CODE_EXAMPLES]), sum(spaced) / len(filled) if filled else 0.0,
                         tuple(distinct[:_CODE_EXAMPLES]))


def text_column_findings(ds: datasets.Dataset, text_col: str, *, sample_rows: int = SAMPLE_ROWS) -> list[Finding]:
    """A warning when the text column holds numbers, ids or categories rather than texts (guessed or chosen
    alike), naming a column that holds texts when the file has one."""
    return text_column_warnings(sample_profiles(ds, sample_rows=sample_rows), text_col)


def text_column_warnings(profiles: dict[str, ColumnProfile], text_col: str) -> list[Finding]:
    """:func:`text_column_findings` on column profiles (``predict`` profiles the first rows it reads)."""
    profile = profiles[text_col]
    if profile.looks_like_ids:
        what = "only numbers" if profile.all_numbers else "only short codes, each different,"
        code, why, examples = "text_looks_like_ids", "a model cannot learn anything from ids", profile.examples
    elif profile.looks_like_categories:
        what, code, examples = _categories(profile), "text_looks_like_categories", profile.distinct_examples
        why = "a model reading it gives every row with the same value the same label"
    else:
        return []
    return [Finding("warning", code, f"The text column '{text_col}' holds {what} rather than texts: {why}.",
                    hint=f"{choose_text_column_hint(profiles, text_col)} If these really are your texts, carry on.",
                    examples=list(examples))]


def choose_text_column_hint(profiles: dict[str, ColumnProfile], text_col: str) -> str:
    """What to do about a text column that holds no texts: the column that does, when the file has one."""
    better = _column_with_texts(profiles, exclude={text_col})
    if better is None:
        return "Choose the column with the texts (on the command line: --text NAME)."
    return f"'{better}' holds texts: choose it as the text column (on the command line: --text {better})."


def _column_with_texts(profiles: dict[str, ColumnProfile], *, exclude: set[str]) -> str | None:
    """The column the guess would read texts from, among those not in ``exclude``, if it holds real texts."""
    rest = {name: p for name, p in profiles.items() if name not in exclude}
    if not rest:
        return None
    text = guess_from_profiles(rest).text
    return text if rest[text].holds_texts else None


def _categories(profile: ColumnProfile) -> str:
    """'only 3 different short values' in words, as the warnings and notes name a column of categories."""
    n = profile.n_distinct
    return "one short value on every row" if n == 1 else f"only {n:,} different short values"


def _not_texts(profile: ColumnProfile) -> str:
    """What a column passed over for the texts holds instead, in words."""
    if profile.all_numbers:
        return "holds only numbers (ids, not texts)"
    if profile.all_codes:
        return "holds only short codes, each different (ids, not texts)"
    return f"holds {_categories(profile)} (like categories, not texts)"


def guess_from_profiles(profiles: dict[str, ColumnProfile]) -> ColumnGuess:
    """The heuristics on column summaries (a pure function, easy to test)."""
    reasons: list[str] = []
    by_key = {_name_key(name): name for name in profiles}
    text_note = None

    text, pair = _pair_by_name(by_key, profiles)
    if text and pair:
        reasons.append(f"'{text}' and '{pair}' look like a pair of texts (by their names).")
    else:
        text = _by_name(by_key, TEXT_NAMES, exclude=_not_text_columns(profiles))
        named = _by_name(by_key, TEXT_NAMES, exclude=set())
        if text:
            reasons.append(f"'{text}' looks like the text column (by its name).")
        else:
            text, why = _text_by_content(profiles, avoid={_by_name(by_key, LABEL_NAMES, exclude=set())})
            reasons.append(why)
        if named is not None and named != text:
            text_note = _passed_over_note(profiles[named], text)
            reasons.append(text_note.message)

    taken = {text, pair} - {None}
    label = _by_name(by_key, LABEL_NAMES, exclude=taken) or _by_name(
        by_key, LABEL_LIKE_NAMES, exclude=taken | {name for name, p in profiles.items() if not _repeats(p)})
    label_note = None
    if label:
        reasons.append(f"'{label}' looks like the label column (by its name).")
        label_note = _other_label_note(by_key, profiles, label, exclude=taken)
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
    return ColumnGuess(text=text, label=label, text_pair=pair, reasons=reasons, text_note=text_note,
                       label_note=label_note)


def _passed_over_note(named: ColumnProfile, text: str | None) -> Finding:
    """Why the column named as the text is not read as the texts."""
    return Finding(
        "info", "text_column_passed_over",
        f"'{named.name}' {_not_texts(named)}, so the texts are read from '{text}'.",
        hint=f"If '{named.name}' really holds your texts, choose it as the text column (on the command line: "
             f"--text {named.name}).",
        examples=list(named.distinct_examples))


def _other_label_note(by_key: dict[str, str], profiles: dict[str, ColumnProfile], label: str, *,
                      exclude: set[str]) -> Finding | None:
    """A second column named as labels ('sentiment' and 'topic'): which one is used, and how to take the other."""
    rest = {key: name for key, name in by_key.items() if name not in exclude | {label} and _repeats(profiles[name])}
    other = _by_name(rest, LABEL_NAMES + LABEL_LIKE_NAMES, exclude=set())
    if other is None:
        return None
    return Finding(
        "info", "other_label_column",
        f"'{label}' is read as the labels; '{other}' could hold labels too.",
        hint=f"To train on '{other}' instead, choose it as the label column (Data tab; on the command line: "
             f"--label {other}).")


def text_column_for_model(profiles: dict[str, ColumnProfile], *, trained: str | None,
                          exclude: set[str | None] = frozenset()) -> tuple[str, Finding | None] | None:
    """The column a trained model reads its texts from in a file (``predict`` and ``evaluate --data`` alike), with
    a note when it is not the training's: the training's column when the file has it and it holds texts; else the
    column the guess reads texts from, when it is named as texts or holds real texts (or is the only column
    left). None when no column does. ``exclude``: the columns that hold something else (labels, second texts)."""
    pool = {name: p for name, p in profiles.items() if name not in exclude}
    if not pool:
        return None
    if trained in pool and trained not in _not_text_columns(pool):
        return trained, None
    guess = guess_from_profiles(pool).text
    if not (len(pool) == 1 or pool[guess].holds_texts or _named_as_text(guess)):
        return None
    if trained in pool:
        why = f": '{trained}', the column the model was trained on, {_not_texts(pool[trained])}"
    elif trained:
        why = f": the file has no column '{trained}', which the model was trained on"
    else:
        why = ""
    return guess, Finding("info", "text_column_chosen", f"Read the texts from '{guess}'{why}.",
                          hint="To read another column, name it (on the command line: --text NAME).")


def model_text_column(profiles: dict[str, ColumnProfile], *, given: str | None, trained: str | None,
                      exclude: set[str | None] = frozenset()) -> tuple[str, list[Finding]]:
    """The text column of a file a trained model reads (``predict`` and ``evaluate --data`` alike): ``given`` by
    the person, else :func:`text_column_for_model`; with what to tell about it (the column read and why, a column
    of ids or categories read as texts). Refuses a ``given`` name the file lacks, and a file without texts."""
    notes: list[Finding] = []
    if given is not None:
        if given not in profiles:
            raise DataError(f"The file has no column named '{given}'.",
                            hint=f"Columns in the file: {', '.join(profiles)}.")
        text = given
    else:
        choice = text_column_for_model(profiles, trained=trained, exclude=exclude)
        if choice is None:
            raise text_column_not_found(list(profiles))
        text, note = choice
        notes += [note] if note is not None else []
    return text, notes + text_column_warnings(profiles, text)


def text_column_not_found(columns: list[str]) -> DataError:
    """No column of the file holds texts a model could read."""
    return DataError("Could not tell which column holds the texts: none looks like sentences.",
                     hint=f"Name the column with the texts (on the command line: --text NAME; the columns are "
                          f"{', '.join(columns)}).")


def _named_as_text(name: str) -> bool:
    return _by_name({_name_key(name): name}, TEXT_NAMES, exclude=set()) is not None


def _not_text_columns(profiles: dict[str, ColumnProfile]) -> set[str]:
    """Columns passed over for the text, whatever their names: ids while another column exists that is not ids,
    and a handful of short values (a channel) while another column holds real texts."""
    categories = ({name for name, p in profiles.items() if p.looks_like_categories}
                  if any(p.holds_texts for p in profiles.values()) else set())
    return _id_columns(profiles) | categories


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
