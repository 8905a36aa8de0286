"""Which text encoding a file is written in: UTF-8 when it is, else detected with a confidence, else refused.

Reading text in the wrong encoding never fails, it garbles: a UTF-8 file read as Windows-1252 turns every
'café' into 'cafÃ©', and a Shift-JIS file into noise that trains and predicts without a complaint. So
nothing here is guessed silently:

1. A byte-order mark decides (UTF-8, UTF-16, UTF-32); so do the zero bytes of UTF-16 written without one.
2. Otherwise the whole file must decode strictly as UTF-8, which is what nearly every tool writes today.
3. A file that is mostly UTF-8 but has some other bytes mixes encodings (two files pasted together, or one
   row typed in another program): no single reading is right, so it is refused, naming the line.
4. Anything else is a legacy encoding: the lines with non-ASCII bytes go to charset-normalizer, limited
   to the encodings spreadsheets are saved in today. Its best reading must beat every reading that
   differs from it by a clear margin; then the file is read that way and the report shows the encoding
   and a few decoded lines, so a wrong guess is visible. If no reading wins clearly, the file is refused
   with both readings and the advice to re-save it as UTF-8.

Files with zero bytes or many control characters are binary data, not text, and are refused too.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bertstudio.data.findings import Finding
from bertstudio.errors import DataError

_CHUNK_BYTES = 1 << 20
_HEAD_BYTES = 64 * 1024
# Lines with non-ASCII bytes handed to the detector: 256 KB is 10 ms of detection and far more evidence
# than the detector needs; a whole file of accented text would take seconds for the same answer.
_EVIDENCE_BYTES = 256 * 1024
_SAMPLE_LINES = 3
_SAMPLE_CHARS = 80

# charset-normalizer's "chaos" (share of odd characters, 0 = clean) and "coherence" (how well letter
# frequencies match a language, 1 = perfect). Margins measured on short spreadsheets: a German Latin-1
# file reads cleanly in Windows-1252 and Windows-1250 alike (chaos 0.0 both) but French accents make
# Windows-1252 more coherent by 0.056; a 50-row Japanese Shift-JIS file reads as Chinese GB18030 with
# chaos 0.100 against 0.126 for the right reading, so that difference (0.026) is below the chaos margin and
# the file is refused rather than read as Chinese.
_MAX_CHAOS = 0.2
_CHAOS_MARGIN = 0.03
_COHERENCE_MARGIN = 0.05
# charset-normalizer's language scores are weak on a few lines of text (it finds French written in
# Windows-1250, 'trčs déçu', only 0.04 less coherent than the right reading), so each reading is also
# scored by how well its accented letters fit one language's alphabet (see alphabet_fit): on 300 rows of
# French the right reading fits 1.0, the Windows-1250 one 0.75. Two readings whose fits differ by less
# than the margin, and that charset-normalizer cannot tell apart either, leave the encoding unsure.
_FIT_MARGIN = 0.1
_FIT_CHARS = 64 * 1024
# Share of the lines with non-ASCII letters that are valid UTF-8 above which a file that is not UTF-8
# throughout counts as mixed (see utf8_lines): by accident it stays far below this.
_MIXED_SHARE = 0.1
# Control characters (not tab, line breaks, vertical tab or form feed) above this share of the first bytes
# mean binary data: text has none, random bytes have one in nine.
_MAX_CONTROL_SHARE = 0.01
_CONTROL_BYTES = bytes([*range(1, 9), *range(14, 32), 127])

# What spreadsheets and databases save today, most common first (ties in a match's equivalent encodings
# are named by the first). Old Mac and DOS code pages are left out: they read most Western files as
# cleanly as Windows-1252 does, and would be chosen by accident.
CANDIDATE_ENCODINGS: tuple[str, ...] = (
    "cp1252", "latin_1", "iso8859_15", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256",
    "cp1257", "cp1258", "cp874", "cp932", "shift_jis", "euc_jp", "gb18030", "big5", "cp949", "euc_kr",
    "koi8_r", "koi8_u", "iso8859_2", "iso8859_5", "iso8859_7", "mac_roman",
)

_LABELS = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "utf-16": "UTF-16", "utf-32": "UTF-32",
    "utf-16-le": "UTF-16 (no byte-order mark)", "utf-16-be": "UTF-16 (big-endian, no byte-order mark)",
    "cp1252": "Windows-1252 (Western European)", "iso8859-1": "Latin-1", "iso8859-15": "Latin-9",
    "cp1250": "Windows-1250 (Central European)", "cp1251": "Windows-1251 (Cyrillic)",
    "cp1253": "Windows-1253 (Greek)", "cp1254": "Windows-1254 (Turkish)", "cp1255": "Windows-1255 (Hebrew)",
    "cp1256": "Windows-1256 (Arabic)", "cp1257": "Windows-1257 (Baltic)", "cp1258": "Windows-1258 (Vietnamese)",
    "cp874": "Windows-874 (Thai)", "cp932": "Shift-JIS (Japanese)", "shift_jis": "Shift-JIS (Japanese)",
    "euc_jp": "EUC-JP (Japanese)", "gb18030": "GB18030 (Chinese)", "big5": "Big5 (Chinese)",
    "cp949": "EUC-KR (Korean)", "euc_kr": "EUC-KR (Korean)", "koi8-r": "KOI8-R (Russian)",
    "koi8-u": "KOI8-U (Ukrainian)", "iso8859-2": "ISO-8859-2 (Central European)",
    "iso8859-5": "ISO-8859-5 (Cyrillic)", "iso8859-7": "ISO-8859-7 (Greek)", "mac-roman": "Mac Roman",
}

# The non-ASCII letters of languages written in Latin script (lower case), for alphabet_fit.
_LATIN_ALPHABETS: tuple[str, ...] = (
    "àâæçéèêëîïôœùûüÿ",  # French
    "äöüß",  # German
    "áéíñóúü",  # Spanish
    "áâãàçéêíóôõú",  # Portuguese
    "àèéìíîòóùú",  # Italian
    "áéëíïóöúü",  # Dutch
    "àçèéíïòóúü",  # Catalan
    "åäæøöé",  # Danish, Norwegian, Swedish
    "åäöšž",  # Finnish
    "áæðéíóöúýþ",  # Icelandic
    "ąćęłńóśźż",  # Polish
    "áčďéěíňóřšťúůýž",  # Czech
    "áäčďéíĺľňóôŕšťúýž",  # Slovak
    "áéíóöőúüű",  # Hungarian
    "ăâîșțşţ",  # Romanian
    "čćđšž",  # Croatian, Slovenian, Bosnian
    "çğıöşüâîû",  # Turkish
    "ąčęėįšųūž",  # Lithuanian
    "āčēģīķļņšūž",  # Latvian
    "äõöüšž",  # Estonian
)
_CJK = (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)


@dataclass(frozen=True)
class Script:
    """A script other than Latin, as code point ranges; with ``core`` codecs, only characters those can
    write count (Shift-JIS bytes read as Korean are all Hangul, but rare syllables outside EUC-KR)."""

    ranges: tuple[tuple[int, int], ...]
    core: tuple[str, ...] = ()

    def holds(self, ch: str) -> bool:
        if not any(lo <= ord(ch) <= hi for lo, hi in self.ranges):
            return False
        return not self.core or any(_encodable(ch, codec) for codec in self.core)


def _encodable(ch: str, codec: str) -> bool:
    """``ch`` is one character of ``codec``'s table (Python's EUC-KR also spells rare syllables out in 8 bytes)."""
    try:
        return len(ch.encode(codec)) <= 2
    except UnicodeEncodeError:
        return False


_SCRIPTS: tuple[Script, ...] = (
    Script(((0x0400, 0x04FF),)),  # Cyrillic
    Script(((0x0370, 0x03FF),)),  # Greek
    Script(((0x0590, 0x05FF),)),  # Hebrew
    Script(((0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))),  # Arabic
    Script(((0x0E00, 0x0E7F),)),  # Thai
    Script(((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F), (0x3005, 0x3005), *_CJK),
           core=("shift_jis",)),  # Japanese: JIS X 0208
    Script(_CJK, core=("gb2312", "big5")),  # Chinese: the common simplified and traditional sets
    Script(((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F), *_CJK), core=("euc_kr",)),  # Korean: KS X 1001
)
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_NON_ASCII_CHAR = re.compile(r"[^\x00-\x7f]")
# Punctuation, spaces and currency signs belong to no alphabet and count for none.
_NEUTRAL_CATEGORIES = ("Zs", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sc")
_NEUTRAL_SYMBOLS = "°©®™×÷±µ"

RESAVE_AS_UTF8 = ("Re-save the file as UTF-8 (Excel: File > Save As > 'CSV UTF-8'; LibreOffice: Save As CSV, "
                  "tick 'Edit filter settings', choose 'Unicode (UTF-8)'), then load it again.")


def encoding_label(codec: str) -> str:
    """'cp1252' -> 'Windows-1252 (Western European)'; unknown names as given."""
    try:
        key = codecs.lookup(codec).name
    except LookupError:
        return codec
    return _LABELS.get(key, _LABELS.get(codec, codec))


@dataclass(frozen=True)
class TextEncoding:
    """How a text file is decoded, and whether that was detected (and so worth showing) or certain."""

    codec: str  # a Python codec name, handed to the parsers
    detected: bool = False
    sample: tuple[str, ...] = field(default_factory=tuple)  # decoded lines with non-ASCII letters

    @property
    def label(self) -> str:
        return encoding_label(self.codec)

    def finding(self, file_name: str) -> Finding | None:
        """The report line for a detected encoding: which one, and lines to check it by."""
        if not self.detected:
            return None
        return Finding(
            "warning", "detected_encoding",
            f"'{file_name}' is not UTF-8 text; it was read as {self.label}, detected from its letters. "
            "Check that these lines read right.",
            hint=f"If the letters look wrong, the detection was wrong: {RESAVE_AS_UTF8}",
            count=len(self.sample), examples=list(self.sample))


def choose_encoding(file: Path) -> TextEncoding:
    """The encoding to read ``file`` with (see the module docstring); DataError when it cannot be told."""
    with file.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
    marked = _byte_order_mark(head) or _utf16_without_mark(head)
    if marked is not None:
        _check_decodes(file, marked)
        return TextEncoding(marked)
    _refuse_control_characters(head, file)
    scan = scan_bytes(file)
    if scan.nul_line is not None:
        raise DataError(f"'{file.name}' contains zero bytes (the first on line {scan.nul_line:,}), which text "
                        "never does: it is binary data or a damaged file, not a table.",
                        hint="Open it in a spreadsheet program and save it again as CSV (UTF-8) or Excel (.xlsx).")
    codec = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    if scan.utf8_error_line is None:
        return TextEncoding(codec)
    good, bad = utf8_lines(bytes(scan.non_ascii_lines))
    if codec == "utf-8-sig" or good >= _MIXED_SHARE * (good + bad):
        raise DataError(
            f"'{file.name}' mixes text encodings: {good:,} of its lines with accented letters are UTF-8, but "
            f"{bad:,} {'is' if bad == 1 else 'are'} not (the first on line {scan.utf8_error_line:,}); those were "
            "written by a program using another encoding. Read either way, some rows would come out garbled.",
            hint=f"Retype the accented letters on those lines, or {RESAVE_AS_UTF8[0].lower()}{RESAVE_AS_UTF8[1:]}")
    return detect_legacy_encoding(bytes(scan.non_ascii_lines), file.name)


# --------------------------------------------------------------------------- certain encodings


def _byte_order_mark(head: bytes) -> str | None:
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: FF FE starts both
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None  # a UTF-8 mark is checked like any UTF-8 file


def _utf16_without_mark(head: bytes) -> str | None:
    """UTF-16 without a byte-order mark: in text of mostly Latin letters every other byte is zero."""
    pairs = len(head) // 2
    if pairs < 2:
        return None
    zero_even = head[0:pairs * 2:2].count(0) / pairs
    zero_odd = head[1:pairs * 2:2].count(0) / pairs
    if zero_odd > 0.3 and zero_even < 0.01:
        return "utf-16-le"
    if zero_even > 0.3 and zero_odd < 0.01:
        return "utf-16-be"
    return None


def _check_decodes(file: Path, codec: str) -> None:
    """The whole file decodes with ``codec`` (chunk by chunk: memory stays flat)."""
    decoder = codecs.getincrementaldecoder(codec)()
    with file.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise DataError(f"'{file.name}' starts as {encoding_label(codec)} text, but part of it is not "
                            f"({error.reason}): it is damaged or mixes encodings.",
                            hint=RESAVE_AS_UTF8) from error


def _refuse_control_characters(head: bytes, file: Path) -> None:
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if head and controls > _MAX_CONTROL_SHARE * len(head):
        raise DataError(f"'{file.name}' is binary data, not text: it is full of control characters that "
                        "text files do not contain (it may be a program's own format, or damaged).",
                        hint="Open it in the program that made it and save or export the table as CSV (UTF-8) "
                             "or Excel (.xlsx).")


# --------------------------------------------------------------------------- one pass over the bytes


@dataclass
class ByteScan:
    """What one pass over a file's bytes found."""

    nul_line: int | None = None  # line of the first zero byte
    utf8_error_line: int | None = None  # line of the first byte that is not UTF-8
    non_ascii_lines: bytearray = field(default_factory=bytearray)  # about _EVIDENCE_BYTES of them
    lines_before: int = 0
    _decoder: codecs.IncrementalDecoder = field(default_factory=codecs.getincrementaldecoder("utf-8"), repr=False)

    def feed(self, block: bytes, *, final: bool = False) -> None:
        """Take the next whole lines of the file (see ``_whole_lines``)."""
        if self.nul_line is None and (at := block.find(b"\0")) >= 0:
            self.nul_line = self._line_at(block, at)
        if self.utf8_error_line is None:
            try:
                self._decoder.decode(block, final=final)
            except UnicodeDecodeError as error:
                self.utf8_error_line = self._line_at(block, error.start)
        if not block.isascii():
            for line in _non_ascii_lines(block):
                if len(self.non_ascii_lines) >= _EVIDENCE_BYTES:
                    break
                self.non_ascii_lines += line + b"\n"
        self.lines_before += _count_lines(block)

    def _line_at(self, block: bytes, offset: int) -> int:
        return self.lines_before + _count_lines(block[:offset]) + 1


_NON_ASCII_BYTE = re.compile(rb"[\x80-\xff]")


def _non_ascii_lines(block: bytes) -> Iterator[bytes]:
    """The lines of ``block`` holding a non-ASCII byte, in order. Found byte first, then widened to its line: a
    pattern matching the whole line instead retried from every start position of an ASCII line, so a file of
    20,000-character texts with one accent elsewhere took two minutes to read instead of seconds."""
    start = 0
    while (found := _NON_ASCII_BYTE.search(block, start)) is not None:
        begin = max(block.rfind(b"\n", 0, found.start()), block.rfind(b"\r", 0, found.start())) + 1
        end = min((i for i in (block.find(b"\n", found.end()), block.find(b"\r", found.end())) if i >= 0),
                  default=len(block))
        yield block[begin:end]
        start = end


def scan_bytes(file: Path) -> ByteScan:
    """Zero bytes, the first byte that is not UTF-8 and the lines with non-ASCII bytes, in one pass."""
    scan, carry = ByteScan(), b""
    with file.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            block, carry = _whole_lines(carry + chunk)
            scan.feed(block)
    scan.feed(carry, final=True)
    return scan


def _whole_lines(data: bytes) -> tuple[bytes, bytes]:
    """``data`` cut after its last line break, so a line never straddles two blocks (one longer than
    4 MB does: memory stays bounded, and the UTF-8 decoder carries a split character over)."""
    end = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
    if end == 0:
        return (data, b"") if len(data) >= 4 * _CHUNK_BYTES else (b"", data)
    return data[:end], data[end:]


def _count_lines(data: bytes) -> int:
    """Line breaks in ``data``: LF, CRLF or CR alone (old Mac files)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def utf8_lines(data: bytes) -> tuple[int, int]:
    """(lines that decode as UTF-8, lines that do not) among the non-ASCII lines in ``data``.

    A line in a legacy encoding decodes as UTF-8 only by accident: every one of its non-ASCII bytes would
    have to form a valid UTF-8 sequence, which Windows-1252 text never does and Chinese GBK text does for
    about one short line in fifty.
    """
    good = bad = 0
    for line in data.splitlines():
        try:
            line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            bad += 1
    return good, bad


# --------------------------------------------------------------------------- legacy encodings


@dataclass(frozen=True)
class Reading:
    """One way to decode the evidence: charset-normalizer's scores, and how well its letters fit one alphabet."""

    codec: str
    chaos: float
    coherence: float
    fit: float
    text: str


def detect_legacy_encoding(evidence: bytes, file_name: str) -> TextEncoding:
    """The one clearly best reading of ``evidence`` (non-ASCII lines), else DataError."""
    readings = legacy_readings(evidence)
    if not readings:
        raise DataError(f"'{file_name}' is not UTF-8 text and does not read cleanly in any common encoding: it "
                        "may be binary data or a damaged file.",
                        hint="Open it in a spreadsheet program and save it as CSV (UTF-8) or Excel (.xlsx).")
    best, rivals = readings[0], [r for r in readings[1:] if not clearly_better(readings[0], r)]
    if rivals:
        theirs, ours = _first_difference(rivals[0].text, best.text)
        raise DataError(
            f"'{file_name}' is not UTF-8 text, and its encoding cannot be told for sure: a line reads "
            f"'{ours}' in {encoding_label(best.codec)} but '{theirs}' in {encoding_label(rivals[0].codec)}.",
            hint=RESAVE_AS_UTF8)
    return TextEncoding(best.codec, detected=True, sample=_sample_lines(best.text))


def legacy_readings(evidence: bytes) -> list[Reading]:
    """Every clean-enough reading among the candidate encodings, best first."""
    from charset_normalizer import from_bytes

    matches = from_bytes(evidence, cp_isolation=list(CANDIDATE_ENCODINGS), threshold=_MAX_CHAOS,
                         preemptive_behaviour=False, enable_fallback=False)
    readings = [Reading(_preferred(match.could_be_from_charset), match.chaos, match.coherence,
                        alphabet_fit(str(match)[:_FIT_CHARS]), str(match))
                for match in matches]
    return sorted(readings, key=lambda r: (-r.fit, r.chaos, -r.coherence))


def clearly_better(best: Reading, other: Reading) -> bool:
    """``best`` fits one alphabet clearly better, or is as good and clearly cleaner or more like a language."""
    if best.fit - other.fit >= _FIT_MARGIN:
        return True
    return (other.chaos - best.chaos >= _CHAOS_MARGIN
            or best.coherence - other.coherence >= _COHERENCE_MARGIN)


def alphabet_fit(text: str) -> float:
    """The largest share of ``text``'s non-ASCII letters (and odd symbols) that one language's alphabet holds.

    A wrong reading mixes letters no language uses together: French 'très' read as Windows-1250 is 'trčs'
    beside 'déçu', and Czech has 'č' but no 'ç'. For scripts other than Latin, ASCII letters inside the same
    word count against the fit too: 'dйjа' is neither a Russian nor a French word.
    """
    chars = Counter(_NON_ASCII_CHAR.findall(text))
    letters = {ch: n for ch, n in chars.items() if ch.isalpha()}
    odd = sum(n for ch, n in chars.items() if not ch.isalpha() and _is_odd_symbol(ch))
    words = [word for word in _LETTER_RUN.findall(text) if not word.isascii()]
    ascii_in_words = sum(len(word.encode("ascii", errors="ignore")) for word in words)
    total_letters = sum(letters.values())
    if total_letters + odd == 0:
        return 1.0
    best = 0.0
    for alphabet in _LATIN_ALPHABETS:
        covered = sum(n for ch, n in letters.items() if ch.lower() in alphabet)
        best = max(best, covered / (total_letters + odd))
    for script in _SCRIPTS:
        covered = sum(n for ch, n in letters.items() if script.holds(ch))
        best = max(best, covered / (total_letters + ascii_in_words + odd))
    return best


def _is_odd_symbol(ch: str) -> bool:
    """Not a letter and not ordinary punctuation: the cedillas and dashes a wrong reading leaves behind."""
    category = unicodedata.category(ch)
    return not (category[0] in "LMN" or category in _NEUTRAL_CATEGORIES or ch in _NEUTRAL_SYMBOLS)


def _preferred(codecs_: list[str]) -> str:
    rank = {name: i for i, name in enumerate(CANDIDATE_ENCODINGS)}
    return min(codecs_, key=lambda name: rank.get(name, len(rank)))


def _first_difference(a: str, b: str) -> tuple[str, str]:
    """The first line where two readings differ, shortened around the difference."""
    for line_a, line_b in zip(a.splitlines(), b.splitlines()):
        if line_a != line_b:
            return _around_non_ascii(line_a), _around_non_ascii(line_b)
    return _around_non_ascii(a), _around_non_ascii(b)


def _sample_lines(text: str) -> tuple[str, ...]:
    lines = [line for line in text.splitlines() if not line.isascii()]
    return tuple(_around_non_ascii(line) for line in lines[:_SAMPLE_LINES])


def _around_non_ascii(line: str) -> str:
    """At most _SAMPLE_CHARS characters of ``line``, starting a little before its first non-ASCII one."""
    first = next((i for i, ch in enumerate(line) if ord(ch) > 127), 0)
    start = max(0, first - _SAMPLE_CHARS // 4)
    cut = line[start:start + _SAMPLE_CHARS].strip()
    return ("…" if start else "") + cut + ("…" if start + _SAMPLE_CHARS < len(line) else "")
