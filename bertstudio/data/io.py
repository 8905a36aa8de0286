"""Reading a user's table (CSV, TSV, JSON lines, Parquet, Excel) into a `datasets.Dataset`.

Every column comes back as strings, so a label written "01" or "1.0" is not silently
turned into a number here; :mod:`bertstudio.data.prepare` decides what labels mean.
Delimited text goes through `datasets`' CSV builder, which streams the file into an
Arrow cache on disk: a million-row file is memory-mapped, not held in memory.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertstudio.disk_cache import mark_used, prune_lru
from bertstudio.errors import DataError

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
}
_ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1",
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
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        details = [_FORMAT_LABELS.get(self.format, self.format)]
        if self.sheet is not None:
            details.append(f"sheet '{self.sheet}'")
        if self.delimiter is not None:
            details.append(_DELIMITER_LABELS.get(self.delimiter, f"separated by '{self.delimiter}'"))
        if self.encoding is not None:
            details.append(_ENCODING_LABELS.get(self.encoding, self.encoding))
        noun = "row" if self.n_rows == 1 else "rows"
        return f"Read {self.n_rows:,} {noun} from {self.path.name} ({', '.join(details)})."


def cache_dir() -> Path:
    """Folder for BERT Studio's caches: `$BERTSTUDIO_CACHE`, else `~/.cache/bertstudio`."""
    root = os.environ.get("BERTSTUDIO_CACHE") or Path.home() / ".cache" / "bertstudio"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- detection


def detect_encoding(sample: bytes) -> str:
    """Best-guess text encoding of a file from its first bytes.

    Byte-order marks decide first; then UTF-8 (a sample may end mid-character, so
    decode incrementally), then Windows-1252 (what Excel on Windows writes), and
    Latin-1 last because it accepts any byte.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def detect_delimiter(sample: str) -> str:
    """The column separator of delimited text: one of `, TAB ; |`.

    csv.Sniffer is tried first; its answer is only trusted if the header line
    contains it (a sniffer can be fooled by punctuation inside long texts).
    Otherwise the separator that occurs most in the header line wins; a header
    with none of them is a single-column file and ',' is as good as any.
    """
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


def unique_column_names(raw: list[Any]) -> list[str]:
    """Header cells made usable as column names: stripped, never blank, never repeated."""
    names: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(raw, start=1):
        name = "" if cell is None else str(cell).strip()
        if not name or name.lower() == "nan" or name.startswith("Unnamed: "):
            name = f"column_{position}"
        candidate, k = name, 2
        while candidate in seen:
            candidate, k = f"{name}_{k}", k + 1
        seen.add(candidate)
        names.append(candidate)
    return names


# --------------------------------------------------------------------------- reading


def read_table(
    path: str | os.PathLike[str],
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> tuple[datasets.Dataset, TableInfo]:
    """Read a data file into a Dataset whose columns are all strings.

    `encoding` and `delimiter` override detection for delimited text files.
    Raises DataError (with a hint) for a missing, empty, unsupported or unparseable file.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(
            f"The file '{file}' was not found.",
            hint="Check the file name and folder, or pick the file again.",
        )
    fmt = _FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise DataError(
            f"'{file.name}' is not a supported file type.",
            hint=f"Save it as one of: {', '.join(SUPPORTED_EXTENSIONS)} (CSV or Excel are easiest).",
        )
    if file.stat().st_size == 0:
        raise DataError(f"The file '{file.name}' is empty.", hint="Choose a file with a header row and data rows.")

    if fmt in _DELIMITED:
        ds, info = _read_delimited(file, fmt, encoding=encoding, delimiter=delimiter)
    elif fmt == "excel":
        ds, info = _read_excel(file)
    else:
        ds, info = _read_arrow_format(file, fmt)

    if ds.num_rows == 0:
        raise _header_only(file)
    trim_table_cache(ds)
    return ds, info


# The Arrow copies of uploaded tables: at most this much, least recently used first; copies read within the
# last day always stay (a training job started from one may still be reading it and writing beside it).
TABLE_CACHE_BUDGET_BYTES = 2 * 1024**3
TABLE_CACHE_KEEP_S = 24 * 3600
_CACHE_BUILDERS = ("csv", "json", "parquet")  # the datasets builders read_table uses, one folder each


def table_cache_folder(ds: datasets.Dataset) -> Path | None:
    """The folder of ``ds``'s Arrow copy in the cache, ``datasets/<builder>/<one file's copy>``; None if in memory."""
    root = (cache_dir() / "datasets").resolve()
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
    with file.open("rb") as handle:
        raw_sample = handle.read(_SAMPLE_BYTES)
    encoding = encoding or detect_encoding(raw_sample)
    sample = _decode_sample(raw_sample, encoding, file)
    if not sample.strip():
        raise DataError(f"The file '{file.name}' is empty.", hint="Choose a file with a header row and data rows.")
    # Cut at the last full line so the sniffer does not see a half row.
    if len(raw_sample) == _SAMPLE_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    if delimiter is None:
        delimiter = "\t" if fmt == "tsv" else detect_delimiter(sample)
    records = csv.reader(sample.split("\n"), delimiter=delimiter)
    columns = unique_column_names(next(records, []))
    if not any(any(cell.strip() for cell in record) for record in records):
        raise _header_only(file)

    # Detection saw only the start of the file: a stray byte further down that is
    # not UTF-8 usually means Windows-1252, and Latin-1 accepts anything.
    fallbacks = [encoding] + [e for e in ("cp1252", "latin-1") if encoding == "utf-8"]
    for attempt, enc in enumerate(fallbacks):
        try:
            ds = _load_csv(file, enc, delimiter, columns)
            encoding = enc
            break
        except Exception as error:  # noqa: BLE001 - translated to a DataError below
            if _find_cause(error, UnicodeDecodeError) and attempt + 1 < len(fallbacks):
                continue
            raise _parse_error(file, delimiter, error) from error
    info = TableInfo(file, fmt, encoding, delimiter, ds.num_rows, list(ds.column_names))
    return ds, info


def _header_only(file: Path) -> DataError:
    return DataError(
        f"'{file.name}' has column names but no data rows.",
        hint="Add rows below the header (one text per row), or choose another file.",
    )


def _decode_sample(raw: bytes, encoding: str, file: Path) -> str:
    try:
        return codecs.getincrementaldecoder(encoding)().decode(raw, final=False).replace("\r\n", "\n")
    except LookupError as error:
        raise DataError(
            f"'{encoding}' is not a known text encoding.",
            hint="Leave the encoding empty to detect it, or use e.g. utf-8 or cp1252.",
        ) from error
    except UnicodeDecodeError as error:
        raise DataError(
            f"'{file.name}' cannot be read as {encoding} text.",
            hint="Leave the encoding empty to detect it automatically.",
        ) from error


def _load_csv(file: Path, encoding: str, delimiter: str, columns: list[str]) -> datasets.Dataset:
    import datasets

    features = datasets.Features({name: datasets.Value("string") for name in columns})
    return datasets.load_dataset(
        "csv",
        data_files=str(file),
        split="train",
        cache_dir=str(cache_dir() / "datasets"),
        delimiter=delimiter,
        encoding=encoding,
        # Our own cleaned names replace the header row; every column is read as text.
        column_names=columns,
        header=0,
        features=features,
        # "NA", "null", "None" are ordinary words in a text column, not missing values.
        keep_default_na=False,
        chunksize=100_000,
    )


def _find_cause(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of `kind` in the chain (datasets wraps the real cause)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _parse_error(file: Path, delimiter: str, error: BaseException) -> DataError:
    """A plain-language DataError for a file the parser rejected."""
    root = error
    while root.__cause__ or root.__context__:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    detail = str(root).strip()
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", detail)
    sep_name = _DELIMITER_LABELS.get(delimiter, f"'{delimiter}'").replace("-separated", "")
    if match:
        expected, line, saw = match.groups()
        return DataError(
            f"Line {line} of '{file.name}' has {saw} values but the header has {expected} columns.",
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
    """JSON lines / JSON / Parquet through datasets' own builders."""
    import datasets

    builder = "parquet" if fmt == "parquet" else "json"
    try:
        ds = datasets.load_dataset(
            builder, data_files=str(file), split="train", cache_dir=str(cache_dir() / "datasets")
        )
    except Exception as error:  # noqa: BLE001 - translated to a DataError
        raise _parse_error(file, ",", error) from error
    ds = _columns_as_strings(ds)
    return ds, TableInfo(file, fmt, None, None, ds.num_rows, list(ds.column_names))


def _columns_as_strings(ds: datasets.Dataset) -> datasets.Dataset:
    """Every column as text: numbers via Arrow casts, anything else (mixed/nested) via str()/JSON."""
    import datasets

    # Primitive columns (numbers, booleans, all-empty) cast cheaply in Arrow; columns
    # with mixed or nested values are written out one value at a time.
    castable = {n for n, f in ds.features.items() if isinstance(f, datasets.Value) and f.dtype != "string"}
    mixed = {n for n, f in ds.features.items() if not isinstance(f, datasets.Value)}
    if castable:
        ds = ds.cast(
            datasets.Features({n: datasets.Value("string") if n in castable else f for n, f in ds.features.items()})
        )
    if mixed:
        target = datasets.Features({n: datasets.Value("string") if n in mixed else f for n, f in ds.features.items()})
        ds = ds.map(
            lambda batch: {n: [_to_text(v) for v in batch[n]] for n in mixed},
            batched=True,
            features=target,
            desc="Converting columns to text",
        )
    return ds


def _to_text(value: Any) -> str | None:
    import json

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _read_excel(file: Path) -> tuple[datasets.Dataset, TableInfo]:
    """The first sheet of a workbook; Excel files fit in memory, so pandas reads them."""
    import datasets
    import pandas as pd

    try:
        workbook = pd.ExcelFile(file)
        sheet = str(workbook.sheet_names[0])
        frame = workbook.parse(sheet, header=None, dtype=object)
    except ImportError as error:
        raise DataError(
            f"Old-style Excel files (.xls) like '{file.name}' cannot be read here.",
            hint="Open it in Excel or LibreOffice and save it as .xlsx or CSV.",
        ) from error
    except Exception as error:  # noqa: BLE001 - translated to a DataError
        raise DataError(
            f"'{file.name}' could not be read as an Excel workbook ({error}).",
            hint="Open it in Excel or LibreOffice and save it again as .xlsx or CSV.",
        ) from error

    # Spreadsheets often carry fully empty rows/columns (formatting left behind).
    frame = frame.dropna(how="all").dropna(axis=1, how="all")
    if frame.empty:
        raise DataError(
            f"The first sheet ('{sheet}') of '{file.name}' is empty.",
            hint="Put your data on the first sheet: a header row, then one text per row.",
        )
    columns = unique_column_names(list(frame.iloc[0]))
    body = frame.iloc[1:]
    data = {name: [_excel_cell_text(v) for v in body[col]] for name, col in zip(columns, body.columns)}
    features = datasets.Features({name: datasets.Value("string") for name in columns})
    ds = datasets.Dataset.from_dict(data, features=features)
    notes = []
    if len(workbook.sheet_names) > 1:
        notes.append(f"Only the first sheet ('{sheet}') was read; the workbook has {len(workbook.sheet_names)}.")
    info = TableInfo(file, "excel", None, None, ds.num_rows, columns, sheet=sheet, notes=notes)
    return ds, info


def _excel_cell_text(value: Any) -> str | None:
    """A cell as text; Excel stores 1 as 1.0, so whole floats are written without '.0'."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
