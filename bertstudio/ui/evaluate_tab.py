"""Tab 4, Evaluate: how good the model is on texts it never saw, and where it goes wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import pandas as pd

from ..pipeline import PREDICTIONS_FILE
from ..runs import load_summary
from . import charts, tables
from .common import friendly, require_workspace
from .context import AppContext
from .session import Workspace, checked_run_dir, list_workspace_runs

INTRO = """### Step 4: evaluate
Scores on the **test texts**: a part of your data the model never saw while training, so they show how it will
do on new texts. **Macro-F1** averages the score of every class, so a rare class counts as much as a common one."""


@dataclass
class RunView:
    """One finished run, loaded for the Evaluate tab."""

    run_dir: str
    summary: dict[str, Any]
    predictions: pd.DataFrame
    label_names: list[str] = field(default_factory=list)


def load_run(workspace: Workspace, run_dir: str) -> RunView:
    path = checked_run_dir(workspace, run_dir)
    summary = load_summary(path)
    predictions = pd.read_csv(path / PREDICTIONS_FILE, keep_default_na=False)
    for column in ("text", "label", "predicted"):
        predictions[column] = predictions[column].astype(str)
    return RunView(str(path), summary, predictions, [str(n) for n in summary.get("label_names", [])])


def headline_markdown(view: RunView) -> str:
    s = view.summary
    metrics = s.get("metrics", {})
    where = "test" if s.get("evaluated_on", "test") == "test" else "validation"
    rows = metrics.get("rows", len(view.predictions))
    return (f"## Macro-F1 {s['macro_f1']:.3f} · Accuracy {s['accuracy']:.1%}\n"
            f"On {rows:,} {where} texts. Model {s.get('model', '')}, trained in "
            f"{s.get('train_seconds', 0):.0f} s on {s.get('device', '')}; best checkpoint at epoch "
            f"{s.get('best_epoch', 0):g}.")


def run_choices(workspace: Workspace) -> list[tuple[str, str]]:
    return [(info.label, str(info.path)) for info in list_workspace_runs(workspace)]


def build(ctx: AppContext) -> None:
    with gr.Tab("4. Evaluate", id="evaluate") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            run_dd = gr.Dropdown(label="Trained model (newest first)", choices=[], scale=4, elem_id="run-choice",
                                 info="Every finished training run in this browser is kept here.")
            refresh = gr.Button("Refresh the list", scale=1, size="md")
        headline = gr.Markdown("Train a model in the Train tab; its results appear here.", elem_id="eval-headline")
        with gr.Row():
            with gr.Column(scale=2):
                per_class = gr.Dataframe(label="Per class (recall: share of the class found; precision: share of "
                                               "the predictions that were right)", interactive=False)
                confusion = gr.Dataframe(label="Confusion matrix: click a cell to list those texts below",
                                         interactive=False, elem_id="confusion-table")
            confusion_plot = gr.Plot(show_label=False, elem_id="confusion-chart")
        gr.Markdown("#### Browse the test texts\nSee which texts the model gets wrong: often a label is wrong or "
                    "two classes overlap, and fixing the data helps more than any setting.")
        with gr.Row():
            true_dd = gr.Dropdown(label="True class", choices=[tables.ALL], value=tables.ALL, elem_id="filter-true")
            pred_dd = gr.Dropdown(label="Predicted class", choices=[tables.ALL], value=tables.ALL,
                                  elem_id="filter-predicted")
            sort_dd = gr.Dropdown(label="Order", choices=list(tables.SORTS), value=tables.DEFAULT_SORT)
            mistakes = gr.Checkbox(label="Only mistakes", value=False, elem_id="only-mistakes")
            search = gr.Textbox(label="Search the text", placeholder="a word or phrase, then Enter",
                                elem_id="search-text")
        caption = gr.Markdown(elem_id="browser-caption")
        browser = gr.Dataframe(interactive=False, wrap=True, elem_id="error-browser",
                               max_height=520, column_widths=["46%", "12%", "12%", "6%", "12%", "12%"])
        view_state = gr.State(None)

        filters = [true_dd, pred_dd, mistakes, sort_dd, search]

        def browse(view: RunView | None, true_label: str, predicted: str, only_mistakes: bool, sort: str,
                   query: str) -> tuple:
            if view is None:
                return None, ""
            chosen = tables.ErrorFilter(true_label or tables.ALL, predicted or tables.ALL, bool(only_mistakes),
                                        sort or tables.DEFAULT_SORT, query or "")
            rows = tables.filter_predictions(view.predictions, chosen)
            shown = tables.browser_view(rows)
            return shown, tables.browser_caption(len(shown), len(rows), len(view.predictions), chosen)

        @friendly
        def list_runs(workspace, wanted: str | None, current: str | None) -> gr.Dropdown:
            choices = run_choices(require_workspace(workspace))
            paths = [p for _, p in choices]
            value = next((p for p in (wanted, current) if p in paths), paths[0] if paths else None)
            return gr.Dropdown(choices=choices, value=value)

        @friendly
        def open_run(workspace, run_dir: str | None, current: RunView | None) -> list:
            if not run_dir or (current is not None and current.run_dir == run_dir):
                return [gr.skip()] * 11  # nothing chosen, or already open: keep the person's filters
            view = load_run(require_workspace(workspace), run_dir)
            metrics = view.summary.get("metrics", {})
            labels = metrics.get("labels", view.label_names)
            matrix = metrics.get("confusion_matrix", [])
            classes = [tables.ALL, *labels]
            rows, text = browse(view, tables.ALL, tables.ALL, False, tables.DEFAULT_SORT, "")
            return [view, headline_markdown(view), tables.per_class_table(metrics),
                    tables.confusion_table(matrix, labels), charts.confusion_chart(matrix, labels),
                    gr.Dropdown(choices=classes, value=tables.ALL), gr.Dropdown(choices=classes, value=tables.ALL),
                    False, "", rows, text]

        def pick_cell(view: RunView | None, evt: gr.SelectData) -> list:
            """A click on the confusion table filters the browser to that (true, predicted) cell."""
            labels = view.summary.get("metrics", {}).get("labels", view.label_names) if view else []
            cell = tables.cell_from_selection(evt.index, labels)
            if cell is None:
                return [gr.skip()] * 3
            return [cell[0], cell[1], False]

        opened = [view_state, headline, per_class, confusion, confusion_plot, true_dd, pred_dd, mistakes, search,
                  browser, caption]
        refresh.click(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd).then(
            open_run, [ctx.workspace, run_dd, view_state], opened)
        tab.select(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd).then(
            open_run, [ctx.workspace, run_dd, view_state], opened)
        run_dd.input(lambda path: path, run_dd, ctx.run_dir)
        ctx.run_dir.change(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd).then(
            open_run, [ctx.workspace, run_dd, view_state], opened)
        gr.on([true_dd.input, pred_dd.input, mistakes.input, sort_dd.input, search.submit], browse,
              [view_state, *filters], [browser, caption], trigger_mode="always_last")
        confusion.select(pick_cell, view_state, [true_dd, pred_dd, mistakes]).then(
            browse, [view_state, *filters], [browser, caption])
        ctx.session_loaded.then(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd)
