"""Cells that spreadsheets would run as formulas, made inert: one rule for every CSV the tool writes.

Every CSV BERT Studio writes (test_predictions.csv, predictions-<file>.csv, label_issues.csv, the app's
downloads, ``predict`` output) goes through :func:`escape_frame` or :func:`escape_formula`; the tool's own
readers of those files use :func:`read_escaped_csv`, which undoes the escape exactly, so a text that
starts with "=" is evaluated as written and not with a stray apostrophe.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _needs_escape(cell: str) -> bool:
    """Starts (after any apostrophes) with a formula trigger, and is not a plain number like -2.5."""
    bare = cell.lstrip("'")
    return bool(bare) and bare.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.match(bare)


def escape_formula(cell: str) -> str:
    """Stop spreadsheets from running a cell as a formula: a leading apostrophe makes it plain text.

    Plain numbers such as ``-1`` stay as they are: they cannot run anything. A cell that already starts
    with apostrophes before a trigger (``'=x``) gets one more, so :func:`unescape_formula` can tell an
    added apostrophe from one that was in the text.
    """
    if cell and _needs_escape(cell):
        return "'" + cell
    return cell


def unescape_formula(cell: str) -> str:
    """The cell as it was before :func:`escape_formula` (``unescape_formula(escape_formula(x)) == x``)."""
    if cell.startswith("'") and _needs_escape(cell):
        return cell[1:]
    return cell


def _map_text(value: Any, change) -> Any:
    return change(value) if isinstance(value, str) else value


def _text_columns(frame: pd.DataFrame) -> list[Any]:
    """Columns that may hold text: object columns, and pandas' string columns (the default since pandas 3)."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    return [name for name in frame.columns if is_object_dtype(frame[name]) or is_string_dtype(frame[name])]


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name escaped; numbers stay numbers."""
    out = frame.copy()
    for column in _text_columns(out):
        out[column] = out[column].map(lambda v: _map_text(v, escape_formula))
    out.columns = [_map_text(name, escape_formula) for name in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """``frame`` as CSV (no index), formula cells escaped."""
    escape_frame(frame).to_csv(path, index=False)


def read_escaped_csv(path: str | Path, **read_options: Any) -> pd.DataFrame:
    """A CSV written by :func:`write_csv` read back with the texts as they were before escaping."""
    import pandas as pd

    frame = pd.read_csv(path, **read_options)
    for column in _text_columns(frame):
        frame[column] = frame[column].map(lambda v: _map_text(v, unescape_formula))
    frame.columns = [_map_text(name, unescape_formula) for name in frame.columns]
    return frame
