"""A multi-label file cleaned into texts + 0/1 label vectors, split with every label's share kept.

Streams as single-label ``prepare`` does (issue 22): a first pass reads only the label cells, a batch at a time,
and gives each row the id of its label set among the few distinct sets met; a second reads the texts and writes
the kept rows, each with its set's 0/1 vector, to a memory-mapped Arrow file (``arrow_batches``). What stays in
memory is one id and one flag per row, the distinct sets and a 64-bit hash per kept row (for repeated texts).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bertstudio.data.arrow_batches import DatasetWriter, frames
from bertstudio.data.findings import Finding, labels_read_as_finding, no_labels_finding
from bertstudio.data.labels import LIST_CELLS, spelled_alike
from bertstudio.data.multilabel import (
    MAX_ROWS_LISTED,
    CellSplitter,
    MultiLabelInfo,
    TaskChoice,
    bad_label_values_error,
    binary_cell,
    blank_cell_findings,
    check_label_count,
    describe_label_sets,
    empty_label_findings,
    few_label_sets_findings,
    mixed_separator_findings,
    multi_hot,
    rare_label_findings,
    separator_in_names_findings,
    sort_label_names,
    streamed_cell_counts,
    unused_separator_error,
)
from bertstudio.data.prepare import (
    LONG_TEXT_CHARS,
    PreparedData,
    ValidationReport,
    _check_columns,
    _clean_texts,
    _duplicate_findings,
    _label_ids_of_batch,
    _Tally,
    missing_text,
    training_size_findings,
)
from bertstudio.data.split import SplitData, carve, split_fractions
from bertstudio.errors import DataError

if TYPE_CHECKING:
    import datasets
    import numpy as np
    import pandas as pd

NO_SET = -1  # a row's set id when its label cells are empty
BLANK = 2  # a 0/1 column's empty cell, beside the codes 0 and 1


def prepare_multilabel(ds: datasets.Dataset, choice: TaskChoice, *, text_col: str, label_col: str | None,
                       text_pair_col: str | None = None, casefold_labels: bool = False,
                       empty_labels: str = "skip", label_names: list[str] | None = None) -> PreparedData:
    """Texts with their label sets as 0/1 vectors, and every problem found (like ``prepare``).

    ``label_names``: the training file's labels, for a validation or test file (a label it lacks is an error).
    """
    import numpy as np

    text_cols = [text_col] + ([text_pair_col] if text_pair_col else [])
    label_cols = choice.label_columns or [label_col]
    _check_label_columns(ds, label_cols, text_cols)
    if choice.separator:
        _check_columns(ds, text_col, label_col, text_pair_col)
    where = "the label columns" if choice.label_columns else f"'{label_col}'"
    sets = LabelSets(choice, casefold_labels, label_names)
    set_ids = sets.read(ds, label_cols)
    _refuse_no_labels(sets, set_ids, where, scoring_empty=empty_labels == "none" and label_names is not None)
    no_label = set_ids == NO_SET
    if empty_labels == "none":  # kept as texts that have none of the labels
        set_ids = np.where(no_label, sets.id_of(()), set_ids)
    # Names from every row with a label set; those whose rows all lack a text are dropped once the texts are read.
    labelled = [sets.sets[i] for i in np.unique(set_ids[set_ids != NO_SET])]
    names = label_names if label_names is not None else sort_label_names(labelled)
    written = _write_rows(ds, text_cols, set_ids, sets, names, {
        "text": text_col, "pair": text_pair_col, "labels": label_cols, "separator": choice.separator,
        "casefold": casefold_labels, "empty_labels": empty_labels, "names": names})
    kept_sets = Counter({sets.sets[i]: int(n) for i, n in enumerate(written.tally.counts) if n})
    kept_names = sort_label_names(kept_sets)
    if label_names is None and set(names) - set(kept_names):
        # (No label left at all: the vectors keep their width; check_label_count makes it an error.)
        names, written.dataset = _drop_labels(written.dataset, names, kept_names)
    dataset = written.dataset

    empty_rows = np.flatnonzero(no_label & ~written.no_text)
    info = describe_label_sets(kept_sets, names, choice, len(empty_rows))
    findings = _findings(written, sets, set_ids, info, empty_rows, names, text_cols, where, empty_labels == "none",
                         from_training=label_names is None)
    report = ValidationReport(findings, len(set_ids), len(dataset), dict(info.label_counts))
    return PreparedData(dataset, names, {n: i for i, n in enumerate(names)}, report, text_col,
                        label_col or ",".join(label_cols), text_pair_col, multilabel=info)


def _refuse_no_labels(sets: LabelSets, set_ids: np.ndarray, where: str, *, scoring_empty: bool) -> None:
    """Nothing to learn from (or to score against): one clear error, before a dataset with no labels is built.
    ``scoring_empty``: a validation or test file whose empty cells are texts with no label is still scored."""
    import numpy as np

    if not scoring_empty and not any(sets.sets[i] for i in np.unique(set_ids[set_ids != NO_SET])):
        finding = no_labels_finding(where, len(set_ids))
        raise DataError(finding.message, hint=finding.hint)


def _findings(written: _Written, sets: LabelSets, set_ids: np.ndarray, info: MultiLabelInfo, empty_rows: np.ndarray,
              names: list[str], text_cols: list[str], where: str, keep_empty: bool, *,
              from_training: bool) -> list[Finding]:
    """Every problem of the file, in the order the report lists them."""
    dataset = written.dataset
    findings = sets.findings() + empty_label_findings((empty_rows + 1).tolist(), keep_empty, where)
    if from_training:
        findings += sets.few_label_sets_findings(set_ids)
    if written.no_text.any():
        findings += [_empty_text_finding(int(written.no_text.sum()), text_cols)]
    findings += check_label_count(names, len(dataset))
    findings += training_size_findings(dataset, ["text", "text_pair"][: len(text_cols)])
    if from_training:
        findings += rare_label_findings(info.label_counts)
    if sets.choice.separator:
        findings += separator_in_names_findings(sets.cells, sets.choice.separator)
    out_cols = ["text", "text_pair"][: len(text_cols)]
    findings += _streamed_duplicate_set_findings(dataset, written.tally.repeated_rows(), out_cols, names)
    return findings + written.tally.long_text_findings()


class LabelSets:
    """The distinct label sets of a file, each with an id, read from its label cells a batch at a time.

    Label sets repeat (GoEmotions' 43,410 training rows hold 711 distinct ones), so each distinct cell is parsed
    once and every row keeps only its set's id.
    """

    def __init__(self, choice: TaskChoice, casefold: bool, label_names: list[str] | None = None) -> None:
        self.choice = choice
        self.casefold = casefold
        self.label_names = label_names  # the training file's labels, for a validation or test file
        self.sets: list[tuple[str, ...]] = []
        self.cells: Counter = Counter()  # a label column's cell values and their rows (separator findings)
        self.mixed: Counter = Counter()  # the cells split at another separator too, and their rows
        self.mixed_rows: list[int] = []  # the first of their data rows
        self._ids: dict[tuple[str, ...], int] = {}
        self._cell_ids: dict = {}  # a label cell's raw value -> its set id (NO_SET: empty)
        self._mixed_values: set = set()  # the raw values of ``mixed``
        self._splitter: CellSplitter | None = None
        self._bad: dict[str, tuple[Counter, list[int]]] = {}  # 0/1 columns: other values, and their data rows
        self.column_cells = ColumnCells(choice.label_columns or [])  # 0/1 columns: what their blank cells mean
        self.read_as: dict[str, str] = {}  # labels read as a training label spelt otherwise ('Tech' as 'tech')

    def id_of(self, labels: tuple[str, ...]) -> int:
        if labels not in self._ids:
            self._ids[labels] = len(self.sets)
            self.sets.append(labels)
        return self._ids[labels]

    def read(self, ds: datasets.Dataset, label_cols: list[str]) -> np.ndarray:
        """Every row's set id (``NO_SET`` where its label cells are empty); a 0/1 column holding other values is
        a DataError naming them."""
        import numpy as np

        if self.choice.separator:
            # The labels the whole column holds tell where a cell may be split at another separator too.
            self.cells = streamed_cell_counts(ds, label_cols[0])
            unused = unused_separator_error(self.cells, self.choice.separator)
            if unused is not None:
                raise unused
            self._splitter = CellSplitter.of(self.cells, self.choice.separator, self.casefold, self.label_names)
        ids, first_row = [], 0
        for frame in frames(ds, label_cols):
            ids.append(self._from_cells(frame[label_cols[0]], first_row) if self.choice.separator
                       else self._from_columns(frame, first_row))
            first_row += len(frame)
        for column in label_cols:  # in column order, as a person reads the file
            if column in self._bad:
                raise bad_label_values_error(column, *self._bad[column])
        ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        return ids if self.choice.separator else self.column_cells.set_ids(ids, self)

    def _from_cells(self, column: pd.Series, first_row: int) -> np.ndarray:
        import numpy as np

        for value in column.dropna().unique():
            if value not in self._cell_ids:
                labels, mixed = self._splitter.labels(value)
                self._cell_ids[value] = NO_SET if labels is None else self.id_of(self._as_known(labels))
                if mixed:
                    self._mixed_values.add(value)
        if self._mixed_values:
            where = np.flatnonzero(column.isin(self._mixed_values).to_numpy())
            self.mixed.update(column.iloc[where].astype(str).str.strip())
            self.mixed_rows += (first_row + where[:MAX_ROWS_LISTED - len(self.mixed_rows)] + 1).tolist()
        return _label_ids_of_batch(column, self._cell_ids)

    def _as_known(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        """A validation or test file's labels as the training file spells them, where one differs only in upper/lower
        case or spaces ('Tech' for 'tech'); labels matching none, or several, stay as they are (refused later)."""
        if self.label_names is None:
            return labels
        unseen = [label for label in labels if label not in self.label_names]
        for label, found in spelled_alike(unseen, self.label_names).items():
            if len(found) == 1:
                self.read_as[label] = found[0]
        return tuple(sorted({self.read_as.get(label, label) for label in labels}))

    def few_label_sets_findings(self, set_ids: np.ndarray) -> list[Finding]:
        """The rows holding several labels, when a separator was detected from only a handful of them."""
        import numpy as np

        if not self.choice.detected:  # a layout the person chose, or 0/1 columns: nothing to doubt
            return []
        several = np.flatnonzero(np.isin(set_ids, [i for i, labels in enumerate(self.sets) if len(labels) > 1]))
        shown = several[:MAX_ROWS_LISTED]
        cells = [written_cell(self.sets[set_ids[row]], self.choice.separator) for row in shown]
        return few_label_sets_findings(cells, (shown + 1).tolist(), len(several),
                                       int((set_ids != NO_SET).sum()))

    def findings(self) -> list[Finding]:
        """What reading the label cells changed: blank 0/1 cells read as 0, cells split at another separator."""
        mixed = mixed_separator_findings(self.choice.separator, self.mixed, self.mixed_rows,
                                         sum(self.mixed.values())) if self.choice.separator else []
        read_as = labels_read_as_finding(self.read_as, "this file")
        return self.column_cells.findings() + mixed + ([read_as] if read_as else [])

    def _from_columns(self, frame: pd.DataFrame, first_row: int) -> np.ndarray:
        """Each row's pattern of 1, 0 and blank cells (an id among the patterns met): what a blank means depends on
        the whole file (``ColumnCells.set_ids``), so rows get their set once every row is read."""
        import numpy as np

        columns = self.choice.label_columns
        values = np.stack([self._binary_column(frame[col], col, first_row) for col in columns], axis=1)
        return self.column_cells.add(np.where(np.isnan(values), BLANK, values).astype(np.int8))

    def _binary_column(self, column: pd.Series, name: str, first_row: int) -> np.ndarray:
        """1.0 / 0.0 per row, NaN where the cell is empty or holds another value (recorded for the error)."""
        import numpy as np
        import pandas as pd

        codes, uniques = pd.factorize(column.astype(object), use_na_sentinel=True)
        lookup = []
        for value in uniques:
            try:
                cell = binary_cell(value)
            except ValueError as exc:
                bad, rows = self._bad.setdefault(name, (Counter(), []))
                where = np.flatnonzero(codes == len(lookup))
                bad[str(exc)] += len(where)
                rows.extend((first_row + where + 1).tolist())
                cell = None
            lookup.append(np.nan if cell is None else cell)
        values = np.asarray(lookup + [np.nan], dtype=np.float64)
        return values[codes]  # code -1 (missing) picks the trailing NaN


class ColumnCells:
    """The 0/1 label columns' rows as patterns of 1, 0 and blank cells, and what a blank means in each.

    A blank is 0 in a column that holds only 1s and blanks (the file marks only the texts with the label), and in a
    row with a 1 elsewhere (its labels were written, this one left out).  A row with no 1 and a blank in a column
    that also holds 0s is not labelled yet (``NO_SET``): nothing says whether it has that label.
    """

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self._ids: dict[bytes, int] = {}  # a pattern (its cell codes as bytes) -> its id, in the order met
        # Filled in by ``set_ids``: rows whose blank cells were read as 0, per column.
        self.ones_and_blanks: dict[str, int] = {}  # columns holding only 1s and blanks
        self.beside_a_one: dict[str, int] = {}  # other columns, in rows with a 1 elsewhere
        self.beside_a_one_rows: list[int] = []  # the first of those rows (data rows)
        self.beside_a_one_total = 0

    def add(self, codes: np.ndarray) -> np.ndarray:
        """The pattern id of each row of ``codes`` (rows x columns of 0, 1, ``BLANK``)."""
        import numpy as np

        if not len(codes):
            return np.zeros(0, dtype=np.int64)
        patterns, inverse = np.unique(codes, axis=0, return_inverse=True)
        lookup = [self._ids.setdefault(row.tobytes(), len(self._ids)) for row in patterns]
        return np.asarray(lookup, dtype=np.int64)[inverse.reshape(-1)]

    def set_ids(self, pattern_ids: np.ndarray, sets: LabelSets) -> np.ndarray:
        """Every row's label set id, once the whole file tells what its blank cells mean."""
        import numpy as np

        patterns = np.frombuffer(b"".join(self._ids), dtype=np.int8).reshape(len(self._ids), len(self.columns))
        rows = np.bincount(pattern_ids, minlength=len(patterns))
        blank = patterns == BLANK
        sparse = ~(patterns == 0).any(axis=0) & (patterns == 1).any(axis=0) & blank.any(axis=0)
        lookup = np.array([self._set_of(pattern, sparse, sets) for pattern in patterns], dtype=np.int64)
        labelled = lookup != NO_SET
        self.ones_and_blanks = _rows_per_column(blank[labelled][:, sparse], rows[labelled],
                                                [c for c, s in zip(self.columns, sparse) if s])
        filled_in = blank[:, ~sparse] & labelled[:, None]
        self.beside_a_one = _rows_per_column(filled_in, rows, [c for c, s in zip(self.columns, sparse) if not s])
        affected = np.flatnonzero(np.isin(pattern_ids, np.flatnonzero(filled_in.any(axis=1))))
        self.beside_a_one_rows, self.beside_a_one_total = (affected[:MAX_ROWS_LISTED] + 1).tolist(), len(affected)
        return lookup[pattern_ids] if len(pattern_ids) else pattern_ids

    def _set_of(self, pattern: np.ndarray, sparse: np.ndarray, sets: LabelSets) -> int:
        ones = pattern == 1
        unknown = (pattern == BLANK) & ~sparse
        if (pattern == BLANK).all() or (unknown.any() and not ones.any()):
            return NO_SET
        return sets.id_of(tuple(c for c, on in zip(self.columns, ones) if on))

    def findings(self) -> list[Finding]:
        return blank_cell_findings(self.ones_and_blanks, self.beside_a_one, self.beside_a_one_rows,
                                   self.beside_a_one_total)


def written_cell(labels: tuple[str, ...], separator: str) -> str:
    """A label set as a cell of the file writes it (near enough to find the row)."""
    return json.dumps(list(labels)) if separator == LIST_CELLS else separator.join(labels)


def _rows_per_column(blank: np.ndarray, rows: np.ndarray, columns: list[str]) -> dict[str, int]:
    """Rows with a blank cell, per column (``blank``: patterns x ``columns``; ``rows``: each pattern's rows)."""
    totals = (blank * rows[:, None]).sum(axis=0)
    return {column: int(n) for column, n in zip(columns, totals) if n}


@dataclass
class _Written:
    """What the writing pass leaves: the dataset, which rows had no text, and the kept rows' tally."""

    dataset: datasets.Dataset
    no_text: np.ndarray
    tally: _Tally


def _write_rows(ds: datasets.Dataset, text_cols: list[str], set_ids: np.ndarray, sets: LabelSets,
                names: list[str], key: dict) -> _Written:
    """The rows with a text and a label set (or an empty set kept), batch by batch, with their 0/1 vectors.

    A label the names lack (a validation file's label the training file never had) is a DataError, raised
    before the file is kept.
    """
    import numpy as np

    out_cols = ["text", "text_pair"][: len(text_cols)]
    vectors = multi_hot(sets.sets, names)
    writer = DatasetWriter(ds, multilabel_features(out_cols, len(names)), key)
    tally = _Tally(len(sets.sets), LONG_TEXT_CHARS)
    no_text_parts, first_row = [], 0
    try:
        for frame in frames(ds, text_cols):
            texts = {col: _clean_texts(frame[col]) for col in text_cols}
            no_text = missing_text(texts)
            ids = set_ids[first_row:first_row + len(frame)]
            keep = ~no_text & (ids != NO_SET)
            kept = {out: texts[col][keep].to_numpy(dtype=object) for out, col in zip(out_cols, text_cols)}
            tally.add_kept(kept, ids[keep])
            writer.write({**{name: list(values) for name, values in kept.items()},
                          "label": vector_column(vectors[ids[keep]], len(names))})
            no_text_parts.append(no_text)
            first_row += len(frame)
        _refuse_unseen([s for s, n in zip(sets.sets, tally.counts) if n], names)
        dataset = writer.finish()
    except BaseException:
        writer.abandon()
        raise
    return _Written(dataset, np.concatenate(no_text_parts) if no_text_parts else np.zeros(0, bool), tally)


def multilabel_features(text_cols: list[str], n_labels: int) -> datasets.Features:
    import datasets

    features = {name: datasets.Value("string") for name in text_cols}
    features["label"] = datasets.Sequence(datasets.Value("float32"), length=n_labels)
    return datasets.Features(features)


def vector_column(vectors: np.ndarray, n_labels: int):
    """0/1 vectors as one Arrow column, built from a float32 block: as Python lists they would be a float object
    per label and row (28 labels x 1M rows: ~1 GB) before Arrow packs them."""
    import numpy as np
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, n_labels)


def _drop_labels(dataset: datasets.Dataset, names: list[str], kept: list[str]) -> tuple[list[str], datasets.Dataset]:
    """Only the labels some kept row has (rare: one more pass over the kept rows)."""
    import numpy as np

    if not kept:  # Arrow has no 0-wide vectors; the empty list of names is the error the report gives
        return kept, dataset

    columns = np.array([names.index(name) for name in kept], dtype=np.int64)
    features = multilabel_features([c for c in dataset.column_names if c != "label"], len(kept))
    dataset = dataset.map(lambda batch: {"label": np.asarray(batch["label"], dtype=np.float32)[:, columns]},
                          batched=True, features=features, desc="Dropping labels without rows")
    return kept, dataset


def _streamed_duplicate_set_findings(dataset: datasets.Dataset, candidates: np.ndarray, text_cols: list[str],
                                     names: list[str]) -> list[Finding]:
    """Repeated texts among the rows whose hash repeats (see ``prepare._streamed_duplicate_findings``); a text
    repeated with another label set is a conflict."""
    import pandas as pd

    if not len(candidates):
        return []
    selected = dataset.select(candidates)
    rows = selected.to_pandas()
    keys = [";".join(n for n, on in zip(names, vector) if on) for vector in label_matrix(selected)]
    set_ids, set_names = pd.factorize(pd.Series(keys, dtype=object))
    return _duplicate_findings(rows.assign(label=set_ids), text_cols, [n or "(none)" for n in set_names],
                               n_rows=len(dataset))


def _check_label_columns(ds: datasets.Dataset, label_cols: list[str], text_cols: list[str]) -> None:
    missing = [c for c in label_cols if c not in ds.column_names]
    if missing:
        several = len(missing) > 1
        raise DataError(f"The label column{'s' if several else ''} {', '.join(map(repr, missing))} "
                        f"{'are' if several else 'is'} not in the data.",
                        hint=f"Choose among the columns that exist: {', '.join(ds.column_names)}.")
    clash = [c for c in label_cols if c in text_cols]
    if clash:
        raise DataError(f"The column '{clash[0]}' was chosen both as text and as a label.",
                        hint="Pick different columns for the text and the labels.")


def _refuse_unseen(sets: list[tuple[str, ...]], names: list[str]) -> None:
    unseen = sorted({name for labels in sets for name in labels} - set(names))
    if unseen:
        listed = ", ".join(f"'{n}'" for n in unseen[:10])
        raise DataError(f"This file has labels that never appear in the training file: {listed}.",
                        hint="Fix their spelling to match a training label, remove them, or add examples of them "
                             "to the training file.")


def _empty_text_finding(n: int, text_cols: list[str]) -> Finding:
    cols = " / ".join(f"'{c}'" for c in text_cols)
    return Finding("warning", "empty_text", f"{n:,} row{'s' if n != 1 else ''} with an empty text in {cols} left out.",
                   hint=f"Fill in those texts, or check that {cols} is the right text column.", count=n)


def label_matrix(dataset) -> np.ndarray:
    """The 0/1 label vectors of a multi-label dataset, rows x labels."""
    import numpy as np

    return np.asarray(dataset.with_format("numpy")["label"], dtype=np.float32).reshape(len(dataset), -1)


def stratification_keys(labels: np.ndarray) -> np.ndarray:
    """One class per row for a stratified split: its rarest label (rows with none: a group of their own).

    Rare labels decide where their rows go, so each rare label reaches validation and test whenever it has
    rows enough; frequent labels are then spread well by chance alone.
    """
    import numpy as np

    counts = labels.sum(axis=0)
    rarity = np.where(labels > 0, counts[None, :], np.inf)
    keys = rarity.argmin(axis=1)
    keys[~(labels > 0).any(axis=1)] = labels.shape[1]
    return keys.astype(np.int64)


def split_multilabel(prepared: PreparedData, *, val: PreparedData | None = None, test: PreparedData | None = None,
                     seed: int = 42) -> SplitData:
    """Train / validation / test like ``split``, stratified on each row's rarest label."""
    import numpy as np

    prepared.raise_if_errors()
    main = prepared.dataset
    labels = label_matrix(main)
    keys = stratification_keys(labels)
    n = len(labels)
    val_frac, test_frac = split_fractions(n)
    pool = np.arange(n)
    test_idx = val_idx = None
    if test is None:
        pool, test_idx, _ = carve(pool, keys, round(test_frac * n), seed=seed)
    if val is None:
        pool, val_idx, _ = carve(pool, keys, round(val_frac * n), seed=seed + 1)
    train_ds = main.select(pool)
    val_ds = _checked(val, "validation") if val is not None else main.select(val_idx)
    test_ds = _checked(test, "test") if test is not None else main.select(test_idx)
    source = [f"Training: {train_ds.num_rows:,} rows from the main file."]
    for role, ds, given in (("Validation", val_ds, val), ("Test", test_ds, test)):
        source.append(f"{role}: {ds.num_rows:,} rows " + (f"from the {role.lower()} file you provided." if given
                                                          else "held out from the main file (stratified by each "
                                                               "row's rarest label)."))
        absent = [prepared.label_names[j] for j in np.flatnonzero(label_matrix(ds).sum(axis=0) == 0)] if len(ds) else []
        if absent:
            source.append(f"{role} has no row with {', '.join(repr(a) for a in absent[:10])}"
                          + (f" and {len(absent) - 10} more" if len(absent) > 10 else "")
                          + ", so its scores do not cover those labels.")
    if val_ds.num_rows == 0 or test_ds.num_rows == 0:
        source.append("The data is too small to hold rows back for validation/test; scores will not be reliable.")
    return SplitData(train_ds, val_ds, test_ds, list(prepared.label_names), source)


def _checked(other: PreparedData, role: str):
    if other.dataset.num_rows == 0:
        raise DataError(f"The {role} file has no usable rows.", hint=f"Check the {role} file's text and label columns.")
    return other.dataset
