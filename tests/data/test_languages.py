"""The script and language of the texts, told without a model."""

from __future__ import annotations

import language_texts as texts
import pytest

from bertstudio.data.languages import latin_language, read_writing, script_of, word_scripts


@pytest.mark.parametrize(("sample", "described"), [
    (texts.ENGLISH, "English"), (texts.ENGLISH_MESSY, "English"), (texts.EMOJI_GLUED, "English"),
    (texts.TECH, "English"), (texts.GERMAN, "German"), (texts.SPANISH, "Spanish"),
    (texts.CHINESE, "Chinese characters"), (texts.JAPANESE, "Japanese"), (texts.ARABIC, "Arabic script"),
    (texts.RUSSIAN, "Cyrillic script")])
def test_what_the_texts_are_written_in(sample, described):
    assert read_writing(sample).described() == described


@pytest.mark.parametrize("sample", [texts.CLINICAL_SHORTHAND, texts.PRODUCT_TITLES, ["Great product", "Too expensive"]],
                         ids=["clinical", "titles", "two-word-reviews"])
def test_english_with_few_common_words_is_named_no_language_and_is_not_another(sample):
    writing = read_writing(sample)
    assert writing.script == "Latin" and writing.language is None and not writing.other_language


def test_english_with_accented_names_emoji_and_urls_is_english():
    writing = read_writing(["José García from support was super helpful 👍 https://example.com/help",
                            "Thanks Zoë and Björn at the Malmö store for the quick exchange 🙏"])
    assert writing.looks_english and not writing.other_language


def test_a_mostly_english_file_with_a_few_spanish_rows_is_english():
    assert read_writing(texts.ENGLISH[:10] + texts.SPANISH[:2]).language == "English"


def test_a_language_must_lead_clearly_to_be_named():
    assert latin_language(["the", "parcel", "der", "paket"])[0] is None  # as many English as German words
    assert latin_language([]) == (None, 0.0)


def test_scripts_of_letters_and_words():
    assert [script_of(c) for c in "aЯ包ا1 "] == ["Latin", "Cyrillic", "Han", "Arabic", "", ""]
    assert word_scripts(["包", "裹", "hello", "😀"]) == {"Han": 2, "Latin": 1}
    assert read_writing(["12345 !!!"]).script == ""
