"""Formula cells in the CSVs the tool writes: escaped on the way out, exactly restored by the tool's own readers."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertstudio.safe_csv import (
    escape_formula,
    read_escaped_csv,
    unescape_formula,
    write_csv,
)


@pytest.mark.parametrize("cell, expected", [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"), ("+1+1", "'+1+1"), ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("-2+3", "'-2+3"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("-2.5", "-2.5"), ("+3", "+3"), ("1e-5", "1e-5"), ("plain", "plain"), ("", ""),
    ("'=already quoted", "''=already quoted"),  # one more apostrophe, so reading back can tell
    ("'just an apostrophe", "'just an apostrophe"),
])
def test_escape_formula(cell, expected):
    assert escape_formula(cell) == expected
    assert unescape_formula(expected) == cell


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from("'=+-@\t\r1.eE ax"), max_size=8) | st.text(max_size=8))
def test_unescape_undoes_escape_for_any_text(cell):
    assert unescape_formula(escape_formula(cell)) == cell
    escaped = escape_formula(cell)
    assert not escaped.startswith(("=", "+", "@", "\t", "\r")) or escaped == cell  # only plain numbers stay


def test_written_csv_is_inert_and_reads_back_exactly(tmp_path):
    texts = ["=cmd|' /C calc'!A0", "+1+1", "@SUM(A1:A2)", "-2+3", "'=x", "fine", "-2.5"]
    frame = pd.DataFrame({"text": texts, "label": ["=bad", "good", "-1", "+", "a", "b", "c"],
                          "confidence": np.linspace(0.1, 0.7, 7), "loss": [-0.5] * 7})
    path = tmp_path / "out.csv"
    write_csv(frame, path)
    with path.open(encoding="utf-8", newline="") as handle:
        raw = list(csv.DictReader(handle))
    for row in raw:
        for key in ("text", "label"):
            assert not row[key].startswith(("=", "+", "@")) and not row[key].startswith("-2+")
    assert [row["text"] for row in raw][-1] == "-2.5" and raw[0]["loss"] == "-0.5"  # numbers stay numbers
    back = read_escaped_csv(path, dtype={"text": str, "label": str}, keep_default_na=False)
    assert back["text"].tolist() == texts and back["label"].tolist() == frame["label"].tolist()
    np.testing.assert_allclose(back["confidence"], frame["confidence"])


def test_label_issues_csv_is_escaped(tmp_path):
    from bertstudio.evaluation.noise import LabelNoiseReport

    table = pd.DataFrame({"rank": [1], "row": [4], "text": ["=HYPERLINK(\"http://x\")"], "given_label": ["+"],
                          "suspected_label": ["-"], "confidence": [0.9], "given_label_prob": [0.1]})
    path = LabelNoiseReport(table, rows_checked=10, folds=2, features="test").to_csv(tmp_path / "label_issues.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert row["text"] == "'=HYPERLINK(\"http://x\")" and row["given_label"] == "'+" and row["rank"] == "1"
    assert read_escaped_csv(path, dtype=str)["text"].tolist() == table["text"].tolist()
