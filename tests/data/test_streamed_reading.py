"""Reading and preparing stream through Arrow in batches (issue 22): the same rows, findings and split as the
whole-table path, wherever the batch boundaries fall.

Each test reads a file twice: once with the batch sizes the engine uses (every small file here is one batch,
the whole-table behaviour the other data tests pin down message by message) and once with batches of a few
rows, so every boundary falls inside the tricky rows.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bertstudio.data import arrow_batches
from bertstudio.data import io as data_io
from bertstudio.data.inspect import read_and_prepare
from bertstudio.data.io import read_table
from bertstudio.data.labels import sort_labels
from bertstudio.data.split import split


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTSTUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def tiny_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 3 rows when reading the CSV and when preparing."""
    monkeypatch.setattr(data_io, "CSV_CHUNK_ROWS", 3)
    monkeypatch.setattr(arrow_batches, "BATCH_ROWS", 3)


TRICKY_ROWS = [
    ["one, two\nthree lines\nin one cell", "a"],
    ['she said "hi" twice: ""', "b"],
    ["  padded text  ", "a"],
    ["", "b"],  # an empty text
    ["NA", "a"],  # a word, not a missing value
    ["null", ""],  # and an empty label
    ["line with\r\nWindows break", "b"],
    ["Café trop cher: 30 €", "a"],
    ["Le colis est arrivé en retard, très déçu", "b"],
    ["Service après-vente très réactif, merci", "a"],
    ["tab\tinside", "b"],
    ["last, row", "a"],
]


def _write(path: Path, rows: list[list[str]], *, encoding: str, newline: str) -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator=newline).writerows([["text", "label"], *rows])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _python_csv_rows(path: Path, encoding: str) -> list[list[str]]:
    """What Python's csv module reads from the file: the reference the Arrow copy must match cell for cell."""
    with path.open(encoding=encoding, newline="") as handle:
        return [row for row in csv.reader(handle)][1:]


@pytest.mark.parametrize(("name", "encoding", "newline", "codec"), [
    ("lf.csv", "utf-8", "\n", "utf-8"),
    ("crlf.csv", "utf-8", "\r\n", "utf-8"),
    ("bom.csv", "utf-8-sig", "\r\n", "utf-8-sig"),
    ("windows.csv", "cp1252", "\r\n", "cp1252"),  # told from the content: the sniffer detects it
])
def test_streamed_csv_reader_gives_the_rows_python_reads(tmp_path: Path, tiny_batches, name, encoding, newline,
                                                         codec) -> None:
    path = _write(tmp_path / name, TRICKY_ROWS * 3, encoding=encoding, newline=newline)
    ds, info = read_table(path)
    assert info.encoding == codec
    assert [[row["text"], row["label"]] for row in ds] == _python_csv_rows(path, codec) == TRICKY_ROWS * 3


def test_small_chunks_read_the_same_table_as_one_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "mixed.csv", TRICKY_ROWS * 2, encoding="cp1252", newline="\r\n")
    whole, whole_info = read_table(path)
    monkeypatch.setattr(data_io, "CSV_CHUNK_ROWS", 2)
    chunked, chunked_info = read_table(path)
    assert chunked.to_dict() == whole.to_dict()
    assert chunked_info.describe() == whole_info.describe() and chunked_info.findings == whole_info.findings


MESSY_ROWS = [
    ["Refund please, charged twice", "billing"],
    ["  Refund please, charged twice ", "Billing"],  # the same text once stripped: a repeat, another label
    ["Parcel never came", "delivery"],
    ["", "delivery"],  # empty text: left out
    ["no label here", ""],  # empty label: left out
    ["", ""],  # blank row
    ["Great support, thanks", "praise"],
    ["Parcel never came", "delivery"],  # a plain repeat
    ["x" * 6_000, "praise"],  # a long text
    ["Login fails again", "account"],
    ["only empties", "ghost"],
    ["Login fails again", "billing"],  # a repeat with another label
    ["Where is my parcel?", "delivery"],
    ["Password reset link broken", "account"],
] * 3 + [["", "lonely"]]  # a class whose only row has no text: not a class


def _prepared(path: Path, **columns):
    return read_and_prepare(str(path), **columns)[2]


@pytest.mark.parametrize("casefold", [False, True])
def test_streamed_preparation_gives_the_same_rows_report_and_split_in_small_batches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, casefold: bool) -> None:
    path = _write(tmp_path / "messy.csv", MESSY_ROWS, encoding="utf-8", newline="\n")
    whole = _prepared(path, casefold_labels=casefold)
    monkeypatch.setattr(data_io, "CSV_CHUNK_ROWS", 4)
    monkeypatch.setattr(arrow_batches, "BATCH_ROWS", 4)
    batched = _prepared(path, casefold_labels=casefold)

    assert batched.dataset.to_dict() == whole.dataset.to_dict()
    assert batched.label_names == whole.label_names and "lonely" not in whole.label_names
    assert batched.report.to_dict() == whole.report.to_dict()
    codes = {f.code for f in whole.report.findings}
    assert {"duplicates", "conflicting_labels", "empty_text", "missing_label", "blank_rows", "long_texts"} <= codes
    for a, b in zip(split(whole, seed=7).__dict__.values(), split(batched, seed=7).__dict__.values()):
        assert (a.to_dict() if hasattr(a, "to_dict") else a) == (b.to_dict() if hasattr(b, "to_dict") else b)


def test_prepared_rows_are_what_the_whole_table_cleaning_keeps(tmp_path: Path) -> None:
    """The kept rows, in file order: stripped texts, labels by sorted class name, incomplete rows left out."""
    path = _write(tmp_path / "messy.csv", MESSY_ROWS, encoding="utf-8", newline="\n")
    prepared = _prepared(path)
    expected = [(text.strip(), label.strip()) for text, label in MESSY_ROWS if text.strip() and label.strip()]
    names = prepared.label_names
    assert names == sort_labels({label for _, label in expected})
    assert [(row["text"], names[row["label"]]) for row in prepared.dataset] == expected
    report = prepared.report
    # Rows of empty cells are left out while reading (said once, there), so cleaning never sees them.
    not_blank = [row for row in MESSY_ROWS if any(cell.strip() for cell in row)]
    assert report.n_rows_in == len(not_blank) and report.n_rows_kept == len(expected)
    (missing,) = [f for f in report.findings if f.code == "missing_label"]
    assert missing.count == 3 and missing.examples == ["no label here"] * 3


def test_prepared_data_is_memory_mapped_beside_the_tables_arrow_copy(tmp_path: Path) -> None:
    path = _write(tmp_path / "messy.csv", MESSY_ROWS, encoding="utf-8", newline="\n")
    table, _ = read_table(path)
    prepared = _prepared(path)
    (cached,) = prepared.dataset.cache_files
    copy = data_io.table_cache_folder(table)
    assert Path(cached["filename"]).is_relative_to(copy)
    assert not list(Path(cached["filename"]).parent.glob(".*"))  # nothing half-written left behind
    again = _prepared(path)  # the same file again: the same prepared copy, so tokenizing finds its cache
    assert again.dataset.cache_files == prepared.dataset.cache_files
    assert again.dataset._fingerprint == prepared.dataset._fingerprint
