"""JSON files in the layouts pandas and common exports write, and JSON errors that name the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertstudio.data.io import read_table
from bertstudio.data.json_table import JsonLayout, json_columns, json_layout
from bertstudio.errors import DataError

TEXTS = ["good service", "slow reply", "works fine", "broke at once"]
LABELS = ["pos", "neg", "pos", "neg"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTSTUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))


def _frame():
    import pandas as pd

    return pd.DataFrame({"text": TEXTS, "label": LABELS})


@pytest.mark.parametrize("orient", ["columns", "index", "split", "table", "records"])
def test_every_pandas_layout_reads_as_the_same_table(tmp_path: Path, orient: str) -> None:
    path = tmp_path / "d.json"
    _frame().to_json(path, orient=orient)
    ds, info = read_table(path)
    assert ds.column_names == ["text", "label"]
    assert ds["text"] == TEXTS and ds["label"] == LABELS
    if orient != "records":  # the one layout datasets reads itself; the others say how they were read
        assert any(f.code == "json_layout" for f in info.findings)


def test_rows_wrapped_in_an_object_are_found_and_the_others_named(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    rows = [{"text": t, "label": label} for t, label in zip(TEXTS, LABELS)]
    path.write_text(json.dumps({"version": 2, "data": rows, "extra": rows[:1]}), encoding="utf-8")
    ds, info = read_table(path)
    assert ds["label"] == LABELS
    (note,) = [f for f in info.findings if f.code == "json_layout"]
    assert "read as the list 'data' (4 rows); the file also holds 'extra' (1 row)." in note.message


def test_the_wrapped_list_of_texts_is_read_rather_than_a_longer_list_beside_it(tmp_path: Path) -> None:
    """The longest list was read: 300 tags ({"name", "count"}) instead of the 200 texts with labels."""
    path = tmp_path / "wrapped.json"
    items = [{"text": f"the parcel number {i} came late", "label": LABELS[i % 4]} for i in range(200)]
    path.write_text(json.dumps({"version": 2, "items": items, "tags": [{"name": "a", "count": 1}] * 300}),
                    encoding="utf-8")
    ds, info = read_table(path)
    assert ds.column_names == ["text", "label"] and ds.num_rows == 200
    (note,) = [f for f in info.findings if f.code == "json_layout"]
    assert "read as the list 'items' (200 rows); the file also holds 'tags' (300 rows)." in note.message


def test_a_dict_of_column_lists_and_a_single_row() -> None:
    assert json_columns({"text": TEXTS, "label": LABELS}, "x").columns == {"text": TEXTS, "label": LABELS}
    assert json_columns({"text": "one", "label": 1}, "x").columns == {"text": ["one"], "label": [1]}


def test_nested_objects_without_number_keys_put_rows_on_the_longer_side() -> None:
    per_row = {f"r{i}": {"text": t, "label": label} for i, (t, label) in enumerate(zip(TEXTS, LABELS))}
    assert json_columns(per_row, "x").columns == {"text": TEXTS, "label": LABELS}


def test_json_lines_in_a_file_named_json(tmp_path: Path) -> None:
    path = tmp_path / "lines.json"
    path.write_text("\n".join(json.dumps({"text": t, "label": label}) for t, label in zip(TEXTS, LABELS)),
                    encoding="utf-8")
    assert json_layout(path) is JsonLayout.LINES
    ds, _ = read_table(path)
    assert ds["text"] == TEXTS


@pytest.mark.parametrize("content, words", [
    ('[["good", "pos"], ["bad", "neg"]]', "without column names"),
    ('"just a text"', "holds a text, not a table"),
    ('{"text": "a", "nested": {"x": [1, 2]}, "more": [1]}', "do not form a table"),
    ('[{"text": "a"},\n {"text": "b" "label": 1}]', "not valid JSON: Expecting ',' delimiter at line 2"),
])
def test_json_that_is_not_a_table_says_what_it_holds(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "d.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_table(path)
    assert words in str(caught.value)
    assert caught.value.hint


@pytest.mark.parametrize("bad_line, words", [
    ("{broken", "Line 3 of 'd.jsonl' is not valid JSON"),
    ('["a list", "pos"]', "Line 3 of 'd.jsonl' holds a list, not an object"),
])
def test_a_bad_json_line_is_named_by_its_number(tmp_path: Path, bad_line: str, words: str) -> None:
    path = tmp_path / "d.jsonl"
    good = [json.dumps({"text": t, "label": label}) for t, label in zip(TEXTS, LABELS)]
    path.write_text("\n".join(good[:1] + [""] + [bad_line] + good[1:]), encoding="utf-8")  # line 2 is blank
    with pytest.raises(DataError) as caught:
        read_table(path)
    assert words in str(caught.value)
    assert "Fix or remove that line" in (caught.value.hint or "")


@pytest.mark.parametrize("orient", ["columns", "split", "records"])
def test_predicting_a_json_file_reads_the_table_training_reads(tmp_path: Path, orient: str) -> None:
    from bertstudio.predict.files import iter_table_chunks

    path = tmp_path / "d.json"
    _frame().to_json(path, orient=orient)
    (chunk,) = list(iter_table_chunks(path, ["text"], 100))
    assert list(chunk["text"]) == TEXTS


def test_deep_nesting_is_refused_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000, encoding="utf-8")
    with pytest.raises(DataError, match="nested too deeply"):
        read_table(path)
