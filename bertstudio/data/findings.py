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
            line += " Examples: " + "; ".join(self.examples) + "."
        if self.hint:
            line += f" What to do: {self.hint}"
        return line


def count_noun(n: int, singular: str, plural: str | None = None) -> str:
    """'1 row', '12,345 rows': findings read as sentences, so the numbers must agree."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"
