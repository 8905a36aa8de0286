"""Label values as the user meant them: 1, 1.0, "1" and " 1 " are the same class."""

from __future__ import annotations

import ast
import json
import math
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

# Plain decimal numbers only. Leading zeros ("01", "007") are codes, not numbers,
# and stay as written; so do "nan", "inf" and scientific notation.
_NUMBER = re.compile(r"[+-]?(0|[1-9]\d*)(\.\d+)?|[+-]?(0|[1-9]\d*)\.")

# The "separator" of label cells written as lists, ["joy", "love"] or ['joy', 'love']: what pandas and Hugging Face
# datasets write for a column of label lists, and what a JSON lines file holds natively.
LIST_CELLS = "[]"
_LONGEST_LIST_CELL = 10_000  # a label cell longer than this is not a list of labels; not worth parsing
# One spelling of a yes/no label whatever the file: Parquet and JSON booleans reach us as "true"/"false", a CSV
# written by pandas holds "True"/"False" and one saved by Excel "TRUE"/"FALSE". Spelt as each file has them, a model
# trained on one refused to be scored on another ("labels the model was never trained on: 'False', 'True'").
_BOOLEAN_SPELLINGS = {"true": "True", "false": "False"}


def normalise_label(value: Any, *, casefold: bool = False) -> str | None:
    """The canonical text of one label, or None when the label is missing.

    Whitespace is stripped; whole numbers lose their decimals (1.0 -> "1") and
    other numbers are written in their shortest form ("2.50" -> "2.5"); booleans are "True" and "False" however
    the file spells them.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = visible_text(str(value)).strip()
    if not text or text.lower() in {"nan", "<na>"}:
        return None
    items = list_cell_labels(text)
    if items is not None and len(items) <= 1:  # ['billing'] is the label billing; [] is no label
        return normalise_label(items[0], casefold=casefold) if items else None
    if _NUMBER.fullmatch(text):
        text = _canonical_number(Decimal(text))
    text = _BOOLEAN_SPELLINGS.get(text.casefold(), text)
    return text.casefold() if casefold else text


# Characters that show as nothing: a label with one (pasted from a web page, a chat) looked the same as the label
# without it on every screen, yet was a class of its own.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u2060\ufeff\u00ad"))


def visible_text(text: str) -> str:
    """``text`` as it looks: one Unicode form for accented letters ("é" typed as one character or as "e" and an
    accent, which a Mac and Windows store differently) and no invisible characters."""
    return unicodedata.normalize("NFC", text).translate(_INVISIBLE)


def is_blank(value: Any) -> bool:
    """Whether ``value`` shows nothing: missing, empty, or only spaces and invisible characters. A model given such
    a "text" still answers, with a made-up label, so every way in (a file, the server, the app) refuses it."""
    return value is None or not visible_text(str(value)).strip()


def list_cell_labels(text: str) -> list[str] | None:
    """The items of a label cell written as a list of labels (JSON or Python syntax); None if it is not one."""
    if not (text.startswith("[") and text.endswith("]")) or len(text) > _LONGEST_LIST_CELL:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)  # literals only: a cell is never run as code
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    if not isinstance(value, list) or not all(isinstance(item, (str, int, float)) for item in value):
        return None
    return [str(item) for item in value]


def _canonical_number(number: Decimal) -> str:
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _as_number(label: str) -> Decimal | None:
    if not _NUMBER.fullmatch(label):
        return None
    try:
        return Decimal(label)
    except InvalidOperation:
        return None


def is_number(label: str) -> bool:
    """A label written as a plain decimal number (after ``normalise_label``)."""
    return _as_number(label) is not None


def _natural_key(label: str) -> tuple[tuple[int, int, str], ...]:
    """'class2' before 'class10'; otherwise case-insensitive alphabetical."""
    parts = re.split(r"(\d+)", label)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.casefold()) for p in parts if p)


def sort_labels(labels: Iterable[str]) -> list[str]:
    """Class names in a stable, natural order: numerically if all are numbers, else alphabetically."""
    unique = set(labels)
    numbers = {label: _as_number(label) for label in unique}
    if unique and all(n is not None for n in numbers.values()):
        return sorted(unique, key=lambda label: (numbers[label], label))
    return sorted(unique, key=lambda label: (_natural_key(label), label))


def spelling_key(label: str) -> str:
    """What two spellings of one label share: 'Billing', 'billing ' and 'BILLING' (a file typed by hand)."""
    return label.strip().casefold()


def spelled_alike(labels: Iterable[str], known: Iterable[str]) -> dict[str, list[str]]:
    """Each of ``labels``' known labels that differ from it only in upper/lower case or surrounding spaces (none,
    one, or several when the known labels themselves differ only so)."""
    by_key: dict[str, list[str]] = {}
    for name in known:
        by_key.setdefault(spelling_key(name), []).append(name)
    return {label: by_key.get(spelling_key(label), []) for label in labels}
