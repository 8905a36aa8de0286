"""The Runs tab: every run of this browser, side-by-side comparison, saved settings, "train 3 times", reports.

Layout and wiring only: the records, the comparison and the report come from :mod:`bertstudio.history`, the
tables and charts from :mod:`bertstudio.ui.views.history`.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from bertstudio.config import config_from_preset, list_presets, save_preset
from bertstudio.errors import UserError
from bertstudio.events import Cancelled, Failed, Started
from bertstudio.history.compare import compare_runs, has_test_score, left_out_of_models, model_comparison
from bertstudio.history.records import RunRecord, delete_run, list_runs, read_run
from bertstudio.history.report import write_report
from bertstudio.history.seeds_job import SeedsJob
from bertstudio.jobs import TRAINING
from bertstudio.ui.common import benchmark_records, ensure_model_obtainable, friendly, require_workspace
from bertstudio.ui.context import AppContext
from bertstudio.ui.session import Workspace, check_room
from bertstudio.ui.state import DataSelection, ModelChoice, SettingsRequest, build_config, require_data
from bertstudio.ui.views import history as views
from bertstudio.ui.views import limits as limit_views
from bertstudio.ui.views.settings import settings_of_config
from bertstudio.data.findings import count_noun

INTRO = """### Your runs
Every training run of this browser, finished or not. Tick two or more to compare them; tick one to open it in
Evaluate, Export or Predict, train again with its settings, or download its report."""
SEEDS_POLL_SECONDS = 2.0
SUGGESTED_MODELS = ("distilbert-base-uncased", "bert-base-uncased", "bundled-minilm")  # to compare a first run with


def active_runs(ctx: AppContext, workspace: Workspace) -> list[Path]:
    """The folder this workspace's training job is writing to, while it runs."""
    job = ctx.jobs.latest(workspace.id, TRAINING)
    if job is None or not job.running:
        return []
    started = [e.run_dir for e in job.events_since(0) if isinstance(e, Started)]
    return [Path(started[-1])] if started else []


def workspace_runs(ctx: AppContext, workspace: Workspace) -> list[RunRecord]:
    return list_runs(workspace.runs, active=active_runs(ctx, workspace))


def picked_records(ctx: AppContext, workspace: Workspace, picked: list[str] | None) -> list[RunRecord]:
    """The ticked runs, each checked to be this workspace's."""
    if not picked:
        raise UserError("No run is ticked.", "Tick a run in the list first.")
    records = []
    for path in picked:
        if not workspace.owns(path) or not Path(path).resolve().is_relative_to(workspace.runs.resolve()):
            raise UserError("That run does not belong to this browser session.", "Pick one of your own runs.")
        records.append(read_run(path, active=active_runs(ctx, workspace)))
    return records


def one_record(ctx: AppContext, workspace: Workspace, picked: list[str] | None) -> RunRecord:
    records = picked_records(ctx, workspace, picked)
    if len(records) != 1:
        raise UserError("This needs exactly one run.", "Tick only the run you mean.")
    return records[0]


def build(ctx: AppContext) -> None:
    with gr.Tab("Runs", id="runs") as tab:
        gr.Markdown(INTRO)
        refresh = gr.Button("Refresh", size="sm", scale=0)
        table = gr.Dataframe(views.runs_frame([]), interactive=False, wrap=True, elem_id="runs-table",
                             column_widths=list(views.RUN_COLUMN_WIDTHS))
        damaged_md = gr.Markdown(elem_id="runs-damaged")
        picked = gr.CheckboxGroup(label="Runs (tick to choose)", choices=[], elem_id="runs-pick")
        with gr.Row():
            compare = gr.Button("Compare the ticked runs", variant="primary", elem_id="runs-compare")
            open_eval = gr.Button("Open in Evaluate, Export and Predict", elem_id="runs-open")
            again = gr.Button("Train again with these settings", elem_id="runs-again")
            report = gr.Button("Make the report", elem_id="runs-report")
            delete = gr.Button("Delete", variant="stop", elem_id="runs-delete")
        # Delete asks first, naming the runs: one click used to remove them for good.
        with gr.Group(visible=False, elem_id="runs-confirm-delete") as confirm_box:
            confirm_md = gr.Markdown(padding=True, elem_id="runs-delete-question")
            with gr.Row():
                confirm_yes = gr.Button("Yes, delete them", variant="stop", elem_id="runs-delete-yes")
                confirm_no = gr.Button("Keep them", elem_id="runs-delete-no")
        doomed = gr.State([])  # the runs the question names: what "Yes" deletes, whatever is ticked meanwhile
        report_file = gr.File(label="Report (a single HTML file: open it in a browser, or send it)",
                              visible=False, elem_id="runs-report-file")
        with gr.Group(visible=False) as compared:
            note_md = gr.Markdown(elem_id="compare-note", padding=True)
            with gr.Row():
                loss_plot = gr.Plot(show_label=False, elem_id="compare-loss")
                val_plot = gr.Plot(show_label=False, elem_id="compare-validation")
            metrics_df = gr.Dataframe(interactive=False, wrap=True, label="Scores", elem_id="compare-metrics")
            settings_df = gr.Dataframe(interactive=False, wrap=True, label="Settings that differ",
                                       elem_id="compare-settings")
            classes_df = gr.Dataframe(interactive=False, wrap=True, label="F1 per class", elem_id="compare-classes")
        gr.Markdown("### Which model for this data? Accuracy and speed")
        models_md = gr.Markdown(views.models_markdown([]), elem_id="models-note")
        models_df = gr.Dataframe(views.models_frame([]), interactive=False, wrap=True, elem_id="models-table",
                                 column_widths=list(views.MODEL_COLUMN_WIDTHS))
        with gr.Accordion("Saved settings", open=False, elem_id="saved-settings"):
            with gr.Row():
                preset_title = gr.Textbox(label="Name", placeholder="e.g. fast small data", elem_id="preset-title")
                save = gr.Button("Save the Model tab's settings under this name", elem_id="preset-save")
            with gr.Row():
                saved = gr.Dropdown(label="Saved settings", choices=[], elem_id="preset-saved")
                load = gr.Button("Show them in the Model tab", elem_id="preset-load")
            presets_md = gr.Markdown()
        with gr.Accordion("How much is luck? Train several times", open=False, elem_id="seeds"):
            gr.Markdown("Trains the Model tab's settings on the loaded data several times, each with another random "
                        "seed (and split), and gives the mean score and its spread."
                        + limit_views.seeds_note(ctx.limits), elem_id="seeds-intro")
            with gr.Row():
                n_seeds = gr.Slider(2, 5, value=3, step=1, label="Runs", elem_id="seeds-count")
                seeds_start = gr.Button("Train 3 times", elem_id="seeds-start")
            seeds_md = gr.Markdown(elem_id="seeds-status")
        seeds_timer = gr.Timer(SEEDS_POLL_SECONDS, active=False)

        def saved_presets(ws: Workspace) -> gr.Dropdown:
            builtin = set(list_presets())
            names = [(p.title, n) for n, p in list_presets(workspace=ws.presets).items() if n not in builtin]
            return gr.Dropdown(choices=names, value=names[0][1] if names else None)

        @friendly
        def show(workspace, ticked: list[str] | None) -> dict:
            ws = require_workspace(workspace)
            records = workspace_runs(ctx, ws)
            paths = {str(r.path) for r in records}
            rows = model_comparison(records, benchmark_records(ctx.jobs, ws))
            return {table: views.runs_frame(records), damaged_md: views.damaged_markdown(records),
                    picked: gr.CheckboxGroup(choices=views.run_choices(records),
                                             value=[p for p in ticked or [] if p in paths]),
                    models_df: views.models_frame(rows),
                    models_md: views.models_markdown(rows, limit_views.other_models(
                        ctx.limits, [r.model_key for r in rows], SUGGESTED_MODELS), left_out_of_models(records)),
                    saved: saved_presets(ws)}

        @friendly
        def on_compare(workspace, ticked: list[str] | None) -> dict:
            comparison = compare_runs(picked_records(ctx, require_workspace(workspace), ticked))
            loss, validation = views.compare_charts(comparison)
            return {compared: gr.Group(visible=True), note_md: views.compare_note(comparison), loss_plot: loss,
                    val_plot: validation, metrics_df: views.metrics_frame(comparison),
                    settings_df: views.settings_frame(comparison), classes_df: views.per_class_frame(comparison)}

        @friendly
        def on_open(workspace, ticked: list[str] | None) -> dict:
            record = one_record(ctx, require_workspace(workspace), ticked)
            if record.status == "damaged":  # the message names the file and what to do
                raise UserError(f"That run is damaged: {record.message}", "Or pick another run.")
            if not has_test_score(record):  # a run stopped early kept its best model: it opens like a finished one
                raise UserError(f"That run is {record.status}, so it has no finished model.", "Pick a finished run.")
            return {ctx.run_dir: str(record.path), ctx.tabs: gr.Tabs(selected="evaluate")}

        @friendly
        def on_again(workspace, ticked: list[str] | None) -> dict:
            record = one_record(ctx, require_workspace(workspace), ticked)
            request = SettingsRequest(model=record.model_key or record.model, preset=record.preset,
                                      settings=settings_of_config(record.config), source=f"run {record.name}")
            return {ctx.settings_request: request, ctx.tabs: gr.Tabs(selected="model")}

        @friendly
        def on_report(workspace, ticked: list[str] | None) -> dict:
            ws = require_workspace(workspace)
            record = one_record(ctx, ws, ticked)
            path = write_report(record.path, bench=benchmark_records(ctx.jobs, ws))
            return {report_file: gr.File(value=str(path), visible=True)}

        @friendly
        def on_delete_asked(workspace, ticked: list[str] | None) -> dict:
            records = picked_records(ctx, require_workspace(workspace), ticked)
            return {confirm_box: gr.Group(visible=True), confirm_md: views.delete_question(records),
                    doomed: [str(r.path) for r in records]}

        @friendly
        def on_delete(workspace, named: list[str]) -> dict:
            ws = require_workspace(workspace)
            for record in picked_records(ctx, ws, named):
                delete_run(record, ws.runs)
            gr.Info(f"Deleted {count_noun(len(named), 'run')}.")
            return {**show(ws, []), compared: gr.Group(visible=False), report_file: gr.File(visible=False),
                    confirm_box: gr.Group(visible=False), doomed: []}

        @friendly
        def on_save(workspace, title: str, choice: ModelChoice) -> dict:
            ws = require_workspace(workspace)
            config = config_from_preset(choice.preset, workspace_presets=ws.presets, **choice.settings,
                                        model=choice.model)
            preset = save_preset(ws.presets, title or "", config)
            return {presets_md: f"Saved as **{preset.title}**.", saved: saved_presets(ws)}

        @friendly
        def on_load(workspace, name: str | None) -> dict:
            ws = require_workspace(workspace)
            if not name:
                raise UserError("No saved settings are chosen.", "Save the Model tab's settings first.")
            config = config_from_preset(name, workspace_presets=ws.presets)
            request = SettingsRequest(model=config.model, preset=name, settings=settings_of_config(config.to_json_dict()),
                                      source=f"saved settings '{name}'")
            return {ctx.settings_request: request, ctx.tabs: gr.Tabs(selected="model")}

        @friendly
        def on_seeds(workspace, selection: DataSelection | None, choice: ModelChoice, count: float) -> dict:
            ws = require_workspace(workspace)
            config = build_config(require_data(selection), choice)
            check_room(ws, ctx.limits)
            # The job refuses a model or a step past the limits by name and number, before a folder or id is read.
            job = SeedsJob(config, int(count), runs_root=ws.runs, limits=ctx.limits)
            ensure_model_obtainable(config.model)
            ctx.jobs.start(ws.id, job)
            return {seeds_md: views.seeds_markdown(None, 0, int(count), True), seeds_timer: gr.Timer(active=True)}

        def on_seeds_tick(workspace) -> dict:
            job = ctx.jobs.latest(workspace.id, TRAINING) if workspace is not None else None
            if not isinstance(job, SeedsJob):
                return {seeds_timer: gr.Timer(active=False)}
            text = views.seeds_markdown(job.report, len(job.done_runs), job.n_seeds, job.running)
            if job.done and job.report is None and isinstance(job.outcome, Failed):
                text = f"**Failed:** {job.outcome.text()}"
            elif job.done and job.report is None and isinstance(job.outcome, Cancelled):
                text = job.outcome.message  # says which limit stopped it, if one did
            return {seeds_md: text, seeds_timer: gr.Timer(active=job.running)}

        listing = [table, damaged_md, picked, models_df, models_md, saved]
        ticked_in = [ctx.workspace, picked]
        for trigger in (refresh.click, tab.select):
            trigger(show, ticked_in, listing)
        ctx.session_loaded.then(show, ticked_in, listing)
        compare.click(on_compare, ticked_in, [compared, note_md, loss_plot, val_plot, metrics_df, settings_df,
                                              classes_df])
        open_eval.click(on_open, ticked_in, [ctx.run_dir, ctx.tabs])
        again.click(on_again, ticked_in, [ctx.settings_request, ctx.tabs])
        report.click(on_report, ticked_in, report_file)
        delete.click(on_delete_asked, ticked_in, [confirm_box, confirm_md, doomed])
        confirm_yes.click(on_delete, [ctx.workspace, doomed], [*listing, compared, report_file, confirm_box, doomed])
        confirm_no.click(lambda: (gr.Group(visible=False), []), None, [confirm_box, doomed])
        save.click(on_save, [ctx.workspace, preset_title, ctx.model_choice], [presets_md, saved])
        load.click(on_load, [ctx.workspace, saved], [ctx.settings_request, ctx.tabs])
        n_seeds.change(lambda n: gr.Button(f"Train {int(n)} times"), n_seeds, seeds_start)
        seeds_start.click(on_seeds, [ctx.workspace, ctx.data, ctx.model_choice, n_seeds], [seeds_md, seeds_timer])
        seeds_timer.tick(on_seeds_tick, ctx.workspace, [seeds_md, seeds_timer], show_progress="hidden")
