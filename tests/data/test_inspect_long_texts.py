"""`bertstudio inspect` takes train's long-text flags and says what they would do to the file's texts: how many
are cut, and how many windows each would be read in."""

from __future__ import annotations

import json

import pytest
from helpers import write_long_text_csv

from bertstudio.cli import main


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    return write_long_text_csv(tmp_path_factory.mktemp("inspect") / "long.csv")


def _inspect(capsys, *args: str) -> dict:
    assert main(["inspect", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["long_texts"]


def test_inspect_says_how_many_texts_a_length_cuts_and_the_windows_per_text(long_csv, capsys):
    at_128 = _inspect(capsys, str(long_csv), "--max-length", "128", "--long-texts", "windows")
    at_512 = _inspect(capsys, str(long_csv), "--max-length", "512", "--long-texts", "windows")
    assert at_128["texts"] == 60 and at_128["cut_texts"] > at_512["cut_texts"] > 0
    assert at_128["windows_per_text"] > at_512["windows_per_text"] > 1
    assert at_128["window_stride"] == 63 and at_128["most_windows"] <= 8  # half a window; at most max_windows
    denser = _inspect(capsys, str(long_csv), "--max-length", "128", "--long-texts", "windows",
                      "--window-stride", "32", "--max-windows", "20")
    assert denser["windows_per_text"] > at_128["windows_per_text"] and denser["most_windows"] > 8

    assert main(["inspect", str(long_csv), "--max-length", "256", "--long-texts", "head_tail",
                 "--head-tokens", "64"]) == 0
    text = capsys.readouterr().out
    assert "Long texts at a maximum length of 256 tokens:" in text and "of 60 texts" in text
    assert "head_tail: long texts keep their first 64 and last 190 tokens." in text


def test_inspect_counts_the_texts_longer_than_the_windows_read_whole(long_csv, capsys):
    """Tester: "windows ... misses nothing" while texts longer than max_windows windows are read only in part."""
    few = _inspect(capsys, str(long_csv), "--max-length", "32", "--long-texts", "windows", "--max-windows", "2")
    assert few["read_whole_up_to"] == 62 and few["uncovered_share"] > 0
    assert main(["inspect", str(long_csv), "--max-length", "32", "--long-texts", "windows", "--max-windows", "2"]) == 0
    text = capsys.readouterr().out
    assert "are longer than the 62 tokens 2 windows of 32 tokens read whole" in text and "--max-windows" in text
    enough = _inspect(capsys, str(long_csv), "--max-length", "512", "--long-texts", "windows")
    assert enough["uncovered_share"] == 0.0


def test_inspect_without_flags_uses_the_suggested_length_and_explains_auto(long_csv, capsys):
    assert main(["inspect", str(long_csv)]) == 0
    text = capsys.readouterr().out
    assert "auto: training chooses what to keep" in text and "windows per text on average" in text


def test_inspect_refuses_what_train_refuses_with_the_same_words(long_csv, capsys):
    assert main(["inspect", str(long_csv), "--max-length", "128", "--window-stride", "200"]) != 0
    inspect_error = capsys.readouterr().err
    assert "A window stride of 200 tokens is not below the maximum length (128)" in inspect_error
    assert "--window-stride" in main_help("inspect") and "--long-texts" in main_help("inspect")


def main_help(command: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([command, "--help"])
    return out.getvalue()
