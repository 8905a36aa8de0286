"""Predicting every row of a file, streamed in chunks so memory stays flat."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from bertstudio.data.columns import SAMPLE_ROWS, model_text_column, profile_column
from bertstudio.data.findings import Finding, count_noun
from bertstudio.data.io import (
    check_delimited,
    how_it_was_read,
    no_rows_error,
    sheet_not_used,
    table_format,
    unreadable_table,
)
from bertstudio.data.json_table import (
    JsonLayout,
    json_layout,
    load_json_object,
    located_json_error,
    table_layout,
)
from bertstudio.data.labels import is_blank
from bertstudio.data.workbook import read_sheet
from bertstudio.errors import DataError
from bertstudio.predict.predictor import PredictionBatch, Predictor
from bertstudio.results import Preprocessing
from bertstudio.safe_csv import escape_formula

# Rows read, predicted and written at a time: memory stays flat, and the progress moves every few seconds even
# for long texts on a CPU (a chunk of 10,000 reviews sat silent for over a minute).
DEFAULT_CHUNK_ROWS = 2_000
# The label cell of a text to which none of a multi-label model's labels applies: an empty cell read as a failed
# prediction. (A row without a text gets no prediction, and keeps an empty cell.)
NO_LABEL = "(no label)"


@dataclass
class PredictFileResult:
    rows: int
    out_path: Path
    seconds: float
    backend: str
    label_counts: dict[str, int]
    text_column: str
    text_pair_column: str | None = None
    notes: tuple[Finding, ...] = ()  # how the file was read (see ``TableSource.notes``)
    other_columns: tuple[str, ...] = ()  # the file's columns written after the predictions
    multi_label: bool = False  # the labels column holds each text's label set, joined by "; "

    def describe(self) -> str:
        speed = self.rows / self.seconds if self.seconds > 0 else 0.0
        counts = ", ".join(f"{name}: {n:,}" for name, n in self.label_counts.items())
        return (f"Predicted {self.rows:,} rows in {self.seconds:.1f} s ({speed:,.0f} rows/s, {self.backend}); "
                f"wrote {self.out_path}. Labels: {counts}.")

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "out": str(self.out_path), "seconds": round(self.seconds, 2),
                "backend": self.backend, "label_counts": self.label_counts,
                "notes": [note.message for note in self.notes]}


def estimate_rows(path: str | os.PathLike[str]) -> int | None:
    """Data rows in a file, counted cheaply for a progress bar (the app's and the command's); None when counting
    would mean reading it all, or the file cannot be read (reading it says why, in its own words)."""
    path = Path(path)
    kind = path.suffix.lower()
    if kind == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except (OSError, pa.ArrowException):
            return None
    if kind not in (".csv", ".tsv", ".txt", ".jsonl") or not path.is_file():
        return None
    lines, last = 0, b"\n"
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
    except OSError:
        return None
    lines += last != b"\n"  # a last line without a newline still counts
    # A text with line breaks inside quotes spans several lines: the count is an upper bound, which is fine.
    return max(0, lines - (kind != ".jsonl"))


_DELIMITED = ("csv", "tsv", "txt")
CSV_SUFFIXES = (".csv", ".txt", "")  # what the predictions file may be named (it is always comma-separated)


@dataclass(frozen=True)
class TableSource:
    """A file checked the way training reads files (content, encoding, separator): how pandas should read it."""

    file: Path
    format: str  # "csv", "tsv", "txt", "jsonl", "json", "parquet" or "excel" (see data.io.table_format)
    options: dict[str, Any]  # pandas' encoding and sep, for delimited text
    notes: tuple[Finding, ...] = ()  # how it was read (no header, a title, quotes kept...), as training tells it
    repeated_header: tuple[str, ...] | None = None  # a header that comes back as a row (files joined): left out
    sheet: str | None = None  # a workbook's sheet, as named by the person (None: chosen as training chooses)

    @property
    def delimiter(self) -> str:
        return self.options.get("sep", ",")


def open_table(path: str | os.PathLike[str], sheet: str | None = None) -> TableSource:
    """Check a file to predict before reading it: refuses what is not a table, in plain words (DataError).
    ``sheet``: the workbook's sheet to read (default: the one training would choose)."""
    file = Path(path).expanduser()
    fmt, notes = table_format(file)
    if fmt == "excel":
        return TableSource(file, fmt, {}, (*notes, *read_sheet(file, sheet).findings), sheet=sheet)
    notes = [*notes, *sheet_not_used(file, fmt, sheet)]
    if fmt not in _DELIMITED:
        return TableSource(file, fmt, {}, tuple(notes))
    # The same row check as training: pandas skips the values beyond the chosen column, so a row with an
    # unquoted separator would be predicted on half its text without a word.
    text, shape = check_delimited(file, fmt)
    options = text.pandas_options()  # what training's reader is given: the same rows, under the same names
    repeated = tuple(text.header) if shape.n_header_repeats else None
    return TableSource(file, fmt, options, (*notes, *how_it_was_read(file, text), *shape.read_findings(file)),
                       repeated)


def _read_columns(source: TableSource) -> list[str]:
    """Column names without reading the data."""
    import pandas as pd

    try:
        if source.format in _DELIMITED:
            return list(pd.read_csv(source.file, nrows=0, **source.options).columns.astype(str))
        if source.format == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(source.file).schema_arrow.names)
    except Exception as error:  # the reader's errors are the file's problem: translated
        raise unreadable_table(source.file, source.delimiter, error) from error
    return list(next(iter_table_chunks(source.file, None, 1, source=source)).columns.astype(str))


def _first_rows(source: TableSource) -> Any:
    """The file's first rows as predicting reads them (a DataFrame), to tell which column holds the texts; None
    for a file without rows (the predicting pass then says it has none)."""
    return next(iter_table_chunks(source.file, None, SAMPLE_ROWS, source=source), None)


def iter_table_chunks(file: Path, columns: list[str] | None, chunk_rows: int, *,
                      source: TableSource | None = None) -> Iterator[Any]:
    """The table in DataFrames of at most ``chunk_rows`` rows, all cells as strings ("" for empty).

    CSV/TSV, JSON lines and Parquet are streamed; Excel and plain JSON are small by nature and read whole.
    A file that cannot be read raises DataError, also when the damage is found halfway through.
    """
    source = source or open_table(file)
    try:
        yield from _chunks(source, columns, chunk_rows)
    except (DataError, KeyboardInterrupt):
        raise
    except Exception as error:  # the reader's errors are the file's problem: translated
        raise _json_place(source) or unreadable_table(source.file, source.delimiter, error) from error


def _json_place(source: TableSource) -> DataError | None:
    """For a JSON file the reader refused: the line (and character) where it goes wrong, as training says it."""
    if source.format == "jsonl":
        return located_json_error(source.file, JsonLayout.LINES)
    if source.format == "json":
        return located_json_error(source.file, json_layout(source.file))
    return None


def _chunks(source: TableSource, columns: list[str] | None, chunk_rows: int) -> Iterator[Any]:
    import pandas as pd

    file, kind = source.file, source.format
    if kind in _DELIMITED:
        header = source.repeated_header  # rows repeating it are compared whole, then the columns picked
        reader = pd.read_csv(file, usecols=columns if header is None else None, dtype=str,
                             chunksize=chunk_rows, **source.options)
        with reader:
            for frame in reader:
                if header is not None:
                    frame = _without_rows_equal_to(frame, header)
                    frame = frame[columns] if columns else frame
                yield frame
        return
    if kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas().fillna("").astype(str)
        return
    if kind == "jsonl":
        with pd.read_json(file, lines=True, dtype=False, chunksize=chunk_rows) as reader:
            for frame in reader:
                yield (frame[columns] if columns else frame).fillna("").astype(str)
        return
    if kind == "excel":
        sheet = read_sheet(file, source.sheet)  # the sheet training reads, with the same header and cells
        frame = pd.DataFrame(sheet.rows, columns=sheet.columns, dtype=object).fillna("")
    else:
        frame = _json_frame(file).fillna("").astype(str)
    frame.columns = frame.columns.astype(str)
    frame = frame[columns] if columns else frame
    for start in range(0, max(len(frame), 1), chunk_rows):
        yield frame.iloc[start:start + chunk_rows]


def _without_rows_equal_to(frame: Any, row: tuple[str, ...]) -> Any:
    """``frame`` without the rows that repeat ``row`` cell for cell, as training leaves them out."""
    if frame.shape[1] != len(row):
        return frame
    repeats = (frame.to_numpy(dtype=object) == np.array(row, dtype=object)).all(axis=1)
    return frame[~repeats] if repeats.any() else frame


def _json_frame(file: Path) -> Any:
    """A .json file as training reads it (data.json_table): JSON lines, a list of rows, or one object."""
    import pandas as pd

    layout = table_layout(file)
    if layout is JsonLayout.OBJECT:
        return pd.DataFrame(load_json_object(file).columns, dtype=object)
    return pd.read_json(file, lines=layout is JsonLayout.LINES, dtype=False)


def _pick_column(given: str | None, preferred: Sequence[str | None], columns: list[str]) -> str | None:
    if given is not None:
        if given not in columns:
            raise DataError(f"The file has no column named '{given}'.",
                            hint=f"Columns in the file: {', '.join(columns)}.")
        return given
    for name in preferred:
        if name and name in columns:
            return name
    return None


@dataclass(frozen=True)
class TextColumns:
    """The columns a model reads in a file, and what to tell about them (see ``columns.model_text_column``)."""

    text: str
    pair: str | None
    notes: tuple[Finding, ...] = ()


def choose_text_columns(columns: list[str], prep: Preprocessing, text_column: str | None,
                        text_pair_column: str | None, sample: Any = None) -> TextColumns:
    """Which column is the text (and the second text): as given, else as in training when it holds texts, else the
    column holding texts, as ``evaluate --data`` chooses it. ``sample``: the file's first rows (a DataFrame), which
    tell texts from ids and categories; without it only the names count."""
    pair = None
    if prep.text_pair:
        pair = _pick_column(text_pair_column, [prep.text_pair_column, "text_pair", "text_b"], columns)
        if pair is None:
            raise DataError("This model was trained on pairs of texts; could not tell which column holds the "
                            "second text.", hint=f"Name it with --text-pair (columns: {', '.join(columns)}).")
    profiles = {name: profile_column(name, list(sample[name]) if sample is not None else []) for name in columns}
    text, notes = model_text_column(profiles, given=text_column, trained=prep.text_column, exclude={pair})
    return TextColumns(text, pair, tuple(notes))


def resolve_text_columns(columns: list[str], prep: Preprocessing, text_column: str | None,
                         text_pair_column: str | None, sample: Any = None) -> tuple[str, str | None]:
    """(text, second text) of :func:`choose_text_columns`, for callers that show no notes."""
    chosen = choose_text_columns(columns, prep, text_column, text_pair_column, sample)
    return chosen.text, chosen.pair


def blank_rows(texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
    """Rows with nothing to read (empty, spaces or invisible characters only, in either text): a model would label
    each with the same made-up confidence, so they are left without a label."""
    return np.array([is_blank(t) or (pairs is not None and is_blank(p))
                     for t, p in zip(texts, pairs if pairs is not None else texts)], dtype=bool)


def with_blank_rows(batch: PredictionBatch, blank: np.ndarray) -> PredictionBatch:
    """``batch`` (the predictions of the rows that have text) spread over every row: a blank row gets no label,
    no confidence and no probabilities (empty cells in the CSV)."""
    if not blank.any():
        return batch
    read = np.flatnonzero(~blank)
    labels = [""] * len(blank)
    for row, label in zip(read, batch.labels):
        labels[row] = label
    confidences = np.full(len(blank), np.nan)
    confidences[read] = batch.confidences
    probs = np.full((len(blank), len(batch.label_names)), np.nan)
    probs[read] = batch.probs
    sets = None
    if batch.label_sets is not None:
        sets = [[] for _ in blank]
        for row, chosen in zip(read, batch.label_sets):
            sets[row] = chosen
    return PredictionBatch(labels, confidences, probs, list(batch.label_names), sets)


class BlankRows:
    """The rows of a file left without a label because they hold no text (1 = the first data row)."""

    SHOWN = 10

    def __init__(self) -> None:
        self.count, self.first = 0, []

    def add(self, rows: np.ndarray) -> None:
        self.count += len(rows)
        self.first += rows[: self.SHOWN - len(self.first)].tolist()

    def findings(self, text_col: str) -> list[Finding]:
        if not self.count:
            return []
        more = f" and {self.count - len(self.first):,} more" if self.count > len(self.first) else ""
        return [Finding("warning", "blank_texts",
                        f"{count_noun(self.count, 'row')} without a text in '{text_col}' (rows "
                        f"{', '.join(map(str, self.first))}{more}, counting the first data row as 1) got no label.",
                        hint="Fill in their texts, or leave them out of the file.", count=self.count)]


def readable_label_sets(batch: PredictionBatch) -> PredictionBatch:
    """A multi-label ``batch`` with ``NO_LABEL`` for each text that got no label (single-label: unchanged)."""
    if batch.label_sets is None:
        return batch
    return replace(batch, labels=[label if chosen else NO_LABEL for label, chosen in zip(batch.labels,
                                                                                        batch.label_sets)])


def _output_frame(chunk, text_col: str, pair_col: str | None, batch: PredictionBatch,
                  label_columns: Sequence[str] = ()):
    """The texts, the predictions, then the file's other columns (an id, a date, the true label) as they were,
    so each prediction stays beside the rest of its row.  Every cell that came from the file is escaped: the
    output opens in a spreadsheet, where a cell starting with '=' would run as a formula.  ``label_columns``: a
    multi-label model's 0/1 columns, named as its labels: the file's own get '_in_file', as the file's 'label'
    does, since under a bare label name they read as predictions."""
    import pandas as pd

    out = pd.DataFrame({"text": [escape_formula(t) for t in chunk[text_col]]})
    if pair_col is not None:
        out["text_pair"] = [escape_formula(t) for t in chunk[pair_col]]
    out["label"] = [escape_formula(label) for label in batch.labels]
    out["confidence"] = np.round(batch.confidences, 6)
    for i, name in enumerate(batch.label_names):
        out[f"prob_{escape_formula(name)}"] = np.round(batch.probs[:, i], 6)
    for column in chunk.columns:
        if column not in (text_col, pair_col):
            name = escape_formula(str(column)) + ("_in_file" if column in label_columns else "")
            out[_free_name(name, out.columns)] = [escape_formula(v) for v in chunk[column]]
    return out


def _free_name(name: str, taken: Any) -> str:
    """A column of the file whose name the predictions use ('label': the file's own labels) gets '_in_file'."""
    while name in taken:
        name += "_in_file"
    return name


def open_prediction_files(path: str | os.PathLike[str], out: str | os.PathLike[str],
                          sheet: str | None = None) -> TableSource:
    """The table to predict (see :func:`open_table`), checked together with where its predictions go, before a
    model is loaded: a missing file, a folder given as either, or an output that would overwrite the texts was
    said only after the model had loaded and an empty "Predicting: 0 rows" bar had been shown."""
    source = open_table(path, sheet)
    check_output_path(out, source.file)
    return source


def check_output_path(out: str | os.PathLike[str], data: str | os.PathLike[str]) -> Path:
    """The file predictions go to; a folder, another format's name or the data file itself is refused."""
    target = Path(out).expanduser()
    if target.is_dir() or str(out).endswith(("/", os.sep)):  # "--out results/" names a folder, even a new one
        raise DataError(f"The output '{out}' names a folder; predictions are written to a file.",
                        hint=f"Name a file inside it, for example {target / 'predictions.csv'}.")
    if target.suffix.lower() not in CSV_SUFFIXES:
        # Predictions are written as CSV: under another name they would be CSV text Excel or pandas cannot open.
        raise DataError(f"Predictions are written as a CSV file, so '{out}' would not open as a "
                        f"{target.suffix} file.", hint=f"Name the output {target.with_suffix('.csv').name}.")
    if target.exists() and target.resolve() == Path(data).expanduser().resolve():
        raise DataError("The output file is the data file itself: writing would overwrite your texts.",
                        hint="Choose another name for the predictions, for example predictions.csv.")
    return target


def output_path(out: str | os.PathLike[str], data: str | os.PathLike[str]) -> tuple[Path, list[Path]]:
    """Where predictions go, and the folders created for it (removed again if predicting fails).

    Missing folders are created; a folder, or the data file itself, is refused.
    """
    target = check_output_path(out, data)
    created = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"The folder for '{target}' cannot be created ({error.strerror or error}).",
                        hint="Check the path, and that you may write there.") from error
    if not os.access(target.parent, os.W_OK):
        raise DataError(f"Cannot write into the folder '{target.parent}'.",
                        hint="Choose a folder you may write to.")
    return target, created


def predict_file(predictor: Predictor, path: str | os.PathLike[str] | TableSource, out: str | os.PathLike[str], *,
                 text_column: str | None = None, text_pair_column: str | None = None,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS, sheet: str | None = None,
                 on_progress: Callable[[int], None] | None = None) -> PredictFileResult:
    """Predict every row of a table and write text, label, confidence and ``prob_<label>`` columns as CSV.

    Reads and writes ``chunk_rows`` rows at a time, so memory stays flat however long the file is.
    ``on_progress(rows_done)`` is called after each chunk.  ``path``: the file, or the table
    :func:`open_prediction_files` checked before the model was loaded (``sheet`` is then its own).
    """
    source = path if isinstance(path, TableSource) else open_table(path, sheet)
    sample = _first_rows(source)
    columns = [str(c) for c in sample.columns] if sample is not None else _read_columns(source)
    chosen = choose_text_columns(columns, predictor.prep, text_column, text_pair_column, sample)
    text_col, pair_col = chosen.text, chosen.pair
    target, created = output_path(out, source.file)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    start, rows = time.perf_counter(), 0
    counts = np.zeros(len(predictor.label_names), dtype=np.int64)
    blanks = BlankRows()
    try:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            for chunk in iter_table_chunks(source.file, None, chunk_rows, source=source):
                if not len(chunk):
                    continue
                texts = chunk[text_col].tolist()
                pairs = chunk[pair_col].tolist() if pair_col else None
                blank = blank_rows(texts, pairs)
                read = ~blank
                batch = predictor.predict([t for t, ok in zip(texts, read) if ok],
                                          [p for p, ok in zip(pairs, read) if ok] if pairs else None)
                counts += batch.label_hits()
                _output_frame(chunk, text_col, pair_col, with_blank_rows(readable_label_sets(batch), blank),
                              predictor.prep.label_columns or ()).to_csv(
                    handle, index=False, header=rows == 0)
                blanks.add(np.flatnonzero(blank) + rows + 1)
                rows += len(chunk)
                if on_progress is not None:
                    on_progress(rows)
        if rows == 0:
            raise no_rows_error(source.file)
        if blanks.count == rows:
            raise DataError(f"None of the {rows:,} rows of '{source.file.name}' has a text in '{text_col}' to read.",
                            hint=f"Check the text column (--text; the columns are {', '.join(columns)}).")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        for folder in created:  # innermost first; a folder something else wrote into stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return PredictFileResult(rows=rows, out_path=target, seconds=time.perf_counter() - start,
                             backend=predictor.backend.name,
                             label_counts=dict(zip(predictor.label_names, counts.tolist())),
                             text_column=text_col, text_pair_column=pair_col,
                             notes=(*source.notes, *chosen.notes, *blanks.findings(text_col)),
                             other_columns=tuple(c for c in columns if c not in (text_col, pair_col)),
                             multi_label=predictor.prep.multi_label)
