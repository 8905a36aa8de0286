"""Workbooks: the sheet that holds the table, read with the same header rules as a CSV file.

Excel files fit in memory, so pandas reads every sheet whole; training and predict both read a workbook here.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import itertools
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bertstudio.data.columns import SAMPLE_ROWS, has_class_labels, profile_column
from bertstudio.data.findings import Finding, count_noun
from bertstudio.data.table_start import (
    MAX_ROWS_ABOVE_DATA,
    SCAN_ROWS,
    TableStart,
    duplicate_header_findings,
    first_filled,
    header_findings,
    header_repeats_finding,
    headerless_names,
    rows_start,
    title_finding,
    unique_column_names,
)
from bertstudio.errors import DataError

# A sheet holds the table when it has a text and a label column and more rows than a summary or a legend.
_TABLE_MIN_COLUMNS = 2
_TABLE_MIN_ROWS = 10


@dataclass
class Sheet:
    """The sheet of a workbook that holds the table: its header and rows, cells as text (None: empty)."""

    name: str
    columns: list[str]
    rows: dict[str, list[str | None]]  # column name -> cells
    findings: list[Finding]
    # column name -> its cells that hold a formula whose result was never saved (they read as empty)
    unsaved_formulas: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SheetSize:
    """A sheet as the workbook's index lists it: its name, and its rows below the first filled one (None: the
    workbook does not say)."""

    name: str
    rows: int | None = None


def workbook_sheets(file: Path) -> list[SheetSize]:
    """The sheets of a workbook in their order, with their sizes where the workbook states them; empty when the
    index cannot be read (the workbook itself is then refused by ``read_sheet``, which says why).

    Only the index is read, never the cells: the app lists the sheets each time it reads a workbook, and an .xlsx
    states each sheet's used range before its cells. An old .xls gives the names alone (its sizes are known only
    once a sheet is loaded).
    """
    try:
        return _xlsx_sheets(file) if zipfile.is_zipfile(file) else _xls_sheets(file)
    except Exception:  # noqa: BLE001 - a damaged index: no list, and reading the file says what is wrong
        return []


def _xlsx_sheets(file: Path) -> list[SheetSize]:
    with _xlsx_sheet_parts(file) as (archive, parts):
        return [SheetSize(name, _stated_rows(archive, part)) for name, part in parts]


@contextlib.contextmanager
def _xlsx_sheet_parts(file: Path) -> Iterator[tuple[zipfile.ZipFile, list[tuple[str, str]]]]:
    """The workbook's archive and its sheets as (name, part in the archive), in their order, as pandas lists them.

    openpyxl finds the workbook part and its sheets; its own loading would read every text (shared strings).
    Opened as a file object: openpyxl refuses a name it does not know (a workbook saved as "data.csv").
    """
    from openpyxl.reader.excel import ExcelReader

    with file.open("rb") as handle:
        reader = ExcelReader(handle, read_only=True)
        try:
            reader.read_manifest()
            reader.read_workbook()
            yield reader.archive, [(sheet.name, rel.target) for sheet, rel in reader.parser.find_sheets()
                                   if rel.target in reader.valid_files and "chartsheet" not in rel.Type]
        finally:
            reader.archive.close()


def _stated_rows(archive: zipfile.ZipFile, part: str) -> int | None:
    """The rows below the first of a sheet's used range (``<dimension ref="A1:C31">``: 30), which comes before
    its cells; None when the sheet states none."""
    from xml.etree.ElementTree import iterparse

    from openpyxl.utils.cell import range_boundaries

    with archive.open(part) as source:
        for _, element in iterparse(source, events=("start",)):
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "dimension":
                _, first, _, last = range_boundaries(element.get("ref", ""))
                return last - first if first is not None and last is not None else None
            if tag == "sheetData":  # the cells begin: no size stated
                return None
    return None


def _xls_sheets(file: Path) -> list[SheetSize]:
    import xlrd

    book = xlrd.open_workbook(str(file), on_demand=True)  # on demand: no sheet is loaded
    try:
        return [SheetSize(name) for name in book.sheet_names()]
    finally:
        book.release_resources()


def sheet_past_rows(file: Path, limit: int) -> bool:
    """Whether a sheet of the workbook holds more than ``limit`` data rows, each sheet read only up to the row
    past them (a DataError, or a parser's error, for a workbook that cannot be read).

    ``read_sheet`` parses every sheet whole to choose the table: a shared app's row limit refused a workbook of a
    million rows only after 73 s of that, other visitors' files waiting behind it. The rows that hold a value are
    counted, less the few a table may have above its data (titles, the header): at worst a sheet just past the
    limit is read whole and refused by the rows training would use.
    """
    stop_at = limit + MAX_ROWS_ABOVE_DATA + 1
    if zipfile.is_zipfile(file):
        with _xlsx_sheet_parts(file) as (archive, parts):
            return any(_filled_xlsx_rows(archive, part, stop_at) >= stop_at for _, part in parts)
    return _xls_sheet_past_rows(file, stop_at)


def _filled_xlsx_rows(archive: zipfile.ZipFile, part: str, stop_at: int) -> int:
    """The rows of a sheet that hold a value, counted up to ``stop_at``: its XML parsed a piece at a time and
    nothing of it kept, the texts (in the shared strings) never looked up."""
    from xml.parsers import expat

    counter = _FilledRows()
    parser = expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler = counter.start, counter.end
    parser.CharacterDataHandler = counter.text
    with archive.open(part) as source:
        while counter.rows < stop_at and (piece := source.read(_XML_PIECE)):
            parser.Parse(piece, False)
    return counter.rows


_XML_PIECE = 64 * 1024


class _FilledRows:
    """Counts the ``<row>`` elements of a sheet's XML that hold a value (``<v>``) or a text of their own (an inline
    string's ``<t>``); Excel keeps rows of formatting alone, and pandas leaves them out."""

    def __init__(self) -> None:
        self.rows = 0
        self._in_value = self._filled = False

    def start(self, name: str, _attributes: Any) -> None:
        self._in_value = _local(name) in ("v", "t")

    def text(self, data: str) -> None:
        self._filled = self._filled or (self._in_value and bool(data))

    def end(self, name: str) -> None:
        self._in_value = False
        if _local(name) == "row":
            self.rows += self._filled
            self._filled = False


def _local(name: str) -> str:
    """A tag without its namespace prefix ("x:row": "row")."""
    return name.rsplit(":", 1)[-1]


def _xls_sheet_past_rows(file: Path, stop_at: int) -> bool:
    """The same for an old .xls, one sheet loaded at a time (at most 65,536 rows each, the format's own limit)."""
    import xlrd

    empty = (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK)
    book = xlrd.open_workbook(str(file), on_demand=True)
    try:
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            filled = (row for row in range(sheet.nrows) if any(kind not in empty for kind in sheet.row_types(row)))
            if sum(1 for _ in itertools.islice(filled, stop_at)) >= stop_at:
                return True
            book.unload_sheet(index)
        return False
    finally:
        book.release_resources()


def read_sheet(file: Path, sheet: str | None = None) -> Sheet:
    """The table of a workbook: ``sheet`` when given, else the one ``_table_sheet`` chooses (DataError: none).

    Workbooks often open with a notes, legend or summary sheet; reading only the first sheet refused such a
    file ("could not tell which column holds the labels") although the data was one tab away. Every sheet is
    parsed to choose, so the result is remembered while the file is unchanged (same path, size and modification
    time), as ``io.check_delimited`` is: the app reads the file again at every change of column.
    """
    stat = file.stat()
    chosen = _read_sheet(str(file.resolve()), stat.st_size, stat.st_mtime_ns, sheet)
    return replace(chosen, findings=list(chosen.findings))  # the caller's list: the remembered one stays as it was


@functools.lru_cache(maxsize=4)
def _read_sheet(path: str, size: int, mtime_ns: int, sheet: str | None) -> Sheet:
    file = Path(path)
    frames = _parse_sheets(file)
    name = _given_sheet(file, sheet, frames) if sheet is not None else None
    tables = {other: _sheet_table(file, other, frame) for other, frame in frames.items()
              if not frame.empty and (name is None or other == name)}
    if not tables:
        raise DataError(
            f"The sheet '{name}' of '{file.name}' is empty." if name is not None else
            f"Every sheet of '{file.name}' is empty." if len(frames) > 1 else
            f"The sheet ('{next(iter(frames))}') of '{file.name}' is empty.",
            hint="Put your data on a sheet: a header row, then one text per row.",
        )
    if name is None:
        name, why = _table_sheet(tables)
    else:
        why = "(as asked)"
    chosen = tables[name]
    if chosen.unsaved_formulas:
        chosen = replace(chosen, unsaved_formulas=_formula_cells(file, name, frames[name], chosen))
    if len(frames) > 1:
        chosen.findings.append(_sheet_choice(name, why, frames))
    return chosen


def _parse_sheets(file: Path) -> dict[str, Any]:
    """Every sheet of the workbook as a frame of raw cells, without its fully empty rows and columns."""
    import pandas as pd

    try:
        with pd.ExcelFile(file) as workbook:
            return {str(name): _drop_empty(workbook.parse(name, header=None, dtype=object))
                    for name in workbook.sheet_names}
    except ImportError as error:  # xlrd (old .xls) is a dependency; this is a damaged installation
        raise DataError(
            f"Old-style Excel files (.xls) like '{file.name}' need the package xlrd, which is not installed.",
            hint="Install it (pip install xlrd), or open the file in Excel or LibreOffice and save it as .xlsx "
                 "or CSV.",
        ) from error
    except Exception as error:  # noqa: BLE001 - translated to a DataError
        raise DataError(
            f"'{file.name}' could not be read as an Excel workbook ({error}).",
            hint="Open it in Excel or LibreOffice and save it again as .xlsx or CSV.",
        ) from error


def _given_sheet(file: Path, sheet: str, frames: dict[str, Any]) -> str:
    """The sheet named ``sheet`` (upper/lower case aside when only one matches), else a DataError listing them."""
    if sheet in frames:
        return sheet
    alike = [name for name in frames if name.strip().casefold() == sheet.strip().casefold()]
    if len(alike) == 1:
        return alike[0]
    raise DataError(f"'{file.name}' has no sheet named '{sheet}'.",
                    hint=f"Its sheets are {_listed(frames)}: choose one of them (on the command line: --sheet).")


def _listed(names: Any) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _sheet_table(file: Path, name: str, frame: Any) -> Sheet:
    """One sheet read with the same header rules as a CSV file: title rows, no header, repeated headers."""
    first_rows = [[_excel_cell_text(v) for v in row] for row in frame.iloc[:SCAN_ROWS].itertuples(index=False)]
    titles, has_header = rows_start(first_rows)
    sheet, frame = frame, _drop_empty(frame.iloc[titles:]) if titles else frame
    header = list(frame.iloc[0]) if has_header else headerless_names(frame.shape[1])
    columns = unique_column_names(header)
    body = frame.iloc[1:] if has_header else frame
    repeats = _header_repeats(body, header) if has_header else []
    body = body.drop(index=[body.index[i] for i in repeats])
    rows = {column: _column_texts(body[col]) for column, col in zip(columns, body.columns)}
    findings = duplicate_header_findings(header, columns)
    if repeats:
        findings.append(header_repeats_finding(file, len(repeats), f"on the sheet '{name}'"))
    findings += header_findings(file, has_header, columns, first_rows)
    if titles:
        findings.append(title_finding(file, _sheet_start(titles, sheet, frame, columns, first_filled(first_rows[0])),
                                      "row"))
    # Columns that read empty below their name: formulas never calculated, or truly empty (told apart later,
    # for the chosen sheet only, as it reads the workbook again).
    empty = {column: 0 for column, cells in rows.items() if len(cells) and all(cell is None for cell in cells)}
    return Sheet(name, columns, rows, findings, empty)


def _sheet_start(titles: int, sheet: Any, table: Any, columns: list[str], title: str | None) -> TableStart:
    """Where the table of ``sheet`` starts below its title, in the sheet's own row numbers (``table``: the sheet
    from its header down). The frames keep those as their index, counted from 0, with the empty rows dropped:
    the note names the rows the spreadsheet shows, the empty ones among them."""
    header_row = int(table.index[0]) + 1
    return TableStart(titles, titles, header_row - 1, columns, title, title_line=int(sheet.index[0]) + 1)


def _formula_cells(file: Path, name: str, frame: Any, sheet: Sheet) -> dict[str, int]:
    """How many cells of each empty-looking column of ``sheet`` hold a formula (its result never saved).

    A workbook written by a script (openpyxl, pandas) stores formulas without their results; Excel and
    LibreOffice calculate and save them when the file is opened and saved. Read as values, such a label column
    was "empty" and the advice was to fill in labels the person could see in Excel.
    """
    from openpyxl import load_workbook

    positions = {column: position for column, position in zip(sheet.columns, frame.columns)
                 if column in sheet.unsaved_formulas}
    counts = dict.fromkeys(positions, 0)
    # Opened as a file object: openpyxl refuses a name it does not know (a workbook saved as "data.csv").
    with file.open("rb") as handle:
        try:
            workbook = load_workbook(handle, read_only=True, data_only=False)
        except Exception:  # noqa: BLE001 - an .xls, which openpyxl does not read: its formulas are never unsaved
            return {}
        try:
            for row in workbook[name].iter_rows(values_only=True):
                for column, position in positions.items():
                    cell = row[position] if position < len(row) else None
                    counts[column] += isinstance(cell, str) and cell.startswith("=")
        finally:
            workbook.close()
    return {column: n for column, n in counts.items() if n}


def _header_repeats(body: Any, header: list[Any]) -> list[int]:
    """Positions of the rows of ``body`` that repeat the header cell for cell (sheets pasted one below the other)."""
    names = [_excel_cell_text(v) for v in header]
    return [i for i, row in enumerate(body.itertuples(index=False)) if [_excel_cell_text(v) for v in row] == names]


def _drop_empty(frame: Any) -> Any:
    # Spreadsheets often carry fully empty rows/columns (formatting left behind).
    return frame.dropna(how="all").dropna(axis=1, how="all")


def _table_sheet(tables: dict[str, Sheet]) -> tuple[str, str]:
    """The sheet to read and why, completing "Read the sheet 'x' ...": the first table (two columns, ten rows)
    whose labels are classes, else the first table, else the fullest sheet.

    A legend (one row per code) or an archive (every row one label) in front of the data is a table too; read,
    it was refused for its labels, with advice about the label column that could not help.
    """
    shaped = [name for name, sheet in tables.items()
              if len(sheet.columns) >= _TABLE_MIN_COLUMNS and _n_rows(sheet) >= _TABLE_MIN_ROWS]
    labelled = [name for name in shaped if _has_classes(tables[name])]
    first = next(iter(tables))

    def first_table(name: str) -> str:
        return "(the first)" if name == first else \
            f"(the first with at least {_TABLE_MIN_COLUMNS} columns and {_TABLE_MIN_ROWS} rows)"

    if labelled:
        name = labelled[0]
        passed = shaped[:shaped.index(name)]  # tables in front of it whose labels are not classes
        if not passed:
            return name, first_table(name)
        return name, (f"(the first whose label column holds two classes or more, each on several rows; "
                      f"{_listed(passed)} {'has' if len(passed) == 1 else 'have'} no such column)")
    if shaped:
        return shaped[0], first_table(shaped[0])
    name = max(tables, key=lambda n: sum(cell is not None for cells in tables[n].rows.values() for cell in cells))
    return name, f"(the fullest: no sheet has {_TABLE_MIN_COLUMNS} columns and {_TABLE_MIN_ROWS} rows)"


def _n_rows(sheet: Sheet) -> int:
    return len(next(iter(sheet.rows.values()), []))


def _has_classes(sheet: Sheet) -> bool:
    return has_class_labels({name: profile_column(name, cells[:SAMPLE_ROWS]) for name, cells in sheet.rows.items()})


def unsaved_formulas_finding(file_name: str, column: str, count: int, *, chosen: bool) -> Finding:
    """Cells of ``column`` that hold formulas without saved results: an error when the column is used (its
    values cannot be read), a warning otherwise."""
    return Finding(
        "error" if chosen else "warning", "unsaved_formulas",
        f"{count_noun(count, 'cell')} of '{column}' in '{file_name}' "
        f"{'holds a formula' if count == 1 else 'hold formulas'} "
        "whose result was never saved (the file was written by a program, not saved by Excel), so "
        f"{'it reads' if count == 1 else 'they read'} as empty.",
        hint="Open the file in Excel or LibreOffice and save it again: that calculates the formulas and saves "
             "their results with them.", count=count)


def _sheet_choice(name: str, why: str, frames: dict[str, Any]) -> Finding:
    others = [f"'{other}' ({count_noun(max(len(frame) - 1, 0), 'row')})"
              for other, frame in frames.items() if other != name]
    return Finding("info", "sheet_choice",
                   f"Read the sheet '{name}' {why}; the workbook also has {', '.join(others)}.",
                   hint="If your data is on another sheet, choose it by its name (on the command line: --sheet "
                        "NAME).")


def _column_texts(cells: Any) -> list[str | None]:
    """A column's cells as text; dates whose times are all midnight as the date alone ("2024-01-01", not
    "2024-01-01 00:00:00": Excel stores a date as a date and time)."""
    values = list(cells)
    filled = [value for value in values if _excel_cell_text(value) is not None]
    if filled and all(isinstance(value, datetime.datetime) and value == _midnight(value) for value in filled):
        return [value.date().isoformat() if _excel_cell_text(value) is not None else None for value in values]
    return [_excel_cell_text(value) for value in values]


def _midnight(value: datetime.datetime) -> datetime.datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def _excel_cell_text(value: Any) -> str | None:
    """A cell as text; Excel stores 1 as 1.0, so whole floats are written without '.0'."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
