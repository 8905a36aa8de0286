"""A shared app's row limit, told from the start of a file: ``rows_past_limit`` reads a table only up to the row
past the limit (a Parquet file's footer states its rows), so a million-row file is refused in a second instead of
after reading all of it (73 s for a workbook, while other visitors' uploads waited)."""

from __future__ import annotations

import json
import zipfile

import pytest
from helpers import write_rows

from bertstudio.data import json_table
from bertstudio.data.io import MAX_FIELD_CHARS, RowsPast, read_table, rows_past_limit
from bertstudio.errors import DataError

LIMIT = 10
PAST = RowsPast(LIMIT + 1, exact=False)


def _rows(n: int) -> list[list[str]]:
    return [[f"message number {i} about {'ab'[i % 2]}", "ab"[i % 2]] for i in range(n)]


def _records(n: int) -> list[dict[str, str]]:
    return [{"text": text, "label": label} for text, label in _rows(n)]


def test_a_csv_past_the_limit_is_told_without_reading_the_rest(tmp_path):
    """The rows after the one past the limit are never read: a value there too long to read does not matter."""
    path = write_rows(tmp_path / "big.csv", ["text", "label"], _rows(LIMIT + 2))
    with path.open("a", encoding="utf-8") as handle:
        handle.write("x" * (MAX_FIELD_CHARS + 10) + ",a\n")
    with pytest.raises(DataError, match="more than 1,000,000 characters"):
        read_table(path)  # reading it whole stops there
    assert rows_past_limit(path, LIMIT) == PAST


def test_a_csv_counts_the_rows_reading_keeps(tmp_path):
    """A title, the header, blank lines and the empty rows spreadsheets save below a table are no data rows."""
    path = tmp_path / "report.csv"
    lines = ["Support tickets, March export", "", "text,label", *(f"{t},{y}" for t, y in _rows(LIMIT)), "",
             *[","] * 30, "text,label"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert rows_past_limit(path, LIMIT) is None
    assert read_table(path)[0].num_rows == LIMIT
    assert rows_past_limit(path, LIMIT - 1) == RowsPast(LIMIT, exact=False)


def test_a_workbook_sheet_past_the_limit_is_told_without_reading_the_rest(tmp_path):
    """Rows are counted in the sheet's XML as it is read: a sheet cut off after them (unreadable) does not matter."""
    from openpyxl import Workbook

    whole = tmp_path / "whole.xlsx"
    book = Workbook(write_only=True)
    book.create_sheet("Notes").append(["Read the other sheet"])
    data = book.create_sheet("Data")
    for row in [["text", "label"], *_rows(60)]:
        data.append(row)
    book.save(whole)
    cut = tmp_path / "cut.xlsx"
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(cut, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "xl/worksheets/sheet2.xml":
                content = content[:content.index(b'<row r="40"')]  # the rest of the sheet is lost
            target.writestr(item, content)
    with pytest.raises(DataError):
        read_table(cut)
    assert rows_past_limit(cut, LIMIT) == PAST
    assert rows_past_limit(whole, 60) is None


def test_a_workbook_counts_rows_with_values_only(tmp_path):
    """Rows of formatting alone (Excel keeps them) hold no data; the header and a title above it are allowed."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    path = tmp_path / "styled.xlsx"
    book = Workbook()
    sheet = book.active
    for row in [["Support tickets, March"], ["text", "label"], *_rows(LIMIT)]:
        sheet.append(row)
    for number in range(20, 80):
        sheet.cell(row=number, column=1).font = Font(bold=True)
    book.save(path)
    assert rows_past_limit(path, LIMIT) is None


def test_an_old_xls_sheet_past_the_limit_is_told(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook()
    sheet = book.add_sheet("Data")
    for number, row in enumerate([["text", "label"], *_rows(30)]):
        for column, value in enumerate(row):
            sheet.write(number, column, value)
    book.save(str(tmp_path / "old.xls"))
    assert rows_past_limit(tmp_path / "old.xls", LIMIT) == PAST
    assert rows_past_limit(tmp_path / "old.xls", 30) is None


def test_json_lines_and_lists_of_rows_are_counted_up_to_the_row_past_the_limit(tmp_path, monkeypatch):
    lines = tmp_path / "rows.jsonl"
    lines.write_text("\n\n".join(json.dumps(row) for row in _records(LIMIT + 5)) + "\n", encoding="utf-8")
    assert rows_past_limit(lines, LIMIT) == PAST
    assert rows_past_limit(lines, LIMIT + 5) is None
    listed = tmp_path / "rows.json"
    listed.write_text(json.dumps(_records(LIMIT + 5), indent=2), encoding="utf-8")
    assert rows_past_limit(listed, LIMIT) == PAST
    assert rows_past_limit(listed, LIMIT + 5) is None
    monkeypatch.setattr(json_table, "_PEEK_CHARS", 7)  # rows cut where each piece of text read ends
    assert rows_past_limit(listed, LIMIT + 4) == RowsPast(LIMIT + 5, exact=False)
    assert rows_past_limit(listed, LIMIT + 5) is None


def test_parquet_and_a_json_object_state_their_rows(tmp_path):
    import pandas as pd

    frame = pd.DataFrame(_records(LIMIT + 5))
    frame.to_parquet(tmp_path / "rows.parquet")
    frame.to_json(tmp_path / "columns.json")  # pandas' default: one object per column
    for name in ("rows.parquet", "columns.json"):
        assert rows_past_limit(tmp_path / name, LIMIT) == RowsPast(LIMIT + 5, exact=True)
        assert rows_past_limit(tmp_path / name, LIMIT + 5) is None


def test_what_is_no_table_is_left_to_reading_to_refuse(tmp_path):
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("data.csv", "text,label\n" * 50)
    (tmp_path / "rows.json").write_text("[[1, 2], [3, 4]]", encoding="utf-8")
    for path in (archive, tmp_path / "rows.json", tmp_path / "missing.csv"):
        assert rows_past_limit(path, LIMIT) is None

