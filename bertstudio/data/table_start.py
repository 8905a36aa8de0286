"""Where a table starts in a file: title rows above the header, Excel's "sep=;" line, no header at all.

Files exported from other tools rarely begin with their header: a report opens with its title ("Customer
feedback export - March"), Excel saves CSV for another locale with a first line "sep=;", and some well-known
data sets (AG News', Yelp's original CSVs) begin with data. Read as the header, each of these turned real rows
into column names or the real header into a data row. These rules look at the first rows only (the same for
CSV and for a workbook's sheet) and leave a note for the person whenever they move the header.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertstudio.data.columns import LABEL_NAMES, TEXT_NAMES
from bertstudio.data.findings import Finding, count_noun

# A .txt file whose lines do not split into columns holds one text per line; it is read with this "separator"
# (the ASCII unit separator, which texts do not hold) and without quoting, so each line is one whole text.
ONE_TEXT_PER_LINE = "\x1f"


@dataclass(frozen=True)
class TableStart:
    """Where the table of a file starts: title rows above the header, and the header itself."""

    title_rows: int  # rows (not blank) above the header that hold a title, not column names
    skip_rows: int  # rows (not blank) above the header: the title rows, and Excel's "sep=;" line
    skip_lines: int  # lines of the file those rows and the blank lines among them take (what parsers skip)
    header: list[str]  # blank names where the file has no header row (see ``first_row_is_data``)
    title: str | None = None  # the first title row's text, to show
    has_header: bool = True
    title_line: int = 0  # the line (a sheet's row) where the title starts, counted from 1; 0 without a title


def delimited_start(records: Any, *, sep_line: bool = False) -> TableStart:
    """Where the table starts among a delimited file's first ``records`` (a csv reader over its first lines)."""
    rows, lines_before = _rows_with_lines_before(records)
    lead = int(sep_line)
    titles, has_header = rows_start(rows[lead:])
    skip = lead + titles
    if len(rows) <= skip:
        return TableStart(0, 0, 0, [])
    lines = lines_before[skip]
    if not has_header:
        return TableStart(0, skip, lines, headerless_names(max(len(row) for row in rows)), has_header=False)
    if not titles:
        return TableStart(0, skip, lines, rows[skip])
    return TableStart(titles, skip, lines, rows[skip], first_filled(rows[lead]), title_line=lines_before[lead] + 1)


def _rows_with_lines_before(records: Any) -> tuple[list[list[str]], list[int]]:
    """The first ``SCAN_ROWS`` rows that hold a value, and for each the lines of the file above it.

    The parsers are told to skip every line above the header, blank ones included: Excel saves a title as
    "Title," then an empty row as ",", which pandas does not count as blank. Skipping only to the end of the
    title made that "," row the header (columns "Unnamed: 0", ...) and the real header a row of data.
    """
    rows: list[list[str]] = []
    lines_before: list[int] = []
    above = 0
    for record in records:
        if any(cell.strip() for cell in record):
            rows.append(record)
            lines_before.append(above)
            if len(rows) == SCAN_ROWS:
                break
        above = records.line_num
    return rows, lines_before


def rows_start(rows: list[list[Any]]) -> tuple[int, bool]:
    """How many of the first ``rows`` are titles, and whether the row after them is a header (else data)."""
    titles = count_title_rows(rows)
    if titles:
        return titles, True
    if is_one_column(rows):
        return 0, one_column_header(rows)
    return 0, not first_row_is_data(rows)


def headerless_names(width: int) -> list[str]:
    """Names for the columns of a file without a header: one column is the texts ("text", as a .txt file's
    lines are), several stay blank for ``unique_column_names`` to number."""
    return ["text"] if width == 1 else [""] * width


def is_one_column(rows: list[list[Any]]) -> bool:
    return len(rows) >= 2 and all(len(_filled(row)) <= 1 for row in rows)


# Column names are a word or a few ("text", "Customer comment"); a text to classify is mostly longer, or a
# sentence ending in its stop.
_NAME_WORDS = 3
_NAME_CHARS = 40


def looks_like_a_name(cell: Any) -> bool:
    """Whether a cell reads as a column's name rather than a text: a few words, not a sentence."""
    text = "" if cell is None else str(cell).strip()
    return 0 < len(text) <= _NAME_CHARS and len(text.split()) <= _NAME_WORDS and text[-1] not in ".!?"


def one_column_header(rows: list[list[Any]]) -> bool:
    """Whether the first row of a one-column table is its header: a usual name ("text", "review"), or a short
    one that does not come back further down (a file of texts without a header opens with a text, and read as
    the header that text was lost).  Too few words to tell ("Okay I guess"): a header, with a note naming it."""
    first = first_filled(rows[0])
    if _usual_names(rows[0]):
        return True
    return looks_like_a_name(first) and not _repeats_below(rows, 0)


def lines_without_quotes(sample: str, delimiter: str) -> bool:
    """Whether a .csv file is one text per line whose texts hold the separator unquoted ("Loved it, really").

    Split at the separator, its lines make rows of different widths, some of one value (a line without the
    separator: a table's rows have two or more); the first line is one name or a sentence, not column names
    ("text,label", "What the customer wrote,label"); and it is not a title above a table. Read as a table, the
    texts were cut into columns at their commas and the first one became the header.
    """
    rows = sample_rows(sample, delimiter)
    if not rows:
        return False
    widths = Counter(len(row) for row in rows)
    first = _filled(rows[0])
    names = len(first) > 1 and (all(looks_like_a_name(cell) for cell in first) or bool(_usual_names(rows[0])))
    return len(widths) > 1 and widths[1] > 0 and not names and not count_title_rows(rows)


def non_blank(records: Iterable[list[str]]) -> Iterator[list[str]]:
    """The records that hold something besides blanks (a csv reader's, in order)."""
    return (record for record in records if any(cell.strip() for cell in record))


def first_filled(row: list[Any]) -> str | None:
    cells = _filled(row)
    return str(cells[0]) if cells else None


def lines_start(sample: str, *, headers_usual: bool = False) -> TableStart:
    """One text per line: the first line is a header only when it is a text column's usual name, or, in a
    file where headers are usual (a .csv, not a .txt), when it reads as a name (``one_column_header``)."""
    lines = list(itertools.islice(non_blank([line.strip()] for line in sample.splitlines()), SCAN_ROWS))
    first = lines[0][0] if lines else ""
    if first.casefold() in TEXT_NAMES or (headers_usual and one_column_header(lines)):
        return TableStart(0, 0, 0, [first])
    return TableStart(0, 0, 0, headerless_names(1), has_header=False)


def sample_rows(sample: str, delimiter: str) -> list[list[str]]:
    """The first ``SCAN_ROWS`` rows (not blank) of a sample of a file, split at ``delimiter`` with quoting."""
    return list(itertools.islice(non_blank(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)),
                                 SCAN_ROWS))


def splits_into_columns(sample: str, delimiter: str) -> bool:
    """Whether the first lines split at ``delimiter`` into the same number (two or more) of values."""
    rows = sample_rows(sample, delimiter)
    if not rows:
        return False
    widths = Counter(len(row) for row in rows)
    width, count = widths.most_common(1)[0]
    return width >= 2 and count >= _SAME_WIDTH_SHARE * len(rows)


_SAME_WIDTH_SHARE = 0.8


def quotes_are_literal(sample: str, delimiter: str) -> bool:
    """Whether the double quotes of a tab-separated file are part of its texts rather than quoting (TSV files
    are mostly written without any).

    Read with quoting, a text that opens with a quote ('"Great film, really<TAB>pos') runs on to the next
    quote, lines later, swallowing the rows between into one text without a word. The quotes are taken
    literally when that reading breaks the rules of quoting (a quote that closes a value is followed by more
    text: '"Loved it<TAB>pos', then '"Best film<TAB>pos' two lines down) while every line, read as written,
    splits into the same number (two or more) of values. A well-formed quoted file never breaks those rules,
    whatever its values hold. Tabs only: commas and semicolons in texts make a CSV file's lines split unevenly.
    """
    lines = [line for line in sample.splitlines() if line.strip()]
    if delimiter != "\t" or '"' not in sample or len(lines) < 2:
        return False
    widths = {line.count(delimiter) + 1 for line in lines}
    if len(widths) != 1 or widths == {1}:
        return False
    try:
        for _ in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error:
        return True
    return False


# Reports exported from other tools often open with a title ("Customer feedback, March") and a blank line.
SCAN_ROWS = 50
_MAX_TITLE_ROWS = 5
# The rows a table may hold above its data, titles and the header: what a count of a sheet's filled rows may
# hold besides data rows.
MAX_ROWS_ABOVE_DATA = _MAX_TITLE_ROWS + 1


def count_title_rows(rows: list[list[Any]]) -> int:
    """How many leading rows are a title above the table rather than its header.

    A title row holds one value of several words (a phrase, where a column name is mostly one word) and the
    rows below it hold two values or more; or the rows above one that names a text and a label column the usual
    way ("text", "label") while they do not. Read as the header, a title made every row "longer than the header"
    or turned the real header into a data row (a class called 'label').
    """
    named = _usual_header_row(rows)
    if named:
        return named
    filled = [_filled(row) for row in rows]
    titles = 0
    while (titles < min(_MAX_TITLE_ROWS, len(rows) - 1) and len(filled[titles]) == 1
           and len(str(filled[titles][0]).split()) >= 2):
        titles += 1
    below = sorted(len(cells) for cells in filled[titles:])
    if titles and len(filled[titles]) >= 2 and below[len(below) // 2] >= 2 and not _repeats_below(rows, titles):
        return titles
    return 0


def _usual_header_row(rows: list[list[Any]]) -> int:
    """The index (at most ``_MAX_TITLE_ROWS``) of the first row naming a text and a label column as people
    usually do; 0 when there is none, or it is the first row."""
    for index, row in enumerate(rows[:_MAX_TITLE_ROWS + 1]):
        names = _usual_names(row)
        if names & set(TEXT_NAMES) and names & set(LABEL_NAMES):
            return index
    return 0


def _usual_names(row: list[Any]) -> set[str]:
    """The cells of ``row`` that are usual names of a text or label column ("text", "label", "review"...)."""
    return {str(cell).strip().casefold() for cell in _filled(row)} & {*TEXT_NAMES, *LABEL_NAMES}


def _repeats_below(rows: list[list[Any]], header: int) -> bool:
    """Whether a cell of row ``header`` appears again in its column further down: a data row, not names.

    Keeps a header with one phrase and an unnamed column ("review text," over "good product,pos") from being
    taken for a title: its next row repeats a label.
    """
    return _repeated_cell(rows, header) is not None


def _repeated_cell(rows: list[list[Any]], header: int) -> tuple[int, Any] | None:
    """The first cell of row ``header`` that appears again in its column further down: (column, value)."""
    names = rows[header]
    for row in rows[header + 1:]:
        for i, cell in enumerate(row):
            if cell is not None and str(cell).strip() and i < len(names) and cell == names[i]:
                return i, cell
    return None


def first_row_is_data(rows: list[list[Any]]) -> bool:
    """Whether a file has no header row: its first row repeats values of the rows below in the same columns.

    Column names do not reappear as values ('neg' does, in a label column of a file that starts with data:
    AG News' and Yelp's original CSVs have no header). A header that repeats as a whole row is a file joined
    from several, and still a header.
    """
    if len(rows) < 2 or _usual_names(rows[0]) or not _repeats_below(rows, 0):
        return False  # "text" or "label" among the first row's cells: a header, whatever repeats below it
    first = _filled(rows[0])
    if [str(cell).strip() for cell in first] == [str(i) for i in range(len(first))]:
        return False  # 0, 1, 2...: the names pandas gives unnamed columns, which a 0/1 column holds too
    return not any(_filled(row) == first for row in rows[1:])


def header_findings(file: Path, has_header: bool, columns: list[str], rows: list[list[Any]]) -> list[Finding]:
    """What to tell about the header: that there was none, or which line of a one-column file was taken for the
    column's name when that name is not a usual one (it may be a short text).  ``rows``: the first rows of data."""
    if not has_header:
        return [no_header_finding(file, columns, rows)]
    if len(columns) == 1 and columns[0].casefold() not in {*TEXT_NAMES, *LABEL_NAMES}:
        return [Finding(
            "info", "one_column_name",
            f"'{file.name}' has one column; its first line ('{_shorten(columns[0])}') was read as the column's "
            "name, not as a text.",
            hint="If that line is a text to classify, add a line 'text' above it.")]
    return []


def no_header_finding(file: Path, columns: list[str], rows: list[list[Any]]) -> Finding:
    first = rows[0] if rows else []
    if len(columns) == 1:
        return Finding(
            "info", "no_header",
            f"'{file.name}' has one column and its first line ('{_shorten(str(first_filled(list(first)) or ''))}') "
            "reads as a text, not a column name, so it was read as the first text (the column is called "
            f"'{columns[0]}').",
            hint="If that line is the column's name after all, make it short, such as 'text'.")
    shown = ", ".join(f"{name} ('{_shorten(str(value or ''))}')" for name, value in zip(columns, first))
    repeated = _repeated_cell(rows, 0) if rows else None
    which = f" ('{_shorten(str(repeated[1]))}' in {columns[repeated[0]]})" if repeated else ""
    return Finding(
        "info", "no_header",
        f"'{file.name}' seems to have no header row: its first row repeats values found further down the same "
        f"columns{which}, so it was read as data and the columns were named {shown}.",
        hint=(f"If the first row is the header after all, its name '{_shorten(str(repeated[1]))}' is also a value "
              f"further down {columns[repeated[0]]}: rename that column, or fix that value." if repeated else
              "If the first row is the header after all, one of its names is also a value below it: rename that "
              "column, or fix that value."))


def header_repeats_finding(file: Path, count: int, where: str) -> Finding:
    one = count == 1
    return Finding(
        "info", "header_repeats",
        f"{count_noun(count, 'row')} of '{file.name}' {'repeats' if one else 'repeat'} the header ({where}), as in "
        f"files joined together; {'it was' if one else 'they were'} left out.",
        hint="Nothing to do, unless those rows are real examples.", count=count)


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _filled(row: list[Any]) -> list[Any]:
    return [cell for cell in row if cell is not None and str(cell).strip()]


def literal_quotes_finding(file: Path) -> Finding:
    return Finding(
        "info", "literal_quotes",
        f"The double quotes in '{file.name}' belong to its texts, so every line was read as one row, quotes and "
        "all (taking a quote as the start of a quoted text would have joined many lines into one).",
        hint="Nothing to do.")


def joined_rows_finding(file: Path, count: int, where: str) -> Finding:
    return Finding(
        "warning", "joined_rows",
        f"{count_noun(count, 'row')} of '{file.name}' {'looks' if count == 1 else 'look'} like several rows joined "
        f"into one ({where}): a double quote at the start of a text runs on to the next double quote, lines later, "
        "and everything between was read as that one text.",
        hint="Check the quotes on those lines: a text that starts with a double quote must end with one. Removing "
             "the quotes from the texts also works.", count=count)


def stray_quotes_finding(file: Path, count: int, where: str) -> Finding:
    one = count == 1
    return Finding(
        "warning", "stray_quotes",
        f"{count_noun(count, 'row')} of '{file.name}' ({where}) {'holds' if one else 'hold'} a text in double quotes "
        f"with another double quote inside it that is not doubled, so {'its text was' if one else 'their texts were'} "
        "read changed: quotes dropped or moved.",
        hint="Inside a text wrapped in double quotes, write each quote twice (\"\"), or open the file in a "
             "spreadsheet program and save it again as CSV.", count=count)


def title_finding(file: Path, start: TableStart, unit: str) -> Finding:
    """The note on the title skipped above the table: the lines (``unit``: "line", or a sheet's "row") from the
    title's first to the header, blank ones among them, as they were skipped.

    Counting the title's rows that hold values said "The first 2 rows" above a header on line 4 (a "," line
    between them, which Excel writes for an empty row).
    """
    names = ", ".join(str(name) for name in start.header)
    header = start.skip_lines + 1
    span = _lines_span(start.title_line, header - 1, unit)
    many = header - start.title_line > 1
    return Finding(
        "info", "title_rows",
        f"{span} of '{file.name}' ('{start.title}') {'look' if many else 'looks'} like a title above the table and "
        f"{'were' if many else 'was'} skipped; the column names were read from {unit} {header:,}: {names}.",
        hint="Nothing to do if it is a title. If it is your header, give every column a name in it.")


def _lines_span(first: int, last: int, unit: str) -> str:
    """ "The first 3 lines", "Lines 2-3", "The first line", "Line 2": lines ``first`` to ``last`` (from 1)."""
    if first == 1:
        return f"The first {unit}" if last == 1 else f"The first {last:,} {unit}s"
    return f"{unit.capitalize()} {first:,}" if last == first else f"{unit.capitalize()}s {first:,}-{last:,}"


# Excel writes and reads a first line "sep=;" naming the separator of a CSV saved for another locale.
_SEP_LINE = re.compile(r'"?sep=(.)"?[ \t]*')


def excel_separator_line(sample: str) -> str | None:
    """The separator a first "sep=X" line names (None: the file has no such line)."""
    first = sample.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    found = _SEP_LINE.fullmatch(first)
    return found.group(1) if found else None


# --------------------------------------------------------------------------- the header's names


_LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+[ \t]*")


def unique_column_names(raw: list[Any]) -> list[str]:
    """Header cells made usable as column names: stripped, never blank, never repeated."""
    names: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(raw, start=1):
        name = _header_name(cell) or f"column_{position}"
        candidate, k = name, 2
        while candidate in seen:
            candidate, k = f"{name}_{k}", k + 1
        seen.add(candidate)
        names.append(candidate)
    return names


def _header_name(cell: Any) -> str:
    """A header cell as written, or "" when it is blank (pandas' "Unnamed: 3" and "nan" are blanks too).

    A line break inside a name (a header cell wrapped in Excel, "Customer<line break>comment") becomes a space:
    kept, it split the report's "Text column: ..." line in two and had to be typed with the break after --text.
    """
    name = "" if cell is None else _LINE_BREAKS.sub(" ", str(cell)).strip()
    return "" if name.lower() == "nan" or name.startswith("Unnamed: ") else name


def duplicate_header_findings(raw: list[Any], names: list[str]) -> list[Finding]:
    """A warning naming header cells that repeat, and the names they are told apart by."""
    written = [_header_name(cell) for cell in raw]
    repeated = [name for name, n in Counter(written).items() if name and n > 1]
    if not repeated:
        return []
    examples = [f"'{name}' is read as " + ", ".join(f"'{new}'" for old, new in zip(written, names) if old == name)
                for name in repeated]
    return [Finding(
        "warning", "duplicate_headers",
        f"The header repeats {count_noun(len(repeated), 'column name')}; the repeats got a number so each "
        "column has its own name.",
        hint="Check which of the columns holds what you want and choose it by the name shown here (on the "
             "command line: --text or --label), or rename the columns in the file.",
        count=len(repeated), examples=examples)]
