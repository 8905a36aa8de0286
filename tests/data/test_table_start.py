"""Where a table starts: title rows, Excel's separator line, files without a header, .txt files of sentences."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bertstudio.data.table_start import (
    count_title_rows,
    delimited_start,
    excel_separator_line,
    first_row_is_data,
    lines_without_quotes,
    looks_like_a_name,
    quotes_are_literal,
    rows_start,
    splits_into_columns,
    title_finding,
)


@pytest.mark.parametrize("rows, titles", [
    ([["Sales report 2026"], ["text", "label"], ["a", "b"], ["c", "d"]], 1),
    ([["Sales report 2026", ""], ["", ""], ["text", "label"], ["a", "b"]], 1),
    ([["review", ""], ["good product", "pos"], ["bad one", "neg"]], 0),  # one-word name: a header, not a title
    # A phrase over an unnamed column, then data: the row below the phrase repeats its label further down.
    ([["review text", ""], ["good product", "pos"], ["bad one", "neg"], ["great", "pos"]], 0),
    ([["just one column"], ["a text"], ["another text"]], 0),  # a table one column wide has no title above it
    ([["text", "label"], ["a", "b"]], 0),
])
def test_count_title_rows(rows, titles) -> None:
    assert count_title_rows([r for r in rows if any(c.strip() for c in r)]) == titles


@pytest.mark.parametrize("rows, no_header", [
    ([["good film", "pos"], ["bad film", "neg"], ["fine", "pos"]], True),  # 'pos' again below: data
    ([["text", "label"], ["good", "label"], ["bad", "neg"]], False),  # usual names: a header all the same
    ([["review", "stars"], ["good", "5"], ["review", "stars"], ["bad", "1"]], False),  # a header joined twice
    (["0 1".split(), ["a", "1"], ["b", "0"]], False),  # pandas' numbered names
    ([["opinion", "mood"], ["good", "happy"], ["bad", "sad"]], False),  # nothing repeats
])
def test_first_row_is_data(rows, no_header) -> None:
    assert first_row_is_data(rows) is no_header


@pytest.mark.parametrize("sample, separator", [("sep=;\ntext;label\n", ";"), ('"sep=|"\r\n', "|"),
                                              ("\ufeffsep=,\n", ","), ("text,label\n", None)])
def test_excel_separator_line(sample, separator) -> None:
    assert excel_separator_line(sample) == separator


def test_lines_split_into_columns_only_when_most_have_the_same_width() -> None:
    assert splits_into_columns("a\tb\nc\td\ne\tf\n", "\t")
    assert not splits_into_columns("I love it, truly\nTerrible\nOkay, fine, sure\n", ",")


@pytest.mark.parametrize("cell, name", [("text", True), ("Customer comment", True), ("Okay I guess", True),
                                        ("Not for me.", False), ("I loved this movie it was great", False),
                                        ("", False), (None, False), ("x" * 41, False)])
def test_looks_like_a_name(cell, name) -> None:
    assert looks_like_a_name(cell) is name


@pytest.mark.parametrize("rows, header", [
    ([["text"], ["good"], ["bad"]], True),
    ([["Tweets"], ["good day"], ["bad day"]], True),
    ([["I loved this movie it was great"], ["good"], ["bad"]], False),  # a sentence: the first text
    ([["great"], ["good"], ["great"]], False),  # comes back below: a value, not a name
])
def test_the_first_row_of_a_one_column_table(rows, header) -> None:
    assert rows_start(rows) == (0, header)


@pytest.mark.parametrize("sample, lines", [
    ("I loved this film, truly\nTerrible\nOkay, fine\n", True),  # unquoted commas in texts, one per line
    ("text\nI loved it, truly\nTerrible\n", True),  # ... under one name
    ("I loved it, truly\nTerrible\nOkay, fine\n", False),  # two short phrases: could be names, left a table
    ("What the customer wrote,label\ngood,a\nbad\nfine,b\nnice,a\n", False),  # a label column, one row without
    ("Not what I ordered, sadly\nTerrible\nOkay, fine\nBad, bad\nBroken, late\nNo, no\nWhy, oh why\n", True),
    ("text,label\ngood, really,pos\nbad\n", False),  # a header of names: a table with broken rows
    ("Customer feedback export - March\ntext,label\na,b\nc,d\n", False),  # a title above a table
    ("a,b\nc,d\n", False),
])
def test_lines_without_quotes(sample, lines) -> None:
    assert lines_without_quotes(sample, ",") is lines


@pytest.mark.parametrize("sample, literal", [
    ('text\tlabel\n"Great film, really\tpos\n"Loved it\tpos\nBad\tneg\n', True),  # stray quotes join lines
    ('text\tlabel\nThe "best" film\tpos\nBad\tneg\n', False),  # quotes inside: the same either way
    ('text\tlabel\n"two\nlines"\tpos\nBad\tneg\n', False),  # a real quoted line break: lines split unevenly
    ('text\tlabel\n0\t"0\n\t"\n', False),  # well-formed, lines split evenly all the same (found by Hypothesis)
    ('text\tlabel\n"Loved it\tpos\nok\tneg\nMeh "\tpos\n', False),  # closed by a quote before a tab: well-formed
    ('text\tlabel\ngood\tpos\nbad\tneg\n', False),
])
def test_quotes_are_literal(sample, literal) -> None:
    assert quotes_are_literal(sample, "\t") is literal


@pytest.mark.parametrize("sample, sep_line, said", [
    # Excel's empty row (",") between the title lines was skipped too, but not counted: "The first 2 rows".
    ("My report\n,\nGenerated by: Bob,\ntext,label\nhi,a\n", False,
     "The first 3 lines of 'f.csv' ('My report') look like a title above the table and were skipped; the column "
     "names were read from line 4: text, label."),
    ("sep=,\nMy report\n\ntext,label\nhi,a\n", True, "Lines 2-3 of 'f.csv' ('My report') look like"),
    ("Customer feedback export - March\ntext,label\nhi,a\nho,b\n", False,
     "The first line of 'f.csv' ('Customer feedback export - March') looks like a title above the table and was "
     "skipped; the column names were read from line 2"),
], ids=["empty_row_between", "separator_line", "one_line"])
def test_the_title_note_names_the_lines_skipped(sample: str, sep_line: bool, said: str) -> None:
    start = delimited_start(csv.reader(io.StringIO(sample, newline="")), sep_line=sep_line)
    assert said in title_finding(Path("f.csv"), start, "line").message
