"""The Runs tab's tables and charts, built from the history's records (pure: no gradio)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from bertstudio.evaluation.seeds import SeedReport
from bertstudio.data.findings import count_noun
from bertstudio.history.compare import Comparison, LeftOut, ModelRow, setting_text
from bertstudio.history.records import STATUS_WORDS, RunRecord, accuracy_text, score_text
from bertstudio.ui.views.charts import CHART_HEIGHT, downsample, ema
from bertstudio.ui.views.progress import format_duration

# Short heads and cells, so that the ten columns fit a laptop's width without breaking words; the full model name
# and data file are in the run picker below the table (RunRecord.label) and in the report.
RUN_COLUMNS = ("Started", "Status", "Model", "Data", "Preset", "Accuracy", "Macro-F1", "Simple model",
               "Time", "Run")
# Widths that fit RUN_COLUMNS' heads and cells at 1,400 px (the run's folder name, last, wraps at its hyphens).
# Status fits its longest word, "interrupted", in the table's monospace font (at 80px it read "interrupt").
RUN_COLUMN_WIDTHS = ("140px", "110px", "115px", "160px", "85px", "85px", "85px", "80px", "100px", "220px")
TABLE_CHAR_PX = 8.5  # one character of the table's monospace font at its size
CELL_PADDING_PX = 16  # a cell's padding, left and right together
SHORT_DATA_CHARS = 22  # a longer file name is cut in the middle (its extension stays)
# A model's parenthesis longer than this is left out of table cells ("MiniLM-L6 (bundled, all-MiniLM-L6-v2)" ->
# "MiniLM-L6"); a short one tells variants apart and stays ("BERT-base (cased)").
SHORT_PARENTHESIS_CHARS = 10


def _score(value: float | None) -> str:
    """Scores in the Runs tab's tables as in its prose: a percentage with one decimal (history.records)."""
    return score_text(value)


def short_model(name: str) -> str:
    """The model's name without a long parenthesis: what a table cell needs to tell models apart."""
    base, _, rest = name.partition(" (")
    return base if rest and len(rest) + 2 > SHORT_PARENTHESIS_CHARS else name


def short_file(name: str, limit: int = SHORT_DATA_CHARS) -> str:
    """A file name cut in the middle when it is long: 'customer_support_tic…2024.xlsx'."""
    if len(name) <= limit:
        return name
    stem, dot, suffix = name.rpartition(".")
    tail = f"{dot}{suffix}" if dot and len(suffix) <= 5 else ""
    keep = limit - len(tail) - 1
    return f"{(stem if tail else name)[:keep]}…{tail}"


def _data_cell(record: RunRecord, ambiguous: set[str]) -> str:
    """The data file's name; with its fingerprint only when two different files of that name are listed."""
    name = short_file(record.data_name)
    if record.fingerprint and record.data_name in ambiguous:
        return f"{name} ({record.fingerprint.short})"
    return name


def _ambiguous_names(records: Sequence[RunRecord]) -> set[str]:
    """Data file names listed with more than one fingerprint (another file of the same name)."""
    seen: dict[str, set[str]] = {}
    for r in records:
        if r.fingerprint:
            seen.setdefault(r.data_name, set()).add(r.fingerprint.sha256)
    return {name for name, prints in seen.items() if len(prints) > 1}


def runs_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    ambiguous = _ambiguous_names(records)
    rows = [(r.created, STATUS_WORDS.get(r.status, r.status), short_model(r.model), _data_cell(r, ambiguous),
             r.preset, accuracy_text(r.accuracy, r.multi_label), _score(r.macro_f1), _score(r.simple_model_macro_f1),
             format_duration(r.train_seconds) if r.train_seconds else "", r.name) for r in records]
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def damaged_markdown(records: Sequence[RunRecord]) -> str:
    """What is wrong with each damaged run, under the table: its file (and field) and what to do ('' when none is).
    The table's status alone said "damaged" without a word on why."""
    damaged = [r for r in records if r.status == "damaged"]
    if not damaged:
        return ""
    lines = "\n".join(f"- **{r.name}**: {r.message}" for r in damaged)
    return f"**{count_noun(len(damaged), 'damaged run')}** (a file it needs is missing or unreadable):\n\n{lines}"


def run_choices(records: Sequence[RunRecord]) -> list[tuple[str, str]]:
    return [(r.label, str(r.path)) for r in records]


def delete_question(records: Sequence[RunRecord]) -> str:
    """What Delete asks before anything goes: which runs, and that it cannot be undone."""
    listed = "\n".join(f"- {r.label}" for r in records)
    return (f"**Delete {count_noun(len(records), 'run')} for good?** Each run's model, scores, exports and report go "
            f"with it; this cannot be undone.\n\n{listed}")


def _overlay(title: str, y_title: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=title, height=CHART_HEIGHT, margin=dict(l=50, r=20, t=50, b=40),
                         xaxis_title="step", yaxis_title=y_title, legend=dict(orientation="h", y=-0.25))
    return figure


def compare_charts(comparison: Comparison) -> tuple[go.Figure, go.Figure]:
    """Training loss (smoothed) and validation macro-F1, one line per run, named by its short name."""
    loss = _overlay("Training loss, smoothed (lower is better)", "loss")
    validation = _overlay("Validation macro-F1 (higher is better)", "macro-F1")
    validation.update_yaxes(tickformat=".0%")  # the tables' and the prose's scale
    for name, curves in zip(comparison.names, comparison.curves):
        xs, ys = downsample(curves.steps, ema(curves.losses))
        loss.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name))
        validation.add_trace(go.Scatter(x=curves.eval_steps, y=curves.macro_f1s, mode="lines+markers", name=name,
                                        hovertemplate="step %{x:,}: %{y:.1%}"))
    return loss, validation


METRICS_COLUMNS = ("Run", "Model", "Status", "Accuracy", "Macro-F1", "Validation F1", "Simple model", "Time",
                   "Folder")


def metrics_frame(comparison: Comparison) -> pd.DataFrame:
    """The compared runs' scores (on the test texts, but for the validation column), each run by its short name
    and, last, the folder it is in."""
    rows = [(name, short_model(m.model), STATUS_WORDS.get(m.status, m.status), accuracy_text(m.accuracy, m.multi_label),
             _score(m.macro_f1), _score(m.validation_macro_f1), _score(m.simple_model_macro_f1),
             format_duration(m.train_seconds) if m.train_seconds else "", m.run)
            for name, m in zip(comparison.names, comparison.metrics)]
    return pd.DataFrame(rows, columns=list(METRICS_COLUMNS))


def settings_frame(comparison: Comparison) -> pd.DataFrame:
    names = comparison.names
    rows = [[d.name, *(setting_text(v) for v in d.values)] for d in comparison.settings]
    return pd.DataFrame(rows or [["(every setting is the same)", *([""] * len(names))]], columns=["Setting", *names])


def per_class_frame(comparison: Comparison) -> pd.DataFrame:
    keys = [r.name for r in comparison.runs]
    rows = [[label, *(_score(comparison.per_class.f1[k].get(label)) for k in keys)]
            for label in comparison.per_class.labels]
    return pd.DataFrame(rows, columns=["Class (F1)", *comparison.names])


def compare_note(comparison: Comparison) -> str:
    if comparison.same_data:
        return "All these runs were trained on the same data file, so their scores compare directly."
    return ("**Careful:** these runs were **not** trained on the same data file (see the first row of the settings), "
            "so their scores do not compare directly.")


MODEL_COLUMNS = ("Model", "Accuracy", "Macro-F1", "Latency", "Texts/s", "Timed with", "Runs", "Best run")
MODEL_COLUMN_WIDTHS = ("150px", "85px", "85px", "90px", "80px", "260px", "60px", "200px")


def _best_run_cell(row: ModelRow) -> str:
    """The best run by its start time, as the Runs table lists it (and whether it was stopped early)."""
    stopped = " (stopped early)" if row.best_stopped_early else ""
    return f"{row.best_started or row.best_run}{stopped}"


def models_frame(rows: Sequence[ModelRow]) -> pd.DataFrame:
    table = [(short_model(r.model), accuracy_text(r.accuracy, r.multi_label), _score(r.macro_f1),
              f"{r.latency_ms:.1f} ms" if r.latency_ms is not None else "not measured",
              f"{r.throughput:,.0f}" if r.throughput is not None else "", r.latency_setting, r.runs,
              _best_run_cell(r)) for r in rows]
    return pd.DataFrame(table, columns=list(MODEL_COLUMNS))


def left_out_markdown(left_out: Sequence[LeftOut]) -> str:
    """Which listed runs the models table does not count, and why ('' when it counts them all)."""
    if not left_out:
        return ""
    reasons: dict[str, int] = {}
    for item in left_out:
        reasons[item.reason] = reasons.get(item.reason, 0) + 1
    why = "; ".join(f"{count_noun(n, 'run')} {reason}" for reason, n in reasons.items())
    return f" **Runs** counts the runs on this file with a test score; not counted: {why}."


def models_markdown(rows: Sequence[ModelRow], others: Sequence[str] = (), left_out: Sequence[LeftOut] = ()) -> str:
    """``others``: names of models worth training next (only ones the app allows); ``left_out``: the listed runs
    the table does not count (engine: history.compare.left_out_of_models)."""
    if not rows:
        return "Train on a file to see the models side by side."
    counted = left_out_markdown(left_out)
    stopped = (" A best run marked *stopped early* was stopped before its planned steps; it kept its best model, "
               "scored like a finished run's." if any(r.best_stopped_early for r in rows) else "")
    if len(rows) == 1:
        say = f" (say {' and '.join(others[:2])})" if others else ""
        return (f"Only one model was trained on this data so far. Train another one{say} on the same file to see "
                f"accuracy and speed side by side.{counted}{stopped}")
    missing = [short_model(r.model) for r in rows if r.latency_ms is None]
    note = (f" Latency is not measured yet for {', '.join(missing)}: run the **Benchmark** tab to time it."
            if missing else "")
    return (f"**{short_model(rows[0].model)}** scores best on this data (macro-F1 {_score(rows[0].macro_f1)} on the "
            f"test texts).{note}{counted}{stopped}")


def seeds_markdown(report: SeedReport | None, done: int, of: int, running: bool) -> str:
    if report is not None:
        return f"**{report.to_text()}.** A difference between settings smaller than the spread is luck."
    if running:
        return f"Training {of} times with different seeds: {done} of {of} done (the Train tab shows each run)."
    return f"Stopped after {done} of {of} runs." if of else ""
