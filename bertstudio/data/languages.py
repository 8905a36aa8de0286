"""What writing the texts are in: the script of their letters and, for the Latin alphabet, the language.

An English vocabulary reads Chinese as unknown and Arabic letter by letter (``vocabulary``), but German or Spanish
it reads without an unknown word: only the language of the texts tells that an English-only model is the wrong
choice for them. Telling it needs no model: the letters' Unicode names give the script, and the commonest short
words (articles, pronouns, "and", "is") give the language of a Latin-alphabet text, since every sentence holds
some and each language has its own. Pure Python, on the sample of texts the vocabulary check reads.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LATIN = "Latin"

# A word: a run of letters (digits, underscores and punctuation end it).
_WORD = re.compile(r"[^\W\d_]+")

# The commonest short words of each language that are no common word of another listed language (``de``, ``a``,
# ``la``, ``in``, ``was``, ``die``, ``com`` are left out: they are words in several, or in URLs). A language not
# listed is not named (nothing is said of its texts unless a vocabulary reads them badly, see ``vocabulary``).
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    language: frozenset(words.split()) for language, words in {
        "English": "the and of to is it that for with this my you have not but are be they from your we been has "
                   "had will would very what there when can just about our were which who how i",
        "German": "der das und ist nicht ich mit sie ein eine zu auf für den dem von sehr auch wurde habe bei "
                  "nach noch aber mein meine mir kein keine nur wir ihr",
        "Spanish": "el los las y muy pero es cuando también fue hasta ya yo hay sus estoy",
        "French": "le les et est une des du pour pas dans je qui mon très ce au avec sur vous nous été cette sont",
        "Italian": "il che è sono della molto gli ho questo nel alla anche dopo mio mia ci stato hanno",
        "Portuguese": "não os uma muito mas dos foi são pelo pela já nem também você minha meu",
        "Dutch": "het een van niet ik op voor zijn dat maar ook heb erg bij naar nog wel geen mijn",
        "Polish": "w z się jest że ale od jak mnie bardzo już tylko był była mój moja dla",
        "Turkish": "ve bir bu çok için ile ama daha gibi değil olarak hiç sonra kadar çünkü şey",
        "Indonesian": "dan yang di ini itu tidak saya untuk dengan ke ada sangat dari akan juga sudah tapi karena",
        "Vietnamese": "và của có không được tôi cho một những này với các đã rất khi người sau",
        "Swedish": "och att det är som på inte jag har av om mycket",
    }.items()}
# Texts are in a language when that share of their words is in its list, at least twice the share of any other
# list. Measured on 8-20 real-looking customer messages per language: a language's own list holds 9-33% of its words
# (short messages such as "Muy bueno!!" 9%, English 14-33%), another language's list at most 3%; English product
# titles, clinical shorthand and two-word English reviews hold under 2% of any list, and are named no language.
LANGUAGE_WORD_SHARE = 0.05
_AHEAD_OF_THE_NEXT = 2.0
ENGLISH = "English"

# What a person calls the texts of each script (the first word of a letter's Unicode name), where it is not
# "<Name> script".
_SCRIPT_WORDS: dict[str, str] = {
    "Han": "Chinese characters",
    "Japanese": "Japanese",
    "Hangul": "Korean Hangul",
    LATIN: "the Latin alphabet",
    "Greek": "Greek",
    "Hebrew": "Hebrew",
    "Thai": "Thai",
}
# Japanese is written with Chinese characters and kana together; this much kana among its letters tells it from
# Chinese (a Japanese message is about half kana, Chinese has none).
_KANA_SHARE = 0.2


@dataclass(frozen=True)
class Writing:
    """The script most of the texts' letters are in, and for the Latin alphabet the language their words are in."""

    script: str  # "Latin", "Han", "Japanese", "Arabic", "Cyrillic", ...; "" when the texts hold no letters
    script_share: float  # of all letters
    language: str | None  # for the Latin alphabet: "English", "German", ...; None: not one of FUNCTION_WORDS
    language_share: float  # of the words: that language's common words

    @property
    def looks_english(self) -> bool:
        return self.script == LATIN and self.language == ENGLISH

    @property
    def other_language(self) -> bool:
        """Plainly not English: another script, or a Latin-alphabet language of its own."""
        return bool(self.script) and (self.script != LATIN or self.language not in (None, ENGLISH))

    def described(self) -> str:
        """'German', 'Chinese characters', 'Cyrillic script': what the texts are mostly in, in words."""
        if self.script == LATIN and self.language is not None:
            return self.language
        return script_words(self.script)


def script_words(script: str) -> str:
    return _SCRIPT_WORDS.get(script, f"{script} script")


def read_writing(texts: Iterable[str]) -> Writing:
    """The script and language of ``texts`` (taken together)."""
    words = [word for text in texts for word in _WORD.findall(text)]
    scripts = letter_scripts("".join(words))
    if not scripts:
        return Writing("", 0.0, None, 0.0)
    script, count = scripts.most_common(1)[0]
    language, share = latin_language(words) if script == LATIN else (None, 0.0)
    return Writing(script, count / sum(scripts.values()), language, share)


def letter_scripts(letters: str) -> Counter[str]:
    """How many of ``letters`` are in each script (each distinct character named once: a few thousand at most)."""
    by_char = Counter(letters)
    scripts: Counter[str] = Counter()
    for char, count in by_char.items():
        script = script_of(char)
        if script:
            scripts[script] += count
    return _japanese(scripts)


def word_scripts(words: Iterable[str]) -> Counter[str]:
    """How many of ``words`` are in each script (a word's first letter tells)."""
    scripts = Counter(next((script_of(char) for char in word if char.isalpha()), "") for word in words)
    del scripts[""]
    return _japanese(scripts)


def _japanese(scripts: Counter[str]) -> Counter[str]:
    """Kana and Chinese characters counted as Japanese when there is enough kana among them."""
    kana = scripts["Hiragana"] + scripts["Katakana"]
    together = kana + scripts["Han"]
    if not kana or kana < _KANA_SHARE * together:
        return scripts
    merged = Counter({name: n for name, n in scripts.items() if name not in ("Hiragana", "Katakana", "Han")})
    merged["Japanese"] = together
    return merged


@functools.lru_cache(maxsize=8192)
def script_of(char: str) -> str:
    """'Latin', 'Cyrillic', 'Han', ...: the first word of a letter's Unicode name; '' for anything not a letter."""
    if not char.isalpha():
        return ""
    name = unicodedata.name(char, "")
    if name.startswith(("CJK ", "CJK")):
        return "Han"
    first = name.split(" ", 1)[0]
    return first.capitalize() if first else ""


def latin_language(words: Sequence[str]) -> tuple[str | None, float]:
    """The language whose common words make up a clear share of ``words``, with that share; (None, share of the
    likeliest) when none does."""
    if not words:
        return None, 0.0
    counts = Counter(word.lower() for word in words)
    shares = sorted(((sum(counts[w] for w in listed) / len(words), language)
                     for language, listed in FUNCTION_WORDS.items()), reverse=True)
    (best, language), (runner_up, _) = shares[0], shares[1]
    if best >= LANGUAGE_WORD_SHARE and best >= _AHEAD_OF_THE_NEXT * runner_up:
        return language, best
    return None, best
