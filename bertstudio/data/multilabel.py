"""Several labels per text: telling a multi-label file from a single-label one, and cleaning it.

A multi-label file comes in one of two shapes: a label column whose cells hold several labels joined by a
separator (``joy;love``), or several 0/1 columns, one per label.  The separator is decided from how the parts
recur across rows, never from its mere presence: "Sci/Tech" or "yes, definitely" are single labels whose
names hold a separator character, and their parts never appear on their own or in other combinations.

The cleaned dataset has the same columns as a single-label one, except that ``label`` is a vector of 0/1
floats (one per label, in ``label_names`` order): the training loop, the metrics and prediction tell the two
tasks apart by that shape alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

from bertstudio.data.arrow_batches import frames
from bertstudio.data.findings import Finding
from bertstudio.data.findings import count_noun as _count
from bertstudio.data.labels import LIST_CELLS, list_cell_labels, normalise_label, sort_labels
from bertstudio.errors import DataError

if TYPE_CHECKING:
    import datasets
    import numpy as np
    import pandas as pd

# Tried in this order; a comma last, because it appears inside label names far more often than ; or |.
SEPARATORS = (";", "|", ",")
# A separator is real when, in at least this share of the rows whose cell holds it, every part also appears in
# another cell value (alone, or in another combination).  Genuine label sets pass with 0.95-1.0 (GoEmotions: 1.0;
# a rare label seen once costs one row); names with a comma ("yes, definitely", "no, never") score 0: their second
# parts appear nowhere else.
MIN_RECURRING_SHARE = 0.8
MIN_COMBINATIONS = 2
TOP_PAIRS = 10
SINGLE_LABEL_CELLS = "Every label cell holds a single label."
SAMPLE_ROWS = 5_000
MAX_ROWS_LISTED = 10
MIN_LABEL_ROWS = 2  # a label in a single row can be neither learned nor checked
FEW_LABEL_ROWS = 5
# A column whose filled cells are 0 or 1 but for a few strays is read as a label column (the strays are then
# named, one clear error); a count or a class id column is far below this share.
MOSTLY_BINARY_SHARE = 0.95
MOSTLY_LIST_SHARE = 0.5
_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


@dataclass
class TaskChoice:
    """Single- or multi-label, how the labels are written, and why (shown to the person)."""

    task: str  # "single_label" | "multi_label"
    reason: str
    separator: str | None = None
    label_columns: list[str] | None = None
    rejected_separator: bool = False  # a separator character was seen, but read as part of the label names

    @property
    def multi_label(self) -> bool:
        return self.task == "multi_label"

    def findings(self) -> list[Finding]:
        """What the person should hear about a separator that was not used."""
        if not self.rejected_separator:
            return []
        return [Finding("info", "separator_not_used", self.reason,
                        hint="If a text can have several labels, choose “Several labels per text” and the separator "
                             "(command line: --task multi_label --label-separator ';').")]


@dataclass
class MultiLabelInfo:
    """What the Data tab and ``inspect`` show about a multi-label file."""

    reason: str
    separator: str | None
    label_columns: list[str] | None
    label_counts: dict[str, int]
    labels_per_text: dict[int, int]  # number of labels -> rows
    top_pairs: list[tuple[str, str, int]] = field(default_factory=list)
    empty_rows: int = 0

    @property
    def how(self) -> str:
        """How the file writes its labels, completing "Several labels per text (...)"."""
        if self.separator == LIST_CELLS:
            return 'labels written as lists, like ["a", "b"]'
        if self.separator:
            return f"labels joined by '{self.separator}'"
        return f"one 0/1 column per label: {', '.join(self.label_columns or [])}"

    def to_text(self) -> str:
        how = self.how
        per_text = ", ".join(f"{k}: {n:,}" for k, n in sorted(self.labels_per_text.items()))
        pairs = "; ".join(f"{a} + {b}: {n:,}" for a, b, n in self.top_pairs) or "none"
        return "\n".join([f"Task: multi-label ({how}). {self.reason}",
                          f"Labels per text (labels: rows): {per_text}.",
                          f"Most frequent pairs: {pairs}."])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LabelSettings:
    """The person's multi-label settings (``TrainConfig``'s task, label_separator, label_columns, empty_labels);
    ``label_names``: the training file's labels, when reading its validation or test file."""

    task: str = "auto"
    separator: str | None = None
    label_columns: list[str] | None = None
    empty_labels: str = "skip"
    label_names: list[str] | None = None

    @classmethod
    def of(cls, cfg: Any) -> LabelSettings:
        return cls(cfg.task, cfg.label_separator, cfg.label_columns, cfg.empty_labels)


# --------------------------------------------------------------------------- detection


@dataclass
class SeparatorEvidence:
    separator: str
    rows: int  # rows whose cell holds the separator
    combinations: int  # distinct cell values holding it
    parts: int  # distinct parts of those cells
    recurring: int  # of which appear in another cell value too
    example: str
    recurring_rows: int = 0  # rows holding the separator whose every part appears in another cell value

    @property
    def share(self) -> float:
        return self.recurring_rows / self.rows if self.rows else 0.0

    @property
    def convincing(self) -> bool:
        return self.combinations >= MIN_COMBINATIONS and self.share >= MIN_RECURRING_SHARE


def split_cell(value: str, separator: str) -> list[str]:
    return [part.strip() for part in value.split(separator) if part.strip()]


def separator_evidence(values: Counter, separator: str) -> SeparatorEvidence | None:
    """How the parts of the cells holding ``separator`` recur across the distinct cell values (``values``:
    value -> rows)."""
    holding = {value: n for value, n in values.items() if separator in value}
    if not holding:
        return None
    seen_in: Counter = Counter()
    for value in values:
        for part in set(split_cell(value, separator)):
            seen_in[part] += 1
    parts = {part for value in holding for part in split_cell(value, separator)}
    recurring = sum(1 for part in parts if seen_in[part] >= 2)
    example = max(holding, key=holding.__getitem__)
    recurring_rows = sum(n for value, n in holding.items() if all(seen_in[p] >= 2 for p in split_cell(value, separator)))
    return SeparatorEvidence(separator, sum(holding.values()), len(holding), len(parts), recurring, example,
                             recurring_rows)


def cell_counts(column: pd.Series) -> Counter:
    """Each filled cell value (as stripped text) and how many rows hold it."""
    counts: Counter = Counter()
    for value, n in column.dropna().astype(str).str.strip().value_counts().items():
        if value:
            counts[value] += int(n)
    return counts


def streamed_cell_counts(dataset: datasets.Dataset, column: str) -> Counter:
    """``cell_counts`` of a dataset's column, read a batch at a time (a million label cells are never one list)."""
    counts: Counter = Counter()
    for frame in frames(dataset, [column]):
        counts.update(cell_counts(frame[column]))
    return counts


def detect_separator(column: pd.Series) -> tuple[str | None, str]:
    """The separator joining several labels in ``column``'s cells (None: one label per cell), and why."""
    return separator_from_counts(cell_counts(column))


def separator_from_counts(values: Counter) -> tuple[str | None, str]:
    """``detect_separator`` from the column's ``cell_counts``."""
    lists = list_evidence(values)
    if lists is not None:
        return LIST_CELLS, lists
    found = [e for e in (separator_evidence(values, sep) for sep in SEPARATORS) if e is not None]
    convincing = [e for e in found if e.convincing]
    if convincing:
        best = max(convincing, key=lambda e: (e.share, e.rows))
        return best.separator, (
            f"{_count(best.rows, 'row')} hold several labels joined by '{best.separator}' (e.g. '{best.example}'), "
            f"in {best.combinations:,} different combinations whose labels also appear elsewhere "
            f"({best.share:.0%} of those rows), so each cell is read as a set of labels.")
    if found:
        e = max(found, key=lambda e: e.rows)
        return None, (
            f"'{e.separator}' appears in {_count(e.combinations, 'label')} (e.g. '{e.example}'), but only "
            f"{e.recurring} of their {e.parts} parts appear anywhere else, so '{e.separator}' is read as part "
            "of the label names: one label per text.")
    return None, SINGLE_LABEL_CELLS


def list_evidence(values: Counter) -> str | None:
    """Why the label cells are read as lists of labels (None: they are not), from the ``cell_counts``.

    Most filled cells must be lists (a stray plain label is then a list of one) and some must hold several
    labels; lists of one label each are a single-label file, which ``normalise_label`` unwraps.
    """
    sizes = {value: len(items) for value in values if (items := list_cell_labels(value)) is not None}
    list_rows = sum(values[value] for value in sizes)
    several = sum(values[value] for value, size in sizes.items() if size >= 2)
    if not several or list_rows < MOSTLY_LIST_SHARE * sum(values.values()):
        return None
    example = max((value for value, size in sizes.items() if size >= 2), key=values.__getitem__)
    return (f"The label cells are written as lists (e.g. '{example}'), {_count(several, 'row')} with several "
            "labels: each list is read as a set of labels.")


def binary_cell(value: Any) -> float | None:
    """1.0 / 0.0 for a 0/1 cell, None when empty; raises ValueError for anything else."""
    text = normalise_label(value)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in _TRUE:
        return 1.0
    if lowered in _FALSE:
        return 0.0
    raise ValueError(text)


def _binary_or_none(value: Any) -> float | None:
    try:
        return binary_cell(value)
    except ValueError:
        return None


def is_binary_column(column: pd.Series) -> bool:
    """Both 0 and 1 in the column, and at least ``MOSTLY_BINARY_SHARE`` of its filled cells 0 or 1.

    A label column with a stray 2 (a typo) is still a label column: reading it then names the stray values,
    where leaving the column out would train without that label and never say so."""
    cells = column.dropna()
    values = [_binary_or_none(v) for v in cells.unique()]
    if {0.0, 1.0} - set(values):
        return False
    zero_one = cells.map(_binary_or_none).notna().sum()
    return bool(zero_one >= MOSTLY_BINARY_SHARE * len(cells))


def binary_columns(frame: pd.DataFrame, exclude: list[str]) -> list[str]:
    return [c for c in frame.columns if c not in exclude and is_binary_column(frame[c])]


def choose_task(dataset: datasets.Dataset, *, text_cols: list[str], label_col: str | None, task: str = "auto",
                separator: str | None = None, label_columns: list[str] | None = None) -> TaskChoice:
    """Single- or multi-label for this file, from the person's settings first and the data otherwise."""
    if label_columns:
        return TaskChoice("multi_label", f"One 0/1 column per label, as chosen: {', '.join(label_columns)}.",
                          label_columns=list(label_columns))
    if task == "single_label":
        return TaskChoice("single_label", "Single-label, as chosen: one label per text.")
    if separator:
        return TaskChoice("multi_label", f"Labels joined by '{separator}', as chosen.", separator=separator)
    others = [c for c in dataset.column_names if c not in text_cols]
    # 0/1 columns are recognised on the first rows; every row is checked when the labels are read.
    sample = dataset.select_columns(others).select(range(min(len(dataset), SAMPLE_ROWS))).to_pandas()
    binary = binary_columns(sample, text_cols)
    if len(binary) >= 2 and (label_col is None or label_col in binary):
        return TaskChoice("multi_label", f"{len(binary)} columns hold only 0 and 1 ({', '.join(binary)}): one "
                                         "column per label, several may be 1 for the same text.",
                          label_columns=binary)
    if label_col is None or label_col not in others:
        return TaskChoice("single_label", "No label column with several labels per cell was found.")
    found, reason = separator_from_counts(streamed_cell_counts(dataset, label_col))
    if found:
        return TaskChoice("multi_label", reason, separator=found)
    if task == "multi_label":
        return TaskChoice("multi_label", f"Multi-label, as chosen; {reason[0].lower()}{reason[1:]}",
                          separator=SEPARATORS[0])
    return TaskChoice("single_label", reason, rejected_separator=reason != SINGLE_LABEL_CELLS)


# --------------------------------------------------------------------------- label sets


def label_set_of_cell(value: Any, separator: str, casefold: bool) -> tuple[str, ...] | None:
    """A label cell's labels, sorted (None: an empty cell)."""
    text = normalise_label(value)
    if text is None:
        return None
    if separator == LIST_CELLS:
        items = list_cell_labels(text)
        split = items if items is not None else [text]  # a plain label among lists: a list of one
    else:
        split = split_cell(text, separator)
    parts = [normalise_label(p, casefold=casefold) for p in split]
    return tuple(sorted({p for p in parts if p})) or None


def bad_label_values_error(column: str, values: Counter, rows: list[int]) -> DataError:
    """The error for a 0/1 label column holding other values (``values``: each and its rows; ``rows``: data rows)."""
    listed = ", ".join(f"'{v}' ({n})" for v, n in values.most_common(5))
    return DataError(f"The label column '{column}' should hold only 0 and 1, but it also holds {listed} "
                     f"(data rows {_rows_listed(rows)}).",
                     hint="Write 1 where the text has this label and 0 where it has not (an empty cell "
                          "means not labelled yet), or leave this column out of the label columns.")


def multi_hot(sets: list[tuple[str, ...]], label_names: list[str]) -> np.ndarray:
    """A 0/1 row per label set over ``label_names`` (a name not among them is left out)."""
    import numpy as np

    index = {name: i for i, name in enumerate(label_names)}
    out = np.zeros((len(sets), len(label_names)), dtype=np.float32)
    for row, labels in enumerate(sets):
        out[row, [index[name] for name in labels if name in index]] = 1.0
    return out


def describe_label_sets(sets: Counter, label_names: list[str], choice: TaskChoice,
                        empty_rows: int) -> MultiLabelInfo:
    """What the kept rows' label sets hold (``sets``: each distinct set, as a tuple of names, and its rows)."""
    counts: Counter = Counter()
    pairs: Counter = Counter()
    per_text: Counter = Counter()
    for labels, rows in sets.items():
        counts.update(dict.fromkeys(labels, rows))
        pairs.update(dict.fromkeys(combinations(sorted(labels), 2), rows))
        per_text[len(labels)] += rows
    return MultiLabelInfo(reason=choice.reason, separator=choice.separator, label_columns=choice.label_columns,
                          label_counts={name: counts[name] for name in label_names},
                          labels_per_text=dict(sorted(per_text.items())),
                          top_pairs=[(a, b, n) for (a, b), n in _most_common(pairs, TOP_PAIRS)], empty_rows=empty_rows)


def _most_common(counts: Counter, n: int) -> list:
    """``Counter.most_common``, with ties in the keys' order (not in the order the rows were read)."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


# --------------------------------------------------------------------------- findings


def _rows_listed(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_LISTED])
    return shown + (f" and {len(rows) - MAX_ROWS_LISTED:,} more" if len(rows) > MAX_ROWS_LISTED else "")


def empty_label_findings(rows: list[int], keep: bool, label_where: str) -> list[Finding]:
    """Rows with no label at all.  An empty cell usually means "not labelled yet", so they are left out unless
    the person says such texts really have no label (``--empty-labels none``)."""
    if not rows:
        return []
    if keep:
        return [Finding("info", "no_labels_kept",
                        f"{_count(len(rows), 'row')} with no label (data rows {_rows_listed(rows)}) kept as texts "
                        "that have none of the labels: the model learns to predict no label for texts like these.",
                        hint="If these rows are simply not labelled yet, choose 'skip' for empty label cells "
                             "(--empty-labels skip).", count=len(rows))]
    return [Finding("warning", "missing_label",
                    f"{_count(len(rows), 'row')} with an empty label set in {label_where} (data rows "
                    f"{_rows_listed(rows)}) left out: an empty cell usually means not labelled yet.",
                    hint="Label those rows; or, if those texts truly have none of the labels, keep them as "
                         "'no label' (Data tab: empty label cells mean no label; command line: --empty-labels none).",
                    count=len(rows))]


def rare_label_findings(label_counts: dict[str, int]) -> list[Finding]:
    findings = []
    single = {n: c for n, c in label_counts.items() if c < MIN_LABEL_ROWS}
    few = {n: c for n, c in label_counts.items() if MIN_LABEL_ROWS <= c < FEW_LABEL_ROWS}
    if single:
        findings.append(Finding(
            "warning", "rare_labels",
            f"{_count(len(single), 'label')} in fewer than {MIN_LABEL_ROWS} rows: "
            + ", ".join(f"'{n}' ({c})" for n, c in single.items())
            + ". They stay in training, but one example cannot teach a label, validation cannot check it and "
              "its decision threshold falls back to the global one.",
            hint="Add examples of these labels, merge them into a similar label, or remove them.",
            count=len(single), examples=list(single)[:5]))
    if few:
        findings.append(Finding(
            "info", "small_classes",
            f"{_count(len(few), 'label')} in fewer than {FEW_LABEL_ROWS} rows: "
            + ", ".join(f"'{n}' ({c})" for n, c in few.items()) + ".",
            hint="Add examples of these labels: the model learns little from a handful of rows.", count=len(few)))
    return findings


def separator_in_names_findings(values: Counter, separator: str) -> list[Finding]:
    """Parts that never appear but next to the same other part (in at least two rows): most likely one label
    name holding the separator ('yes, definitely' split at ',' leaves a 'definitely' always after 'yes').
    ``values``: the label column's ``cell_counts``."""
    if separator == LIST_CELLS:  # a list says where each label ends
        return []
    together: Counter = Counter()
    alone: Counter = Counter()
    for value, rows in values.items():
        parts = split_cell(value, separator)
        alone.update(dict.fromkeys(set(parts), rows))
        together.update({pair: n * rows for pair, n in Counter(zip(parts, parts[1:])).items()})
    glued = [f"'{a}' + '{b}'" for (a, b), n in together.items() if n >= 2 and n in (alone[a], alone[b])]
    if not glued:
        return []
    return [Finding(
        "warning", "separator_in_label",
        f"{_count(len(glued), 'pair')} of labels where one never appears without the other beside it: the separator "
        f"'{separator}' may be part of a label name, which is then split in two.",
        hint=f"If these are single labels, choose another separator (Data tab, or --label-separator), or rename "
             f"the labels so they do not contain '{separator}'.",
        count=len(glued), examples=glued[:5])]


def check_label_count(label_names: list[str], n_rows: int) -> list[Finding]:
    if n_rows == 0:
        return [Finding("error", "no_rows", "No usable rows are left: every row is missing its text or its labels.",
                        hint="Check that the right text and label columns are chosen.")]
    if len(label_names) < 2:
        return [Finding("error", "single_class",
                        f"Only {_count(len(label_names), 'label')} found ({', '.join(label_names) or 'none'}); "
                        "multi-label training needs at least two.",
                        hint="Check the label column and its separator, or train a single-label model.",
                        count=len(label_names))]
    return []


def sort_label_names(sets) -> list[str]:
    return sort_labels({name for labels in sets for name in labels})
