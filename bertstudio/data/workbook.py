"""Workbooks: the sheet that holds the table, read with the same header rules as a CSV file.

Excel files fit in memory, so pandas reads every sheet whole; training and predict both read a workbook here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bertstudio.data.findings import Finding, count_noun
from bertstudio.data.table_start import (
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


def read_sheet(file: Path) -> Sheet:
    """The table of a workbook: the first sheet that looks like one, else the fullest (DataError: none).

    Workbooks often open with a notes, legend or summary sheet; reading only the first sheet refused such a
    file ("could not tell which column holds the labels") although the data was one tab away. Every sheet is
    parsed to choose, so the result is remembered while the file is unchanged (same path, size and modification
    time), as ``io.check_delimited`` is: the app reads the file again at every change of column.
    """
    stat = file.stat()
    sheet = _read_sheet(str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    return replace(sheet, findings=list(sheet.findings))  # the caller's list: the remembered one stays as it was


@functools.lru_cache(maxsize=4)
def _read_sheet(path: str, size: int, mtime_ns: int) -> Sheet:
    import pandas as pd

    file = Path(path)

    try:
        with pd.ExcelFile(file) as workbook:
            sheets = {str(name): _drop_empty(workbook.parse(name, header=None, dtype=object))
                      for name in workbook.sheet_names}
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
    name, why = _table_sheet(sheets)
    frame = sheets[name]
    if frame.empty:
        raise DataError(
            f"Every sheet of '{file.name}' is empty." if len(sheets) > 1 else
            f"The sheet ('{name}') of '{file.name}' is empty.",
            hint="Put your data on a sheet: a header row, then one text per row.",
        )
    first_rows = [[_excel_cell_text(v) for v in row] for row in frame.iloc[:SCAN_ROWS].itertuples(index=False)]
    titles, has_header = rows_start(first_rows)
    frame = _drop_empty(frame.iloc[titles:]) if titles else frame
    header = list(frame.iloc[0]) if has_header else headerless_names(frame.shape[1])
    columns = unique_column_names(header)
    body = frame.iloc[1:] if has_header else frame
    repeats = _header_repeats(body, header) if has_header else []
    body = body.drop(index=[body.index[i] for i in repeats])
    rows = {column: [_excel_cell_text(v) for v in body[col]] for column, col in zip(columns, body.columns)}
    findings = duplicate_header_findings(header, columns)
    if repeats:
        findings.append(header_repeats_finding(file, len(repeats), f"on the sheet '{name}'"))
    findings += header_findings(file, has_header, columns, first_rows)
    if titles:
        start = TableStart(titles, titles, titles, columns, first_filled(first_rows[0]))
        findings.append(title_finding(file, start, "row"))
    if len(sheets) > 1:
        findings.append(_sheet_choice(name, why, sheets))
    return Sheet(name, columns, rows, findings)


def _header_repeats(body: Any, header: list[Any]) -> list[int]:
    """Positions of the rows of ``body`` that repeat the header cell for cell (sheets pasted one below the other)."""
    names = [_excel_cell_text(v) for v in header]
    return [i for i, row in enumerate(body.itertuples(index=False)) if [_excel_cell_text(v) for v in row] == names]


def _drop_empty(frame: Any) -> Any:
    # Spreadsheets often carry fully empty rows/columns (formatting left behind).
    return frame.dropna(how="all").dropna(axis=1, how="all")


def _table_sheet(sheets: dict[str, Any]) -> tuple[str, str]:
    """The sheet to read and why, completing "Read the sheet 'x' ..."."""
    for position, (name, frame) in enumerate(sheets.items()):
        rows, columns = frame.shape
        if columns >= _TABLE_MIN_COLUMNS and rows - 1 >= _TABLE_MIN_ROWS:
            return name, ("(the first)" if position == 0 else
                          f"(the first with at least {_TABLE_MIN_COLUMNS} columns and {_TABLE_MIN_ROWS} rows)")
    name = max(sheets, key=lambda n: int(sheets[n].count().sum()))  # the first of the fullest on a tie
    return name, f"(the fullest: no sheet has {_TABLE_MIN_COLUMNS} columns and {_TABLE_MIN_ROWS} rows)"


def _sheet_choice(name: str, why: str, sheets: dict[str, Any]) -> Finding:
    others = [f"'{other}' ({count_noun(max(len(frame) - 1, 0), 'row')})"
              for other, frame in sheets.items() if other != name]
    return Finding("info", "sheet_choice",
                   f"Read the sheet '{name}' {why}; the workbook also has {', '.join(others)}.",
                   hint="If your data is on another sheet, move it to the first sheet or save that sheet as CSV.")


def _excel_cell_text(value: Any) -> str | None:
    """A cell as text; Excel stores 1 as 1.0, so whole floats are written without '.0'."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
