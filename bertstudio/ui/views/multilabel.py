"""Texts for multi-label data and models: what the Data tab says about the labels, the Predict tab's answer,
and the Evaluate tab's extra figures (pure builders, tested in tests/ui)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from bertstudio.history.records import score_text
from bertstudio.ui.views import charts
from bertstudio.ui.views.charts import format_percent

TASK_CHOICES = [("Decide from the data", "auto"), ("One label per text", "single_label"),
                ("Several labels per text", "multi_label")]
# Short enough for the dropdown's width (longer ones were cut off: "Not labelled yet: leave those rows o").
EMPTY_CHOICES = [("Not labelled yet", "skip"), ("None of the labels", "none")]


def multilabel_markdown(info: Any | None) -> str:
    """The task detected and why, how labels are written, labels per text and the most frequent pairs."""
    if info is None:
        return ("**One label per text.** If a text can have several labels, choose “Several labels per text” "
                "(and the separator, or the 0/1 columns).")
    how = info.how
    total = sum(info.labels_per_text.values()) or 1
    per_text = ", ".join(f"{k} label{'s' if k != 1 else ''}: {n:,} texts ({n / total:.0%})"
                         for k, n in sorted(info.labels_per_text.items()))
    lines = [f"**Several labels per text** ({how}). {info.reason}", "", f"Labels per text: {per_text}."]
    if info.top_pairs:
        lines += ["", "| labels that often go together | texts |", "|---|---|"]
        lines += [f"| {a} + {b} | {n:,} |" for a, b, n in info.top_pairs]
    if info.empty_rows:
        lines += ["", f"{info.empty_rows:,} rows have no label at all (see the check below)."]
    return "\n".join(lines)


def label_set_markdown(labels: Sequence[str], names: Sequence[str], probabilities: Sequence[float],
                       thresholds: Sequence[float]) -> str:
    """A multi-label answer: every label the text gets, each with its probability and threshold."""
    if not labels:
        top = max(range(len(names)), key=lambda i: probabilities[i])
        return (f"### Predicted: no label\nNo label reached its threshold; the closest is **{names[top]}** at "
                f"{format_percent(probabilities[top])} (needs {format_percent(thresholds[top])}).")
    index = {n: i for i, n in enumerate(names)}
    parts = [f"**{n}** ({format_percent(probabilities[index[n]])}, threshold {format_percent(thresholds[index[n]])})"
             for n in labels]
    return f"### Predicted: {', '.join(labels)}\n" + "; ".join(parts) + ". Each label is decided on its own."


FILE_COLUMNS = ("the text, the labels it gets (joined by “; ”, empty when none applies), how sure the model was of "
                "its least sure label decision (confidence), one probability column per label")


def label_set_scores(macro_f1: float, subset_accuracy: float) -> str:
    """The Train tab's final figures of a multi-label run, each saying what it counts."""
    return (f"macro-F1 is **{score_text(macro_f1)}** with each label decided by its own threshold (tuned on the "
            f"validation texts at the end), and **{subset_accuracy:.1%}** of the texts got every one of their labels "
            "right (subset accuracy: one label wrong makes the whole text count as wrong). The validation macro-F1 "
            "measured during training decides every label at 0.5, so it can differ.")


def evaluation_lines(evaluation: Mapping[str, Any]) -> list[str]:
    """The multi-label figures of eval.json the Evaluate tab adds under its headline."""
    if evaluation.get("task") != "multi_label":
        return []
    half = evaluation.get("at_threshold_0_5", {})
    worst = sorted(evaluation.get("calibration_per_label", {}).get("per_label", {}).items(),
                   key=lambda kv: -(kv[1] or 0))[:3]
    lines = [f"**Several labels per text.** Every label of the text right (subset accuracy): "
             f"{evaluation['accuracy']:.1%} · Hamming loss {score_text(evaluation['hamming_loss'])} (share of label "
             f"decisions that are wrong) · label ranking average precision "
             f"{evaluation.get('label_ranking_average_precision') or 0:.3f}.",
             f"Macro-F1 with each label's own threshold (tuned on validation): {score_text(evaluation['macro_f1'])}; "
             f"with 0.5 for every label: {score_text(half.get('macro_f1', float('nan')))}. "
             f"{evaluation.get('threshold_choice', {}).get('note', '')}"]
    if worst:
        lines.append("Least reliable probabilities (calibration error per label): "
                     + ", ".join(f"{name} {value * 100:.1f} points" for name, value in worst if value is not None) + ".")
    return lines


# --------------------------------------------------------------------------- the Evaluate tab's main view

PER_LABEL_COLUMNS = ["Label", "Precision", "Recall", "F1", "Test texts with it", "Threshold",
                     "Calibration error (points)"]
OUTCOME_COLUMNS = ["Label", "Found", "Missed", "Extra", "Neither"]
PER_LABEL_CAPTION = ("Per label (recall: share of the texts with the label that got it; precision: share of the "
                     "texts given the label that have it; threshold: the probability the label needs, tuned on "
                     "validation; calibration error: how far its probabilities are from how often it is there)")
OUTCOMES_CAPTION = ("Each label's own 2x2, in test texts: found (has it, given it), missed (has it, not given), "
                    "extra (given it without having it), neither")
RELIABILITY_TITLE = "Can its label probabilities be trusted? Bars on the dashed line: yes"
NO_RELIABILITY = "No chart for this run: evaluate it again (bertstudio evaluate RUN) to draw one"


# The error browser's columns and filters for label sets: a text has several labels, so there is no "true class"
# and no "2nd choice"; the engine's confidence is the least sure of the text's label decisions, and its margin how
# close the nearest probability came to its label's threshold.
BROWSER_COLUMNS = {"True class": "True labels", "Predicted": "Predicted labels", "Confidence": "Least sure decision",
                   "Lead over 2nd choice": "Closest to a threshold"}
TRUE_FILTER, PREDICTED_FILTER = "Texts that have the label", "Texts given the label"
BROWSER_NOTE = ("**Least sure decision**: for each label the model decides yes or no; this is how sure it was of its "
                "least sure decision (0.9: every label was at least 90% clear). **Closest to a threshold**: how far "
                "the probability nearest its label's threshold was from it; a small number means a slightly "
                "different text could add or drop a label.")


def browser_view(view: pd.DataFrame) -> pd.DataFrame:
    """The error browser's table (``tables.error_browser_view``) with the columns named for label sets."""
    return view.rename(columns=BROWSER_COLUMNS)


def is_multilabel(evaluation: Mapping[str, Any] | None) -> bool:
    return bool(evaluation) and evaluation.get("task") == "multi_label"


def _points(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def per_label_table(evaluation: Mapping[str, Any]) -> pd.DataFrame:
    """Precision, recall, F1, support, threshold and calibration error of every label (eval.json's figures)."""
    names = list(evaluation.get("labels", []))
    thresholds = dict(zip(names, evaluation.get("thresholds", [])))
    errors = evaluation.get("calibration_per_label", {}).get("per_label", {})
    rows = [[name, round(m["precision"], 3), round(m["recall"], 3), round(m["f1"], 3), int(m["support"]),
             round(thresholds[name], 2) if name in thresholds else None, _points(errors.get(name))]
            for name, m in evaluation.get("per_class", {}).items()]
    return pd.DataFrame(rows, columns=PER_LABEL_COLUMNS)


def label_outcomes_table(evaluation: Mapping[str, Any]) -> pd.DataFrame:
    """Every label's found / missed / extra / neither counts (runs evaluated before the counts: an empty table)."""
    rows = [[name, *(int(m[k]) for k in ("found", "missed", "extra", "neither"))]
            for name, m in evaluation.get("per_class", {}).items() if "found" in m]
    return pd.DataFrame(rows, columns=OUTCOME_COLUMNS)


def reliability_figure(evaluation: Mapping[str, Any]):
    """The reliability diagram of every label's probability pooled: of the labels given about 70%, how many the
    text really has."""
    diagram = evaluation.get("calibration_per_label", {}).get("reliability")
    if not diagram or not charts.filled_bins(diagram):
        return charts.empty_chart(RELIABILITY_TITLE, NO_RELIABILITY)
    fig = charts.reliability_chart(diagram)
    fig.update_traces(selector={"type": "bar"}, name="every label's probability",
                      hovertemplate="labels given %{customdata[0]:.0%}: there %{y:.0%} of the time "
                                    "(%{customdata[1]:,} label decisions)<extra></extra>")
    fig.update_layout(title={"text": RELIABILITY_TITLE}, xaxis_title="The probability the model gave a label",
                      yaxis_title="How often the text has it")
    return fig


def calibration_sentence(evaluation: Mapping[str, Any]) -> str:
    """How far the label probabilities can be taken at their word (no temperature: the thresholds decide)."""
    diagram = evaluation.get("calibration_per_label", {}).get("reliability") or {}
    filled = charts.filled_bins(diagram)
    said = ""
    if filled:
        typical = max((b for b in filled if b["confidence"] >= 0.5), key=lambda b: b["count"], default=None)
        if typical is not None:
            said = (f"When the model gives a label about {typical['confidence']:.0%} ({typical['count']:,} of the "
                    f"{int(diagram.get('rows', 0)):,} label decisions), the text has it {typical['accuracy']:.0%} of "
                    "the time. ")
    ece = evaluation.get("ece")
    off = f"On average a label's probability is off by {ece * 100:.1f} percentage points" if ece is not None else ""
    return (f"{said}{off}; no calibration is applied: each label's threshold, tuned on validation, decides "
            "whether it is given.").strip()
