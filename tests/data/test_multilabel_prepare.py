"""prepare_multilabel streams: batch boundaries change nothing, the result is memory-mapped, and files with no
usable rows get a finding, not a crash (tests mirror bertstudio/data/multilabel_prepare.py)."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import write_rows

from bertstudio.data import arrow_batches
from bertstudio.data.inspect import read_and_prepare
from bertstudio.data.multilabel import LabelSettings
from bertstudio.data.multilabel_prepare import label_matrix
from bertstudio.errors import DataError


def messy_rows(n: int = 57) -> list[list[str]]:
    """Label sets in every shape a person writes them: repeated texts with other sets, empty texts and cells,
    spaces and case, and a label ('rare') whose only row has no text."""
    names = ["joy", "anger", "fear", "love"]
    rows = []
    for i in range(n):
        labels = [names[i % 4]] + ([names[(i + 1) % 4]] if i % 3 else [])
        cell = ";".join(labels) if i % 5 else " ; ".join(label.upper() for label in labels)
        text = "" if i % 11 == 0 else f"text {i % 20}"
        rows.append([text, "" if i % 13 == 0 else cell])
    rows.append(["", "rare;joy"])
    return rows


def summary(prepared) -> tuple:
    return (prepared.label_names, [f.to_text() for f in prepared.report.findings], prepared.report.n_rows_kept,
            dataclasses.asdict(prepared.multilabel), prepared.dataset["text"], label_matrix(prepared.dataset).tolist())


@pytest.mark.parametrize("empty_labels", ["skip", "none"])
def test_batch_boundaries_change_nothing(tmp_path, monkeypatch, empty_labels):
    path = write_rows(tmp_path / "ml.csv", ["text", "labels"], messy_rows())
    labels = LabelSettings(task="multi_label", separator=";", empty_labels=empty_labels)
    whole = summary(read_and_prepare(str(path), labels=labels)[2])
    monkeypatch.setattr(arrow_batches, "BATCH_ROWS", 4)
    in_batches = summary(read_and_prepare(str(path), labels=labels)[2])
    assert in_batches == whole
    names, findings, kept, info, texts, vectors = whole
    assert "rare" not in names  # its one row has no text: not a label of this data
    assert len(vectors[0]) == len(names) == 8  # joy/anger/fear/love, and the upper-case spellings as written
    assert kept == len(texts) == len(vectors) and "" not in texts
    assert any("appearing more than once with different labels" in f for f in findings)


def test_the_prepared_rows_are_memory_mapped_from_the_cache(tmp_path):
    path = write_rows(tmp_path / "ml.csv", ["text", "labels"], messy_rows())
    prepared = read_and_prepare(str(path), labels=LabelSettings(task="multi_label", separator=";"))[2]
    assert prepared.dataset.cache_files, "the cleaned rows should live in a memory-mapped Arrow file"
    again = read_and_prepare(str(path), labels=LabelSettings(task="multi_label", separator=";"))[2]
    assert again.dataset._fingerprint == prepared.dataset._fingerprint  # the tokenized copy is found next time


def test_zero_one_columns_in_batches_name_every_bad_value(tmp_path, monkeypatch):
    rows = [[f"text {i}", "1" if i % 2 else "0", "0" if i % 3 else "1"] for i in range(30)]
    rows[7][1], rows[22][1], rows[25][2] = "2", "2", "maybe"
    path = write_rows(tmp_path / "cols.csv", ["text", "a", "b"], rows)
    monkeypatch.setattr(arrow_batches, "BATCH_ROWS", 5)
    with pytest.raises(DataError) as raised:
        read_and_prepare(str(path), labels=LabelSettings(label_columns=["a", "b"]))
    # The first column's stray values from every batch, with their data rows (counted from 1).
    assert "'a'" in str(raised.value) and "'2' (2)" in str(raised.value) and "8, 23" in str(raised.value)


@pytest.mark.parametrize("rows, code", [
    ([["", "joy;anger"], ["  ", "anger;fear"], ["", "joy"]], "no_rows"),  # no text anywhere
    ([["a", ""], ["b", ""], ["", "joy;anger"]], "no_rows"),  # labels only where the texts are empty
])
def test_a_file_with_no_usable_rows_is_a_finding_not_a_crash(tmp_path, rows, code):
    path = write_rows(tmp_path / "empty.csv", ["text", "labels"], rows)
    prepared = read_and_prepare(str(path), labels=LabelSettings(task="multi_label", separator=";"))[2]
    assert code in {f.code for f in prepared.report.errors}
    with pytest.raises(DataError):
        prepared.raise_if_errors()


def test_a_validation_file_keeps_the_training_labels_and_refuses_new_ones(tmp_path):
    names = ["anger", "fear", "joy"]
    val = write_rows(tmp_path / "val.csv", ["text", "labels"], [["t1", "joy"], ["t2", "anger;fear"], ["t3", ""]])
    settings = LabelSettings(task="multi_label", separator=";", empty_labels="none", label_names=names)
    prepared = read_and_prepare(str(val), labels=settings)[2]
    assert prepared.label_names == names
    assert label_matrix(prepared.dataset).tolist() == [[0, 0, 1], [1, 1, 0], [0, 0, 0]]
    bad = write_rows(tmp_path / "bad.csv", ["text", "labels"], [["t1", "joy;surprise"], ["t2", "anger"]])
    with pytest.raises(DataError, match="'surprise'"):
        read_and_prepare(str(bad), labels=dataclasses.replace(settings, empty_labels="skip"))


def test_a_scored_file_reads_labels_spelt_otherwise_as_the_training_labels_and_says_so(tmp_path):
    """'Joy' in a file typed by hand is the model's 'joy' (it was refused as a label never trained on); a label
    two known ones match ('Fear' for 'fear' and 'FEAR') cannot be told apart and is still refused."""
    settings = LabelSettings(task="multi_label", separator=";", label_names=["anger", "fear", "joy"])
    path = write_rows(tmp_path / "typed.csv", ["text", "labels"], [["t1", "Joy"], ["t2", " anger ;FEAR"], ["t3", "joy"]])
    prepared = read_and_prepare(str(path), labels=settings)[2]
    assert label_matrix(prepared.dataset).tolist() == [[0, 0, 1], [1, 1, 0], [0, 0, 1]]
    note = next(f for f in prepared.report.findings if f.code == "labels_read_as")
    assert "'Joy' as 'joy'" in note.message and "'FEAR' as 'fear'" in note.message and note.count == 2
    twins = dataclasses.replace(settings, label_names=["fear", "FEAR", "joy"])
    with pytest.raises(DataError, match="'Fear'"):
        read_and_prepare(str(write_rows(tmp_path / "twins.csv", ["text", "labels"], [["t1", "Fear"], ["t2", "joy"]])),
                         labels=twins)


def test_label_counts_and_pairs_count_rows(tmp_path):
    rows = [[f"t{i}", "a;b" if i < 6 else ("b;c" if i < 9 else "c")] for i in range(12)]
    path = write_rows(tmp_path / "ml.csv", ["text", "labels"], rows)
    info = read_and_prepare(str(path), labels=LabelSettings(task="multi_label", separator=";"))[2].multilabel
    assert info.label_counts == {"a": 6, "b": 9, "c": 6}
    assert info.labels_per_text == {1: 3, 2: 9}
    assert info.top_pairs == [("a", "b", 6), ("b", "c", 3)]


@pytest.mark.parametrize("columns, message", [
    (["a", "nosuch"], "The label column 'nosuch' is not in the data."),
    (["price", "speed", "nosuch"], "The label columns 'price', 'speed', 'nosuch' are not in the data."),
])
def test_missing_label_columns_are_named_in_a_sentence(tmp_path, columns, message):
    """It read "The label column 'nosuch' not in the data." (no verb)."""
    path = write_rows(tmp_path / "cols.csv", ["text", "a", "b"], [[f"text {i}", i % 2, 1 - i % 2] for i in range(10)])
    with pytest.raises(DataError) as raised:
        read_and_prepare(str(path), labels=LabelSettings(label_columns=columns))
    assert raised.value.message == message and "text, a, b" in raised.value.hint
