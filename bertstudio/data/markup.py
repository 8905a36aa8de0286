"""HTML markup in the texts: tags and entities a web page or an export left in them.

A model reads markup as if it were words (``<b>bold</b>`` reaches BERT as ``< b > bold < / b >``): it takes room
from the text, and where the markup comes with the source of a text rather than with what it says (one shop's
reviews in HTML, another's plain) the model learns the source. BERT Studio does not change the texts; the data
report says how many hold markup, so the person can strip it, or keep it where it matters.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from bertstudio.data.arrow_batches import arrow_batches
from bertstudio.data.findings import Finding, count_noun
from bertstudio.data.lengths import percent_text

# Tags of HTML itself, not any word in angle brackets: "press <Enter>", "Dear <name>" and "<3" are no markup.
_TAGS = ("a|abbr|b|big|blockquote|body|br|button|caption|center|cite|code|dd|del|div|dl|dt|em|font|footer|form|h[1-6]|"
         "head|header|hr|html|i|iframe|img|input|ins|label|li|link|mark|meta|nav|ol|option|p|pre|q|s|script|section|"
         "small|span|strike|strong|style|sub|sup|table|tbody|td|textarea|tfoot|th|thead|title|tr|tt|u|ul|wbr")
# An opening, closing or empty tag (with attributes), a comment, or an entity (&amp; &nbsp; &#39; &#x27;). RE2
# syntax too: Arrow counts the texts that hold any with it, in C++, over every text of the file.
MARKUP_PATTERN = (rf"(?i)</?(?:{_TAGS})(?:\s[^<>]*)?/?>|<!--|&(?:[a-z]{{2,8}}|#[0-9]{{1,7}}|#x[0-9a-f]{{1,6}});")
_MARKUP = re.compile(MARKUP_PATTERN)
# A stray tag or entity in a few texts costs the model nothing worth a line; from 2% of the texts (and at least
# 3) it is a habit of the source, worth knowing. From a quarter of them markup is much of what the model reads.
NOTED_SHARE = 0.02
NOTED_MIN = 3
WARNED_SHARE = 0.25
_SHOWN = 4  # the commonest pieces of markup named in the finding
_COLLECTED = 200  # texts whose markup is looked at to name the commonest


def markup_finding(dataset: Any) -> Finding | None:
    """What to say about the HTML markup in a prepared dataset's texts (None: too little to mention)."""
    import pyarrow.compute as pc

    columns = [name for name in ("text", "text_pair") if name in dataset.column_names]
    holding = 0
    seen: list[str] = []
    for batch in arrow_batches(dataset, columns):
        found = None
        for column in columns:
            matches = pc.fill_null(pc.match_substring_regex(batch.column(column), MARKUP_PATTERN), False)
            found = matches if found is None else pc.or_(found, matches)
        holding += pc.sum(found).as_py() or 0
        if len(seen) < _COLLECTED:
            seen += [text for column in columns for text in pc.filter(batch.column(column), found).to_pylist()
                     if text][: _COLLECTED - len(seen)]
    rows = len(dataset)
    if not rows or holding < NOTED_MIN or holding < NOTED_SHARE * rows:
        return None
    return _finding(holding, rows, commonest_markup(seen))


def commonest_markup(texts: list[str]) -> list[str]:
    """'<br/>', '&amp;', '<b>': the pieces of markup found most often in ``texts`` (closing tags counted with
    their opening ones)."""
    pieces = Counter(piece.lower() for text in texts for piece in _MARKUP.findall(text) if not piece.startswith("</"))
    return [piece for piece, _ in pieces.most_common(_SHOWN)]


def _finding(holding: int, rows: int, pieces: list[str]) -> Finding:
    share = holding / rows
    such_as = f", such as {', '.join(pieces)}" if pieces else ""
    return Finding(
        "warning" if share >= WARNED_SHARE else "info", "html_markup",
        f"{count_noun(holding, 'text')} of {rows:,} ({percent_text(share)}) hold HTML markup{such_as}. The model "
        "reads markup as words (<b> as the pieces <, b and >): it takes room from the text, and where it comes from "
        "the source of a text rather than from what the text says, the model learns the source.",
        hint="If the markup is left over from a web page or an export, remove it before training (convert the HTML "
             "to plain text, &amp; to &); keep it if it carries meaning for your labels. BERT Studio trains on the "
             "texts as they are.",
        count=holding)
