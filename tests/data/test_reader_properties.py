"""Property tests for the file readers: whatever bytes, dialect or text a file holds, reading it either works
or raises a UserError (a plain message with what to do), never anything else; a well-formed CSV reads back
exactly as written.

Both readers are checked: ``read_table`` (inspect, train, evaluate) and the streaming reader of ``predict``.
"""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bertstudio.data.io import SUPPORTED_EXTENSIONS, read_table
from bertstudio.errors import UserError
from bertstudio.predict.files import iter_table_chunks

# No example database: a test run leaves nothing in the repository.
SETTINGS = settings(max_examples=40, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
_names = itertools.count()

SIGNATURES = [b"", b"PK\x03\x04", b"\x1f\x8b", b"BZh91AY&SY", b"\xfd7zXZ\x00", b"PAR1", b"%PDF-",
              b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"text,label\n"]
# Printable text for round trips: letters, digits, punctuation, symbols and spaces of any script, and line
# breaks (which the writer quotes); no control characters, which a text file does not hold.
TEXT = st.text(st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\ufeff")
               | st.sampled_from("\n,;|\t\"'"), min_size=1, max_size=40)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("properties")


def new_file(folder: Path, suffix: str, data: bytes) -> Path:
    path = folder / f"f{next(_names)}{suffix}"
    path.write_bytes(data)
    return path


def read_with_both(path: Path):
    """read_table's rows, after checking that predict's reader also works or says why not."""
    try:
        for _ in iter_table_chunks(path, None, 1_000):
            pass
    except UserError:
        pass
    try:
        ds, _ = read_table(path)
    except UserError as error:
        assert error.message and error.hint  # what is wrong, and what to do
        return None
    return ds


@SETTINGS
@given(prefix=st.sampled_from(SIGNATURES), body=st.binary(max_size=3_000),
       suffix=st.sampled_from(SUPPORTED_EXTENSIONS))
def test_random_bytes_are_read_or_refused_in_plain_words(folder, prefix, body, suffix):
    read_with_both(new_file(folder, suffix, prefix + body))


@SETTINGS
@given(text=st.text(max_size=2_000), suffix=st.sampled_from((".csv", ".tsv", ".txt", ".jsonl")),
       encoding=st.sampled_from(("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "shift_jis")))
def test_random_unicode_is_read_or_refused_in_plain_words(folder, text, suffix, encoding):
    data = text.encode(encoding, errors="replace")
    read_with_both(new_file(folder, suffix, data))


@SETTINGS
@given(rows=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=15),
       delimiter=st.sampled_from(",;\t|"), terminator=st.sampled_from(("\n", "\r\n", "\r")),
       quoting=st.sampled_from((csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC)),
       encoding=st.sampled_from(("utf-8", "utf-8-sig", "utf-16")))
def test_well_formed_csv_in_any_dialect_reads_back_as_written(folder, rows, delimiter, terminator, quoting,
                                                               encoding):
    # A text of spaces only, or one that ends in spaces before a line break, is not worth the dialect
    # corner cases here; blank rows are skipped by design.
    assume(all(cell.strip() for row in rows for cell in row))
    # Python's writer quotes a line break only when it is part of the line terminator: with CR-only
    # lines a text's LF would go out unquoted, which is not well-formed CSV.
    assume(quoting != csv.QUOTE_MINIMAL or terminator != "\r" or not any("\n" in c for row in rows for c in row))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    path = new_file(folder, ".csv", out.getvalue().encode(encoding))
    ds = read_with_both(path)
    assert ds is not None, "a well-formed UTF CSV was refused"
    assert list(zip(ds["text"], ds["label"])) == rows


@SETTINGS
@given(cells=st.lists(st.lists(st.text(max_size=12), max_size=5), max_size=12),
       delimiter=st.sampled_from(",;\t| "), quotechar=st.sampled_from("\"'"),
       terminator=st.sampled_from(("\n", "\r\n", "\r")))
def test_ragged_tables_in_any_dialect_are_read_or_refused_in_plain_words(folder, cells, delimiter, quotechar,
                                                                          terminator):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quotechar=quotechar, lineterminator=terminator)
    writer.writerows(cells)
    read_with_both(new_file(folder, ".csv", out.getvalue().encode("utf-8", errors="surrogatepass")))


@SETTINGS
@given(texts=st.lists(TEXT, min_size=1, max_size=15), terminator=st.sampled_from(("\n", "\r\n")),
       quoting=st.sampled_from((csv.QUOTE_MINIMAL, csv.QUOTE_ALL)))
def test_a_well_formed_one_column_csv_reads_back_as_written_by_training_and_predict(folder, texts, terminator,
                                                                                    quoting):
    """A file of texts to predict, under a 'text' header: whatever the texts hold (commas, quotes, line breaks)."""
    assume(all(text.strip() and text.strip() != "text" for text in texts))  # blanks are skipped, by design
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=terminator, quoting=quoting)
    writer.writerows([["text"], *([text] for text in texts)])
    path = new_file(folder, ".csv", out.getvalue().encode("utf-8"))
    ds, _ = read_table(path)
    assert ds.column_names == ["text"] and ds["text"] == texts
    assert [t for chunk in iter_table_chunks(path, None, 1_000) for t in chunk["text"]] == texts
