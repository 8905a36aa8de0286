"""Multi-label files: the task and separator decided from the data, the 0/1-column layout, bad input."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from helpers import write_multilabel_csv, write_rows

from bertstudio.config import make_config
from bertstudio.data.inspect import inspect_file, read_and_prepare
from bertstudio.data.labels import LIST_CELLS
from bertstudio.data.multilabel import LabelSettings, detect_separator
from bertstudio.data.multilabel_prepare import label_matrix, split_multilabel, stratification_keys
from bertstudio.errors import ConfigError, DataError


def codes(prepared) -> dict[str, object]:
    return {f.code: f for f in prepared.report.findings}


@pytest.mark.parametrize("separator", [";", "|", ","])
def test_separator_detected_from_recurring_parts(tmp_path, separator):
    path = write_multilabel_csv(tmp_path / "ml.csv", separator=separator)
    _, _, prepared = read_and_prepare(str(path))
    assert prepared.multilabel is not None and prepared.multilabel.separator == separator
    assert prepared.label_names == ["anger", "fear", "joy"]
    assert "combinations" in prepared.multilabel.reason
    labels = label_matrix(prepared.dataset)
    assert labels.shape == (90, 3) and set(np.unique(labels)) == {0.0, 1.0}
    assert prepared.multilabel.labels_per_text == {1: 45, 2: 45}
    # Row 1 (i=1) is "anger" + "fear": its vector has both.
    assert labels[1].tolist() == [1.0, 1.0, 0.0]


LIST_ROWS = [(f"text {i}", [["anger"], ["anger", "fear"], ["joy"], ["fear", "joy"]][i % 4]) for i in range(60)]


@pytest.mark.parametrize("write_list", [json.dumps, str], ids=["json", "python"])
def test_label_cells_written_as_lists_are_label_sets(tmp_path, write_list):
    """What pandas and Hugging Face datasets write for a column of label lists; ',' inside them is not a label."""
    path = write_rows(tmp_path / "lists.csv", ["text", "labels"], [[t, write_list(k)] for t, k in LIST_ROWS])
    _, _, prepared = read_and_prepare(str(path))
    assert prepared.multilabel is not None and prepared.multilabel.separator == LIST_CELLS
    assert prepared.label_names == ["anger", "fear", "joy"]
    assert label_matrix(prepared.dataset)[1].tolist() == [1.0, 1.0, 0.0]
    assert "written as lists" in prepared.multilabel.to_text()


def test_json_lines_with_native_label_lists_and_a_stray_plain_label(tmp_path):
    path = tmp_path / "lists.jsonl"
    rows = [{"text": t, "labels": k} for t, k in LIST_ROWS] + [{"text": "one more", "labels": "joy"}]
    path.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    _, _, prepared = read_and_prepare(str(path))
    assert prepared.multilabel.separator == LIST_CELLS and prepared.label_names == ["anger", "fear", "joy"]
    assert label_matrix(prepared.dataset)[-1].tolist() == [0.0, 0.0, 1.0]


def test_lists_of_one_label_each_are_a_single_label_file(tmp_path):
    path = write_rows(tmp_path / "one.csv", ["text", "label"],
                      [[f"text {i}", json.dumps(["pos" if i % 2 else "neg"])] for i in range(40)])
    _, _, prepared = read_and_prepare(str(path))
    assert prepared.multilabel is None and prepared.label_names == ["neg", "pos"]


def test_label_names_with_a_comma_or_slash_stay_single_label(tmp_path):
    names = ["yes", "no", "yes, definitely", "no, never", "Sci/Tech"]
    path = write_rows(tmp_path / "single.csv", ["text", "label"],
                      [[f"text {i}", names[i % len(names)]] for i in range(60)])
    separator, reason = detect_separator(pd.read_csv(path)["label"])
    assert separator is None and "part of the label names" in reason
    _, _, prepared = read_and_prepare(str(path))
    assert prepared.multilabel is None
    assert "yes, definitely" in prepared.label_names and "Sci/Tech" in prepared.label_names
    assert "--task multi_label" in codes(prepared)["separator_not_used"].hint  # said, in case it was meant


def test_a_single_repeated_combination_is_a_label_name(tmp_path):
    path = write_rows(tmp_path / "one-combo.csv", ["text", "label"],
                      [[f"t {i}", ["a", "b", "a;b"][i % 3]] for i in range(30)])
    _, _, prepared = read_and_prepare(str(path))
    assert prepared.multilabel is None  # one combination only: read as its own class


def test_zero_one_columns_are_one_label_each(tmp_path):
    rows = [[f"text {i}", i % 2, int(i % 3 == 0), 0 if i % 5 else 1] for i in range(40)]
    path = write_rows(tmp_path / "cols.csv", ["text", "joy", "anger", "fear"], rows)
    _, columns, prepared = read_and_prepare(str(path))
    assert prepared.multilabel.label_columns == ["joy", "anger", "fear"]
    assert prepared.label_names == ["anger", "fear", "joy"]
    assert prepared.report.class_counts == {"anger": 14, "fear": 8, "joy": 20}
    # A row with every column 0 is kept: the person wrote that the text has none of the labels.
    assert prepared.report.n_rows_kept == 40


def test_zero_one_columns_with_other_values_are_refused(tmp_path):
    rows = [[f"text {i}", i % 2, 2 if i == 7 else int(i % 3 == 0)] for i in range(20)]
    path = write_rows(tmp_path / "cols.csv", ["text", "joy", "anger"], rows)
    with pytest.raises(DataError) as err:
        read_and_prepare(str(path), labels=LabelSettings(label_columns=["joy", "anger"]))
    assert "'anger' should hold only 0 and 1" in err.value.message and "'2' (1)" in err.value.message
    assert "Write 1 where the text has this label" in err.value.hint


def test_person_overrides_the_detection(tmp_path):
    path = write_multilabel_csv(tmp_path / "ml.csv")
    _, _, single = read_and_prepare(str(path), labels=LabelSettings(task="single_label"))
    assert single.multilabel is None and "anger;fear" in single.label_names
    assert "combined_labels" in codes(single)  # and the single-label check says what it sees
    names = ["yes", "no", "yes, definitely"]
    forced = write_rows(tmp_path / "forced.csv", ["text", "label"], [[f"t {i}", names[i % 3]] for i in range(30)])
    _, _, multi = read_and_prepare(str(forced), labels=LabelSettings(separator=","))
    assert multi.label_names == ["definitely", "no", "yes"]
    glued = codes(multi)["separator_in_label"]
    assert glued.level == "warning" and "'yes' + 'definitely'" in glued.examples
    assert "choose another separator" in glued.hint


def test_empty_label_cells_are_skipped_by_default_and_kept_when_asked(tmp_path):
    path = write_multilabel_csv(tmp_path / "ml.csv")
    frame = pd.read_csv(path)
    frame.loc[[3, 10], "labels"] = ""
    frame.to_csv(path, index=False)
    _, _, skipped = read_and_prepare(str(path))
    finding = codes(skipped)["missing_label"]
    assert skipped.report.n_rows_kept == 88 and finding.count == 2
    assert "data rows 4, 11" in finding.message and "--empty-labels none" in finding.hint
    _, _, kept = read_and_prepare(str(path), labels=LabelSettings(empty_labels="none"))
    assert kept.report.n_rows_kept == 90 and codes(kept)["no_labels_kept"].level == "info"
    assert label_matrix(kept.dataset)[3].sum() == 0


def test_a_label_in_a_single_row_is_named(tmp_path):
    path = write_multilabel_csv(tmp_path / "ml.csv")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("a lonely text,joy;grief\n")
    _, _, prepared = read_and_prepare(str(path))
    rare = codes(prepared)["rare_labels"]
    assert "'grief' (1)" in rare.message and "threshold falls back to the global one" in rare.message


def test_config_fields_and_flags():
    cfg = make_config(task="multi_label", label_separator="|", label_columns="joy, anger,fear")
    assert cfg.label_columns == ["joy", "anger", "fear"] and cfg.empty_labels == "skip"
    with pytest.raises(ConfigError):
        make_config(task="several")
    from bertstudio.config import TrainConfig

    old = make_config().to_json_dict()
    for key in ("task", "label_separator", "label_columns", "empty_labels"):
        old.pop(key)
    assert TrainConfig(**old).task == "auto"  # config.json files written before these fields still load


def test_inspect_report_shows_the_task_counts_and_pairs(tmp_path, tiny_bert_dir):
    path = write_multilabel_csv(tmp_path / "ml.csv")
    text = inspect_file(str(path), model=str(tiny_bert_dir)).to_text()
    assert "Task: multi-label (labels joined by ';')" in text
    assert "Labels per text (labels: rows): 1: 45, 2: 45." in text
    assert "Most frequent pairs:" in text and "anger + joy: 15" in text


def test_split_keeps_every_label_in_validation_and_test(tmp_path):
    path = write_multilabel_csv(tmp_path / "ml.csv", rows=300)
    with path.open("a", encoding="utf-8") as handle:  # rare labels must not crash the stratified split
        handle.write("one rare text,joy;grief\nanother rare text,fear;grief\nonly once,awe\n")
    _, _, prepared = read_and_prepare(str(path))
    parts = split_multilabel(prepared, seed=3)
    sizes = parts.sizes()
    assert sum(sizes.values()) == 303
    for ds in (parts.validation, parts.test):
        counts = label_matrix(ds).sum(axis=0)
        assert all(counts[prepared.label_names.index(n)] > 0 for n in ("anger", "fear", "joy"))
    assert any("no row with 'awe'" in line for line in parts.source)


def test_stratification_key_is_the_rarest_label():
    labels = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 0], [1, 1, 0]], dtype=np.float32)
    assert stratification_keys(labels).tolist() == [2, 0, 3, 1]


def test_validation_file_with_unseen_labels_is_refused(tmp_path, tiny_bert_dir):
    from bertstudio.config import config_from_preset
    from bertstudio.train.pipeline import load_inputs

    train = write_multilabel_csv(tmp_path / "train.csv")
    val = write_rows(tmp_path / "val.csv", ["text", "labels"], [["happy", "joy"], ["so sad", "sadness;joy"]])
    cfg = config_from_preset("balanced", data=str(train), val_file=str(val), model=str(tiny_bert_dir))
    with pytest.raises(DataError) as err:
        load_inputs(cfg)
    assert "never appear in the training file: 'sadness'" in err.value.message


def test_counts_agree_with_the_file(tmp_path):
    path = write_multilabel_csv(tmp_path / "ml.csv")
    _, _, prepared = read_and_prepare(str(path))
    expected = Counter(name for cell in pd.read_csv(path)["labels"] for name in cell.split(";"))
    assert prepared.report.class_counts == dict(sorted(expected.items()))


def test_inspect_command_takes_the_label_layout_flags(tmp_path, capsys):
    from bertstudio.cli import main

    path = write_multilabel_csv(tmp_path / "ml.csv")
    assert main(["inspect", str(path), "--task", "single_label"]) == 0
    assert "Task: multi-label" not in capsys.readouterr().out
    assert main(["inspect", str(path)]) == 0
    assert "Task: multi-label (labels joined by ';')" in capsys.readouterr().out


# --------------------------------------------------------------------------- blank cells, mixed separators, typos


def onehot_rows(n: int = 40) -> list[list]:
    """Texts with 0/1 columns joy, anger, fear; every 8th row has none of the labels (all 0)."""
    return [[f"text {i}", int(i % 2 == 1), int(i % 3 == 0 and i % 8 > 0), int(i % 5 == 0 and i % 8 > 0)]
            for i in range(n)]


def test_a_column_of_ones_and_blanks_is_a_label_column_whose_blanks_are_0(tmp_path):
    """Spreadsheets often mark only the texts that have a label: 'joy' was left out of the detected columns and,
    chosen, every row without joy became 'not labelled yet' (242 of 420 rows in the tester's file)."""
    rows = [[text, "1" if joy else "", anger, fear] for text, joy, anger, fear in onehot_rows()]
    path = write_rows(tmp_path / "blank.csv", ["text", "joy", "anger", "fear"], rows)
    for labels in (None, LabelSettings(label_columns=["joy", "anger", "fear"])):
        _, _, prepared = read_and_prepare(str(path), labels=labels)
        assert prepared.multilabel.label_columns == ["joy", "anger", "fear"]
        assert prepared.report.n_rows_kept == 40 and "missing_label" not in codes(prepared)
        assert prepared.report.class_counts["joy"] == 20
        note = codes(prepared)["blank_as_zero"]
        assert note.level == "info" and "Blank cells in joy read as 0 (20 rows)" in note.message
        # Row 0 (no label at all: joy blank, the others 0) is kept as a text with none of the labels.
        assert label_matrix(prepared.dataset)[0].tolist() == [0.0, 0.0, 0.0]


def test_a_blank_beside_a_1_reads_as_0_and_only_rows_without_a_1_are_unlabelled(tmp_path):
    rows = onehot_rows()
    rows[3][2] = ""  # joy is 1: the blank anger is 0
    rows[2][2] = ""  # no 1 anywhere: not labelled yet
    rows[4][1:] = ["", "", ""]  # nothing written
    path = write_rows(tmp_path / "blank.csv", ["text", "joy", "anger", "fear"], rows)
    _, _, prepared = read_and_prepare(str(path))
    assert prepared.report.n_rows_kept == 38
    missing = codes(prepared)["missing_label"]
    assert missing.count == 2 and "data rows 3, 5)" in missing.message
    beside = codes(prepared)["blank_beside_label"]
    assert "Blank cells in anger (1 row) read as 0" in beside.message and "(data row 4)" in beside.message


MIXED = ["Tech", "Food", "Travel", "Tech;Food", "Travel|Tech", "Food, Travel", "Tech|Food", "Travel;Food"]


def test_labels_joined_by_other_separators_between_known_labels_are_split_and_said(tmp_path):
    """Cells joined with ';', '|' or ', ' in one file: 'Travel|Tech' and 'Food, Travel' were classes of their own."""
    path = write_rows(tmp_path / "mixed.csv", ["text", "labels"], [[f"t {i}", MIXED[i % 8]] for i in range(80)])
    _, _, prepared = read_and_prepare(str(path))
    assert prepared.multilabel.separator == ";" and prepared.label_names == ["Food", "Tech", "Travel"]
    mixed = codes(prepared)["mixed_separators"]
    assert mixed.level == "warning" and mixed.count == 30
    assert "join them with '|' or ','" in mixed.message and "data rows 5, 6, 7, 13" in mixed.message
    assert "one separator (';')" in mixed.hint
    # A validation or test file is split the same way, into the training file's labels.
    other = write_rows(tmp_path / "test.csv", ["text", "labels"], [["a", "Food|Tech"], ["b", "Travel"]])
    _, _, scored = read_and_prepare(str(other), labels=LabelSettings(
        task="multi_label", separator=";", label_names=prepared.label_names))
    assert label_matrix(scored.dataset)[0].tolist() == [1.0, 1.0, 0.0]


def test_a_comma_inside_label_names_stays_when_another_separator_joins_them(tmp_path):
    names = ["Clothing, Shoes & Jewelry", "Books", "Toys", "Books;Toys", "Clothing, Shoes & Jewelry;Books"]
    path = write_rows(tmp_path / "amazon.csv", ["text", "labels"], [[f"t {i}", names[i % 5]] for i in range(50)])
    _, _, prepared = read_and_prepare(str(path))
    assert prepared.label_names == ["Books", "Clothing, Shoes & Jewelry", "Toys"]
    assert "mixed_separators" not in codes(prepared)


def test_a_handful_of_rows_with_several_labels_are_named_as_possible_typos(tmp_path):
    rows = [[f"t {i}", ["billing", "shipping"][i % 2]] for i in range(400)]
    rows[1][1], rows[2][1] = "billing;shipping", "shipping;billing"
    path = write_rows(tmp_path / "typos.csv", ["text", "label"], rows)
    _, _, prepared = read_and_prepare(str(path))
    few = codes(prepared)["few_label_sets"]
    assert few.level == "warning" and "Only 2 of 400 labelled rows hold several labels" in few.message
    assert "'billing;shipping' in data row 2, 'billing;shipping' in data row 3" in few.message
    assert "--task single_label" in few.hint and "'billing;shipping' as a class of its own" in few.hint
    # As the hint says: read as one label per text, the cell is a class of its own.
    _, _, single = read_and_prepare(str(path), labels=LabelSettings(task="single_label"))
    assert "billing;shipping" in single.label_names
    # Chosen by the person, or in a file where many rows hold several labels, nothing is said.
    _, _, chosen = read_and_prepare(str(path), labels=LabelSettings(separator=";"))
    assert "few_label_sets" not in codes(chosen)
    _, _, many = read_and_prepare(str(write_multilabel_csv(tmp_path / "ml.csv")))
    assert "few_label_sets" not in codes(many)


def test_inspect_names_every_label_column_of_a_zero_one_file(tmp_path, tiny_bert_dir):
    path = write_rows(tmp_path / "cols.csv", ["text", "joy", "anger", "fear"], onehot_rows())
    text = inspect_file(str(path), model=str(tiny_bert_dir)).to_text()
    assert "Text column: text; label columns: joy, anger, fear." in text
