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

import re
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
# A file whose cells hold several labels in this few rows (both below) may be single-label with a few typos.
FEW_SEVERAL_ROWS = 10
FEW_SEVERAL_SHARE = 0.02
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
    detected: bool = False  # a separator found in the cells, not one the person chose

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


def unused_separator_error(values: Counter, separator: str) -> DataError | None:
    """The refusal of a separator that no label cell holds while the cells join their labels with another
    (``values``: the label column's ``cell_counts``); None when the separator is used, or every cell holds one label.

    Neither split can be right: at the separator given, every combination ('joy;love') becomes a class of its own;
    at the cells' own, the file is read otherwise than the person said (``--label-separator '|'`` on a file joined
    by ';' was split at ';' under "Labels are mostly joined by '|'")."""
    if separator == LIST_CELLS or any(separator in value for value in values):
        return None
    found, reason = separator_from_counts(values)
    if found is None:
        return None
    if found == LIST_CELLS:
        return DataError(f"No label cell contains '{separator}', the separator given. {reason}",
                         hint="Leave the separator out (--label-separator; Data tab: the separator): lists are read "
                              "as they are written.")
    used = separator_evidence(values, found)
    return DataError(f"No label cell contains '{separator}', the separator given; the cells use '{found}' "
                     f"({_count(used.rows, 'row')}, e.g. '{used.example}').",
                     hint=f"Give the separator the cells use (--label-separator '{found}'; Data tab: the separator), "
                          "or leave it out: it is read from the cells.")


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


def is_binary_column(column: pd.Series) -> bool:
    """1s beside 0s or blank cells, and at least ``MOSTLY_BINARY_SHARE`` of its filled cells 0 or 1.

    A label column with a stray 2 (a typo) is still a label column: reading it then names the stray values,
    where leaving the column out would train without that label and never say so.  A column of 1s and blanks is
    one too: many spreadsheets mark only the texts that have the label (see ``blank_cell_findings``)."""
    kinds: Counter = Counter()
    for value, n in column.astype(object).value_counts(dropna=False).items():
        kinds[_cell_kind(value)] += int(n)
    filled = kinds[1.0] + kinds[0.0] + kinds["other"]
    return bool(kinds[1.0] and (kinds[0.0] or kinds[None])
                and kinds[1.0] + kinds[0.0] >= MOSTLY_BINARY_SHARE * filled)


def _cell_kind(value: Any) -> float | str | None:
    """1.0 / 0.0 for a 0/1 cell, None for a blank one, "other" for anything else."""
    try:
        return binary_cell(value)
    except ValueError:
        return "other"


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
        return TaskChoice("multi_label", reason, separator=found, detected=True)
    if task == "multi_label":
        return TaskChoice("multi_label", f"Multi-label, as chosen; {reason[0].lower()}{reason[1:]}",
                          separator=SEPARATORS[0])
    return TaskChoice("single_label", reason, rejected_separator=reason != SINGLE_LABEL_CELLS)


# --------------------------------------------------------------------------- label sets


@dataclass(frozen=True)
class CellSplitter:
    """How a label cell is split into labels: at the file's separator, and at another of ``SEPARATORS`` where every
    piece on either side is a label of its own ('Tech|Food' in a file joined by ';' that has Tech and Food rows).
    Files written by several hands mix separators, and every mix became a made-up class ('Tech|Food')."""

    separator: str
    casefold: bool = False
    known: frozenset[str] = frozenset()  # the labels a piece must be to split there
    label_names: frozenset[str] = frozenset()  # the training file's labels (a validation or test file)

    @classmethod
    def of(cls, values: Counter, separator: str, casefold: bool,
           label_names: list[str] | None = None) -> CellSplitter:
        """``values``: the label column's ``cell_counts``; ``label_names``: the training file's labels, which a
        validation or test file is split into as the training file was."""
        if label_names is not None:
            return cls(separator, casefold, frozenset(label_names), frozenset(label_names))
        parts = (normalise_label(part, casefold=casefold) for value in values for part in split_cell(value, separator))
        return cls(separator, casefold, frozenset(part for part in parts if part))

    def labels(self, value: Any) -> tuple[tuple[str, ...] | None, bool]:
        """A cell's labels, sorted (None: an empty cell), and whether it was split at another separator too."""
        text = normalise_label(value)
        if text is None:
            return None, False
        if self.separator == LIST_CELLS:  # a list says where each label ends
            items = list_cell_labels(text)
            pieces = [[p] for p in (items if items is not None else [text])]  # a plain label among lists: one
        else:
            pieces = [self._pieces(part) for part in split_cell(text, self.separator)]
        labels = {normalise_label(p, casefold=self.casefold) for part in pieces for p in part}
        return tuple(sorted(label for label in labels if label)) or None, any(len(part) > 1 for part in pieces)

    def _pieces(self, part: str) -> list[str]:
        """``part`` split at the other separators when every piece is a known label (else ``part`` whole); a label
        the training file had whole stays whole."""
        if normalise_label(part, casefold=self.casefold) in self.label_names:
            return [part]
        others = [re.escape(sep) for sep in SEPARATORS if sep != self.separator]
        pieces = [piece.strip() for piece in re.split("|".join(others), part) if piece.strip()]
        if len(pieces) > 1 and all(normalise_label(p, casefold=self.casefold) in self.known for p in pieces):
            return pieces
        return [part]


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


def _rows_listed(rows: list[int], total: int | None = None) -> str:
    """The first rows, and how many more (``total``: all of them, when ``rows`` holds only the first)."""
    total = len(rows) if total is None else total
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_LISTED])
    return shown + (f" and {total - MAX_ROWS_LISTED:,} more" if total > MAX_ROWS_LISTED else "")


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


def blank_cell_findings(ones_and_blanks: dict[str, int], beside_a_one: dict[str, int], rows: list[int],
                        total: int) -> list[Finding]:
    """What blank cells of 0/1 label columns were read as (see ``multilabel_prepare.ColumnCells``): 0 in a column
    of 1s and blanks; 0 in a row that has a 1 in another column (``rows``: the first such data rows, of ``total``)."""
    findings = []
    if ones_and_blanks:
        if len(ones_and_blanks) == 1:
            [(name, n)] = ones_and_blanks.items()
            said = f"Blank cells in {name} read as 0 ({_count(n, 'row')}): that column holds"
        else:
            said = f"Blank cells read as 0 in {_per_column(ones_and_blanks)}: these columns hold"
        findings.append(Finding(
            "info", "blank_as_zero", f"{said} only 1 and blank cells, so a blank means the text does not have that "
                                     "label.",
            hint="If a blank there means not labelled yet, write 0 where the text does not have the label.",
            count=sum(ones_and_blanks.values())))
    if beside_a_one:
        findings.append(Finding(
            "info", "blank_beside_label",
            f"Blank cells in {_per_column(beside_a_one)} read as 0: "
            + (f"the row has a 1 in another label column (data row {rows[0]})." if total == 1 else
               f"those {total:,} rows have a 1 in another label column (data rows {_rows_listed(rows, total)})."),
            hint="If a blank there means not labelled yet, fill in those cells: 1 where the text has the label, 0 "
                 "where it has not.", count=total))
    return findings


def _per_column(rows: dict[str, int]) -> str:
    return ", ".join(f"{name} ({_count(n, 'row')})" for name, n in rows.items())


def mixed_separator_findings(separator: str, values: Counter, rows: list[int], total: int) -> list[Finding]:
    """Cells split at another separator as well (``values``: those cells and their rows; ``rows``: the first of
    their data rows, of ``total``)."""
    if not values:
        return []
    others = [f"'{sep}'" for sep in SEPARATORS if sep != separator and any(sep in value for value in values)]
    shown = ", ".join(f"'{value}'" for value, _ in _most_common(values, 3))
    return [Finding(
        "warning", "mixed_separators",
        f"Labels are mostly joined by '{separator}', but {_count(total, 'row')} join them with "
        f"{' or '.join(others)} (e.g. {shown}; data rows {_rows_listed(rows, total)}): those were split there too, "
        "because the labels on either side are labels of their own elsewhere in the file.",
        hint=f"Write the labels of every row with one separator ('{separator}'), so that none is split by "
             f"mistake; if a label's name holds {' or '.join(others)}, rename it.", count=total)]


def few_label_sets_findings(cells: list[str], rows: list[int], total: int, labelled: int) -> list[Finding]:
    """A separator detected from a handful of rows (``cells``: their label cells, as written; ``rows``: their data
    rows, the first of ``total``; ``labelled``: rows with a label): two typos made a whole file multi-label."""
    if not total or total >= FEW_SEVERAL_ROWS or total >= FEW_SEVERAL_SHARE * labelled:
        return []
    shown = ", ".join(f"'{cell}' in data row {row}" for cell, row in zip(cells, rows))
    return [Finding(
        "warning", "few_label_sets",
        f"Only {total:,} of {labelled:,} labelled rows hold several labels ({shown}), yet they make this a file "
        "with several labels per text. They may be typos.",
        hint="If each text should have one label, fix those rows to one label each, or choose one label per text "
             f"(Data tab: the task choice; command line: --task single_label), which reads '{cells[0]}' as a class "
             "of its own.", count=total)]


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
