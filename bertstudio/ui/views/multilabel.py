"""Texts for multi-label data and models: what the Data tab says about the labels, the Predict tab's answer,
and the Evaluate tab's extra figures (pure builders, tested in tests/ui)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from bertstudio.ui.views.charts import format_percent

TASK_CHOICES = [("Decide from the data", "auto"), ("One label per text", "single_label"),
                ("Several labels per text", "multi_label")]
EMPTY_CHOICES = [("Not labelled yet: leave those rows out", "skip"),
                 ("No label: the text has none of the labels", "none")]


def multilabel_markdown(info: Any | None) -> str:
    """The task detected and why, how labels are written, labels per text and the most frequent pairs."""
    if info is None:
        return ("**One label per text.** If a text can have several labels, choose “Several labels per text” "
                "(and the separator, or the 0/1 columns).")
    how = (f"labels joined by “{info.separator}”" if info.separator
           else f"one 0/1 column per label ({', '.join(info.label_columns or [])})")
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


def evaluation_lines(evaluation: Mapping[str, Any]) -> list[str]:
    """The multi-label figures of eval.json the Evaluate tab adds under its headline."""
    if evaluation.get("task") != "multi_label":
        return []
    half = evaluation.get("at_threshold_0_5", {})
    worst = sorted(evaluation.get("calibration_per_label", {}).get("per_label", {}).items(),
                   key=lambda kv: -(kv[1] or 0))[:3]
    lines = [f"**Several labels per text.** Every label of the text right (subset accuracy): "
             f"{evaluation['accuracy']:.1%} · Hamming loss {evaluation['hamming_loss']:.3f} (share of label "
             f"decisions that are wrong) · label ranking average precision "
             f"{evaluation.get('label_ranking_average_precision') or 0:.3f}.",
             f"Macro-F1 with each label's own threshold (tuned on validation): {evaluation['macro_f1']:.3f}; "
             f"with 0.5 for every label: {half.get('macro_f1', float('nan')):.3f}. "
             f"{evaluation.get('threshold_choice', {}).get('note', '')}"]
    if worst:
        lines.append("Least reliable probabilities (calibration error per label): "
                     + ", ".join(f"{name} {value * 100:.1f} points" for name, value in worst if value is not None) + ".")
    return lines
