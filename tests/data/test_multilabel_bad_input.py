"""Bad input along the multi-label and long-text paths, through the command line: one plain message that says
what to do, no traceback, and no run folder (or half of one) left behind."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bertstudio.cli import main

ROWS = 60


def texts(long: bool = False) -> list[str]:
    return [f"story number {i} here" + (" and there" * 20 if long else "") for i in range(ROWS)]


def write(path: Path, **columns) -> Path:
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-multilabel")
    return {
        "empty": write(root / "empty.csv", text=texts(), labels=[""] * ROWS),
        "single": write(root / "single.csv", text=texts(), labels=["joy"] * ROWS),
        "semicolons": write(root / "semicolons.csv", text=texts(),
                            labels=[["joy", "anger", "fear", "joy;anger", "fear;joy"][i % 5] for i in range(ROWS)]),
        "two_in_0_1": write(root / "two.csv", text=texts(), joy=[i % 2 for i in range(ROWS)],
                            anger=[2 if i == 6 else (i + 1) % 2 for i in range(ROWS)],
                            fear=[int(i % 3 == 0) for i in range(ROWS)]),
        "pairs": write(root / "pairs.csv", text=texts(long=True), text_pair=[f"other {i}" for i in range(ROWS)],
                       label=["a" if i % 2 else "b" for i in range(ROWS)]),
        "long": write(root / "long.csv", text=texts(long=True), label=["a" if i % 2 else "b" for i in range(ROWS)]),
    }


def refused(capsys, *argv) -> str:
    """The one-line message of a refused command (checked: no traceback, a plain 'error:' line)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code != 0 and "Traceback" not in out + err
    message = err.strip().splitlines()[-1]
    assert message.startswith("error: "), err[-500:]
    return message


TRAIN_CASES = {
    # name: (file, extra flags, words of the message, what to do)
    "all_empty": ("empty", [], "Every label cell in 'labels' is empty (60 rows)", "Fill in each text's label"),
    "all_empty_multi": ("empty", ["--task", "multi_label"], "Every label cell in 'labels' is empty",
                        "joined by ';'"),
    "all_empty_kept_as_no_label": ("empty", ["--task", "multi_label", "--empty-labels", "none"],
                                   "Every label cell in 'labels' is empty", "choose the column"),
    "one_label_everywhere": ("single", ["--task", "multi_label"], "Only 1 label found (joy)",
                             "train a single-label model"),
    # --label-separator '|' on a file joined by ';' warned "Labels are mostly joined by '|'" and split at ';'.
    "a_separator_no_cell_holds": ("semicolons", ["--label-separator", "|"],
                                  "No label cell contains '|', the separator given; the cells use ';' (24 rows, "
                                  "e.g. 'joy;anger')", "--label-separator ';'"),
    "one_class_everywhere": ("single", [], "Every row has the same label ('joy')", "other class"),
    "a_2_in_0_1_columns": ("two_in_0_1", [], "'anger' should hold only 0 and 1, but it also holds '2' (1) "
                                             "(data rows 7)", "Write 1 where the text has this label"),
    "windows_for_pairs": ("pairs", ["--text-pair", "text_pair", "--long-texts", "windows"],
                          "'windows' cannot be used with text pairs", "Use long_texts 'head'"),
    "stride_beyond_the_window": ("long", ["--long-texts", "windows", "--window-stride", "600", "--max-length",
                                          "128"], "A window stride of 600 tokens is not below the maximum length "
                                                  "(128)", "Choose a stride of at most"),
}


@pytest.mark.parametrize("name", TRAIN_CASES)
def test_train_refuses_with_one_message_and_no_run_folder(name, files, tiny_bert_dir, tmp_path, capsys):
    file, flags, words, todo = TRAIN_CASES[name]
    runs = tmp_path / "runs"
    message = refused(capsys, "train", files[file], "--model", tiny_bert_dir, "--max-steps", "2", "--max-length",
                      "16", "--runs-dir", runs, "--quiet", *flags)
    assert words in message and todo in message
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("file, flags, words", [
    ("empty", [], "Every label cell in 'labels' is empty"),
    ("empty", ["--task", "multi_label", "--empty-labels", "none"], "Every label cell in 'labels' is empty"),
    ("two_in_0_1", [], "'anger' should hold only 0 and 1"),
    ("semicolons", ["--label-separator", "|"], "No label cell contains '|'"),
])
def test_inspect_says_the_same(file, flags, words, files, capsys):
    assert words in refused(capsys, "inspect", files[file], *flags)


def test_evaluating_a_multilabel_run_on_a_file_without_labels(multilabel_run, files, capsys):
    assert "Every label cell in 'labels' is empty" in refused(capsys, "evaluate", multilabel_run, "--data",
                                                              files["empty"])


def test_a_column_of_counts_is_not_a_label_column():
    from bertstudio.data.multilabel import is_binary_column

    assert is_binary_column(pd.Series([0, 1] * 30 + [2]))  # one stray value: a label column with a typo
    assert not is_binary_column(pd.Series([0, 1, 2, 3] * 10))  # counts
    assert not is_binary_column(pd.Series([1] * 20))  # a constant is no label
