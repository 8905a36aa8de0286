"""The Runs tab's tables and charts, built from the history's records (pure: no gradio)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from bertstudio.evaluation.seeds import SeedReport
from bertstudio.history.compare import Comparison, ModelRow
from bertstudio.data.findings import count_noun
from bertstudio.history.records import STATUS_WORDS, RunRecord
from bertstudio.ui.views.charts import CHART_HEIGHT, downsample, ema
from bertstudio.ui.views.progress import format_duration

RUN_COLUMNS = ("Started", "Status", "Model", "Data", "Preset", "Accuracy", "Macro-F1", "Simple model F1",
               "Training time", "Run")


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def runs_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    rows = [(r.created, STATUS_WORDS.get(r.status, r.status), r.model,
             f"{r.data_name} ({r.fingerprint.short})" if r.fingerprint else r.data_name, r.preset, _score(r.accuracy),
             _score(r.macro_f1), _score(r.simple_model_macro_f1),
             format_duration(r.train_seconds) if r.train_seconds else "", r.name) for r in records]
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


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
    """Training loss (smoothed) and validation macro-F1, one line per run."""
    loss = _overlay("Training loss, smoothed (lower is better)", "loss")
    validation = _overlay("Validation macro-F1 (higher is better)", "macro-F1")
    for record, curves in zip(comparison.runs, comparison.curves):
        xs, ys = downsample(curves.steps, ema(curves.losses))
        loss.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=record.name))
        validation.add_trace(go.Scatter(x=curves.eval_steps, y=curves.macro_f1s, mode="lines+markers",
                                        name=record.name))
    return loss, validation


def metrics_frame(comparison: Comparison) -> pd.DataFrame:
    rows = [(m.run, m.model, STATUS_WORDS.get(m.status, m.status), _score(m.accuracy), _score(m.macro_f1),
             _score(m.validation_macro_f1), _score(m.simple_model_macro_f1),
             format_duration(m.train_seconds) if m.train_seconds else "") for m in comparison.metrics]
    return pd.DataFrame(rows, columns=["Run", "Model", "Status", "Accuracy", "Macro-F1", "Validation macro-F1",
                                       "Simple model F1", "Training time"])


def settings_frame(comparison: Comparison) -> pd.DataFrame:
    names = [r.name for r in comparison.runs]
    rows = [[d.name, *("auto" if v is None else str(v) for v in d.values)] for d in comparison.settings]
    return pd.DataFrame(rows or [["(every setting is the same)", *([""] * len(names))]], columns=["Setting", *names])


def per_class_frame(comparison: Comparison) -> pd.DataFrame:
    names = [r.name for r in comparison.runs]
    rows = [[label, *(_score(comparison.per_class.f1[n].get(label)) for n in names)]
            for label in comparison.per_class.labels]
    return pd.DataFrame(rows, columns=["Class (F1)", *names])


def compare_note(comparison: Comparison) -> str:
    if comparison.same_data:
        return "All these runs were trained on the same data file, so their scores compare directly."
    return ("**Careful:** these runs were **not** trained on the same data file (see the first row of the settings), "
            "so their scores do not compare directly.")


def models_frame(rows: Sequence[ModelRow]) -> pd.DataFrame:
    table = [(r.model, _score(r.accuracy), _score(r.macro_f1),
              f"{r.latency_ms:.1f} ms" if r.latency_ms is not None else "not measured",
              f"{r.throughput:,.0f}/s" if r.throughput is not None else "", r.latency_setting, r.runs, r.best_run)
             for r in rows]
    return pd.DataFrame(table, columns=["Model", "Accuracy", "Macro-F1", "Latency (median)", "Texts per second",
                                        "Measured with", "Runs", "Best run"])


def models_markdown(rows: Sequence[ModelRow], others: Sequence[str] = ()) -> str:
    """``others``: names of models worth training next (only ones the app allows)."""
    if not rows:
        return "Train on a file to see the models side by side."
    if len(rows) == 1:
        say = f" (say {' and '.join(others[:2])})" if others else ""
        return (f"Only one model was trained on this data so far. Train another one{say} on the same file to see "
                "accuracy and speed side by side.")
    missing = [r.model for r in rows if r.latency_ms is None]
    note = (f" Latency is not measured yet for {', '.join(missing)}: run the **Benchmark** tab to time it."
            if missing else "")
    return f"**{rows[0].model}** scores best on this data (macro-F1 {rows[0].macro_f1:.3f}).{note}"


def seeds_markdown(report: SeedReport | None, done: int, of: int, running: bool) -> str:
    if report is not None:
        return f"**{report.to_text()}.** A difference between settings smaller than the spread is luck."
    if running:
        return f"Training {of} times with different seeds: {done} of {of} done (the Train tab shows each run)."
    return f"Stopped after {done} of {of} runs." if of else ""
