"""Tables and short texts for the app, built from engine results (pure functions, no gradio)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

ALL = "All classes"
LEVEL_WORDS = {"error": "❌ Must fix", "warning": "⚠️ Check", "info": "ℹ️ Note"}
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


def report_markdown(table_description: str, report: Any, text_column: str, label_column: str,
                    text_pair_column: str | None = None) -> str:
    """The validation report in plain words: what was read, what will be used, whether training can start."""
    columns = f"**{text_column}**" + (f" + **{text_pair_column}**" if text_pair_column else "")
    lines = [f"{table_description}", "",
             f"Texts come from {columns}; labels from **{label_column}**. {report.summary()}"]
    errors = [f for f in report.findings if f.level == "error"]
    warnings = [f for f in report.findings if f.level == "warning"]
    if errors:
        lines += ["", f"❌ **Training cannot start yet**: {len(errors)} problem(s) below must be fixed first."]
    elif warnings:
        lines += ["", f"⚠️ Ready to train, but look at the {len(warnings)} warning(s) below."]
    else:
        lines += ["", "✅ **Your data looks good.** Next: check the text lengths below, then go to the Model tab."]
    return "\n".join(lines)


def token_preview_table(labels: Sequence[str], tokens: Sequence[Sequence[str]], full_lengths: Sequence[int],
                        max_length: int) -> pd.DataFrame:
    """The first rows as the model reads them: its word pieces, and whether the end gets cut off."""
    rows = []
    for label, pieces, length in zip(labels, tokens, full_lengths):
        shown = list(pieces[:PREVIEW_TOKENS_SHOWN])
        more = len(pieces) - len(shown)
        reading = " ".join(shown) + (f" … (+{more} more)" if more > 0 else "")
        cut = f"cut: {length - max_length} tokens dropped" if length > max_length else "fits"
        rows.append({"Label": label, "Tokens": f"{length} ({cut})", "What the model reads": reading})
    return pd.DataFrame(rows, columns=["Label", "Tokens", "What the model reads"])


# --- model tab --------------------------------------------------------------------------------------


@dataclass
class VariantRow:
    name: str
    params_millions: float
    layers: int
    speed: str
    availability: str


AVAILABILITY_WORDS = {"bundled": "✅ bundled (offline)", "local": "✅ on this computer",
                      "cached": "✅ downloaded", "download": "⬇️ needs a download"}


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


SORTS = {
    "Least confident first": ("confidence", True),
    "Most confident first": ("confidence", False),
    "Biggest mistakes first (highest loss)": ("loss", False),
    "Original order": (None, True),
}
DEFAULT_SORT = "Biggest mistakes first (highest loss)"


@dataclass
class ErrorFilter:
    """What the error browser shows: a cell of the confusion matrix, sorted, optionally searched."""

    true_label: str = ALL
    predicted_label: str = ALL
    only_mistakes: bool = False
    sort: str = DEFAULT_SORT
    search: str = ""


def filter_predictions(frame: pd.DataFrame, chosen: ErrorFilter) -> pd.DataFrame:
    """Rows of ``test_predictions.csv`` matching the filter, in the chosen order."""
    keep = pd.Series(True, index=frame.index)
    if chosen.true_label != ALL:
        keep &= frame["label"].astype(str) == chosen.true_label
    if chosen.predicted_label != ALL:
        keep &= frame["predicted"].astype(str) == chosen.predicted_label
    if chosen.only_mistakes:
        keep &= frame["label"].astype(str) != frame["predicted"].astype(str)
    query = chosen.search.strip()
    if query:
        text = frame["text"].astype(str)
        if "text_pair" in frame.columns:
            text = text + " " + frame["text_pair"].astype(str)
        keep &= text.str.contains(query, case=False, regex=False)
    result = frame[keep]
    column, ascending = SORTS.get(chosen.sort, SORTS[DEFAULT_SORT])
    if column is not None:
        result = result.sort_values(column, ascending=ascending, kind="stable")
    return result


def browser_view(rows: pd.DataFrame, limit: int = BROWSER_LIMIT) -> pd.DataFrame:
    """The columns a person reads, rounded, at most ``limit`` rows (the browser stays fast)."""
    columns = ["text", *(["text_pair"] if "text_pair" in rows.columns else []), "label", "predicted",
               "confidence", "loss"]
    view = rows[columns].head(limit).copy()
    view["confidence"] = view["confidence"].round(3)
    view["loss"] = view["loss"].round(3)
    view.insert(columns.index("predicted") + 1, "correct", (view["label"].astype(str) == view["predicted"].astype(str))
                .map({True: "✅", False: "❌"}))
    return view.rename(columns={"text": "Text", "text_pair": "Second text", "label": "True class",
                                "predicted": "Predicted", "correct": "Right?", "confidence": "Confidence",
                                "loss": "Loss"})


def browser_caption(shown: int, matching: int, total: int, chosen: ErrorFilter) -> str:
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
