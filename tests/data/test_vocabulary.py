"""The vocabulary check: words a model's tokenizer does not know or spells out, and an English-only model given
texts in another language, said in the data report and the Model tab's terms."""

from __future__ import annotations

from dataclasses import replace

import language_texts as texts
import pytest

from bertstudio.data import vocabulary
from bertstudio.data.vocabulary import measure_fit, model_language, vocabulary_finding, vocabulary_fit
from bertstudio.models.loading import load_tokenizer
from bertstudio.models.registry import MULTILINGUAL_MODEL

BUNDLED = "bundled-minilm"


@pytest.fixture(scope="module")
def bundled():
    return load_tokenizer(BUNDLED)


@pytest.fixture(scope="module")
def tiny_english():
    """A made-up WordPiece tokenizer knowing a few English and German words and the letters a to z: not a registry
    model."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = "the parcel was late and my refund is missing thanks great service das paket ist nicht und ich".split()
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words, *letters,
                                                  *(f"##{c}" for c in letters)])}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")


def finding_of(tokenizer, sample: list[str], model: str = BUNDLED, chosen: str | None = None):
    return vocabulary_finding(measure_fit(list(sample), tokenizer, model), chosen=chosen)


@pytest.mark.parametrize("sample", [texts.ENGLISH, texts.ENGLISH_MESSY, texts.EMOJI_GLUED, texts.TECH,
                                    texts.CLINICAL_SHORTHAND, texts.PRODUCT_TITLES],
                         ids=["plain", "emoji-urls-names", "emoji-glued", "code-and-ids", "clinical", "titles"])
def test_english_with_emoji_urls_names_or_jargon_gets_no_warning(bundled, sample):
    assert finding_of(bundled, sample) is None


def test_chinese_is_unknown_to_the_english_vocabulary_and_multilingual_bert_is_named(bundled):
    found = finding_of(bundled, texts.CHINESE)
    assert found.level == "warning" and found.code == "unknown_words"
    assert "About 8" in found.message and "(Chinese characters)" in found.message
    assert "unknown to the vocabulary of MiniLM-L6, which was trained on English" in found.message
    assert "[UNK]" in found.message
    assert "Choose Multilingual BERT in the Model tab" in found.hint
    assert "--model bert-base-multilingual-cased" in found.hint and "714 MB" in found.hint


@pytest.mark.parametrize(("sample", "script"), [(texts.ARABIC, "Arabic script"), (texts.RUSSIAN, "Cyrillic script")])
def test_arabic_and_russian_are_spelled_out_letter_by_letter(bundled, sample, script):
    found = finding_of(bundled, sample)
    assert found.code == "unknown_words"
    assert f"({script}) are cut into single letters by the vocabulary of MiniLM-L6" in found.message
    assert " ##" in found.message  # the example shows the pieces


def test_japanese_is_both_unknown_and_spelled_out(bundled):
    found = finding_of(bundled, texts.JAPANESE)
    assert "(Japanese) are unknown to, or cut into single letters by," in found.message


@pytest.mark.parametrize(("sample", "language"), [(texts.GERMAN, "German"), (texts.SPANISH, "Spanish")])
def test_german_and_spanish_have_known_letters_but_are_no_english(bundled, sample, language):
    """Their words are cut into pieces (Größe into gr ##o ##ße), not unknown: their language tells."""
    fit = measure_fit(list(sample), bundled, BUNDLED)
    assert fit.poorly_read_share < vocabulary.POORLY_READ_SHARE and fit.pieces_per_word > 1.7
    found = vocabulary_finding(fit)
    assert found.code == "not_english"
    assert found.message.startswith(f"Your texts look {language}, and MiniLM-L6 was trained on English: its "
                                    "vocabulary cuts their words into")
    assert "Multilingual BERT" in found.hint


def test_an_emoji_glued_to_a_word_does_not_make_the_word_unknown(bundled):
    """WordPiece reads "it😍" as one [UNK]: the word is known once the emoji is off."""
    fit = measure_fit(["Love it😍😍 best purchase ever", "fast delivery👍"], bundled, BUNDLED)
    assert fit.unknown_share == 0


def test_any_fast_tokenizer_is_measured_and_named_as_given(tiny_english):
    fine = measure_fit(["The parcel was late", "Great service, thanks"], tiny_english, "my-tiny-model")
    assert fine.unknown_share == 0 and vocabulary_finding(fine) is None
    found = finding_of(tiny_english, ["包裹晚到了两天", "Посылка пришла поздно"], model="my-tiny-model")
    assert "vocabulary of my-tiny-model:" in found.message  # not said to be trained on English: nothing known of it
    assert "Multilingual BERT" in found.hint


def test_only_a_registry_english_model_is_told_its_texts_are_no_english(tiny_english):
    """The languages of a model outside the registry are not known: only what its vocabulary did tells (a German
    model reads German well)."""
    fit = measure_fit(["Das Paket ist nicht und ich", "das paket ist nicht"], tiny_english, "some/german-bert")
    assert fit.writing.language == "German" and fit.poorly_read_share == 0
    assert vocabulary_finding(fit) is None
    assert vocabulary_finding(replace(fit, measured_by="bert-base-uncased")).code == "not_english"


def test_multilingual_bert_reading_badly_sends_to_a_model_of_that_language(tiny_english):
    found = finding_of(tiny_english, ["Über alles: 包裹晚到了两天"] * 3, model=MULTILINGUAL_MODEL)
    assert "trained on your texts' language" in found.hint and "Multilingual BERT in" not in found.hint


def test_codes_in_english_texts_are_called_codes(tiny_english):
    found = finding_of(tiny_english, ["the parcel xq7z9 kk3pq2 zz81bq was late"] * 3, model="my-tiny-model")
    assert found.code == "unknown_words" and "codes or ids" in found.hint


def test_a_slow_tokenizer_is_not_measured(bundled):
    class Slow:
        is_fast = False

    assert vocabulary_fit(["some text"], Slow(), "slow") is None


def test_it_reads_a_sample_of_the_lengths_sample(bundled):
    many = texts.ENGLISH * 1_000
    fit = vocabulary_fit(many, bundled, BUNDLED)
    assert fit.texts <= vocabulary.FIT_TEXTS and fit.words >= vocabulary.FIT_WORDS // 2


def test_long_texts_are_read_from_their_beginning_cut_at_a_space():
    text = "word " * 200
    cut = vocabulary.beginning(text)
    assert len(cut) <= vocabulary.FIT_CHARS and cut.endswith("word")


# --- while the chosen model is not on this computer the bundled tokenizer measures ----------------------------------


def test_the_bundled_measure_speaks_for_another_english_model_not_for_multilingual_bert(bundled):
    fit = measure_fit(list(texts.CHINESE), bundled, BUNDLED)
    assert vocabulary_finding(fit, chosen="bert-base-cased").code == "unknown_words"
    assert vocabulary_finding(fit, chosen=MULTILINGUAL_MODEL) is None  # it is the model the finding would name
    assert vocabulary_finding(fit, chosen="someone/chinese-bert") is None  # nothing is known of its vocabulary


# --- the Model tab's judgement --------------------------------------------------------------------------------------


def test_model_language_for_an_english_model_and_other_texts(bundled):
    fit = measure_fit(list(texts.CHINESE), bundled, BUNDLED)
    found = model_language(fit, BUNDLED)
    assert found.verdict == "other_language" and found.texts == "Chinese characters"
    assert found.measured.startswith("about 8") and "unknown to its vocabulary" in found.measured
    assert found.better.key == MULTILINGUAL_MODEL
    other = model_language(fit, "bert-base-cased")  # measured by the bundled one: no numbers of its own
    assert other.verdict == "other_language" and other.measured == "" and other.model == "BERT-base"


def test_model_language_for_multilingual_bert(bundled):
    german = measure_fit(list(texts.GERMAN), bundled, BUNDLED)
    assert model_language(german, MULTILINGUAL_MODEL).verdict == "suits"
    english = measure_fit(list(texts.ENGLISH), bundled, BUNDLED)
    advice = model_language(english, MULTILINGUAL_MODEL)
    assert advice.verdict == "english_texts" and advice.better.short_name == "BERT-base"


def test_model_language_says_nothing_of_english_texts_for_an_english_model(bundled):
    fit = measure_fit(list(texts.ENGLISH_MESSY), bundled, BUNDLED)
    assert model_language(fit, BUNDLED) is None and model_language(None, BUNDLED) is None
