"""Unusual files a tester pushed through the CLI (title rows written by Excel, workbooks with a legend sheet,
password-protected and old-style workbooks, formulas without results, JSON keys in two spellings, objects in a
text column, dates as labels): each read the way the person meant, or refused saying what to do."""

from __future__ import annotations

import datetime
import json

import pandas as pd
import pytest
from openpyxl import Workbook

from helpers import write_workbook

from bertstudio.config import make_config
from bertstudio.data.findings import Finding
from bertstudio.data.inspect import read_and_prepare
from bertstudio.data.io import read_table
from bertstudio.data.sniff import content_kind
from bertstudio.data.workbook import SheetSize, read_sheet, workbook_sheets
from bertstudio.errors import DataError
from bertstudio.predict.files import iter_table_chunks, open_table

LABELS = ("good", "bad", "meh")


def _rows(n: int = 30) -> list[tuple[str, str]]:
    return [(f"Customer comment number {i} about the order.", LABELS[i % 3]) for i in range(n)]


def _csv(rows) -> str:
    return "text,label\n" + "".join(f"{text},{label}\n" for text, label in rows)


@pytest.mark.parametrize("above", ["Customer feedback export - March 2024,\n,\n", "Title\n,\n", ",\n"])
def test_title_then_empty_cells_row_reads_header_once_in_training_and_predict(tmp_path, above):
    path = tmp_path / "export.csv"
    path.write_text(above + _csv(_rows()), encoding="utf-8")
    ds, _ = read_table(path)
    assert ds.column_names == ["text", "label"] and ds.num_rows == 30
    assert "label" not in set(ds["label"])  # the header is not an example of a class called 'label'
    chunk = next(iter_table_chunks(path, None, 100))  # predict reads the same columns and rows
    assert list(chunk.columns) == ["text", "label"] and len(chunk) == 30
    assert chunk.iloc[0].to_dict() == ds[0]


LEGEND = [("label", "description"), *((f"code{i}", f"What code {i} means") for i in range(12))]
ARCHIVE = [("text", "label"), *((text, "old") for text, _ in _rows(20))]


@pytest.mark.parametrize("first", [LEGEND, ARCHIVE])
def test_workbook_sheet_without_classes_in_front_is_passed_over_with_a_note(tmp_path, first):
    path = tmp_path / "book.xlsx"
    write_workbook(path, {"Front": first, "Data": [("text", "label"), *_rows()]})
    sheet = read_sheet(path)
    assert sheet.name == "Data"
    note = next(f for f in sheet.findings if f.code == "sheet_choice")
    assert "'Front' has no such column" in note.message and "--sheet" in note.hint


def test_sheet_named_is_read_and_an_unknown_name_lists_the_sheets(tmp_path):
    path = tmp_path / "book.xlsx"
    write_workbook(path, {"Front": LEGEND, "Data": [("text", "label"), *_rows()]})
    assert read_sheet(path, "front").name == "Front"  # upper/lower case aside
    _, table = read_table(path, sheet="Front")
    assert table.sheet == "Front" and table.n_rows == 12
    assert open_table(path, "Front").sheet == "Front"
    with pytest.raises(DataError, match="no sheet named 'Nope'") as refused:
        read_sheet(path, "Nope")
    assert "'Front', 'Data'" in refused.value.hint


def test_the_sheets_are_listed_from_the_index_with_their_sizes(tmp_path):
    """The app's Sheet picker lists them without reading the cells: an .xlsx states each sheet's rows, an .xls
    gives the names alone, and a file that is no workbook has none."""
    book = write_workbook(tmp_path / "book.xlsx", {"Front": LEGEND, "Data": [("text", "label"), *_rows()]})
    assert workbook_sheets(book) == [SheetSize("Front", 12), SheetSize("Data", 30)]
    misnamed = tmp_path / "book.csv"  # a workbook saved under a CSV name is still listed
    misnamed.write_bytes(book.read_bytes())
    assert [sheet.name for sheet in workbook_sheets(misnamed)] == ["Front", "Data"]
    text = tmp_path / "data.csv"
    text.write_text(_csv(_rows()), encoding="utf-8")
    assert workbook_sheets(text) == []
    xlwt = pytest.importorskip("xlwt")
    old = xlwt.Workbook()
    for name in ("Front", "Data"):
        old.add_sheet(name).write(0, 0, "text")
    old.save(str(tmp_path / "old.xls"))
    assert workbook_sheets(tmp_path / "old.xls") == [SheetSize("Front"), SheetSize("Data")]


def test_a_chosen_empty_sheet_is_named_as_such(tmp_path):
    empty = [()]  # no header, no rows
    book = write_workbook(tmp_path / "book.xlsx", {"Data": [("text", "label"), *_rows()], "Notes": empty})
    with pytest.raises(DataError, match="The sheet 'Notes' of 'book.xlsx' is empty"):
        read_sheet(book, "Notes")


def test_sheet_is_a_flag_of_train_inspect_and_predict():
    from bertstudio.cli import build_parser

    parser = build_parser()
    for command in (["train", "d.xlsx"], ["inspect", "d.xlsx"], ["predict", "run", "--data", "d.xlsx", "--out", "p"]):
        assert parser.parse_args([*command, "--sheet", "Data"]).sheet == "Data"
    assert make_config(data="d.xlsx", sheet="Data").sheet == "Data"


def test_validation_file_without_the_text_column_is_named_as_such(tmp_path):
    train, val = tmp_path / "train.csv", tmp_path / "val.csv"
    train.write_text(_csv(_rows()), encoding="utf-8")
    val.write_text("review,sentiment\n" + "".join(f"{t},{lab}\n" for t, lab in _rows(9)), encoding="utf-8")
    _, columns, _ = read_and_prepare(str(train))
    with pytest.raises(DataError, match="The validation file 'val.csv' has no column 'text'") as refused:
        read_and_prepare(str(val), text_column=columns.text, label_column=columns.label, role="validation file")
    assert "review, sentiment" in refused.value.hint


def _cfb(names: list[str]) -> bytes:
    """An OLE2 container's first bytes: the signature, a 512-byte header, then directory entries of 128 bytes."""
    entries = b"".join((name.encode("utf-16-le") + b"\x00\x00").ljust(128, b"\x00") for name in names)
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".ljust(512, b"\x00") + entries + b"\x00" * 1024


def test_password_protected_xlsx_is_named_as_such(tmp_path):
    path = tmp_path / "locked.xlsx"
    path.write_bytes(_cfb(["Root Entry", "EncryptionInfo", "EncryptedPackage"]))
    with pytest.raises(DataError, match="password-protected") as refused:
        read_table(path)
    assert "remove the password" in refused.value.hint
    plain = tmp_path / "old.xls"  # an .xls whose cell holds the words, not at an entry's start: not encrypted
    plain.write_bytes(_cfb(["Root Entry", "Workbook"]) + b"x" + "EncryptedPackage".encode("utf-16-le"))
    assert content_kind(plain) == "excel"


def test_old_style_xls_is_read(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook()
    sheet = book.add_sheet("Data")
    for r, row in enumerate([("text", "label"), *_rows(12)]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    path = tmp_path / "old.xls"
    book.save(str(path))
    ds, table = read_table(path)
    assert table.sheet == "Data" and ds.num_rows == 12 and ds[0]["label"] == "good"


def test_formulas_without_saved_results_are_named_not_called_empty(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["text", "score", "label"])
    for i, (text, _) in enumerate(_rows(), start=2):
        sheet.append([text, i % 5, f'=IF(B{i}>=3,"good","bad")'])
    path = tmp_path / "formulas.xlsx"
    book.save(path)
    _, _, prepared = read_and_prepare(str(path))
    first = prepared.report.errors[0]
    assert first.code == "unsaved_formulas" and "'label'" in first.message and "save it again" in first.hint


def test_dates_at_midnight_read_as_dates_in_workbooks_and_parquet(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["text", "label"])
    for i, (text, _) in enumerate(_rows()):
        sheet.append([text, datetime.date(2024, 1 + i % 3, 1)])
    path = tmp_path / "dates.xlsx"
    book.save(path)
    assert set(read_table(path)[0]["label"]) == {"2024-01-01", "2024-02-01", "2024-03-01"}
    frame = pd.DataFrame({"text": [t for t, _ in _rows()], "label": pd.to_datetime(["2024-01-01"] * 30)})
    frame.to_parquet(tmp_path / "dates.parquet")
    assert set(read_table(tmp_path / "dates.parquet")[0]["label"]) == {"2024-01-01"}


def test_json_keys_differing_in_case_are_read_as_one_column(tmp_path):
    path = tmp_path / "keys.jsonl"
    lines = [{"Text" if i % 10 == 0 else "text": text, "label": label} for i, (text, label) in enumerate(_rows())]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    ds, table = read_table(path)
    assert sorted(table.columns) == ["label", "text"] and None not in ds["text"]
    assert any(f.code == "case_variant_columns" and "'Text'" in f.message for f in table.findings)


def test_column_of_objects_gets_a_note_and_its_one_text_field_is_read(tmp_path):
    path = tmp_path / "nested.jsonl"
    rows = [{"text": {"body": text, "lang": "en"}, "label": label} for text, label in _rows()]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    table = read_table(path)[1]
    assert any(f.code == "object_column" and "body, lang" in f.message for f in table.findings)
    frame = pd.DataFrame({"text": [{"body": t, "n": 1} for t, _ in _rows()], "label": [lab for _, lab in _rows()]})
    frame.to_parquet(tmp_path / "struct.parquet")
    ds, _ = read_table(tmp_path / "struct.parquet")
    assert ds[0]["text"] == _rows()[0][0]


def test_empty_cell_rows_are_left_out_while_reading_and_said_once(tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_text(_csv(_rows()) + ",\n" * 50, encoding="utf-8")
    table, _, prepared = read_and_prepare(str(path))
    assert table.n_rows == 30 and prepared.report.n_rows_in == 30
    assert [f.count for f in table.findings if f.code == "blank_rows"] == [50]


def test_header_with_a_line_break_is_one_line_and_examples_end_with_one_stop(tmp_path):
    path = tmp_path / "wrapped.csv"
    path.write_text('"Customer\ncomment",label\n' + "".join(f"{t},{lab}\n" for t, lab in _rows()), encoding="utf-8")
    assert read_table(path)[0].column_names == ["Customer comment", "label"]
    assert Finding("warning", "x", "Repeated.", examples=["Same text."]).to_text().endswith("Examples: Same text.")
