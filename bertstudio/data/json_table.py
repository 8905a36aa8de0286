"""JSON files in the layouts people actually have, and JSON errors that point at the line.

datasets' JSON builder reads JSON lines and a list of records. Every other common layout came back as
something that looked like data but was not: `df.to_json("x.json")` (pandas' default, one object per
column: {"text": {"0": ...}}) was read as ONE row whose label was the whole label column, an export that
wraps its rows ({"data": [...]}) as a table with a single column "data". Here a file that is one JSON object
is read in Python and turned into columns by its layout, saying which layout was found; a file that is a list
of lists (rows without column names) is refused with what to do. And where a file does not parse, the
message names the line (JSON lines) or the line and character (JSON) instead of a parser's byte offset.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from bertstudio.data.encoding import RESAVE_AS_UTF8
from bertstudio.data.findings import count_noun
from bertstudio.errors import DataError

# Enough of the start of a file to see its first object whole (one row of JSON lines, or the start of a list).
_PEEK_CHARS = 1 << 20
_SNIPPET_CHARS = 80
_ONE_OBJECT_PER_LINE = ('Each line of a JSON lines file must be one complete object with named fields, like '
                        '{"text": "...", "label": "..."}.')
RECORDS_HINT = ('Save the table as a list of rows with named fields ([{"text": "...", "label": "..."}, ...]; '
                 "pandas: df.to_json('data.json', orient='records')) or as CSV (UTF-8).")


class JsonLayout(Enum):
    RECORDS = "records"  # a list of objects: datasets reads it
    LINES = "lines"  # one object per line (JSON lines, whatever the file's name): datasets reads it, streaming
    OBJECT = "object"  # one JSON value that is not a list of objects: read here
    LISTS = "lists"  # a list of lists: rows without column names


@dataclass(frozen=True)
class JsonColumns:
    """A JSON object's table: column name -> values (any JSON values), and how they were found."""

    columns: dict[str, list[Any]]
    layout: str  # completes "read as ...", e.g. "one object per column (pandas' default)"
    others: tuple[str, ...] = ()  # the other lists of rows in the file, not read: "'tags' (300 rows)"

    def note(self, name: str) -> str:
        """How file ``name`` was read, naming the lists of rows left aside (the person may want one of them)."""
        said = f"'{name}' is one JSON object; it was read as {self.layout}"
        return said + (f"; the file also holds {', '.join(self.others)}." if self.others else ".")


def json_layout(file: Path) -> JsonLayout:
    """What a .json file holds, from its first characters (and its first object where it starts with one)."""
    with file.open(encoding="utf-8-sig", errors="replace") as handle:
        head = handle.read(_PEEK_CHARS)
        whole = not handle.read(1)
    text = head.lstrip()
    if text.startswith("["):
        after = text[1:].lstrip()[:1]
        return JsonLayout.LISTS if after == "[" else JsonLayout.RECORDS
    if not text.startswith("{"):
        return JsonLayout.OBJECT  # a bare value: reading it gives the located error
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except (json.JSONDecodeError, RecursionError):
        # Cut off by the peek (one large object) or broken: either way reading the whole file says which.
        return JsonLayout.OBJECT
    rest_is_blank = not text[end:].strip()
    # A second value after the first object: JSON lines in a file named .json.
    return JsonLayout.OBJECT if rest_is_blank and whole else JsonLayout.LINES


def table_layout(file: Path) -> JsonLayout:
    """``json_layout`` of a .json file that can be a table: DataError for rows without column names."""
    layout = json_layout(file)
    if layout is JsonLayout.LISTS:
        raise DataError(f"'{file.name}' holds rows as lists of values, without column names.", hint=RECORDS_HINT)
    return layout


def rows_past(file: Path, layout: JsonLayout, limit: int) -> bool:
    """Whether a file of JSON lines, or a .json list of rows, holds more than ``limit`` rows: read only up to the
    row past them (datasets' builder reads the whole file before anything can be said of its size)."""
    with file.open(encoding="utf-8-sig", errors="replace") as handle:
        rows = (line for line in handle if line.strip()) if layout is JsonLayout.LINES else _list_items(handle)
        return sum(1 for _ in itertools.islice(rows, limit + 1)) > limit


_BETWEEN_ITEMS = re.compile(r"[\s,]*")


def _list_items(handle: Any) -> Iterator[Any]:
    """The values of the JSON list that ``handle`` holds, parsed one at a time as the text arrives; a broken list
    ends them early (reading the file says where it breaks)."""
    decoder = json.JSONDecoder()
    text = handle.read(_PEEK_CHARS).lstrip()
    at = 1  # after the "["
    while True:
        at = _BETWEEN_ITEMS.match(text, at).end()  # type: ignore[union-attr] - matches the empty text too
        if text[at:at + 1] == "]":
            return
        try:
            value, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:  # a value cut where the text read so far ends, or broken
            more = handle.read(max(_PEEK_CHARS, len(text) - at))  # twice as much each time: one huge value
            if not more:
                return
            text, at = text[at:] + more, 0
            continue
        yield value


def load_json_object(file: Path) -> JsonColumns:
    """Read a whole JSON file whose layout is OBJECT into columns; DataError with the place if it is not JSON."""
    try:
        with file.open(encoding="utf-8-sig") as handle:
            text = handle.read()
    except UnicodeDecodeError as error:
        raise DataError(f"'{file.name}' is not UTF-8 text, but JSON files must be UTF-8.",
                        hint=RESAVE_AS_UTF8) from error
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise invalid_json_error(file, text, error) from error
    except RecursionError as error:
        raise DataError(f"'{file.name}' is nested too deeply to be a table.", hint=RECORDS_HINT) from error
    return json_columns(value, file.name)


def json_columns(value: Any, name: str) -> JsonColumns:
    """The table in a parsed JSON value, for the layouts pandas and common exports write."""
    if isinstance(value, list):
        if value and all(isinstance(row, dict) for row in value):
            return JsonColumns(_records_to_columns(value), "a list of rows")
        raise DataError(f"'{name}' holds a list of {_kind(value[0]) if value else 'nothing'}, not rows with "
                        "named fields.", hint=RECORDS_HINT)
    if not isinstance(value, dict) or not value:
        raise DataError(f"'{name}' holds {_kind(value)}, not a table.", hint=RECORDS_HINT)
    return _object_columns(value, name)


def _object_columns(obj: dict[str, Any], name: str) -> JsonColumns:
    values = list(obj.values())
    if _is_pandas_split(obj):
        header = [str(column) for column in obj["columns"]]
        return JsonColumns({column: [row[i] if i < len(row) else None for row in obj["data"]]
                            for i, column in enumerate(header)}, "pandas' 'split' layout")
    if isinstance(obj.get("schema"), dict) and _is_records(obj.get("data")):
        columns = _records_to_columns(obj["data"])
        for key in obj["schema"].get("primaryKey") or []:
            columns.pop(str(key), None)  # pandas' own row numbers, not data
        return JsonColumns(columns, "pandas' 'table' layout")
    if all(isinstance(v, dict) for v in values):
        return _nested_objects(obj)
    tables = {key: rows for key, rows in obj.items() if _is_records(rows)}
    if tables:
        return _wrapped_table(tables)
    lengths = {len(v) for v in values if isinstance(v, list)}
    if len(lengths) == 1 and all(isinstance(v, list) for v in values):
        return JsonColumns({str(k): list(v) for k, v in obj.items()}, "one list per column")
    if not any(isinstance(v, (dict, list)) for v in values):
        return JsonColumns({str(k): [v] for k, v in obj.items()}, "a single row")
    raise DataError(
        f"'{name}' is one JSON object whose parts ({_describe_keys(obj)}) do not form a table.",
        hint=RECORDS_HINT,
    )


def _nested_objects(obj: dict[str, dict[str, Any]]) -> JsonColumns:
    """{"text": {"0": ..., "1": ...}, ...} (one object per column) or {"0": {"text": ...}, ...} (per row).

    pandas writes row labels as "0", "1", ... so the side whose keys are numbers holds the rows; where
    neither or both are, the side with more keys does (a table has more rows than columns).
    """
    outer = list(obj)
    inner = list(dict.fromkeys(key for row in obj.values() for key in row))
    rows_outside = _are_row_labels(outer) and not _are_row_labels(inner)
    rows_inside = _are_row_labels(inner) and not _are_row_labels(outer)
    if rows_outside or (not rows_inside and len(outer) > len(inner)):
        return JsonColumns(_records_to_columns(obj.values()), "one object per row (pandas' 'index' layout)")
    return JsonColumns({str(column): [cells.get(row) for row in inner] for column, cells in obj.items()},
                       "one object per column (pandas' default layout)")


def _wrapped_table(tables: dict[str, list[dict[str, Any]]]) -> JsonColumns:
    """The list of rows to read in an object that wraps several ({"items": [...], "tags": [...]}): the largest
    of those that look like texts with labels, else the largest; the others named in the note.

    Taking the largest alone read a list of 300 tags instead of the 200 rows of texts beside it.
    """
    key = max(tables, key=lambda k: (_holds_texts_and_labels(tables[k]), len(tables[k])))
    others = tuple(_list_size(k, rows) for k, rows in tables.items() if k != key)
    return JsonColumns(_records_to_columns(tables[key]), f"the list {_list_size(key, tables[key])}", others)


def _list_size(key: str, rows: list[Any]) -> str:
    return f"'{key}' ({count_noun(len(rows), 'row')})"


# A text to classify runs to a few words at least; names, tags and codes to one or two.
_TEXT_WORDS = 3
_SAMPLED_ROWS = 200


def _holds_texts_and_labels(rows: list[dict[str, Any]]) -> bool:
    """Whether a list of rows has a field of texts (strings of several words, on average over its first rows)
    and another field beside it that could hold their labels."""
    sample = rows[:_SAMPLED_ROWS]
    fields = list(dict.fromkeys(key for row in sample for key in row))
    return len(fields) >= 2 and any(_mean_words([row.get(name) for row in sample]) >= _TEXT_WORDS
                                    for name in fields)


def _mean_words(values: list[Any]) -> float:
    texts = [value for value in values if isinstance(value, str)]
    return sum(len(text.split()) for text in texts) / len(texts) if texts else 0.0


def _records_to_columns(rows: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    rows = list(rows)
    names = list(dict.fromkeys(key for row in rows for key in row))
    return {str(name): [row.get(name) for row in rows] for name in names}


def _is_pandas_split(obj: dict[str, Any]) -> bool:
    return (isinstance(obj.get("columns"), list) and isinstance(obj.get("data"), list)
            and all(isinstance(row, list) for row in obj["data"]))


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(row, dict) for row in value)


def _are_row_labels(keys: list[str]) -> bool:
    return bool(keys) and all(str(key).lstrip("-").isdigit() for key in keys)


def _describe_keys(obj: dict[str, Any]) -> str:
    shown = [f"'{key}': {_kind(value)}" for key, value in list(obj.items())[:4]]
    return ", ".join(shown) + (f" and {len(obj) - 4:,} more" if len(obj) > 4 else "")


# What a JSON value is, in words; bool before int, which it is a kind of in Python.
_KINDS = ((bool, "true/false"), (dict, "an object"), (list, "a list"), (str, "a text"), ((int, float), "a number"))


def _kind(value: Any) -> str:
    return next((word for types, word in _KINDS if isinstance(value, types)), "null")


def invalid_json_error(file: Path, text: str, error: json.JSONDecodeError) -> DataError:
    line = text.splitlines()[error.lineno - 1] if text else ""
    return DataError(
        f"'{file.name}' is not valid JSON: {error.msg} at line {error.lineno:,}, character {error.colno:,}"
        f" ({_snippet(line, error.colno)}).",
        hint="Fix the file at that place (a JSON validator points at the same spot), or save the table as CSV "
             "(UTF-8).",
    )


def located_json_error(file: Path, layout: JsonLayout) -> DataError | None:
    """Where a file datasets' JSON builder refused goes wrong: the line of JSON lines, or line and character."""
    if layout is JsonLayout.LINES:
        return json_lines_error(file)
    try:
        load_json_object(file)
    except DataError as error:
        return error
    return None


def json_lines_error(file: Path) -> DataError | None:
    """The first line of a JSON lines file that is not one object, as a DataError; None if every line is."""
    for number, line in _numbered_lines(file):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            return DataError(
                f"Line {number:,} of '{file.name}' is not valid JSON ({error.msg}, at character {error.colno:,}): "
                f"{_snippet(line, error.colno)}.",
                hint=f"{_ONE_OBJECT_PER_LINE} Fix or remove that line and load the file again.",
            )
        if not isinstance(value, dict):
            return DataError(
                f"Line {number:,} of '{file.name}' holds {_kind(value)}, not an object with named fields: "
                f"{_snippet(line, 1)}.",
                hint=f"{_ONE_OBJECT_PER_LINE} Fix or remove that line and load the file again.",
            )
    return None


def _numbered_lines(file: Path) -> Iterator[tuple[int, str]]:
    with file.open(encoding="utf-8-sig", errors="replace") as handle:
        yield from enumerate(handle, start=1)


def _snippet(line: str, column: int) -> str:
    """The part of ``line`` around character ``column`` (1-based), short enough for a message."""
    line = line.rstrip("\r\n")
    start = max(0, column - 1 - _SNIPPET_CHARS // 2)
    piece = line[start:start + _SNIPPET_CHARS]
    return ("…" if start else "") + piece + ("…" if start + _SNIPPET_CHARS < len(line) else "")
