"""The model picker's cards (ui/views/models.py): registry facts and where the model is now."""

from __future__ import annotations

from bertstudio.data.languages import Writing
from bertstudio.data.vocabulary import VocabularyFit
from bertstudio.errors import ModelError
from bertstudio.models import registry
from bertstudio.ui.views import models as cards


def test_every_variant_card_shows_its_facts():
    for key, variant in registry.VARIANTS.items():
        card = cards.variant_card(variant, "Somewhere.")
        assert card.startswith(f"**{variant.display_name}**")
        assert f"{variant.layers} layers" in card and variant.speed in card
        assert card.endswith("- Availability: Somewhere.")


def test_card_says_whether_the_model_must_be_downloaded(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    assert "works offline" in cards.describe_variant("bundled-minilm")
    large = cards.describe_variant("bert-large-uncased")
    size = registry.get_variant("bert-large-uncased").size_mb
    assert f"one-time download of about {size} MB" in large


def test_card_of_an_unavailable_model_says_why(monkeypatch):
    def missing(key):
        raise ModelError("the bundled weights are damaged.")

    monkeypatch.setattr(cards, "availability", missing)
    assert "- Availability: Not available: the bundled weights are damaged." in cards.describe_variant("bundled-minilm")


# --- the language note: what the chosen model makes of the data's language ------------------------------------------


def measured(by: str, writing: Writing, *, unknown: float = 0.0, pieces: float = 1.1,
             script: str = "") -> VocabularyFit:
    return VocabularyFit(measured_by=by, texts=100, words=1_000, unknown_share=unknown, spelled_out_share=0.0,
                         pieces_per_word=pieces, writing=writing, poorly_read_script=script)


CHINESE = Writing("Han", 1.0, None, 0.0)
GERMAN = Writing("Latin", 1.0, "German", 0.27)
ENGLISH = Writing("Latin", 1.0, "English", 0.33)


def test_an_english_model_for_chinese_texts_points_to_multilingual_bert():
    note = cards.language_note("bundled-minilm", measured("bundled-minilm", CHINESE, unknown=0.8, script="Han"))
    assert note.startswith("**Language:** your texts are mostly in Chinese characters, and MiniLM-L6 was trained on "
                           "English: about 80% of their words are unknown to its vocabulary.")
    assert "**Multilingual BERT** reads 104 languages: choose it in the list (a one-time download of about 714 MB)." \
        in note


def test_an_english_model_not_yet_downloaded_is_told_without_numbers_of_another_vocabulary():
    note = cards.language_note("bert-base-cased", measured("bundled-minilm", GERMAN, pieces=2.1))
    assert "your texts are mostly in German, and BERT-base was trained on English. **Multilingual BERT**" in note


def test_multilingual_bert_suits_other_languages_and_an_english_model_reads_english_better():
    assert cards.language_note(registry.MULTILINGUAL_MODEL, measured("bundled-minilm", CHINESE, unknown=0.8,
                                                                     script="Han")) == \
        "**Language:** Multilingual BERT reads 104 languages, so it suits your texts (mostly Chinese characters)."
    english = cards.language_note(registry.MULTILINGUAL_MODEL, measured("bundled-minilm", ENGLISH))
    assert "your texts look English" in english and "such as BERT-base is usually a little more accurate" in english


def test_nothing_is_said_of_english_texts_for_an_english_model_or_without_data():
    assert cards.language_note("bundled-minilm", measured("bundled-minilm", ENGLISH)) == ""
    assert cards.language_note("bundled-minilm", None) == ""


def test_a_model_of_ones_own_that_does_not_know_the_texts():
    note = cards.language_note("my/model", measured("my/model", CHINESE, unknown=0.9, script="Han"))
    assert "and my/model does not know them: about 90% of their words are unknown to its vocabulary." in note
