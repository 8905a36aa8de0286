"""Reading user tables: every format, encoding and delimiter, and the errors a user can hit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertstudio.cli import EXIT_USER_ERROR, main
from bertstudio.data.io import (
    SUPPORTED_EXTENSIONS,
    cache_dir,
    detect_delimiter,
    read_table,
)
from bertstudio.data.encoding import choose_encoding
from bertstudio.data.table_start import unique_column_names
from bertstudio.errors import DataError

ROWS = [("Great, fast service", "01"), ("NA", "2"), ("Broken on arrival", "2")]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTSTUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))


def _write_delimited(path: Path, sep: str, encoding: str = "utf-8", rows=ROWS) -> Path:
    lines = [f"text{sep}label"] + [f'"{t}"{sep}{label}' if sep in t else f"{t}{sep}{label}" for t, label in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _as_rows(ds) -> list[tuple[str, str]]:
    return list(zip(ds["text"], ds["label"]))


# --------------------------------------------------------------------------- delimited text


@pytest.mark.parametrize(
    ("name", "sep", "label"),
    [("data.csv", ",", "comma-separated"), ("data.tsv", "\t", "tab-separated"),
     ("semi.csv", ";", "semicolon-separated"), ("pipe.txt", "|", "pipe-separated")],
)
def test_delimited_round_trip(tmp_path: Path, name: str, sep: str, label: str) -> None:
    ds, info = read_table(_write_delimited(tmp_path / name, sep))
    assert _as_rows(ds) == ROWS  # "01" stays a string, "NA" stays a text
    assert info.delimiter == sep and info.n_rows == 3 and info.columns == ["text", "label"]
    assert label in info.describe()


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl"])
def test_reading_prints_no_library_progress_bar(tmp_path: Path, capfd, name: str) -> None:
    import datasets

    path = tmp_path / name
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab, *_ in ROWS))
    else:
        _write_delimited(path, ",")
    datasets.enable_progress_bars()
    read_table(path)
    assert "Generating" not in capfd.readouterr().err  # datasets' "Generating train split" bar
    assert datasets.is_progress_bar_enabled()  # left as the caller had it


def test_quoted_fields_with_commas_and_newlines(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(b'text,label\r\n"one, two\nthree",a\r\n"say ""hi""",b\r\n')
    ds, _ = read_table(path)
    assert ds["text"] == ["one, two\nthree", 'say "hi"']


def test_utf8_bom(tmp_path: Path) -> None:
    ds, info = read_table(_write_delimited(tmp_path / "bom.csv", ",", "utf-8-sig"))
    assert info.encoding == "utf-8-sig"
    assert ds.column_names == ["text", "label"]  # no BOM glued to the first column name
    assert info.describe() == "Read 3 rows from bom.csv (CSV, comma-separated, UTF-8 with BOM)."


FRENCH = [("Café trop cher: 30 €", "prix"), ("Le colis est arrivé en retard, très déçu", "livraison"),
          ("Service après-vente très réactif, merci", "ok")]


def test_cp1252_with_accents_and_euro_is_detected_and_shown(tmp_path: Path) -> None:
    ds, info = read_table(_write_delimited(tmp_path / "win.csv", ";", "cp1252", FRENCH))
    assert info.encoding == "cp1252" and info.encoding_detected
    assert _as_rows(ds) == FRENCH
    assert "Windows-1252 (Western European), detected" in info.describe()
    (shown,) = [f for f in info.findings if f.code == "detected_encoding"]
    assert shown.level == "warning" and "UTF-8" in shown.hint
    assert any("Café trop cher: 30 €" in line for line in shown.examples)


def test_utf16_tab_text_as_saved_by_excel(tmp_path: Path) -> None:
    ds, info = read_table(_write_delimited(tmp_path / "unicode.txt", "\t", "utf-16"))
    assert info.encoding == "utf-16" and info.delimiter == "\t"
    assert _as_rows(ds) == ROWS


def test_non_utf8_text_far_into_the_file_is_detected(tmp_path: Path) -> None:
    rows = [("plain ascii text " * 4, "a")] * 5_000 + FRENCH
    ds, info = read_table(_write_delimited(tmp_path / "late.csv", ";", "cp1252", rows))
    assert info.encoding == "cp1252"
    assert ds[-2]["text"] == FRENCH[-2][0]


def test_a_few_accented_letters_that_read_right_in_two_encodings_are_refused(tmp_path: Path) -> None:
    """'déjà' in Windows-1252 is 'déjŕ' in Windows-1250, and both are letters of some language: unsure."""
    rows = [("plain ascii text", "a")] * 50 + [("déjà vu", "b")]
    with pytest.raises(DataError, match="cannot be told for sure") as caught:
        read_table(_write_delimited(tmp_path / "late.csv", ",", "cp1252", rows))
    assert "déjà vu" in caught.value.message and "UTF-8" in caught.value.hint


def test_overrides_win_over_detection(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes("a;b\nx;y\n".encode("latin-1"))
    ds, info = read_table(path, encoding="latin-1", delimiter=",")
    assert info.encoding == "latin-1" and ds.column_names == ["a;b"]


def test_blank_and_repeated_header_names_are_made_usable(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("text,,text\nhello,1,again\n", encoding="utf-8")
    ds, _ = read_table(path)
    assert ds.column_names == ["text", "column_2", "text_2"]


# --------------------------------------------------------------------------- other formats


def test_jsonl_numbers_and_mixed_values_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    records = [{"text": "a", "label": 1, "score": 0.5}, {"text": "b", "label": "neg", "score": 2}]
    path.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    ds, info = read_table(path)
    assert info.format == "jsonl" and info.encoding is None
    assert ds["label"] == ["1", "neg"]
    assert all(isinstance(v, str) for v in ds["score"])


def test_json_array(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"text": "a", "label": 1}, {"text": "b", "label": 2}]), encoding="utf-8")
    ds, _ = read_table(path)
    assert _as_rows(ds) == [("a", "1"), ("b", "2")]


def test_parquet(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}).to_parquet(path)
    ds, info = read_table(path)
    assert info.format == "parquet" and "Parquet" in info.describe()
    assert _as_rows(ds) == [("a", "0"), ("b", "1")]


def test_xlsx_first_sheet_numbers_and_blank_rows(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "book.xlsx"
    frame = pd.DataFrame({"text": ["good", None, "bad", "01 stays"], "label": [1, None, 2.0, "01"]})
    with pd.ExcelWriter(path) as writer:
        frame.to_excel(writer, sheet_name="Feedback", index=False)
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="Other", index=False)
    ds, info = read_table(path)
    assert info.sheet == "Feedback" and [f.code for f in info.findings] == ["sheet_choice"]
    assert _as_rows(ds) == [("good", "1"), ("bad", "2"), ("01 stays", "01")]
    assert "Excel, sheet 'Feedback'" in info.describe()


def test_a_sheet_asked_of_a_file_without_sheets_is_said_not_used(tmp_path: Path, capsys) -> None:
    """`inspect file.csv --sheet Foo` read the CSV and said nothing of the sheet."""
    from bertstudio.predict.files import open_table

    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(20)))
    note = ("The sheet 'Foo' was not used: d.csv is not an Excel workbook, so it has no sheets; the whole file was "
            "read.")
    ds, info = read_table(path, sheet="Foo")
    assert ds.num_rows == 20 and [f.message for f in info.findings if f.code == "sheet_not_used"] == [note]
    assert [f.message for f in open_table(path, "Foo").notes if f.code == "sheet_not_used"] == [note]  # predict
    assert not [f for f in read_table(path)[1].findings if f.code == "sheet_not_used"]
    assert main(["inspect", str(path), "--sheet", "Foo"]) == 0
    assert f"INFO: {note}" in capsys.readouterr().out


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as caught:
        read_table(tmp_path / "nope.csv")
    assert caught.value.hint


def test_unsupported_extension_lists_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "notes.docx"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_table(path)
    assert all(ext in caught.value.hint for ext in SUPPORTED_EXTENSIONS)


def test_a_compressed_table_says_to_decompress_it_whatever_its_suffix(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "reviews.csv.gz"
    path.write_bytes(gzip.compress(b"text,label\ngood,pos\n"))
    with pytest.raises(DataError) as caught:
        read_table(path)
    assert "gzip-compressed" in caught.value.message and "Decompress it first" in caught.value.hint


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match="empty"):
        read_table(path)


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    path.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(DataError, match="no data rows"):
        read_table(path)


def _empty_table(path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"text": pd.Series([], dtype=str), "label": pd.Series([], dtype=str)})
    {".parquet": frame.to_parquet, ".xlsx": lambda p: frame.to_excel(p, index=False),
     ".json": lambda p: frame.to_json(p, orient="split")}[path.suffix](path)


@pytest.mark.parametrize("name", ["empty.parquet", "empty.xlsx", "empty.json"])
def test_a_table_with_column_names_and_no_rows_says_so_in_every_format(tmp_path: Path, capfd, caplog,
                                                                        name: str) -> None:
    """An empty Parquet file was "could not be read as a table (BatchSize must be greater than 0)", after a raw
    "Failed to read file ..." log line."""
    path = tmp_path / name
    _empty_table(path)
    with pytest.raises(DataError, match=f"'{name}' has column names but no data rows"):
        read_table(path)
    assert "Failed to read" not in capfd.readouterr().err + caplog.text


def test_a_damaged_parquet_file_is_refused_without_the_readers_log_line(tmp_path: Path, capfd, caplog) -> None:
    path = tmp_path / "damaged.parquet"
    path.write_bytes(b"PAR1 not a table PAR1")
    with pytest.raises(DataError, match="could not be read as a table"):
        read_table(path)
    assert "Failed to read" not in capfd.readouterr().err + caplog.text


@pytest.mark.parametrize("content", ["\n", "\n\n  \n"])  # pandas writes a JSON lines file of no rows as "\n"
def test_a_json_lines_file_of_blank_lines_is_empty(tmp_path: Path, content: str) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="The file 'blank.jsonl' is empty"):
        read_table(path)


@pytest.mark.parametrize("content", ["x" * 3_000_000,  # one line of all, without a line break
                                     "Report " + "x" * 1_200_000 + "\ntext,label\nhi,a\n"],  # a huge title
                         ids=["one_huge_line", "huge_title"])
def test_a_first_line_over_the_cell_limit_is_refused_in_words(tmp_path: Path, capsys, content: str) -> None:
    """The scan failed on the first line before it had noted any: a traceback (UnboundLocalError) on every
    command instead of the message below."""
    path = tmp_path / "huge.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="Line 1 of 'huge.csv' holds one value of more than 1,000,000 characters"):
        read_table(path)
    assert main(["inspect", str(path)]) == EXIT_USER_ERROR
    assert "Traceback" not in capsys.readouterr().err


def test_a_quote_inside_a_quoted_text_that_is_not_doubled_is_named(tmp_path: Path) -> None:
    """Read without a word as 'He said this is broken" and left"'; training and predict both tell it."""
    from bertstudio.predict.files import open_table

    path = tmp_path / "quotes.csv"
    path.write_text('text,label\n"He said "this is broken" and left",billing\n"fine, ""quoted"" text",other\n'
                    '"a text over\ntwo ""lines""",other\n"Great" product,billing\n', encoding="utf-8")
    ds, info = read_table(path)
    assert ds["text"][0] == 'He said this is broken" and left"' and ds.num_rows == 4
    (warning,) = [f for f in info.findings if f.code == "stray_quotes"]
    assert warning.level == "warning" and warning.count == 2 and "(line 2, 6)" in warning.message
    assert '("")' in warning.hint and "spreadsheet program" in warning.hint
    assert any(note.code == "stray_quotes" for note in open_table(path).notes)


@pytest.mark.parametrize("content", ['text,label\n"fine, ""quoted"" text",a\n"over\ntwo lines",b\n',
                                     'text,label\nHe said "hi" there,a\nno quotes,b\n'],
                         ids=["doubled_quotes", "quotes_in_a_text_not_quoted"])
def test_quotes_read_as_written_are_not_warned_about(tmp_path: Path, content: str) -> None:
    path = tmp_path / "fine.csv"
    path.write_text(content, encoding="utf-8")
    _, info = read_table(path)
    assert not [f for f in info.findings if f.code == "stray_quotes"]


def test_ragged_rows_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,label\nfine,1\nnot, quoted,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 3") as caught:
        read_table(path)
    assert "quotes" in caught.value.hint


def test_corrupt_workbook(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not a zip file")
    with pytest.raises(DataError, match="damaged zip archive or Excel workbook"):
        read_table(path)


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("é,1".encode("utf-8-sig"), "utf-8-sig"),
        ("é,1".encode("utf-16"), "utf-16"),
        ("text,label\né,1".encode("utf-16-le"), "utf-16-le"),  # no byte-order mark: told by its zero bytes
        ("plain é".encode("utf-8"), "utf-8"),
        ("x" * (1 << 20) + "é", "utf-8"),  # a character across the 1 MB blocks of the scan
        ("Straße in München: 30 €".encode("cp1252"), "cp1252"),
        ("Доставка опоздала на неделю, очень плохо".encode("cp1251"), "cp1251"),
    ],
)
def test_choose_encoding(tmp_path: Path, raw: bytes | str, expected: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(raw.encode("utf-8") if isinstance(raw, str) else raw)
    assert choose_encoding(path).codec == expected


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("text,label\nhello,1\nbye,2", ","),
        ("text;label\n\"a, b, c\";1\n\"d, e\";2", ";"),
        ("text\tlabel\na b\t1", "\t"),
        ("text|label\na|1", "|"),
        ("text\nonly one column", ","),
    ],
)
def test_detect_delimiter(sample: str, expected: str) -> None:
    assert detect_delimiter(sample) == expected


def test_unique_column_names() -> None:
    assert unique_column_names([" a ", None, "a", "", "Unnamed: 4", 3]) == [
        "a", "column_2", "a_2", "column_4", "column_5", "3",
    ]


def test_cache_dir_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTSTUDIO_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_old_copies_of_tables_leave_the_cache_and_the_current_one_stays(tmp_path: Path, monkeypatch) -> None:
    """Every read table leaves an Arrow copy in the cache; beyond the budget the oldest go, never recent ones."""
    import os

    from bertstudio.data import io
    from bertstudio.runs import folder_bytes

    monkeypatch.setenv("BERTSTUDIO_CACHE", str(tmp_path / "cache"))  # this test deletes copies: its own cache only
    files = []
    for n in range(3):
        files.append(tmp_path / f"table{n}.csv")
        files[-1].write_text("text,label\n" + "".join(f"row {n} {i},a\n" for i in range(50)))
    copies = []
    for age_days, file in zip((3, 2, 0), files):
        ds, _ = read_table(file)
        copies.append(io.table_cache_folder(ds))
        stamp = copies[-1].stat().st_mtime - age_days * 86400
        os.utime(copies[-1], (stamp, stamp))
    assert all(c is not None and c.is_dir() for c in copies) and len(set(copies)) == 3

    monkeypatch.setattr(io, "TABLE_CACHE_BUDGET_BYTES", folder_bytes(copies[1]) + folder_bytes(copies[2]))
    ds, _ = read_table(files[1])  # read again: now the most recently used
    assert ds.num_rows == 50 and ds[0]["text"] == "row 1 0"
    # Budget for two copies: the two-day-old one was just used, the newest is recent, the oldest goes.
    assert [c.is_dir() for c in copies] == [False, True, True]

    monkeypatch.setattr(io, "TABLE_CACHE_BUDGET_BYTES", 0)
    ds, _ = read_table(files[2])
    assert copies[1].is_dir()  # over budget, but used within the last day: another job may still read it
    assert read_table(files[0])[0].num_rows == 50  # a deleted copy is simply made again


def test_xlsx_data_behind_a_notes_sheet_is_found_and_predict_reads_the_same_sheet(tmp_path: Path) -> None:
    import pandas as pd

    from bertstudio.predict.files import iter_table_chunks

    path = tmp_path / "book.xlsx"
    texts = [f"ticket {i} about the invoice" for i in range(12)]
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"Read me": ["Labels: billing, other", "Updated weekly"]}).to_excel(
            writer, sheet_name="Notes", index=False)
        pd.DataFrame({"label": ["billing", "other"], "count": [6, 6]}).to_excel(
            writer, sheet_name="Summary", index=False)
        pd.DataFrame({"text": texts, "label": ["billing", "other"] * 6}).to_excel(
            writer, sheet_name="Tickets", index=False)
    ds, info = read_table(path)
    assert info.sheet == "Tickets" and ds["text"] == texts
    (choice,) = [f for f in info.findings if f.code == "sheet_choice"]
    assert "'Notes' (2 rows)" in choice.message and "'Summary' (2 rows)" in choice.message
    (chunk,) = list(iter_table_chunks(path, ["text"], 100))
    assert list(chunk["text"]) == texts


def test_a_workbook_of_empty_sheets_is_refused(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "empty.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame().to_excel(writer, sheet_name="A", index=False)
        pd.DataFrame().to_excel(writer, sheet_name="B", index=False)
    with pytest.raises(DataError, match="Every sheet of 'empty.xlsx' is empty"):
        read_table(path)


# --------------------------------------------------------------------------- title rows above the table


@pytest.mark.parametrize("title", ["Customer feedback export - March\n\n", "Customer feedback export,,\n",
                                   "Feedback export\nGenerated: 2026-03-01\n",
                                   "Customer feedback export,generated 2026-03-01,by Ann\n"])
def test_title_lines_above_a_csv_table_are_skipped_and_predict_skips_them_too(tmp_path: Path, title: str) -> None:
    from bertstudio.predict.files import iter_table_chunks

    path = tmp_path / "export.csv"
    path.write_text(title + "text,label,score\n" + "".join(f"text {i},{'ab'[i % 2]},{i}\n" for i in range(12)),
                    encoding="utf-8")
    ds, info = read_table(path)
    assert ds.column_names == ["text", "label", "score"] and ds["text"][0] == "text 0" and ds.num_rows == 12
    (note,) = [f for f in info.findings if f.code == "title_rows"]
    assert "Feedback export".casefold() in note.message.casefold() and "text, label, score" in note.message
    (chunk,) = list(iter_table_chunks(path, ["text"], 100))
    assert list(chunk["text"]) == [f"text {i}" for i in range(12)]


def test_excels_separator_line_names_the_separator_and_is_not_the_header(tmp_path: Path) -> None:
    from bertstudio.predict.files import iter_table_chunks

    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeffsep=;\r\ntext;label\r\n" + "".join(f"text {i}, with a comma;{'ab'[i % 2]}\r\n"
                                                              for i in range(12))).encode("utf-8"))
    ds, info = read_table(path)
    assert info.delimiter == ";" and ds.column_names == ["text", "label"] and ds.num_rows == 12
    assert ds["text"][0] == "text 0, with a comma"
    (chunk,) = list(iter_table_chunks(path, ["text"], 100))
    assert list(chunk["text"]) == ds["text"]


def test_a_title_cell_above_an_excel_table_is_skipped(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "report.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"text": [f"t {i}" for i in range(12)], "label": ["a", "b"] * 6}).to_excel(
            writer, index=False, startrow=2)
        writer.sheets["Sheet1"].cell(row=1, column=1, value="Support tickets, March")
    ds, info = read_table(path)
    assert ds.column_names == ["text", "label"] and ds.num_rows == 12
    (note,) = [f for f in info.findings if f.code == "title_rows"]
    # Rows as the spreadsheet numbers them: the title in row 1, an empty row 2, the header in row 3.
    assert "The first 2 rows of 'report.xlsx' ('Support tickets, March')" in note.message
    assert "read from row 3: text, label" in note.message



# --------------------------------------------------------------------------- files without a header row


def _ag_news_like(path: Path, header: str = "") -> Path:
    """Like AG News' and Yelp's original CSVs: class, title, description, and no header row."""
    rows = "".join(f'"{i % 4 + 1}","Title {i}","Description of story {i}, in a few words"\n' for i in range(20))
    path.write_text(header + rows, encoding="utf-8")
    return path


def test_a_csv_that_starts_with_data_keeps_its_first_row_and_predict_reads_it_alike(tmp_path: Path) -> None:
    from bertstudio.predict.files import iter_table_chunks

    path = _ag_news_like(tmp_path / "train.csv")
    ds, info = read_table(path)
    assert ds.column_names == ["column_1", "column_2", "column_3"] and ds.num_rows == 20
    assert ds[0] == {"column_1": "1", "column_2": "Title 0", "column_3": "Description of story 0, in a few words"}
    (note,) = [f for f in info.findings if f.code == "no_header"]
    assert "column_1 ('1')" in note.message
    assert "('1' in column_1)" in note.message and "'1' is also a value further down column_1" in note.hint
    (chunk,) = list(iter_table_chunks(path, ["column_2"], 100))
    assert list(chunk["column_2"]) == ds["column_2"]


def test_a_header_that_repeats_as_a_whole_row_is_still_a_header(tmp_path: Path) -> None:
    path = _ag_news_like(tmp_path / "joined.csv", header="label,title,text\n")
    path.write_text(path.read_text() + "label,title,text\n" + "3,Another title,Another story\n")
    ds, info = read_table(path)
    assert ds.column_names == ["label", "title", "text"] and ds.num_rows == 21  # the repeated header left out
    assert not any(f.code == "no_header" for f in info.findings)


def test_pandas_numbered_column_names_are_a_header(tmp_path: Path) -> None:
    path = tmp_path / "numbered.csv"
    path.write_text(",0,1\n" + "".join(f"{i},text {i},{i % 2}\n" for i in range(12)), encoding="utf-8")
    ds, _ = read_table(path)
    assert ds.column_names == ["column_1", "0", "1"] and ds.num_rows == 12


def test_a_usual_column_name_keeps_the_header_even_where_a_value_repeats_it(tmp_path: Path) -> None:
    path = tmp_path / "flags.csv"
    path.write_text("text,urgent\n" + "".join(f"text {i},{'urgent' if i % 2 else 'later'}\n" for i in range(12)),
                    encoding="utf-8")
    ds, info = read_table(path)
    assert ds.column_names == ["text", "urgent"] and ds.num_rows == 12
    assert not any(f.code == "no_header" for f in info.findings)


def test_an_excel_sheet_that_starts_with_data(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "data.xlsx"
    frame = pd.DataFrame([[f"text number {i}", "ab"[i % 2]] for i in range(12)])
    frame.to_excel(path, index=False, header=False)
    ds, info = read_table(path)
    assert ds.column_names == ["column_1", "column_2"] and ds["column_1"][0] == "text number 0"
    assert any(f.code == "no_header" for f in info.findings)


# --------------------------------------------------------------------------- a .txt file of sentences

LINES = ['I love it, truly', 'Terrible delivery; never again', '"Best buy ever" said my mother', 'Okay | fine']


@pytest.mark.parametrize("header", ["", "Text\n"])
def test_a_txt_file_of_sentences_is_one_text_per_line(tmp_path: Path, header: str) -> None:
    from bertstudio.predict.files import iter_table_chunks

    path = tmp_path / "texts.txt"
    path.write_text(header + "\n".join(LINES) + "\n", encoding="utf-8")
    ds, info = read_table(path)
    assert ds.num_rows == 4 and ds[ds.column_names[0]] == LINES  # commas, quotes and bars are part of the text
    assert "one text per line" in info.describe()
    (chunk,) = list(iter_table_chunks(path, None, 100))
    assert list(chunk.iloc[:, 0]) == LINES


# --------------------------------------------------------------------------- double quotes in TSV files

STRAY_QUOTES = ['"Great movie, really', 'Awful "acting" here', '"Quoted start" then more', "Meh."]


def test_a_tsv_whose_quotes_are_part_of_the_texts_keeps_every_row_and_predict_reads_it_alike(tmp_path: Path) -> None:
    """A text opening with a quote used to take in the rows up to the next quote, without a word."""
    from bertstudio.predict.files import iter_table_chunks

    texts = [f"{t} {i}" for i, t in enumerate(STRAY_QUOTES * 5)]
    path = tmp_path / "quotes.tsv"
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{'ab'[i % 2]}\n" for i, t in enumerate(texts)),
                    encoding="utf-8")
    ds, info = read_table(path)
    assert ds["text"] == texts and ds["label"] == ["ab"[i % 2] for i in range(len(texts))]
    assert any(f.code == "literal_quotes" for f in info.findings)
    (chunk,) = list(iter_table_chunks(path, None, 100))
    assert list(chunk["text"]) == texts


def test_a_properly_quoted_tsv_keeps_its_quoting(tmp_path: Path) -> None:
    import pandas as pd

    texts = ['with\ta tab', 'with\na line break', 'with "quotes"', "plain"] * 3
    path = tmp_path / "quoted.tsv"
    pd.DataFrame({"text": texts, "label": ["a", "b", "c"] * 4}).to_csv(path, sep="\t", index=False)
    ds, info = read_table(path)
    assert ds["text"] == texts and not any(f.code in ("literal_quotes", "joined_rows") for f in info.findings)


def test_a_stray_quote_past_the_first_lines_is_named(tmp_path: Path) -> None:
    lines = [f"plain text number {i} with a few words\t{'ab'[i % 2]}" for i in range(12_000)]
    lines[11_000] = '"A stray quote\ta'
    lines[11_003] = '"and another\tb'
    path = tmp_path / "late.tsv"
    path.write_text("text\tlabel\n" + "\n".join(lines) + "\n", encoding="utf-8")
    _, info = read_table(path)
    (joined,) = [f for f in info.findings if f.code == "joined_rows"]
    assert joined.level == "warning" and "lines 11,002-11,005" in joined.message


# --------------------------------------------------------------------------- a one-column file of texts

SENTENCES = ["I loved this movie, it was great", "Terrible film, would not watch again", "Okay I guess",
             "Best thing ever", "Not for me."]


def test_a_csv_of_texts_without_a_header_keeps_its_first_text_and_predict_reads_it_alike(tmp_path: Path) -> None:
    """Texts with unquoted commas, one per line: the commas are part of the texts, and the first line is a text."""
    from bertstudio.predict.files import iter_table_chunks

    path = tmp_path / "to_predict.csv"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    ds, info = read_table(path)
    assert ds.column_names == ["text"] and ds["text"] == SENTENCES
    (note,) = [f for f in info.findings if f.code == "no_header"]
    assert "first line ('I loved this movie, it was great') reads as a text" in note.message
    (chunk,) = list(iter_table_chunks(path, None, 100))
    assert list(chunk["text"]) == SENTENCES


@pytest.mark.parametrize("quoted", [False, True])
def test_a_one_column_csv_without_a_header_keeps_its_first_text(tmp_path: Path, quoted: bool) -> None:
    texts = [t.replace(",", "") for t in SENTENCES] if not quoted else SENTENCES
    path = tmp_path / "texts.csv"
    path.write_text("".join(f'"{t}"\n' if quoted else f"{t}\n" for t in texts), encoding="utf-8")
    ds, info = read_table(path)
    assert ds.column_names == ["text"] and ds["text"] == texts  # quotes read as quotes, not kept
    assert any(f.code == "no_header" for f in info.findings)


@pytest.mark.parametrize("commas", [False, True])
@pytest.mark.parametrize("name, note", [("review", False), ("Tweets", True), ("Customer comment", True)])
def test_a_one_column_csv_with_a_short_first_line_reads_it_as_the_name(tmp_path: Path, name: str, note: bool,
                                                                       commas: bool) -> None:
    texts = SENTENCES if commas else [t.replace(",", "") for t in SENTENCES]
    path = tmp_path / "texts.csv"
    path.write_text(name + "\n" + "\n".join(texts) + "\n", encoding="utf-8")
    ds, info = read_table(path)
    assert ds.column_names == [name] and ds[name] == texts
    # An unusual name may be a short text: the note says which line was taken for the name.
    assert any(f.code == "one_column_name" and f"('{name}')" in f.message for f in info.findings) is note


def test_a_one_column_sheet_without_a_header_keeps_its_first_text(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "texts.xlsx"
    pd.DataFrame({"x": SENTENCES * 3}).to_excel(path, index=False, header=False)
    ds, info = read_table(path)
    assert ds.column_names == ["text"] and ds["text"] == SENTENCES * 3
    assert any(f.code == "no_header" and "one column" in f.message for f in info.findings)


def test_a_txt_table_is_still_a_table(tmp_path: Path) -> None:
    path = tmp_path / "table.txt"
    path.write_text("text\tlabel\n" + "".join(f"text {i}, with a comma\t{'ab'[i % 2]}\n" for i in range(10)),
                    encoding="utf-8")
    ds, info = read_table(path)
    assert info.delimiter == "\t" and ds.column_names == ["text", "label"]


def test_a_header_repeated_among_the_rows_is_left_out_of_csv_and_excel(tmp_path: Path) -> None:
    import pandas as pd

    from bertstudio.predict.files import iter_table_chunks, open_table

    part = [(f"text {i}", "ab"[i % 2]) for i in range(12)]
    csv_path = tmp_path / "joined.csv"
    csv_path.write_text("text,label\n" + "".join(f"{t},{c}\n" for t, c in part) + "text,label\n"
                        + "".join(f"more {t},{c}\n" for t, c in part), encoding="utf-8")
    xlsx_path = tmp_path / "joined.xlsx"
    pd.DataFrame(part + [("text", "label")] + part, columns=["text", "label"]).to_excel(xlsx_path, index=False)
    for path in (csv_path, xlsx_path):
        ds, info = read_table(path)
        assert ds.num_rows == 24 and "label" not in ds["label"] and "text" not in ds["text"]
        (note,) = [f for f in info.findings if f.code == "header_repeats"]
        assert note.count == 1 and "repeats the header" in note.message
        # predict leaves it out too, and says so
        for columns in (None, ["text"]):
            predicted = [t for chunk in iter_table_chunks(path, columns, 5) for t in chunk["text"]]
            assert predicted == ds["text"]
        assert [n.code for n in open_table(path).notes] == ["header_repeats"]


def test_a_workbook_read_again_gives_the_same_report_and_a_changed_one_is_read_anew(tmp_path: Path) -> None:
    import os

    import pandas as pd

    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["read me"]}).to_excel(writer, sheet_name="Notes", index=False)
        pd.DataFrame({"text": [f"t {i}" for i in range(12)], "label": ["a", "b"] * 6}).to_excel(
            writer, sheet_name="Data", index=False)
    first = read_table(path)[1]
    first.findings.clear()  # what one caller does with its report does not reach the next one
    assert [f.code for f in read_table(path)[1].findings] == ["sheet_choice"]
    pd.DataFrame({"text": [f"u {i}" for i in range(11)], "label": ["a", "b", "c"] * 3 + ["a", "b"]}).to_excel(
        path, index=False)
    os.utime(path, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    ds, info = read_table(path)
    assert ds["text"][0] == "u 0" and info.sheet == "Sheet1"
