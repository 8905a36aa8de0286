"""Reading a user's table (CSV, TSV, JSON lines, Parquet, Excel) into a `datasets.Dataset`.

Every column comes back as strings, so a label written "01" or "1.0" is not silently
turned into a number here; :mod:`bertstudio.data.prepare` decides what labels mean.
Delimited text goes through `datasets`' CSV builder, which streams the file into an
Arrow cache on disk: a million-row file is memory-mapped, not held in memory.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import csv
import functools
import io
import itertools
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertstudio.data.encoding import (
    RESAVE_AS_UTF8,
    TextEncoding,
    choose_encoding,
    encoding_label,
)
from bertstudio.data.findings import Finding, count_noun
from bertstudio.data.json_table import (
    JsonLayout,
    load_json_object,
    located_json_error,
    rows_past,
    table_layout,
)
from bertstudio.data.sniff import content_kind, sniff_format
from bertstudio.data.table_start import (
    ONE_TEXT_PER_LINE,
    SCAN_ROWS,
    TableStart,
    delimited_start,
    duplicate_header_findings,
    excel_separator_line,
    header_findings,
    header_repeats_finding,
    joined_rows_finding,
    lines_start,
    lines_without_quotes,
    literal_quotes_finding,
    non_blank,
    quotes_are_literal,
    splits_into_columns,
    stray_quotes_finding,
    title_finding,
    unique_column_names,
)
from bertstudio.data.workbook import read_sheet, sheet_past_rows
from bertstudio.disk_cache import mark_used, prune_lru
from bertstudio.errors import DataError, UserError, disk_full_error, is_disk_full

if TYPE_CHECKING:  # heavy imports stay out of `import bertstudio.data`
    import datasets

# File extension -> format name used in TableInfo.format.
_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "txt",
    ".jsonl": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".xlsx": "excel",
    ".xls": "excel",
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(_FORMATS)

_DELIMITED = {"csv", "tsv", "txt"}
CANDIDATE_DELIMITERS = ",\t;|"
_SAMPLE_BYTES = 256 * 1024

# Texts longer than this are cut (with a warning in the report). The model reads at most 512 tokens, about
# 2,000-3,000 characters, so nothing it could use is lost; the cap bounds the tokenizer's work and memory
# on a file that holds whole books in a cell.
MAX_TEXT_CHARS = 100_000
# Python's csv module refuses fields over 131,072 characters by default, which crashed reading a file with
# one long text. The limit is lifted well above the text cap (long texts are read, then cut), and still
# stops a quote that is never closed from swallowing the rest of a huge file into one field.
MAX_FIELD_CHARS = 10 * MAX_TEXT_CHARS
csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
_EXAMPLE_LINES = 5
# Rows pandas parses at a time while the CSV builder writes the Arrow copy: what reading holds at its peak.
# 100,000 rows of support tickets were ~60 MB (Python strings plus their Arrow batch); 10,000 are a tenth of it,
# and a million rows read as fast (the per-chunk cost is small next to parsing).
CSV_CHUNK_ROWS = 10_000

_FORMAT_LABELS = {
    "csv": "CSV",
    "tsv": "TSV",
    "txt": "delimited text",
    "jsonl": "JSON lines",
    "json": "JSON",
    "parquet": "Parquet",
    "excel": "Excel",
}
_DELIMITER_LABELS = {
    ",": "comma-separated",
    "\t": "tab-separated",
    ";": "semicolon-separated",
    "|": "pipe-separated",
    ONE_TEXT_PER_LINE: "one text per line",
}


@dataclass
class TableInfo:
    """What was read and how: shown to the user so a wrong guess is easy to spot."""

    path: Path
    format: str
    encoding: str | None
    delimiter: str | None
    n_rows: int
    columns: list[str]
    sheet: str | None = None  # Excel only: the sheet that was read
    findings: list[Finding] = field(default_factory=list)  # what reading noticed (detected encoding, ...)
    encoding_detected: bool = False  # the encoding was told from the content, not certain
    # Excel only: column -> cells holding a formula whose result was never saved (read as empty)
    unsaved_formulas: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        details = [_FORMAT_LABELS.get(self.format, self.format)]
        if self.sheet is not None:
            details.append(f"sheet '{self.sheet}'")
        if self.delimiter is not None:
            details.append(_DELIMITER_LABELS.get(self.delimiter, f"separated by '{self.delimiter}'"))
        if self.encoding is not None:
            details.append(encoding_label(self.encoding) + (", detected" if self.encoding_detected else ""))
        noun = "row" if self.n_rows == 1 else "rows"
        return f"Read {self.n_rows:,} {noun} from {self.path.name} ({', '.join(details)})."


def cache_dir() -> Path:
    """Folder for BERT Studio's caches: `$BERTSTUDIO_CACHE`, else `~/.cache/bertstudio`."""
    root = os.environ.get("BERTSTUDIO_CACHE") or Path.home() / ".cache" / "bertstudio"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- detection


def detect_delimiter(sample: str) -> str:
    """The column separator of delimited text: one of `, TAB ; |`.

    csv.Sniffer is tried first; its answer is only trusted if the header line
    contains it (a sniffer can be fooled by punctuation inside long texts).
    Otherwise the separator that occurs most in the header line wins; a header
    with none of them is a single-column file and ',' is as good as any.
    """
    sample = sample.replace("\r\n", "\n").replace("\r", "\n")  # old Mac files end lines with CR alone
    header = sample.split("\n", 1)[0]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=CANDIDATE_DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed and sniffed in header:
        return sniffed
    counts = {d: header.count(d) for d in CANDIDATE_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


# --------------------------------------------------------------------------- reading


def read_table(
    path: str | os.PathLike[str],
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> tuple[datasets.Dataset, TableInfo]:
    """Read a data file into a Dataset whose columns are all strings.

    `encoding` and `delimiter` override detection for delimited text files, `sheet` the choice of a workbook's
    sheet (not used for other files, with a note: one setting can serve a CSV and a workbook).
    Raises DataError (with a hint) for a missing, empty, unsupported or unparseable file.
    """
    file = Path(path).expanduser()
    fmt, notes = table_format(file)
    notes += sheet_not_used(file, fmt, sheet)
    with _without_library_bars():
        if fmt in _DELIMITED:
            ds, info = _read_delimited(file, fmt, encoding=encoding, delimiter=delimiter)
        elif fmt == "excel":
            ds, info = _read_excel(file, sheet)
        else:
            ds, info = _read_arrow_format(file, fmt)
        if ds.num_rows == 0:
            raise no_rows_error(file)
        ds, cut = cut_long_texts(ds)
        ds, merged = merge_case_variants(ds, file)
    info.columns = list(ds.column_names)
    info.findings[:0] = notes + cut + merged
    trim_table_cache(ds)
    return ds, info


@dataclass(frozen=True)
class RowsPast:
    """A table of more rows than a limit: ``rows`` of them, or, where counting stopped at the row past the limit
    (``exact`` False), at least that many."""

    rows: int
    exact: bool


def sheet_not_used(file: Path, fmt: str, sheet: str | None) -> list[Finding]:
    """The note that ``sheet`` was not used, ``file`` being no workbook: `inspect file.csv --sheet Foo` said
    nothing of it.  Not a refusal: one setting serves a training workbook and its CSV validation file."""
    if not sheet or fmt == "excel":
        return []
    return [Finding("info", "sheet_not_used", f"The sheet '{sheet}' was not used: {file.name} is not an Excel "
                                              "workbook, so it has no sheets; the whole file was read.",
                    hint="Leave --sheet out for this file (it chooses a sheet of an .xlsx or .xls file).")]


def rows_past_limit(path: str | os.PathLike[str], limit: int) -> RowsPast | None:
    """How many data rows the table in ``path`` holds, if more than ``limit``; None if not, or if the file cannot
    be read as a table (reading it says why).

    Nothing past the row after the limit is read (a Parquet file states its rows; a JSON file of one object, as
    pandas writes, is parsed whole, as reading does), so that a shared app refuses a million rows in a second or
    two: reading them first took 73 s for a workbook, other visitors' files waiting. A workbook is counted sheet
    by sheet, as every sheet is read to choose the table (``workbook.read_sheet``).
    """
    file = Path(path).expanduser()
    try:
        return _rows_past(file, table_format(file)[0], limit)
    except Exception:  # noqa: BLE001 - not a table, or damaged: reading it refuses it in the person's words
        return None


def _rows_past(file: Path, fmt: str, limit: int) -> RowsPast | None:
    if fmt == "parquet":
        rows = _parquet_rows(file) or 0
        return RowsPast(rows, exact=True) if rows > limit else None
    if fmt == "json" and table_layout(file) is JsonLayout.OBJECT:  # read in Python, whole, as reading does
        rows = max(map(len, load_json_object(file).columns.values()), default=0)
        return RowsPast(rows, exact=True) if rows > limit else None
    if fmt in _DELIMITED:
        past = _delimited_rows_past(file, fmt, limit)
    elif fmt == "excel":
        past = sheet_past_rows(file, limit)
    else:
        past = rows_past(file, table_layout(file) if fmt == "json" else JsonLayout.LINES, limit)
    return RowsPast(limit + 1, exact=False) if past else None


def _delimited_rows_past(file: Path, fmt: str, limit: int) -> bool:
    """Whether a delimited file holds more than ``limit`` data rows, as ``scan_records`` counts them (below the
    header and any title, blank records and records of empty values aside), read up to the row past them.

    The header repeated among the data is left out too, as reading does. The encoding is chosen as for reading
    (one pass over the bytes: half a second for 70 MB), so the file is split into the same records.
    """
    text = delimited_text(file, fmt)
    with file.open("r", encoding=text.encoding.codec, newline="") as handle:
        rows = non_blank(text.reader(handle))
        collections.deque(itertools.islice(rows, text.start.skip_rows + text.start.has_header), maxlen=0)
        header = text.header if text.start.has_header else None
        data = (row for row in rows if row != header)
        return sum(1 for _ in itertools.islice(data, limit + 1)) > limit


@contextlib.contextmanager
def _without_library_bars() -> Iterator[None]:
    """Reading is one step of ours, reported as ours; datasets' own bars ("Generating train split: 3 examples")
    would print between the command's lines."""
    import datasets

    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if shown:
            datasets.enable_progress_bars()


def table_format(file: Path) -> tuple[str, list[Finding]]:
    """How to read ``file`` ("csv", "excel", ...), from its name and then its content (see ``sniff``).

    Raises DataError for a missing file, a folder, an empty file, an unsupported name, or content that
    is not a table (compressed, an archive, a document, an image, binary data).
    """
    if file.is_dir():
        raise DataError(f"'{file}' is a folder, not a file.", hint="Choose a data file inside it.")
    if not file.is_file():
        raise DataError(
            f"The file '{file}' was not found.",
            hint="Check the file name and folder, or pick the file again.",
        )
    named = _FORMATS.get(file.suffix.lower())
    if named is None:
        content_kind(file)  # 'data.csv.gz': say it is compressed, and what to do, before naming the suffix
        raise DataError(
            f"'{file.name}' is not a supported file type.",
            hint=f"Save it as one of: {', '.join(SUPPORTED_EXTENSIONS)} (CSV or Excel are easiest).",
        )
    if file.stat().st_size == 0:
        raise _empty(file)
    try:
        return sniff_format(file, named)
    except OSError as error:
        raise DataError(f"'{file.name}' cannot be opened ({error.strerror or error}).",
                        hint="Check that the file is not open in another program and that you may read it.") \
            from error


def _empty(file: Path) -> DataError:
    return DataError(f"The file '{file.name}' is empty.", hint="Choose a file with a header row and data rows.")


def cut_long_texts(ds: datasets.Dataset, limit: int = MAX_TEXT_CHARS) -> tuple[datasets.Dataset, list[Finding]]:
    """Texts over ``limit`` characters cut to it, and a warning saying how many and where.

    Lengths are measured on the Arrow columns (no Python loop), so the common case costs milliseconds.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    table = ds.data.table
    over: dict[str, int] = {}
    for name in ds.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            n_long = pc.sum(pc.greater(pc.utf8_length(column), limit)).as_py()
            if n_long:
                over[name] = n_long
    if not over:
        return ds, []
    ds = ds.map(lambda batch: {name: [_cut(text, limit) for text in batch[name]] for name in over},
                batched=True, desc="Cutting very long texts")
    n_cut = sum(over.values())
    where = ", ".join(f"'{name}'" for name in over)
    return ds, [Finding(
        "warning", "texts_cut",
        f"{count_noun(n_cut, 'text')} longer than {limit:,} characters {'was' if n_cut == 1 else 'were'} cut "
        f"to the first {limit:,} characters (in {where}).",
        hint="A model reads a few hundred words of a text at most (its start, its end, or a few windows "
             "through it), so little is lost; if the end of a very long document matters, split it into "
             "several rows.",
        count=n_cut)]


def merge_case_variants(ds: datasets.Dataset, file: Path) -> tuple[datasets.Dataset, list[Finding]]:
    """Columns whose names differ only in upper/lower case ("text" and "Text", JSON lines written by hand or by
    two programs): read as one where no row fills both, with a note; otherwise a warning naming both.

    The rows that had their text under "Text" were left out as "rows with an empty text in 'text'", without a
    word about where their text was.
    """
    findings: list[Finding] = []
    for names in _case_variant_groups(ds.column_names):
        filled = {name: _filled_rows(ds, name) for name in names}
        kept = max(names, key=lambda name: filled[name].sum())
        for other in (name for name in names if name != kept):
            both = int((filled[kept] & filled[other]).sum())
            if both:
                findings.append(_case_variant_warning(file, kept, other, both))
                continue
            moved = int(filled[other].sum())
            filled[kept] = filled[kept] | filled[other]
            ds = ds.map(lambda batch: {kept: [a if b is None or (a is not None and a.strip()) else b
                                             for a, b in zip(batch[kept], batch[other])]},
                        batched=True, remove_columns=[other], desc="Joining columns")
            findings.append(_case_variant_note(file, kept, other, moved))
    return ds, findings


def _case_variant_groups(names: list[str]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.casefold(), []).append(name)
    return [group for group in groups.values() if len(group) > 1]


def _filled_rows(ds: datasets.Dataset, name: str) -> Any:
    """Which rows of column ``name`` hold something besides blanks (a numpy mask, from Arrow; through the
    dataset's index, which may hide some rows)."""
    return _filled(ds.select_columns([name]).with_format("arrow")[:].column(name))


def _filled(column: Any) -> Any:
    """Which cells of an Arrow column of text hold something besides blanks (a numpy mask)."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(column), ""), False).to_numpy(zero_copy_only=False)


def _case_variant_note(file: Path, kept: str, other: str, moved: int) -> Finding:
    return Finding("info", "case_variant_columns",
                   f"In {count_noun(moved, 'row')} of '{file.name}' the column is named '{other}' instead of "
                   f"'{kept}'; as no row has both, they were read as one column, '{kept}'.",
                   hint="Nothing to do, unless they are different columns: then rename one of them.", count=moved)


def _case_variant_warning(file: Path, kept: str, other: str, both: int) -> Finding:
    return Finding("warning", "case_variant_columns",
                   f"'{file.name}' has columns '{kept}' and '{other}', whose names differ only in upper/lower case; "
                   f"{count_noun(both, 'row')} fill both, so they were kept apart.",
                   hint="Check which one holds what you want and choose it (on the command line: --text or "
                        "--label), or join them into one column in the file.", count=both)


def _cut(text: str | None, limit: int) -> str | None:
    return text[:limit] if text is not None and len(text) > limit else text


# The Arrow copies of uploaded tables: at most this much, least recently used first; copies read within the
# last day always stay (a training job started from one may still be reading it and writing beside it).
TABLE_CACHE_BUDGET_BYTES = 2 * 1024**3
TABLE_CACHE_KEEP_S = 24 * 3600
_CACHE_BUILDERS = ("csv", "json", "parquet")  # the datasets builders read_table uses, one folder each


def table_cache_root() -> Path:
    """Where the Arrow copies of tables live (and, beside each, the cleaned rows: ``arrow_batches``)."""
    return cache_dir() / "datasets"


def table_cache_folder(ds: datasets.Dataset) -> Path | None:
    """The folder of ``ds``'s Arrow copy in the cache, ``datasets/<builder>/<one file's copy>``; None if in memory."""
    root = table_cache_root().resolve()
    for cache_file in ds.cache_files:
        path = Path(cache_file["filename"]).resolve()
        parts = path.relative_to(root).parts if path.is_relative_to(root) else ()
        if len(parts) > 2 and parts[0] in _CACHE_BUILDERS:
            return root / parts[0] / parts[1]
    return None


def trim_table_cache(ds: datasets.Dataset) -> list[Path]:
    """Mark ``ds``'s copy as used now and delete the oldest other copies beyond the budget (see above)."""

    in_use = table_cache_folder(ds)
    if in_use is None:
        return []
    mark_used(in_use)
    root = in_use.parent.parent
    copies = [folder for name in _CACHE_BUILDERS if (root / name).is_dir() for folder in (root / name).iterdir()]
    try:
        return prune_lru(copies, in_use, TABLE_CACHE_BUDGET_BYTES, keep_if_used_within_s=TABLE_CACHE_KEEP_S)
    except OSError:  # housekeeping must never fail reading a file (another process may be trimming too)
        return []


def _read_delimited(
    file: Path, fmt: str, *, encoding: str | None, delimiter: str | None
) -> tuple[datasets.Dataset, TableInfo]:
    text, shape = check_delimited(file, fmt, encoding=encoding, delimiter=delimiter)
    header = text.header
    columns = unique_column_names(header)
    if shape.data_rows == 0:
        raise no_rows_error(file)
    try:
        ds = _load_csv(file, text, columns)
    except Exception as error:  # noqa: BLE001 - translated to a DataError
        raise unreadable_table(file, text.delimiter, error) from error
    # Rows pandas reads that the scan skips have every cell empty (",,"): looked for only where there are some.
    blank = ds.num_rows > shape.data_rows
    if shape.n_header_repeats:
        ds = without_rows_like(ds, dict(zip(columns, header)))
    if blank:
        n_read = ds.num_rows
        ds = without_blank_rows(ds)
        blank = n_read - ds.num_rows
    findings = [*how_it_was_read(file, text), *shape.findings(file), *blank_rows_findings(file, blank)]
    info = TableInfo(file, fmt, text.encoding.codec, text.delimiter, ds.num_rows, list(ds.column_names),
                     findings=findings, encoding_detected=text.encoding.detected)
    return ds, info


def how_it_was_read(file: Path, text: DelimitedText) -> list[Finding]:
    """The notes on how a delimited file was read (its encoding, header, title, quotes), which ``predict`` tells
    too: what training and prediction read alike, unlike the row checks of ``RecordShape``."""
    header = text.header
    columns = unique_column_names(header)
    found = text.encoding.finding(file.name)
    findings = [*([found] if found else []), *duplicate_header_findings(header, columns)]
    if text.start.title_rows:
        findings.append(title_finding(file, text.start, "line"))
    if text.literal_quotes:
        findings.append(literal_quotes_finding(file))
    return findings + header_findings(file, text.start.has_header, columns, text.first_data_rows)


def without_rows_like(ds: datasets.Dataset, row: dict[str, str]) -> datasets.Dataset:
    """``ds`` without the rows whose every cell equals ``row``'s (a header repeated among the data): one pass of
    Arrow comparisons, and an index over the rows kept rather than a copy of them."""
    import numpy as np
    import pyarrow.compute as pc

    kept, offset = [], 0
    for batch in ds.select_columns(list(row)).with_format("arrow").iter(batch_size=100_000):
        same = np.ones(batch.num_rows, dtype=bool)
        for name, value in row.items():
            same &= pc.fill_null(pc.equal(batch.column(name), value), False).to_numpy(zero_copy_only=False)
        kept.append(np.flatnonzero(~same) + offset)
        offset += batch.num_rows
    return ds.select(np.concatenate(kept)) if kept else ds


def without_blank_rows(ds: datasets.Dataset) -> datasets.Dataset:
    """``ds`` without the rows whose every cell is empty or blank: one pass of Arrow checks, and an index over the
    rows kept. Excel saves the empty rows below a table as ",,"; counted as read, "Read 2,300 rows" then came
    with "2,000 blank rows skipped"."""
    import numpy as np

    kept, offset = [], 0
    for batch in ds.with_format("arrow").iter(batch_size=100_000):
        filled = np.zeros(batch.num_rows, dtype=bool)
        for column in batch.columns:
            filled |= _filled(column)
        kept.append(np.flatnonzero(filled) + offset)
        offset += batch.num_rows
    return ds.select(np.concatenate(kept)) if kept else ds


def blank_rows_findings(file: Path, count: int) -> list[Finding]:
    if count <= 0:
        return []
    return [Finding("info", "blank_rows",
                    f"{count_noun(count, 'row')} of '{file.name}' with every cell empty (as spreadsheets leave below "
                    f"a table) {'was' if count == 1 else 'were'} left out.", hint="Nothing to do.", count=count)]


@dataclass(frozen=True)
class DelimitedText:
    """How a delimited text file is decoded and split, and its first lines (to read the header from)."""

    encoding: TextEncoding
    delimiter: str
    sample: str
    sep_line: bool = False  # the file opens with Excel's "sep=;" line, which names the separator
    headers_usual: bool = True  # a .csv mostly opens with its header; a .txt of sentences mostly does not
    literal_quotes: bool = False  # its double quotes are part of the texts (``table_start.quotes_are_literal``)

    @property
    def quoting(self) -> int:
        """How quotes are read: a line of text keeps its quotes (one opened and never closed would otherwise
        swallow the lines after it), and so does a table whose quotes are part of its texts."""
        literal = self.literal_quotes or self.delimiter == ONE_TEXT_PER_LINE
        return csv.QUOTE_NONE if literal else csv.QUOTE_MINIMAL

    def reader(self, lines: Any) -> Any:
        return csv.reader(lines, delimiter=self.delimiter, quoting=self.quoting)

    @functools.cached_property
    def start(self) -> TableStart:
        """Where the table starts (``table_start``): below Excel's separator line and any title rows."""
        if self.delimiter == ONE_TEXT_PER_LINE:
            return lines_start(self.sample, headers_usual=self.headers_usual)
        return delimited_start(self.reader(io.StringIO(self.sample, newline="")), sep_line=self.sep_line)

    @property
    def header(self) -> list[str]:
        return self.start.header

    def pandas_options(self) -> dict[str, Any]:
        """How pandas reads the table, for training (datasets' CSV builder) and ``predict`` alike.

        One set of options, so both read the same rows under the same column names: ``predict`` let pandas take
        the names from the file, and where the lines skipped above the table were miscounted it read other
        columns ("Unnamed: 0") than training did. Our own cleaned names replace the header row (below any title
        lines); "NA", "null", "None" are ordinary words in a text column, not missing values.
        """
        return {"sep": self.delimiter, "quoting": self.quoting, "encoding": self.encoding.codec,
                "skiprows": self.start.skip_lines or None, "names": unique_column_names(self.header),
                "header": 0 if self.start.has_header else None, "keep_default_na": False}

    @functools.cached_property
    def first_data_rows(self) -> list[list[str]]:
        """The first rows below the header (from the first row of all in a file without one), from the sample;
        parsed once, as this object is remembered with the file (``check_delimited``)."""
        above = self.start.skip_rows + self.start.has_header
        rows = non_blank(self.reader(io.StringIO(self.sample, newline="")))
        return list(itertools.islice(rows, above, above + SCAN_ROWS))


def check_delimited(file: Path, fmt: str, *, encoding: str | None = None,
                    delimiter: str | None = None) -> tuple[DelimitedText, RecordShape]:
    """Encoding, separator and rows of a delimited file (``delimited_text`` then ``scan_records``).

    Remembered while the file is unchanged (same path, size and modification time): the app reads the same
    file again at every change of column, and the checks take about 2 s per million rows.
    """
    stat = file.stat()
    return _check_delimited(str(file.resolve()), fmt, encoding, delimiter, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _check_delimited(path: str, fmt: str, encoding: str | None, delimiter: str | None, size: int,
                     mtime_ns: int) -> tuple[DelimitedText, RecordShape]:
    file = Path(path)
    text = delimited_text(file, fmt, encoding=encoding, delimiter=delimiter)
    return text, scan_records(file, text)


def delimited_text(file: Path, fmt: str, *, encoding: str | None = None,
                   delimiter: str | None = None) -> DelimitedText:
    """Encoding (given, else chosen: see ``data.encoding``) and separator (given, else detected) of ``file``."""
    chosen = _given_encoding(encoding) if encoding else choose_encoding(file)
    with file.open("rb") as handle:
        raw = handle.read(_SAMPLE_BYTES)
    sample = _decode_sample(raw, chosen.codec, file)
    if not sample.strip():
        raise _empty(file)
    # Cut at the last full line so the sniffer does not see a half row.
    if len(raw) == _SAMPLE_BYTES:
        end = max(sample.rfind("\n"), sample.rfind("\r"))
        sample = sample[:end] if end > 0 else sample
    named = excel_separator_line(sample)
    if delimiter is None:
        delimiter = named or ("\t" if fmt == "tsv" else detect_delimiter(sample))
        if not named and ((fmt == "txt" and not splits_into_columns(sample, delimiter))
                          or (fmt == "csv" and lines_without_quotes(sample, delimiter))):
            delimiter = ONE_TEXT_PER_LINE  # a file of sentences, not a table
    return DelimitedText(chosen, delimiter, sample, sep_line=named is not None, headers_usual=fmt != "txt",
                         literal_quotes=delimiter != ONE_TEXT_PER_LINE and quotes_are_literal(sample, delimiter))


def _given_encoding(name: str) -> TextEncoding:
    try:
        codecs.lookup(name)
    except LookupError as error:
        raise DataError(
            f"'{name}' is not a known text encoding.",
            hint="Leave the encoding empty to detect it, or use e.g. utf-8 or cp1252.",
        ) from error
    return TextEncoding(name)


def no_rows_error(file: Path) -> DataError:
    return DataError(
        f"'{file.name}' has column names but no data rows.",
        hint="Add rows below the header (one text per row), or choose another file.",
    )


def _decode_sample(raw: bytes, encoding: str, file: Path) -> str:
    try:
        return codecs.getincrementaldecoder(encoding)().decode(raw, final=False)
    except UnicodeDecodeError as error:
        raise DataError(
            f"'{file.name}' cannot be read as {encoding_label(encoding)} text.",
            hint="Leave the encoding empty to detect it automatically.",
        ) from error


@dataclass
class RecordShape:
    """What one pass of Python's csv reader over a whole file found: rows, and rows of the wrong length."""

    n_columns: int
    data_rows: int = 0
    short_lines: list[int] = field(default_factory=list)  # first few lines with fewer values than the header
    n_short: int = 0
    header_lines: list[int] = field(default_factory=list)  # first few lines that repeat the header
    n_header_repeats: int = 0
    joined_lines: list[str] = field(default_factory=list)  # first few records of a TSV with a tab and a line break
    n_joined: int = 0  # inside one value: a stray quote that took in the rows up to the next one
    stray_quote_lines: list[int] = field(default_factory=list)  # first few records with a quote not doubled
    n_stray_quotes: int = 0

    def findings(self, file: Path) -> list[Finding]:
        findings = self.read_findings(file)
        if not self.n_short:
            return findings
        lines = _lines_listed(self.short_lines, self.n_short)
        return findings + [Finding(
            "warning", "ragged_rows",
            f"{count_noun(self.n_short, 'row')} of '{file.name}' {'has' if self.n_short == 1 else 'have'} fewer "
            f"values than the header's {self.n_columns} columns (line {lines}); the missing values were left empty.",
            hint="Usually a value is left out, or a text holds a line break or the separator without double quotes "
                 "around it. Check those lines: rows that lost their text or label are left out of training.",
            count=self.n_short)]

    def read_findings(self, file: Path) -> list[Finding]:
        """Rows left out for repeating the header, and rows a stray quote joined: training and ``predict`` alike."""
        findings = []
        if self.n_header_repeats:
            where = f"line {_lines_listed(self.header_lines, self.n_header_repeats)}"
            findings.append(header_repeats_finding(file, self.n_header_repeats, where))
        if self.n_joined:
            more = ", ..." if self.n_joined > len(self.joined_lines) else ""
            findings.append(joined_rows_finding(file, self.n_joined, f"lines {', '.join(self.joined_lines)}{more}"))
        if self.n_stray_quotes:
            where = f"line {_lines_listed(self.stray_quote_lines, self.n_stray_quotes)}"
            findings.append(stray_quotes_finding(file, self.n_stray_quotes, where))
        return findings


def _lines_listed(lines: list[int], total: int) -> str:
    return ", ".join(f"{line:,}" for line in lines) + (", ..." if total > len(lines) else "")


def scan_records(file: Path, text: DelimitedText) -> RecordShape:
    """Count data rows and rows shorter than the header; refuse rows longer than it (they cannot be read).

    One pass of the csv module: about 0.8 s per million short rows, so the report can name the lines; a second,
    about as long, where some value holds a double quote (``stray_quote_lines``).
    """
    n_columns = len(text.header)
    shape, long_lines = RecordShape(n_columns), []
    # A tab and a line break inside one value of a quoted TSV: rows joined by a stray quote (texts hold neither).
    joined = text.delimiter == "\t" and text.quoting != csv.QUOTE_NONE
    # Values are looked at for a double quote until one holds one: only then can a quote be misplaced
    # (``stray_quote_lines``). Quotes read as written (QUOTE_NONE) are never misplaced.
    look_for_quote, quote_seen = text.quoting != csv.QUOTE_NONE, False
    data_from = 0  # the last line above the data
    longest = 0
    # The last line of the last record read: a failing record starts after it. Set before the first record, as
    # the one that fails can be the first line of all (a title or a header of over a million characters).
    read_up_to = 0
    with file.open("r", encoding=text.encoding.codec, newline="") as handle:
        reader = text.reader(handle)
        try:
            rows = non_blank(reader)  # blank lines are skipped by the parser too
            for _ in range(text.start.skip_rows + text.start.has_header):  # what is above the data
                next(rows, None)
                read_up_to = reader.line_num
            header = text.header if text.start.has_header else None
            data_from = read_up_to
            for record in rows:
                read_up_to = reader.line_num
                shape.data_rows += 1
                if look_for_quote and '"' in "".join(record):  # ~0.1 s per million rows without a quote
                    look_for_quote, quote_seen = False, True
                if record == header:
                    shape.n_header_repeats += 1
                    if len(shape.header_lines) < _EXAMPLE_LINES:
                        shape.header_lines.append(reader.line_num)
                elif joined and any("\t" in cell and "\n" in cell for cell in record):
                    shape.n_joined += 1
                    if len(shape.joined_lines) < _EXAMPLE_LINES:
                        first = reader.line_num - sum(cell.count("\n") for cell in record)
                        shape.joined_lines.append(f"{first:,}-{reader.line_num:,}")
                elif len(record) < n_columns:
                    shape.n_short += 1
                    if len(shape.short_lines) < _EXAMPLE_LINES:
                        shape.short_lines.append(reader.line_num)
                elif len(record) > n_columns:
                    long_lines.append(reader.line_num)
                    longest = max(longest, len(record))
        except UnicodeDecodeError as error:
            raise DataError(f"'{file.name}' cannot be read as {text.encoding.label}: around line "
                            f"{reader.line_num + 1:,} it holds bytes that are not {text.encoding.label} "
                            f"({error.reason}).", hint=RESAVE_AS_UTF8) from error
        except csv.Error as error:
            raise _csv_error(file, read_up_to + 1, error, text.encoding.codec) from error
    if long_lines:
        raise _long_rows(file, text.delimiter, long_lines, longest, n_columns)
    if quote_seen and not shape.n_joined:  # rows joined by a stray quote have their own warning
        shape.stray_quote_lines, shape.n_stray_quotes = stray_quote_lines(file, text, data_from)
    return shape


def stray_quote_lines(file: Path, text: DelimitedText, data_from: int) -> tuple[list[int], int]:
    """The first few lines, and the number, of the records below line ``data_from`` with a quote that breaks
    the rules of quoting: a quoted text with a quote inside that is not doubled.

    '"He said "this is broken" and left",billing' is read without a word as 'He said this is broken" and
    left"'. A strict reader refuses such a quote, and goes on with the next line; the record the usual reader
    read ends on that line too (the stray quote closed the text), so both count the same records. A second
    pass over the file, about as long as the first, made only where some value holds a quote.
    """
    lines: list[int] = []
    count = 0
    with file.open("r", encoding=text.encoding.codec, newline="") as handle:
        reader = csv.reader(handle, delimiter=text.delimiter, quoting=text.quoting, strict=True)
        for line in _refused_lines(reader):
            if line > data_from:
                count += 1
                if len(lines) < _EXAMPLE_LINES:
                    lines.append(line)
    return lines, count


def _refused_lines(reader: Any) -> Iterator[int]:
    """The line of each quote a strict csv reader refuses (a text running on to the end of the file, which the
    scan explains, aside)."""
    while True:
        try:
            collections.deque(reader, maxlen=0)  # read to the end, or to the next quote refused
            return
        except csv.Error as error:
            if "expected after" in str(error):
                yield reader.line_num


def _csv_error(file: Path, line: int, error: csv.Error, codec: str) -> DataError:
    """``line``: where the record that failed begins."""
    if "field larger than field limit" in str(error) and not _line_has_quote(file, line, codec):
        return DataError(
            f"Line {line:,} of '{file.name}' holds one value of more than {MAX_FIELD_CHARS:,} characters, more than "
            "one cell can hold.",
            hint="Shorten that text or split it over several rows (or remove the row): a model reads at most a few "
                 "thousand words of a text anyway.")
    if "field larger than field limit" in str(error):
        return DataError(
            f"From line {line:,} of '{file.name}' on, one value runs on for more than {MAX_FIELD_CHARS:,} "
            "characters: most likely a double quote (\") that opens a text and is never closed.",
            hint="Check the quotes on that line: a text that contains a quote must double it (\"\"). "
                 "Re-saving the file from a spreadsheet program fixes the quoting.")
    return DataError(f"Line {line:,} of '{file.name}' cannot be read as a table row ({error}).",
                     hint="Open the file in a spreadsheet program and save it again as CSV (UTF-8).")


def _line_has_quote(file: Path, line: int, codec: str) -> bool:
    """Whether line ``line`` of the file holds a double quote: a value that runs on past the limit from a line
    with none is one huge cell, not a quote left open (which a tester was sent to look for)."""
    with file.open("r", encoding=codec, errors="replace", newline="") as handle:
        for number, content in enumerate(handle, start=1):
            if number == line:
                return '"' in content
    return True  # not found: keep the usual explanation


def _long_rows(file: Path, delimiter: str, lines: list[int], longest: int, n_columns: int) -> DataError:
    sep_name = _DELIMITER_LABELS.get(delimiter, f"'{delimiter}'").replace("-separated", "")
    shown = ", ".join(f"{line:,}" for line in lines[:_EXAMPLE_LINES]) + (", ..." if len(lines) > _EXAMPLE_LINES
                                                                          else "")
    return DataError(
        f"{count_noun(len(lines), 'line')} of '{file.name}' (line {shown}) {'has' if len(lines) == 1 else 'have'} "
        f"more values than the header's {n_columns} columns (up to {longest}).",
        hint=(
            f"Texts that contain the separator ({sep_name}) must be wrapped in double quotes. "
            "Re-save the file from Excel or Google Sheets as CSV, or fix those lines."
        ),
    )


class _DropReadFailures(logging.Filter):
    """datasets logs "Failed to read file ..." (or "Failed to load JSON ...") with the parser's raw error
    before raising it; the error becomes a plain DataError here (see unreadable_table), so the log line
    would only repeat it in the parser's words."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(("Failed to read file", "Failed to load JSON",
                                                    "Failed to read schema"))


for _builder_log in ("datasets.packaged_modules.csv.csv", "datasets.packaged_modules.json.json",
                     "datasets.packaged_modules.parquet.parquet"):
    logging.getLogger(_builder_log).addFilter(_DropReadFailures())


def _load_csv(file: Path, text: DelimitedText, columns: list[str]) -> datasets.Dataset:
    import datasets

    features = datasets.Features({name: datasets.Value("string") for name in columns})  # every column as text
    return datasets.load_dataset(
        "csv",
        data_files=str(file),
        split="train",
        cache_dir=str(cache_dir() / "datasets"),
        features=features,
        chunksize=CSV_CHUNK_ROWS,
        **text.pandas_options(),
    )


def unreadable_table(file: Path, delimiter: str, error: BaseException) -> UserError:
    """A plain-language DataError for a file the parser rejected (a full disk is not the file's fault)."""
    if is_disk_full(error):
        return disk_full_error("the data cache (a fast copy of the table)", cache_dir(),
                               elsewhere="set BERTSTUDIO_CACHE to a folder on another disk")
    root = error
    while root.__cause__ or root.__context__:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    detail = str(root).strip()
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", detail)
    sep_name = _DELIMITER_LABELS.get(delimiter, f"'{delimiter}'").replace("-separated", "")
    unclosed = re.search(r"EOF inside string starting at row (\d+)", detail)
    if unclosed:
        return DataError(
            f"A double quote (\") opened in row {unclosed.group(1)} of '{file.name}' is never closed, so the rest "
            "of the file would be read as one text.",
            hint="Close or remove that quote; a text that contains a quote must double it (\"\"). Re-saving the "
                 "file from a spreadsheet program fixes the quoting.",
        )
    if match:
        expected, line, saw = match.groups()
        return DataError(
            f"Line {line} of '{file.name}' has more values than the header's {expected} columns ({saw}).",
            hint=(
                f"Texts that contain the separator ({sep_name}) must be wrapped in double quotes. "
                "Re-save the file from Excel or Google Sheets as CSV, or fix that line."
            ),
        )
    return DataError(
        f"'{file.name}' could not be read as a table ({detail or type(root).__name__}).",
        hint="Open it in a spreadsheet program and save it again as CSV (UTF-8) or Excel (.xlsx).",
    )


def _read_arrow_format(file: Path, fmt: str) -> tuple[datasets.Dataset, TableInfo]:
    """Parquet and JSON lines / JSON lists of rows through datasets' own builders; other JSON layouts here."""
    if fmt == "parquet":
        if _parquet_rows(file) == 0:
            raise no_rows_error(file)
        return _load_with_builder(file, fmt, "parquet")
    _require_utf8(file)
    if _holds_only_blanks(file):
        raise _empty(file)
    layout = table_layout(file) if fmt == "json" else JsonLayout.LINES
    if layout is JsonLayout.OBJECT:
        return _json_object_table(file, fmt)
    return _load_with_builder(file, fmt, "json", layout)


def _parquet_rows(file: Path) -> int | None:
    """The rows a Parquet file's footer states; None where it cannot be read (the builder then says why).

    datasets' builder refuses a file of column names and no rows ("BatchSize must be greater than 0"), which
    reached the person as a damaged file rather than as an empty table.
    """
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(file).num_rows
    except Exception:  # noqa: BLE001 - not Parquet after all, or damaged: reading it gives the plain message
        return None


def _holds_only_blanks(file: Path) -> bool:
    """Whether a text file holds nothing but spaces and line breaks: the builder's "corresponds to no data!"
    otherwise reached the person about a JSON lines file of blank lines (or pandas' output for no rows)."""
    with file.open(encoding="utf-8-sig", errors="replace") as handle:
        for chunk in iter(functools.partial(handle.read, 1 << 20), ""):
            if chunk.strip():
                return False  # the first chunk, for any file that holds something
    return True


def _load_with_builder(file: Path, fmt: str, builder: str,
                       layout: JsonLayout | None = None) -> tuple[datasets.Dataset, TableInfo]:
    import datasets

    try:
        ds = datasets.load_dataset(
            builder, data_files=str(file), split="train", cache_dir=str(cache_dir() / "datasets")
        )
    except Exception as error:  # noqa: BLE001 - translated to a DataError
        located = located_json_error(file, layout) if layout and not is_disk_full(error) else None
        raise (located or unreadable_table(file, ",", error)) from error
    ds, notes = _columns_as_strings(ds, file)
    return ds, TableInfo(file, fmt, None, None, ds.num_rows, list(ds.column_names), findings=notes)


def _json_object_table(file: Path, fmt: str) -> tuple[datasets.Dataset, TableInfo]:
    import datasets

    table = load_json_object(file)
    texts = {name: [_to_text(value) for value in values] for name, values in table.columns.items()}
    features = datasets.Features({name: datasets.Value("string") for name in texts})
    ds = datasets.Dataset.from_dict(texts, features=features)
    read_as = Finding("info", "json_layout", table.note(file.name),
                      hint="If the columns shown are not your table, save the table as CSV (UTF-8) instead.")
    return ds, TableInfo(file, fmt, None, None, ds.num_rows, list(texts), findings=[read_as])


def _require_utf8(file: Path) -> None:
    """JSON is UTF-8 by definition (and its reader reads nothing else)."""
    chosen = choose_encoding(file)
    if chosen.codec not in ("utf-8", "utf-8-sig"):
        raise DataError(f"'{file.name}' is {chosen.label} text, but JSON files must be UTF-8.", hint=RESAVE_AS_UTF8)


def _columns_as_strings(ds: datasets.Dataset, file: Path) -> tuple[datasets.Dataset, list[Finding]]:
    """Every column as text: numbers via Arrow casts, anything else (mixed/nested) via str()/JSON; with a note
    for each column of objects, which was otherwise trained on as JSON text without a word."""
    import datasets

    ds = _dates_at_midnight_as_dates(ds)
    # Primitive columns (numbers, booleans, all-empty) cast cheaply in Arrow; columns
    # with mixed or nested values are written out one value at a time.
    castable = {n for n, f in ds.features.items() if isinstance(f, datasets.Value) and f.dtype != "string"}
    mixed = {n for n, f in ds.features.items() if not isinstance(f, datasets.Value)}
    features = ds.features
    objects = {n: _only_text_field(features[n]) for n in ds.column_names if isinstance(features[n], dict)}
    if castable:
        ds = ds.cast(
            datasets.Features({n: datasets.Value("string") if n in castable else f for n, f in ds.features.items()})
        )
    if mixed:
        target = datasets.Features({n: datasets.Value("string") if n in mixed else f for n, f in ds.features.items()})
        ds = ds.map(
            lambda batch: {n: [_to_text(_field_of(v, objects.get(n))) for v in batch[n]] for n in mixed},
            batched=True,
            features=target,
            desc="Converting columns to text",
        )
    return ds, [_objects_note(file, name, field, ", ".join(features[name])) for name, field in objects.items()]


def _only_text_field(feature: dict[str, Any]) -> str | None:
    """The one text field of a column of objects ({"body": "...", "n": 1}: "body"); None where there are several
    or none, as no field can be told to be the text."""
    import datasets

    texts = [name for name, inner in feature.items()
             if isinstance(inner, datasets.Value) and inner.dtype in ("string", "large_string")]
    return texts[0] if len(texts) == 1 else None


def _field_of(value: Any, field_name: str | None) -> Any:
    return value.get(field_name) if field_name is not None and isinstance(value, dict) else value


def _objects_note(file: Path, column: str, field_name: str | None, fields: str) -> Finding:
    if field_name is not None:
        return Finding("info", "object_column",
                       f"The column '{column}' of '{file.name}' holds objects with one text field, '{field_name}'; "
                       "that field was read as the column's value.",
                       hint="Nothing to do if that field is the text; otherwise flatten the column before loading.")
    return Finding("warning", "object_column",
                   f"The column '{column}' of '{file.name}' holds objects with several fields ({fields}); each was "
                   'read as JSON text ({"field": ...}), which is what a model trained on it would read.',
                   hint="Flatten the column so that the text is a column of its own (pandas: "
                        "pd.json_normalize), then load the file again.")


def _dates_at_midnight_as_dates(ds: datasets.Dataset) -> datasets.Dataset:
    """Date-and-time columns whose times are all midnight, as dates: as text they read "2024-01-01" rather
    than "2024-01-01 00:00:00.000000" (dates saved by Excel or pandas carry a time)."""
    import datasets

    dates = [name for name, f in ds.features.items()
             if isinstance(f, datasets.Value) and f.dtype.startswith("timestamp")
             and _all_midnight(ds.data.table.column(name))]
    if not dates:
        return ds
    return ds.cast(datasets.Features({n: datasets.Value("date32") if n in dates else f
                                      for n, f in ds.features.items()}))


def _all_midnight(column: Any) -> bool:
    import pyarrow.compute as pc

    return pc.all(pc.equal(pc.floor_temporal(column, unit="day"), column)).as_py() is not False  # None: all empty


def _to_text(value: Any) -> str | None:
    import json

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _read_excel(file: Path, sheet_name: str | None) -> tuple[datasets.Dataset, TableInfo]:
    """The table sheet of a workbook (see read_sheet); Excel files fit in memory, so pandas reads them."""
    import datasets

    sheet = read_sheet(file, sheet_name)
    features = datasets.Features({name: datasets.Value("string") for name in sheet.columns})
    ds = datasets.Dataset.from_dict(sheet.rows, features=features)
    info = TableInfo(file, "excel", None, None, ds.num_rows, sheet.columns, sheet=sheet.name,
                     findings=sheet.findings, unsaved_formulas=sheet.unsaved_formulas)
    return ds, info
