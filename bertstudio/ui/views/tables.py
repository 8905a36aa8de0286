"""Tables and short texts for the app, built from engine results (pure functions, no gradio)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bertstudio.evaluation.errors_table import filter_errors, sort_errors
from bertstudio.data.findings import count_noun
from bertstudio.history.records import score_text

ALL = "All classes"
LEVEL_WORDS = {"error": "Must fix", "warning": "Check", "info": "Note"}
_LEVEL_ORDER = {"error": 0, "warning": 1, "info": 2}
BROWSER_LIMIT = 200
PREVIEW_TOKENS_SHOWN = 60


# --- data tab -------------------------------------------------------------------------------------


def report_table(findings: Sequence[Any]) -> pd.DataFrame:
    """One row per finding of a ValidationReport, most serious first."""
    rows = [{"Severity": LEVEL_WORDS.get(f.level, f.level), "What we found": f.message,
             "Rows": f.count or "", "What to do": f.hint or ""}
            for f in sorted(findings, key=lambda f: _LEVEL_ORDER.get(f.level, 3))]
    return pd.DataFrame(rows, columns=["Severity", "What we found", "Rows", "What to do"])


def report_markdown(table_description: str, report: Any, text_column: str, label_column: str | None,
                    text_pair_column: str | None = None, *, label_columns: Sequence[str] | None = None,
                    longer_share: float = 0.0, readable: int = 512) -> str:
    """The validation report in plain words: what was read, what will be used, whether training can start.

    ``label_columns``: the 0/1 columns a multi-label file's labels come from (then ``label_column`` is unused);
    ``longer_share``: the share of texts longer than ``readable`` tokens, the most the data's suggested maximum
    length reads: above the few the suggestion leaves out, training reads only part of most texts, which a
    person should hear in the verdict rather than in a "Note" row of the findings table."""
    columns = f"**{text_column}**" + (f" + **{text_pair_column}**" if text_pair_column else "")
    lines = [f"{table_description}", "",
             f"Texts come from {columns}; labels from {labels_source(label_column, label_columns)}. "
             f"{report.summary()}"]
    errors = [f for f in report.findings if f.level == "error"]
    warnings = [f for f in report.findings if f.level == "warning"]
    if errors:
        lines += ["", f"**Training cannot start yet**: {count_noun(len(errors), 'problem')} below must be fixed "
                      "first."]
    elif warnings:
        lines += ["", f"Ready to train, but look at the {count_noun(len(warnings), 'warning')} below."]
    else:
        lines += ["", "**Your data looks good.** Next: check the text lengths below, then go to the Model tab."]
    if longer_share > LONG_TEXTS_NOTED and not errors:
        lines += ["", long_texts_note(longer_share, readable)]
    return "\n".join(lines)


# More texts than this longer than the suggested length: the suggestion fits 95% of texts unless it is capped at
# the most a BERT model reads, so beyond 5% the texts themselves are longer than any model here reads at once.
LONG_TEXTS_NOTED = 0.05


def long_texts_note(longer_share: float, readable: int) -> str:
    share = "all" if longer_share >= 1 else f"{longer_share:.0%} of"
    return (f"**Note: {share} your texts are longer than {readable} tokens**, more than the model reads at once, "
            "so training reads only part of each long text. What it keeps (the start, the end, both, or a few "
            "windows) is under the text lengths below; check that the words that decide the label are there.")


def labels_source(label_column: str | None, label_columns: Sequence[str] | None) -> str:
    """'**label**', or '5 columns (**billing**, **refund**, ...)' for one 0/1 column per label."""
    if not label_columns:
        return f"**{label_column}**"
    return f"{len(label_columns)} columns ({', '.join(f'**{c}**' for c in label_columns)})"


def refusal_markdown(subject: str, reason: str, still_loaded: str | None) -> str:
    """What the Data tab's status line says, and keeps saying, when a file (or the sample) is refused: the reason in
    the app's words (a limit names how to lift it), and which data is loaded now."""
    loaded = (f"Still loaded: **{still_loaded}**, the data shown below." if still_loaded
              else "No data is loaded yet.")
    return f"**{subject} was not loaded.** {reason}\n\n{loaded}"


def sheet_choices(sheets: Sequence[Any]) -> list[tuple[str, str]]:
    """The Sheet picker's entries, (label, name), from the engine's ``workbook_sheets``: each sheet with its rows
    where the workbook states them, so a legend's 12 rows stand apart from the data's 3,000."""
    return [(f"{sheet.name} ({count_noun(sheet.rows, 'row')})" if sheet.rows is not None else sheet.name, sheet.name)
            for sheet in sheets]


def upload_label(max_upload_mb: float | None) -> str:
    """The upload box's label: with the size limit of a shared app, in MB as the limits say it (a file over it is
    refused by the upload box itself, whose message counts in Kb and says nothing of the limit)."""
    if max_upload_mb is None:
        return "Your data file"
    return f"Your data file (at most {max_upload_mb:g} MB in this demo; a bigger file is refused)"


@dataclass(frozen=True)
class TokenReading:
    """One text as training reads it, from the engine's own cut.

    ``parts``: word pieces that are read, and between them (or before, or after) the number of tokens that are
    not; ``windows``: long texts read in overlapping windows are read in this many, and ``parts`` holds the first.
    """

    length: int  # the whole text in tokens, [CLS] and [SEP] included
    parts: tuple[Sequence[str] | int, ...]
    windows: int = 1


def token_preview_table(labels: Sequence[str], readings: Sequence[TokenReading]) -> pd.DataFrame:
    """The first rows as the model reads them: its word pieces, and what of a longer text is not read."""
    rows = [{"Label": label, "Tokens": f"{reading.length} ({reading_summary(reading)})",
             "What the model reads": reading_text(reading)}
            for label, reading in zip(labels, readings)]
    return pd.DataFrame(rows, columns=["Label", "Tokens", "What the model reads"])


def reading_summary(reading: TokenReading) -> str:
    """'fits', 'reads 256, 2,547 not read', 'read in 8 windows'."""
    if reading.windows > 1:
        return f"read in {reading.windows} windows"
    skipped = sum(p for p in reading.parts if isinstance(p, int))
    if not skipped:
        return "fits"
    read = sum(len(p) for p in reading.parts if not isinstance(p, int))
    return f"reads {read:,}; {skipped:,} not read"


def reading_text(reading: TokenReading) -> str:
    """The pieces read, each shortened to its share of ``PREVIEW_TOKENS_SHOWN``, and the tokens left out between
    them, where they are: at the end of a cut text, at the start of its tail, in the middle of head + tail."""
    parts = _joined(reading.parts)
    pieces = [p for p in parts if not isinstance(p, int)]
    budgets = _budgets([len(p) for p in pieces], PREVIEW_TOKENS_SHOWN)
    shown, read = [], 0
    for part in parts:
        if isinstance(part, int):
            shown.append(f"[… {part:,} tokens not read …]")
            continue
        shown.append(_shortened(part, budgets[read], keep_end=read > 0))
        read += 1
    if reading.windows > 1:
        shown.append(f"(then {reading.windows - 1} more windows)")
    return " ".join(shown)


def _joined(parts: Sequence[Sequence[str] | int]) -> list:
    """Parts with nothing left out between them (a text that fits) become one piece."""
    joined: list = []
    for part in parts:
        if isinstance(part, int):
            if part:
                joined.append(part)
        elif joined and not isinstance(joined[-1], int):
            joined[-1] = [*joined[-1], *part]
        else:
            joined.append(list(part))
    return joined


def _budgets(sizes: Sequence[int], total: int) -> list[int]:
    """Tokens shown of each piece: an even share, a short piece's leftover going to the longer ones."""
    budgets, left = [0] * len(sizes), total
    for done, i in enumerate(sorted(range(len(sizes)), key=sizes.__getitem__)):
        budgets[i] = min(sizes[i], left // (len(sizes) - done))
        left -= budgets[i]
    return budgets


def _shortened(tokens: Sequence[str], shown: int, *, keep_end: bool) -> str:
    """The first ``shown`` tokens then '… (+N more)', or (a piece after a gap) '(+N more) …' then the last."""
    more = len(tokens) - shown
    if more <= 0:
        return " ".join(tokens)
    if keep_end:
        return f"(+{more} more) … " + " ".join(tokens[len(tokens) - shown:])
    return " ".join(tokens[:shown]) + f" … (+{more} more)"


# --- model tab --------------------------------------------------------------------------------------


@dataclass
class VariantRow:
    name: str
    params_millions: float
    layers: int
    speed: str
    availability: str


AVAILABILITY_WORDS = {"bundled": "bundled (offline)", "local": "on this computer",
                      "cached": "downloaded", "download": "needs a download"}


def variants_table(rows: Sequence[VariantRow]) -> pd.DataFrame:
    return pd.DataFrame([{"Model": r.name, "Parameters": f"{r.params_millions:g}M", "Layers": r.layers,
                          "Speed": r.speed, "Availability": AVAILABILITY_WORDS.get(r.availability, r.availability)}
                         for r in rows], columns=["Model", "Parameters", "Layers", "Speed", "Availability"])


# --- evaluate tab -----------------------------------------------------------------------------------


def per_class_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Precision, recall and F1 of each class from ``classification_metrics`` output."""
    rows = [{"Class": name, "Precision": round(m["precision"], 3), "Recall": round(m["recall"], 3),
             "F1": round(m["f1"], 3), "Test texts": int(m["support"])}
            for name, m in metrics.get("per_class", {}).items()]
    return pd.DataFrame(rows, columns=["Class", "Precision", "Recall", "F1", "Test texts"])


CORNER = "true ↓ / predicted →"


def confusion_table(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> pd.DataFrame:
    """The confusion matrix as a table: rows are true classes, columns predicted classes."""
    frame = pd.DataFrame([[int(v) for v in row] for row in matrix], columns=list(labels))
    frame.insert(0, CORNER, list(labels))
    return frame


def cell_from_selection(index: Sequence[int] | None, labels: Sequence[str]) -> tuple[str, str] | None:
    """(true, predicted) for a click on a confusion_table cell; None for the label column or out of range."""
    if not index or len(index) != 2:
        return None
    row, col = int(index[0]), int(index[1]) - 1  # column 0 holds the row names
    if not (0 <= row < len(labels) and 0 <= col < len(labels)):
        return None
    return labels[row], labels[col]


def browser_caption(shown: int, matching: int, total: int, chosen: "ErrorQuery") -> str:
    """'12 of 40 test texts match: true class **billing**, mistakes only.'"""
    parts = []
    if chosen.true_label != ALL:
        parts.append(f"true class **{chosen.true_label}**")
    if chosen.predicted_label != ALL:
        parts.append(f"predicted **{chosen.predicted_label}**")
    if chosen.only_mistakes:
        parts.append("mistakes only")
    if chosen.search.strip():
        parts.append(f"containing “{chosen.search.strip()}”")
    which = ", ".join(parts) if parts else "all test texts"
    more = f" (showing the first {shown:,})" if shown < matching else ""
    return f"{matching:,} of {total:,} test texts match: {which}{more}."


# --- evaluate tab: the error browser over the engine's error table ---------------------------------

ALL_ROWS = "All texts"
TAG_WORDS = {  # the engine's tags (bertstudio.evaluation.TAGS), in words a person can act on
    "confident-and-wrong": "Confident and wrong (often a wrong label)",
    "right-but-unsure": "Right but unsure (could flip)",
    "near miss": "Near miss (right answer was its second choice)",
}
ERROR_SORTS = {  # label: (column of the error table, highest first?)
    "Biggest mistakes first (highest loss)": ("loss", True),
    "Least confident first": ("confidence", False),
    "Most confident first": ("confidence", True),
    "Closest calls first (smallest margin)": ("margin", False),
    "Original order": (None, False),
}
DEFAULT_ERROR_SORT = "Biggest mistakes first (highest loss)"


@dataclass
class ErrorQuery:
    """What the error browser shows: a cell of the confusion matrix, one of the engine's tags (``ALL_ROWS`` for
    any), optionally only mistakes or texts containing a word, in the chosen order."""

    true_label: str = ALL
    predicted_label: str = ALL
    only_mistakes: bool = False
    sort: str = DEFAULT_ERROR_SORT
    search: str = ""
    tag: str = ALL_ROWS


def tag_choices(counts: Mapping[str, int]) -> list[tuple[str, str]]:
    """Dropdown choices (label, tag) with how many texts carry each tag."""
    return [(ALL_ROWS, ALL_ROWS)] + [(f"{TAG_WORDS.get(tag, tag)}: {n:,}", tag) for tag, n in counts.items()]


def query_errors(table: pd.DataFrame, query: ErrorQuery) -> pd.DataFrame:
    """Rows of ``load_run_error_table`` matching the query, in the chosen order (the engine does the work)."""

    rows = filter_errors(table, true_label=None if query.true_label == ALL else query.true_label,
                         predicted=None if query.predicted_label == ALL else query.predicted_label,
                         tag=None if query.tag == ALL_ROWS else query.tag, search=query.search.strip() or None,
                         wrong_only=query.only_mistakes)
    column, descending = ERROR_SORTS.get(query.sort, ERROR_SORTS[DEFAULT_ERROR_SORT])
    return rows if column is None else sort_errors(rows, column, descending=descending)


ERROR_COLUMNS = {"text": "Text", "text_pair": "Second text", "label": "True class", "predicted": "Predicted",
                 "missed": "Missed labels", "extra": "Extra labels", "correct": "Right?", "confidence": "Confidence", "margin": "Lead over 2nd choice",
                 "loss": "Loss", "entropy": "Uncertainty", "tags": "Tags"}


def error_browser_view(rows: pd.DataFrame, limit: int = BROWSER_LIMIT) -> pd.DataFrame:
    """The error table as a person reads it: named columns, rounded numbers, at most ``limit`` rows."""
    view = rows[[c for c in ERROR_COLUMNS if c in rows.columns]].head(limit).copy()
    view["correct"] = view["correct"].map({True: "yes", False: "no"})
    for column in ("confidence", "margin", "loss", "entropy"):
        view[column] = view[column].astype(float).round(3)
    return view.rename(columns=ERROR_COLUMNS)


def error_caption(shown: int, matching: int, total: int, query: ErrorQuery) -> str:
    """browser_caption with the chosen tag in front: '3 of 40 test texts match: tagged **near miss**, …'."""
    caption = browser_caption(shown, matching, total, query)
    if query.tag == ALL_ROWS:
        return caption
    tag = f"tagged **{TAG_WORDS.get(query.tag, query.tag).split(' (')[0].lower()}**"
    head, which = caption.split(" match: ", 1)
    everything = "all test texts"
    which = tag + which.removeprefix(everything) if which.startswith(everything) else f"{tag}, {which}"
    return f"{head} match: {which}"


# --- evaluate tab: confusion shares, label noise, baselines, another file ---------------------------


def confusion_share_table(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> pd.DataFrame:
    """confusion_table with each cell as its share of the row (the true class), e.g. '83.3%'."""
    frame = confusion_table(matrix, labels)
    counts = frame[list(labels)]
    shares = counts.div(counts.sum(axis=1).clip(lower=1), axis=0)
    frame[list(labels)] = shares.map(lambda v: f"{v * 100:.1f}%".replace(".0%", "%"))
    return frame


# Plotly's "Blues" ends, light to dark: the darker a cell, the larger its share of the true class.
HEAT_LOW, HEAT_HIGH = (247, 251, 255), (8, 48, 107)
DARK_CELL = 0.45  # from this share on the number is written in white: dark text on dark blue cannot be read


def row_shares(matrix: Sequence[Sequence[int]]) -> list[list[float]]:
    """Each cell as its share of its row (the true class); an empty row stays all 0."""
    return [[int(v) / max(1, sum(int(c) for c in row)) for v in row] for row in matrix]


def heat_style(share: float) -> str:
    """The CSS of one heatmap cell: its colour on the light-to-dark scale, and a text colour that stays readable."""
    share = min(1.0, max(0.0, float(share)))
    red, green, blue = (round(lo + (hi - lo) * share) for lo, hi in zip(HEAT_LOW, HEAT_HIGH))
    text = "#ffffff" if share >= DARK_CELL else "#111827"
    return f"background-color: rgb({red}, {green}, {blue}); color: {text}; font-weight: 600"


def confusion_heatmap(matrix: Sequence[Sequence[int]], labels: Sequence[str], *, shares: bool = False) -> Any:
    """The confusion matrix as one coloured table (a pandas Styler, which gr.Dataframe draws with its colours):
    the heatmap and the clickable table in one, so a click on a coloured cell reads it with
    :func:`cell_from_selection`. Colour is the share of the true class, so rare classes show too; the numbers
    are counts, or those shares when ``shares``."""
    frame = confusion_share_table(matrix, labels) if shares else confusion_table(matrix, labels)
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for row, values in enumerate(row_shares(matrix)):
        styles.iloc[row, 1:] = [heat_style(v) for v in values]
    styles.iloc[:, 0] = "font-weight: 600"
    return frame.style.apply(lambda _: styles, axis=None)


def label_noise_table(table: pd.DataFrame, limit: int = BROWSER_LIMIT) -> pd.DataFrame:
    """The suspected rows (LabelNoiseReport.table), most suspicious first, in plain column names."""
    columns = {"text": "Text", "text_pair": "Second text", "given_label": "Given label",
               "suspected_label": "Suspected label", "confidence": "How sure"}
    view = table[[c for c in columns if c in table.columns]].head(limit).copy()
    view["confidence"] = (view["confidence"].astype(float) * 100).round(0).astype(int).astype(str) + "%"
    return view.rename(columns=columns)


FINE_TUNED = "Your fine-tuned model"


def baselines_table(model_macro_f1: float, model_accuracy: float, baselines: Sequence[Any],
                    model_seconds: float | None = None) -> pd.DataFrame:
    """The fine-tuned model next to the simple baselines (BaselineResult or its dict), on the same texts."""
    def field(b: Any, name: str) -> Any:
        return b[name] if isinstance(b, Mapping) else getattr(b, name)

    rows = [{"Model": FINE_TUNED, "Macro-F1": score_text(model_macro_f1), "Accuracy": score_text(model_accuracy),
             "Training time": f"{model_seconds:.0f} s" if model_seconds is not None else "–"}]
    rows += [{"Model": field(b, "name"), "Macro-F1": score_text(field(b, "macro_f1")),
              "Accuracy": score_text(field(b, "accuracy")), "Training time": f"{field(b, 'seconds'):.1f} s"}
             for b in baselines]
    return pd.DataFrame(rows, columns=["Model", "Macro-F1", "Accuracy", "Training time"])


def shift_table(test: Mapping[str, Any], other: Mapping[str, Any], other_name: str) -> pd.DataFrame:
    """Headline figures of the test texts next to those of another labeled file (eval.json contents)."""
    def share(v: Any) -> str:
        return f"{v:.1%}" if isinstance(v, (int, float)) else "–"

    def number(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, (int, float)) else "–"

    measures = [("Texts", lambda e: f"{int(e.get('rows', 0)):,}"), ("Macro-F1", lambda e: share(e.get("macro_f1"))),
                ("Accuracy", lambda e: share(e.get("accuracy"))), ("Log loss", lambda e: number(e.get("log_loss"))),
                ("Confidence gap after calibration", lambda e: share(e.get("ece_calibrated")))]
    return pd.DataFrame([{"Measure": name, "Test texts": show(test), other_name: show(other)}
                         for name, show in measures])
