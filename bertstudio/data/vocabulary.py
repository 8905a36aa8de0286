"""How well the chosen model's vocabulary reads the texts: the words it does not know, and the words it spells out.

A model learns only from the pieces its tokenizer cuts a text into. The bundled model's English vocabulary reads
Chinese as ``[UNK]`` (unknown) and Arabic or Russian one letter at a time, and the length histogram counts those
pieces as ordinary tokens: the data looked fine while the model could learn almost nothing from it. This check
tokenizes a few thousand of the texts the lengths were measured on (any fast tokenizer: the words are the
tokenizer's own, its ``word_ids``) and says so in the data report, naming a model that reads them.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import groupby
from typing import Any, Literal

from bertstudio.data.findings import Finding
from bertstudio.data.languages import LATIN, Writing, read_writing, script_words, word_scripts
from bertstudio.data.lengths import percent_text, sample_positions, take_rows
from bertstudio.models.registry import MULTILINGUAL_MODEL, ModelVariant, find_variant, get_variant, short_name_of

# Texts read: every n-th of the lengths' random sample, so at most this many, each up to about this many characters
# (50-60 English words, 300 Chinese characters), until this many words are counted: the shares below then settle
# within a point or two, and the check takes a tenth of a second, a small part of measuring the lengths.
FIT_TEXTS = 1_000
FIT_CHARS = 300
FIT_WORDS = 20_000
_BATCH = 100

# A word read badly: unknown (an [UNK] piece) or spelled out (three pieces or more, at least half of them a single
# character). Share of such words (words with a letter: numbers, punctuation and emoji alone are no words here),
# measured with the bundled MiniLM (bert-base-uncased's WordPiece vocabulary) on 10-20 real-looking messages of each:
#   English: everyday 0%, with emoji, URLs and accented names (Siobhán, Nguyễn, Łukasz) 1%, slang 2%, medical
#   notes 3%, code and log lines full of ids (0x80070005, 7d9f8c) 5%, clinical shorthand 7%;
#   other languages: Turkish 16% (its dotless ı is spelled out), Hindi 65%, Japanese 68%, Chinese 80%,
#   Russian 83%, Arabic 91%, Korean 91%; German, Spanish, French 0-2% (their letters are known: their language
#   tells, see ``languages``).
# 20% is three times the worst English and far below every other script.
POORLY_READ_SHARE = 0.20
# What the pieces per word of everyday English measured with the bundled vocabulary (1.04 plain, 1.21 with emoji
# and URLs, 1.24 legal, 1.37 slang), said beside another language's (German 2.06, Spanish 1.91, French 1.70).
ENGLISH_PIECES = "1.0 to 1.4"
_EXAMPLES = 3
# Emoji and other symbols glued to a word make WordPiece read the whole word as [UNK] ("it😍" is one [UNK]): that
# is the symbol's doing, not the language's, so such a word counts as unknown only if it still is without them.
_SYMBOL_CATEGORY = "S"
# Zero-width joiner and emoji presentation selector, by code point: never shown, so no literal for the glyph check.
_EMOJI_JOINERS = frozenset(map(chr, (0x200D, 0xFE0F)))


@dataclass
class VocabularyFit:
    """How one tokenizer read a sample of the texts."""

    measured_by: str  # the model whose tokenizer read them
    texts: int
    words: int  # words with a letter
    unknown_share: float  # of the words: read as the unknown token
    spelled_out_share: float  # of the words: cut into mostly one-character pieces
    pieces_per_word: float  # of the words made of letters alone
    writing: Writing  # what the texts are written in
    poorly_read_script: str = ""  # the script most of the unknown and spelled-out words are in (one vote a word)
    # A few words of each kind with the pieces the model reads: "包 → [UNK]", "وصل → و ##ص ##ل", and the words cut
    # into the most pieces, "großartiges → gr ##o ##ß ##art ##ige ##s".
    unknown_examples: list[str] = field(default_factory=list)
    spelled_out_examples: list[str] = field(default_factory=list)
    split_examples: list[str] = field(default_factory=list)

    @property
    def poorly_read_share(self) -> float:
        return self.unknown_share + self.spelled_out_share

    @property
    def reads_poorly(self) -> bool:
        return self.words > 0 and self.poorly_read_share >= POORLY_READ_SHARE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def vocabulary_fit(texts: Sequence[str], tokenizer: Any, measured_by: str, *,
                   text_pairs: Sequence[str] | None = None) -> VocabularyFit | None:
    """Read up to ``FIT_TEXTS`` of the texts the lengths are measured on (``lengths.sample_positions``) with
    ``tokenizer``; None for a tokenizer that cannot say where its words are (a slow, pure-Python one)."""
    if not getattr(tokenizer, "is_fast", False) or not len(texts):
        return None
    positions = _thinned(sample_positions(len(texts)), len(texts))
    sample = take_rows(texts, positions)
    if text_pairs is not None:
        sample += take_rows(text_pairs, positions)
    sample = [text for text in sample if isinstance(text, str) and text]
    return measure_fit(sample, tokenizer, measured_by) if sample else None


def _thinned(positions: Any, n_rows: int) -> Any:
    """Every n-th of the lengths' sample (sorted positions, so every n-th still spans the whole file); None: all."""
    import numpy as np

    if positions is None and n_rows <= FIT_TEXTS:
        return None
    picked = np.arange(n_rows) if positions is None else positions
    return picked[::-(-len(picked) // FIT_TEXTS)]


def measure_fit(texts: list[str], tokenizer: Any, measured_by: str) -> VocabularyFit:
    """The fit of ``tokenizer`` to the beginning of each of ``texts`` (``FIT_CHARS``), read in a shuffled order, a
    batch at a time, until ``FIT_WORDS`` words are counted (so the texts read are a random few, not the first)."""
    texts = [beginning(text) for text in texts]
    random.Random(0).shuffle(texts)
    tally = _Tally(tokenizer)
    read = 0
    while read < len(texts) and tally.words < FIT_WORDS:
        batch = texts[read:read + _BATCH]
        encoded = tokenizer(batch, add_special_tokens=False, return_offsets_mapping=True,
                            return_attention_mask=False, return_token_type_ids=False)
        for row, text in enumerate(batch):
            for word, pieces in _words(text, encoded.word_ids(row), encoded["input_ids"][row],
                                       encoded["offset_mapping"][row]):
                tally.add(word, pieces)
        read += len(batch)
    tally.forgive_symbols(tokenizer)
    return tally.fit(tokenizer, measured_by, read, read_writing(texts[:read]))


def beginning(text: str) -> str:
    """The first ``FIT_CHARS`` characters of ``text``, ended at a space where there is one (a word cut in two would
    look spelled out); a tokenizer reads the whole of a text it is given, however little of it is kept."""
    if len(text) <= FIT_CHARS:
        return text
    cut = text[:FIT_CHARS]
    space = cut.rfind(" ")
    return cut[:space] if space > FIT_CHARS // 2 else cut


def _words(text: str, word_ids: list[int | None], ids: list[int], offsets: list[tuple[int, int]]):
    """(word, its pieces as (token id, characters covered)) for each of the tokenizer's words that holds a letter."""
    for word_id, positions in groupby(range(len(ids)), key=word_ids.__getitem__):
        if word_id is None:
            continue
        positions = list(positions)
        word = text[offsets[positions[0]][0]:offsets[positions[-1]][1]]
        if any(char.isalpha() for char in word):
            yield word, [(ids[i], offsets[i][1] - offsets[i][0]) for i in positions]


class _Tally:
    """What ``measure_fit`` counts word by word, with the pieces of the words it may show as examples."""

    def __init__(self, tokenizer: Any) -> None:
        self.unknown_id = tokenizer.unk_token_id
        self.words = self.letter_words = self.letter_pieces = 0
        self.unknown: list[str] = []
        self.spelled: list[str] = []
        self.pieces_of: dict[str, list[int]] = {}  # the token ids of each word read badly or cut in three or more

    def add(self, word: str, pieces: list[tuple[int, int]]) -> None:
        self.words += 1
        ids = [token for token, _ in pieces]
        unknown = self.unknown_id is not None and self.unknown_id in ids
        if unknown:
            self.unknown.append(word)
        elif spelled_out(pieces):
            self.spelled.append(word)
        if word.isalpha():
            self.letter_words += 1
            self.letter_pieces += len(pieces)
        if unknown or len(ids) >= 3:
            self.pieces_of.setdefault(word, ids)

    def forgive_symbols(self, tokenizer: Any) -> None:
        """Unknown words that are known once their emoji and symbols are taken off count as known (one call)."""
        bare = [without_symbols(word) for word in self.unknown]
        glued = [i for i, (word, rest) in enumerate(zip(self.unknown, bare)) if rest != word and rest]
        if not glued:
            return
        known = tokenizer([bare[i] for i in glued], add_special_tokens=False)["input_ids"]
        forgiven = {glued[k] for k, ids in enumerate(known) if self.unknown_id not in ids}
        self.unknown = [word for i, word in enumerate(self.unknown) if i not in forgiven]

    def fit(self, tokenizer: Any, measured_by: str, texts: int, writing: Writing) -> VocabularyFit:
        words = max(self.words, 1)
        poorly_read = self.unknown + self.spelled
        scripts = word_scripts(poorly_read)
        most_cut = sorted((w for w in self.pieces_of if w.isalpha()), key=lambda w: -len(self.pieces_of[w]))
        return VocabularyFit(
            measured_by=measured_by, texts=texts, words=self.words, unknown_share=len(self.unknown) / words,
            spelled_out_share=len(self.spelled) / words,
            pieces_per_word=self.letter_pieces / self.letter_words if self.letter_words else 1.0, writing=writing,
            poorly_read_script=scripts.most_common(1)[0][0] if scripts else "",
            unknown_examples=self._shown(tokenizer, self.unknown),
            spelled_out_examples=self._shown(tokenizer, self.spelled), split_examples=self._shown(tokenizer, most_cut))

    def _shown(self, tokenizer: Any, words: list[str]) -> list[str]:
        """'Größe → gr ##o ##ße': the first few distinct ``words`` with the pieces the model reads."""
        return [f"{word} → {' '.join(tokenizer.convert_ids_to_tokens(self.pieces_of[word]))}"
                for word in list(dict.fromkeys(words))[:_EXAMPLES]]


def spelled_out(pieces: list[tuple[int, int]]) -> bool:
    """Three pieces or more, at least half of them one character: the vocabulary knows the letters, not the word."""
    singles = sum(1 for _, width in pieces if width == 1)
    return len(pieces) >= 3 and 2 * singles >= len(pieces)


def without_symbols(word: str) -> str:
    return "".join(char for char in word
                   if not unicodedata.category(char).startswith(_SYMBOL_CATEGORY) and char not in _EMOJI_JOINERS)


# --- what the data report says --------------------------------------------------------------------------------------


def vocabulary_finding(fit: VocabularyFit | None, chosen: str | None = None) -> Finding | None:
    """The data report's warning when ``fit``'s vocabulary reads the texts badly, or is English-only and the texts
    are plainly in another language; None otherwise. ``chosen``: the model training will use, when another model's
    tokenizer measured (the chosen one is not on this computer yet): said only of an English-only choice, which
    the measured English vocabulary stands for; of any other the measured vocabulary says nothing."""
    if fit is None or (chosen is not None and not _speaks_for(fit.measured_by, chosen)):
        return None
    measured = find_variant(fit.measured_by)
    if fit.reads_poorly:
        return _poorly_read_finding(fit, measured)
    if measured is not None and measured.english_only and fit.writing.other_language:
        return _not_english_finding(fit, measured)
    return None


def _same_model(measured_by: str, chosen: str) -> bool:
    variant = find_variant(chosen)
    return variant is find_variant(measured_by) if variant is not None else chosen == measured_by


def _speaks_for(measured_by: str, chosen: str) -> bool:
    """Whether what ``measured_by``'s vocabulary did tells of ``chosen``'s: the same model, or two of the registry's
    English-only models (whose English vocabularies read other languages alike)."""
    measured, variant = find_variant(measured_by), find_variant(chosen)
    both_english = measured is not None and variant is not None and measured.english_only and variant.english_only
    return both_english or _same_model(measured_by, chosen)


def _other_script_read_poorly(fit: VocabularyFit) -> bool:
    """Read badly, and not only codes and ids in English texts (Latin words read badly in texts of no other
    language): a vocabulary for another language would read them."""
    return fit.reads_poorly and (fit.poorly_read_script != LATIN or fit.writing.other_language)


def _trained_on(variant: ModelVariant | None) -> str:
    return ", which was trained on English" if variant is not None and variant.english_only else ""


def _poorly_read_finding(fit: VocabularyFit, measured: ModelVariant | None) -> Finding:
    kind = _read_badly_how(fit)
    examples = {"unknown": fit.unknown_examples, "letters": fit.spelled_out_examples,
                "both": fit.unknown_examples[:1] + fit.spelled_out_examples[:1]}[kind]
    result = "reads each as [UNK] and cannot learn from them" if kind == "unknown" else "learns little from them"
    message = (f"{_about(fit.poorly_read_share)} of the words in your texts ({script_words(fit.poorly_read_script)}) "
               f"are {_HOW[kind]} the vocabulary of {short_name_of(fit.measured_by)}{_trained_on(measured)}: the model "
               f"{result}{_for_example(examples)}.")
    hint = _what_to_choose(measured) if _other_script_read_poorly(fit) else _CODES_HINT
    return Finding("warning", "unknown_words", message, hint=hint, examples=examples[1:])


_HOW = {"unknown": "unknown to", "letters": "cut into single letters by",
        "both": "unknown to, or cut into single letters by,"}


def _read_badly_how(fit: VocabularyFit) -> Literal["unknown", "letters", "both"]:
    """How the words read badly mostly are: unknown, spelled out letter by letter, or both (neither twice the other)."""
    if fit.unknown_share >= 2 * fit.spelled_out_share:
        return "unknown"
    return "letters" if fit.spelled_out_share >= 2 * fit.unknown_share else "both"


def _not_english_finding(fit: VocabularyFit, measured: ModelVariant) -> Finding:
    writing = fit.writing
    texts = f"look {writing.language}" if writing.script == LATIN else f"are mostly in {writing.described()}"
    message = (f"Your texts {texts}, and {measured.short_name} was trained on English: its vocabulary cuts their "
               f"words into {fit.pieces_per_word:.1f} pieces on average (everyday English: {ENGLISH_PIECES}), so the "
               f"model learns less from them than from English{_for_example(fit.split_examples)}.")
    return Finding("warning", "not_english", message, hint=_what_to_choose(measured),
                   examples=fit.split_examples[1:])


_CODES_HINT = ("Words like these are usually codes or ids. If they decide the labels, put what they mean into the "
               "texts in words; otherwise there is nothing to do.")


def _for_example(examples: list[str]) -> str:
    """' (e.g. 包 → [UNK])': the first example in the message itself (the app's findings table shows no other)."""
    return f" (e.g. {examples[0]})" if examples else ""


def _about(share: float) -> str:
    return "Nearly all" if share >= 0.95 else f"About {percent_text(share)}"


def _what_to_choose(measured: ModelVariant | None) -> str:
    """Multilingual BERT, unless it is the model that read them."""
    multilingual = get_variant(MULTILINGUAL_MODEL)
    if measured is multilingual:
        return ("Choose a model trained on your texts' language: type its Hugging Face id in the Model tab (on the "
                "command line: --model ID).")
    return (f"Choose {multilingual.short_name} in the Model tab: it reads {multilingual.languages[0]} (a one-time "
            f"download of about {multilingual.size_mb} MB; on the command line: --model {multilingual.key}).")


# --- what the Model tab says of the chosen model --------------------------------------------------------------------


@dataclass(frozen=True)
class ModelLanguage:
    """What the texts' language means for the chosen model."""

    verdict: Literal["other_language", "suits", "english_texts"]
    model: str  # the chosen model's name: "MiniLM-L6"
    texts: str  # what the texts are in: "German", "Chinese characters"
    # What the chosen model's own vocabulary did with them ("about 80% of their words are unknown to its vocabulary");
    # empty when another model's tokenizer measured (the chosen one is not on this computer yet).
    measured: str = ""
    better: ModelVariant | None = None  # the model to choose instead, if any


def model_language(fit: VocabularyFit | None, model: str) -> ModelLanguage | None:
    """What to tell about ``model`` and the language of the texts ``fit`` measured; None when nothing needs saying
    (an English model for English texts, or a model outside the registry that read them well)."""
    if fit is None:
        return None
    variant = find_variant(model)
    own = _same_model(fit.measured_by, model)
    measured = _measured_words(fit) if own else ""
    wrong_script = own and _other_script_read_poorly(fit)
    multilingual = get_variant(MULTILINGUAL_MODEL)
    if variant is None or variant.english_only:
        if (variant is not None and fit.writing.other_language) or wrong_script:
            return ModelLanguage("other_language", short_name_of(model), _texts_in(fit), measured, multilingual)
        return None
    if wrong_script:  # a multilingual model that does not know them either
        return ModelLanguage("other_language", variant.short_name, _texts_in(fit), measured, None)
    if fit.writing.looks_english:
        return ModelLanguage("english_texts", variant.short_name, "English", better=get_variant("bert-base-uncased"))
    if fit.writing.other_language:
        return ModelLanguage("suits", variant.short_name, _texts_in(fit))
    return None


def _texts_in(fit: VocabularyFit) -> str:
    """What the texts are in: their language or script, else (mostly English, a share of another script) the
    script of the words read badly."""
    if fit.writing.other_language or not fit.poorly_read_script:
        return fit.writing.described()
    return script_words(fit.poorly_read_script)


def _measured_words(fit: VocabularyFit) -> str:
    """'about 80% of their words are unknown to its vocabulary', or the pieces per word it cuts them into."""
    if fit.reads_poorly:
        return f"{_about(fit.poorly_read_share).lower()} of their words are {_HOW[_read_badly_how(fit)]} its vocabulary"
    return f"its vocabulary cuts their words into {fit.pieces_per_word:.1f} pieces on average"
