"""Tab 3, Train: start and stop a run and watch it live.

A timer asks the job for the events the page has not seen yet (never the log
files), folds them into a :class:`TrainProgress` and redraws.  The job lives in
the app's registry, not in the page, so a reloaded page re-attaches by replaying
the job's events from the start.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from bertstudio.errors import UserError
from bertstudio.events import Cancelled, Finished, Started
from bertstudio.jobs import TRAINING, BackgroundJob
from bertstudio.models.registry import find_variant
from bertstudio.train.checkpoints import latest_resumable_run
from bertstudio.train.job import TrainingJob
from bertstudio.ui.common import ensure_model_obtainable, friendly, require_workspace
from bertstudio.ui.context import AppContext
from bertstudio.ui.session import check_room
from bertstudio.ui.state import DataSelection, ModelChoice, build_config, require_data
from bertstudio.ui.views import charts
from bertstudio.ui.views import limits as limit_views
from bertstudio.ui.views.progress import (
    TrainProgress,
    fold_events,
    outcome_markdown,
    progress_bar_html,
    progress_markdown,
    resume_markdown,
)

POLL_SECONDS = 1.0
NOT_STARTED = "Not started yet."
INTRO = """### Step 3: train
Training runs on this computer. You can close this page: training goes on, and the page picks it up again
when you come back."""


def empty_charts() -> tuple:
    return (charts.empty_chart("Training loss (lower is better)", "Appears when training starts"),
            charts.empty_chart("Validation (texts not trained on)", "Appears after the first check"),
            charts.empty_chart("Learning rate", "Appears when training starts"),
            charts.empty_chart("Gradient size", "Appears when training starts"))


def progress_charts(progress: TrainProgress) -> tuple:
    if not progress.steps:
        return empty_charts()
    simple_f1 = progress.simple.macro_f1 if progress.simple else None
    validation = charts.validation_chart(progress.eval_steps, progress.val_losses, progress.macro_f1s, simple_f1) \
        if progress.eval_steps else charts.empty_chart("Validation (texts not trained on)",
                                                       "Appears after the first check")
    return (charts.loss_chart(progress.steps, progress.losses), validation,
            charts.learning_rate_chart(progress.steps, progress.lrs),
            charts.grad_norm_chart(progress.steps, progress.grad_norms))


def run_was_deleted(job: BackgroundJob) -> bool:
    """Whether ``job`` has ended and the run folder it wrote has been deleted since (Runs → Delete)."""
    if not job.done:
        return False
    folders = [e.run_dir for e in job.events_since(0) if isinstance(e, (Started, Finished, Cancelled)) and e.run_dir]
    return bool(folders) and not Path(folders[-1]).is_dir()


def ready_markdown(selection: DataSelection | None, choice: ModelChoice, progress: TrainProgress | None = None) -> str:
    """What Start would do now; after a run it says Start begins a new one (the run above is kept)."""
    if selection is None:
        return "First load your data in the **Data** tab."
    if selection.has_errors:
        return f"Your data has problems that stop training: {selection.errors_text} See the **Data** tab."
    variant = find_variant(choice.model)
    model = variant.display_name if variant else choice.model
    preset = choice.preset_title()
    what = (f"**{model}** on **{selection.file_name}** ({selection.rows:,} texts, {len(selection.class_counts)} "
            f"classes) with the **{preset}** preset")
    if progress is not None and progress.done:
        return (f"To train again, press Start: a new run of {what} (the run below stays in the Runs tab). Change "
                "the settings in the Model tab first if you like.")
    return f"Ready to train {what}. Press Start; the Model tab shows the plan and a time estimate."


def ready_update(selection: DataSelection | None, choice: ModelChoice, progress: TrainProgress | None) -> gr.Markdown:
    """The ready text, hidden while a run is going (it would say "Press Start" under a running run)."""
    running = progress is not None and bool(progress.token) and not progress.done
    return gr.Markdown(ready_markdown(selection, choice, progress), visible=not running)


def build(ctx: AppContext) -> None:
    with gr.Tab("3. Train", id="train") as tab:
        gr.Markdown(INTRO)
        ready_md = gr.Markdown(ready_markdown(None, ModelChoice()), elem_id="train-ready")
        with gr.Row():
            start = gr.Button("Start training", variant="primary", elem_id="start-training")
            stop = gr.Button("Stop", variant="stop", elem_id="stop-training")
        with gr.Row():
            resume_md = gr.Markdown(visible=False, elem_id="train-resume-note")
            resume = gr.Button("Resume", visible=False, elem_id="resume-training", scale=0)
        bar = gr.HTML(progress_bar_html(TrainProgress()), elem_id="train-bar")
        status_md = gr.Markdown(NOT_STARTED, elem_id="train-status")
        outcome_md = gr.Markdown(elem_id="train-outcome")
        to_evaluate = gr.Button("See the results in the Evaluate tab →", variant="primary", visible=False,
                                elem_id="go-evaluate")
        with gr.Row():
            loss_plot = gr.Plot(show_label=False, elem_id="loss-chart")
            val_plot = gr.Plot(show_label=False, elem_id="validation-chart")
        with gr.Row():
            lr_plot = gr.Plot(show_label=False, elem_id="lr-chart")
            grad_plot = gr.Plot(show_label=False, elem_id="grad-chart")
        progress_state = gr.State(TrainProgress())
        timer = gr.Timer(POLL_SECONDS, active=False)

        plots = [loss_plot, val_plot, lr_plot, grad_plot]
        view = [progress_state, ready_md, bar, status_md, outcome_md, to_evaluate, *plots, ctx.run_dir, timer,
                resume_md, resume]

        def current_job(workspace) -> BackgroundJob | None:
            """The workspace's training job, unless it ended and its run has been deleted since: replaying it would
            show a run that is gone, with a button to its results."""
            job = ctx.jobs.latest(workspace.id, TRAINING) if workspace is not None else None
            return None if job is None or run_was_deleted(job) else job

        def resume_offer(workspace) -> dict:
            """Offer Resume when the workspace's newest run was interrupted with a checkpoint (and nothing runs)."""
            job = ctx.jobs.latest(workspace.id, TRAINING) if workspace is not None else None
            found = None if workspace is None or (job is not None and job.running) else \
                latest_resumable_run(workspace.runs)
            text = resume_markdown(found.run.path.name, found.status) if found else ""
            return {resume_md: gr.Markdown(text, visible=found is not None), resume: gr.Button(visible=found is not None)}

        def render(progress: TrainProgress, selection: DataSelection | None, choice: ModelChoice) -> dict:
            finished = isinstance(progress.outcome, Finished)
            shown = {progress_state: progress, ready_md: ready_update(selection, choice, progress),
                     bar: progress_bar_html(progress),
                     status_md: progress_markdown(progress), outcome_md: outcome_markdown(progress),
                     to_evaluate: gr.Button(visible=finished), **dict(zip(plots, progress_charts(progress))),
                     timer: gr.Timer(active=not progress.done)}
            if finished:  # the new run is what Evaluate, Export and Predict show next
                shown[ctx.run_dir] = progress.outcome.run_dir
            return shown

        def start_job(workspace, job: TrainingJob, selection: DataSelection | None, choice: ModelChoice) -> dict:
            ctx.jobs.start(workspace.id, job)
            # Everything the last run left on the page (its "Stopped" or "Done" text) goes at once, even while
            # the new run waits for its turn.
            return {**render(TrainProgress(token=job.token), selection, choice), **(waiting(job) or {}),
                    **resume_offer(None)}

        def not_started(selection: DataSelection | None, choice: ModelChoice) -> dict:
            """The page as it is before any run (the run it showed was deleted)."""
            return {**render(TrainProgress(), selection, choice), status_md: NOT_STARTED, timer: gr.Timer(active=False)}

        def refused(workspace, refusal: UserError) -> dict:
            """A refused Start leaves the page as it was (raising would put an "Error" badge on every output and
            blank the charts): the reason goes in a toast. When this visitor's job is going, started from another
            tab of theirs, the timer attaches this page to it."""
            gr.Warning(str(refusal), title="Please check")
            job = current_job(workspace)
            return {timer: gr.Timer(active=True) if job is not None and job.running else gr.skip()}

        def keeps_the_page(handler: Callable[..., dict]) -> Callable[..., dict]:
            @functools.wraps(handler)
            def wrapper(workspace, *args: Any) -> dict:
                try:
                    return handler(workspace, *args)
                except UserError as refusal:
                    return refused(workspace, refusal)
            return wrapper

        @friendly
        @keeps_the_page
        def on_start(workspace, selection: DataSelection | None, choice: ModelChoice) -> dict:
            ws = require_workspace(workspace)
            config = build_config(require_data(selection), choice)
            # Refused here, before the job waits in line for nothing, and before a folder or id is read.
            ctx.limits.check_model(config.model)
            check_room(ws, ctx.limits)
            job = TrainingJob(config, runs_root=ws.runs, limits=ctx.limits)  # refuses too many tokens per step
            ensure_model_obtainable(config.model)
            return start_job(ws, job, selection, choice)

        def waiting(job) -> dict | None:
            """While the job waits for its turn: its place in line and the expected wait."""
            place = ctx.jobs.place(job)
            if place is None:
                return None
            return {progress_state: TrainProgress(token=job.token), status_md: limit_views.queue_markdown(place),
                    timer: gr.Timer(active=True)}

        @friendly
        @keeps_the_page
        def on_resume(workspace, selection: DataSelection | None, choice: ModelChoice) -> dict:
            ws = require_workspace(workspace)
            found = latest_resumable_run(ws.runs)
            if found is None:
                gr.Warning("There is no interrupted run to resume.")
                return resume_offer(ws)
            check_room(ws, ctx.limits)
            return start_job(ws, TrainingJob.resuming(found.run.path, limits=ctx.limits), selection, choice)

        @friendly
        def on_stop(workspace) -> str:
            if not ctx.jobs.stop(require_workspace(workspace).id, TRAINING):
                gr.Warning("Nothing is training right now.")
                return gr.skip()
            return "Stopping after the current step…"

        @friendly
        def on_tick(workspace, progress: TrainProgress, selection: DataSelection | None, choice: ModelChoice) -> dict:
            job = current_job(workspace)
            if job is None:  # no job, or its run was deleted: a page still showing that run forgets it
                return not_started(selection, choice) if progress.token else {timer: gr.Timer(active=False)}
            if progress.token != job.token:  # a reloaded page, or a new run: replay from the first event
                progress = TrainProgress(token=job.token)
            events = job.events_since(progress.cursor)
            if not events:
                return waiting(job) or {timer: gr.Timer(active=not progress.done)}
            progress = fold_events(progress, events)
            return {**render(progress, selection, choice), **(resume_offer(workspace) if progress.done else {})}

        def on_reload(workspace) -> gr.Timer:
            """Re-attach to this workspace's job (running or finished) after a page (re)load."""
            return gr.Timer(active=current_job(workspace) is not None)

        start.click(on_start, [ctx.workspace, ctx.data, ctx.model_choice], view)
        resume.click(on_resume, [ctx.workspace, ctx.data, ctx.model_choice], view)
        stop.click(on_stop, ctx.workspace, status_md)
        tick_inputs = [ctx.workspace, progress_state, ctx.data, ctx.model_choice]
        timer.tick(on_tick, tick_inputs, view, concurrency_limit=None, show_progress="hidden")
        # Opening the tab catches up with what happened elsewhere: a run deleted in the Runs tab, or a job started
        # from another tab of this visitor.
        tab.select(on_tick, tick_inputs, view, show_progress="hidden")
        to_evaluate.click(lambda: gr.Tabs(selected="evaluate"), None, ctx.tabs)
        gr.on([ctx.data.change, ctx.model_choice.change], ready_update, [ctx.data, ctx.model_choice, progress_state],
              ready_md)
        ctx.session_loaded.then(on_reload, ctx.workspace, timer).then(
            lambda: dict(zip(plots, empty_charts())), None, plots).then(resume_offer, ctx.workspace, [resume_md, resume])
