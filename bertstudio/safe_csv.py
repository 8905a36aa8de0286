"""Cells that spreadsheets would run as formulas, made inert: one rule for every CSV the tool writes."""

from __future__ import annotations

import re

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def escape_formula(cell: str) -> str:
    """Stop spreadsheets from running a cell as a formula: a leading apostrophe makes it plain text.

    Plain numbers such as ``-1`` stay as they are: they cannot run anything.
    """
    if cell and cell.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell
