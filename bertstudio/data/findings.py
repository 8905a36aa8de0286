"""A finding: one thing worth telling the user about their data, in plain words, with what to do about it.

Reading a file (:mod:`bertstudio.data.io`), choosing its columns (:mod:`bertstudio.data.columns`) and cleaning
it (:mod:`bertstudio.data.prepare`) all report what they notice this way, so the check-up shows everything
in one list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Level = Literal["error", "warning", "info"]


@dataclass
class Finding:
    """One thing worth telling the user about their data, with what to do about it."""

    level: Level
    code: str
    message: str
    hint: str | None = None
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        line = f"{self.level.upper()}: {self.message}"
        if self.examples:
            shown = "; ".join(self.examples)
            # An example that ends a sentence already has its stop ("Same text for all." gave "all..").
            line += " Examples: " + shown + ("" if shown.endswith((".", "!", "?", "…")) else ".")
        if self.hint:
            line += f" What to do: {self.hint}"
        return line


def count_noun(n: int, singular: str, plural: str | None = None) -> str:
    """'1 row', '12,345 rows': findings read as sentences, so the numbers must agree."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def no_labels_finding(where: str, rows: int) -> Finding:
    """Every row with a text has an empty label cell: said as such, not as "no usable rows", since the fix is to
    fill in the labels (or pick the column that holds them), for one label per text or several."""
    return Finding("error", "no_labels",
                   f"Every label cell in {where} is empty ({count_noun(rows, 'row')}): there are no labels to "
                   "learn from.",
                   hint="Fill in each text's label (several labels per text go in one cell, joined by ';', or in "
                        "one 0/1 column per label), or choose the column that holds the labels (Data tab, or "
                        "--label / --label-columns).", count=rows)


_READ_AS_LISTED = 10


def labels_read_as_finding(read_as: dict[str, str], where: str) -> Finding | None:
    """The note on labels read as the known label they differ from only in upper/lower case or spaces ('Billing'
    as 'billing'), so a person sees what was matched before reading a score (None: nothing was)."""
    if not read_as:
        return None
    pairs = [f"{label!r} as {known!r}" for label, known in read_as.items()]
    more = f" and {len(pairs) - _READ_AS_LISTED:,} more" if len(pairs) > _READ_AS_LISTED else ""
    return Finding("info", "labels_read_as",
                   f"Read {', '.join(pairs[:_READ_AS_LISTED])}{more}: the labels of {where} differ from the model's "
                   "only in upper/lower case or spaces.", count=len(read_as))
