"""``inspect_file`` and ``bertstudio inspect`` say when the model's vocabulary does not read the texts."""

from __future__ import annotations

import language_texts as texts
import pytest
from helpers import write_rows

from bertstudio.cli import main
from bertstudio.data.inspect import inspect_file
from bertstudio.models.loading import load_tokenizer
from bertstudio.models.registry import MULTILINGUAL_MODEL


def labelled(path, sample: list[str]):
    return str(write_rows(path, ["text", "label"], [[text, "ab"[i % 2]] for i, text in enumerate(sample)]))


@pytest.fixture(scope="module")
def chinese_file(tmp_path_factory):
    return labelled(tmp_path_factory.mktemp("zh") / "zh.csv", texts.CHINESE)


def test_chinese_texts_get_the_warning_in_the_report_and_the_json(chinese_file):
    found = inspect_file(chinese_file)
    assert "unknown_words" in [f.code for f in found.report.findings]
    assert "WARNING: About" in found.to_text() and "Multilingual BERT" in found.to_text()
    assert found.to_dict()["vocabulary"]["writing"]["script"] == "Han"


def test_the_cli_prints_the_finding(chinese_file, capsys):
    assert main(["inspect", chinese_file]) == 0  # a warning, not an error: training may still start
    out = capsys.readouterr().out
    assert "are unknown to the vocabulary of MiniLM-L6, which was trained on English" in out
    assert "--model bert-base-multilingual-cased" in out


def test_english_with_emoji_urls_and_accented_names_gets_none(tmp_path):
    found = inspect_file(labelled(tmp_path / "en.csv", texts.ENGLISH_MESSY + texts.EMOJI_GLUED))
    assert not {"unknown_words", "not_english"} & {f.code for f in found.report.findings}
    assert found.vocabulary is not None and found.vocabulary.writing.looks_english


def test_german_texts_are_named_german(tmp_path):
    found = inspect_file(labelled(tmp_path / "de.csv", texts.GERMAN))
    assert any(f.code == "not_english" and "look German" in f.message for f in found.report.findings)


def test_the_bundled_tokenizer_standing_in_for_multilingual_bert_says_nothing_of_it(chinese_file):
    """The app measures with the bundled tokenizer while the chosen model is not downloaded yet."""
    found = inspect_file(chinese_file, model=MULTILINGUAL_MODEL, tokenizer=load_tokenizer("bundled-minilm"),
                         measured_by="bundled-minilm")
    assert "unknown_words" not in [f.code for f in found.report.findings]
    assert found.vocabulary.measured_by == "bundled-minilm"
