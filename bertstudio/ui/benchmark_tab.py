"""Tab: Benchmark. How fast is your model, and how fast could it be (PyTorch fp32/bf16, ONNX, ONNX INT8)?

The benchmark runs as a background job (:class:`bertstudio.benchmark.job.BenchmarkJob`) in the app's
registry; a timer polls its progress, so the page stays responsive and a Stop button works.  The registry
runs one benchmark at a time in the app, and none while a model trains or waits to: timings taken while the
cores are busy would be worthless. While it runs, trainings wait for it. On a shared app only the allowed
models are offered, and the job refuses a selection estimated past the benchmark time limit.
"""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr
import pandas as pd

from bertstudio.benchmark.backends import BACKEND_LABELS
from bertstudio.benchmark.chart import latency_chart
from bertstudio.benchmark.models import ALL_BACKENDS, short_name
from bertstudio.benchmark.records import BenchRecord
from bertstudio.benchmark.report import (
    TABLE_HEADER,
    footnotes,
    headline,
    own_model_recommendations,
    table_rows,
)
from bertstudio.benchmark.job import STOPPED, BenchmarkJob, JobSnapshot
from bertstudio.benchmark.runner import BenchmarkPlan
from bertstudio.benchmark.plan import (
    QUICK,
    THOROUGH,
    THOROUGHNESS,
    Thoroughness,
    comparison_models,
    estimate_benchmark,
    lengths_to_time,
)
from bertstudio.errors import UserError
from bertstudio.jobs import BENCHMARK
from bertstudio.limits import NO_LIMITS, UsageLimits
from bertstudio.models.registry import VARIANTS, find_variant
from bertstudio.models.sources import availability
from bertstudio.ui.common import friendly, require_workspace
from bertstudio.ui.context import AppContext
from bertstudio.ui.session import RunInfo, Workspace, checked_run_dir, list_workspace_runs
from bertstudio.ui.views.progress import bar_html
from bertstudio.data.findings import count_noun

POLL_SECONDS = 1.0
# In order of preference: a quick comparison ticks the first two that are not what the person's model was
# fine-tuned from (the engine's plan.comparison_models).
COMPARISON_MODELS = ("distilbert-base-uncased", "bert-base-uncased", "bundled-minilm")
BATCH_CHOICES = (1, 8, 32, 64)
SEQ_CHOICES = (16, 32, 64, 128, 256, 512)
CAPPED_BATCHES = (1,)  # a batch of 8 costs about 8 texts' time: one text at a time keeps a demo's benchmark short

INTRO = """### Benchmark: how fast is your model?
Times your trained model, and well-known models for comparison, in four ways of running it:
**PyTorch fp32** (as trained), **PyTorch bf16** (half-precision numbers), **ONNX Runtime** and
**ONNX Runtime INT8** (a 4x smaller model). Each way is also checked against the original on real texts: a
fast way that changes the answers is never recommended. Built-in models that are not downloaded are timed
with random weights (marked †): their speed is real, their accuracy is not claimed.

Close other heavy programs first: timings taken while the computer is busy are not reliable."""


# --------------------------------------------------------------------------- pure view builders


def model_choices(runs: Sequence[RunInfo], describe: dict[str, str] | None = None,
                  limits: UsageLimits = NO_LIMITS) -> list[tuple[str, str]]:
    """(label, value) pairs: the person's finished runs first (newest first), then the comparison models the
    limits allow."""

    choices = [(f"Your model: {run.label}", str(run.path)) for run in runs]
    for key in allowed_comparisons(limits):
        extra = (describe or {}).get(key, "")
        choices.append((f"{short_name(VARIANTS[key].display_name)}{extra}", key))
    return choices


def allowed_comparisons(limits: UsageLimits) -> list[str]:
    return [key for key in COMPARISON_MODELS if limits.allows_model(key)]


def thoroughness_choices() -> list[tuple[str, str]]:
    return [(choice.title, choice.key) for choice in THOROUGHNESS.values()]


def _listed(values: Sequence[int]) -> str:
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def thoroughness_info() -> str:
    """What each choice of thoroughness times, from the engine's choices."""
    return (f"{QUICK.title}: your model's own text length, batches of {_listed(QUICK.batch_sizes)} (1: one text at "
            f"a time); a few minutes. {THOROUGH.title}: batches of {_listed(THOROUGH.batch_sizes)} at "
            f"{_listed(THOROUGH.seq_lens)} tokens too, each timed longer: much longer (see the time estimate).")


def default_batches(limits: UsageLimits, thoroughness: Thoroughness = QUICK) -> tuple[int, ...]:
    """The choice's batch sizes; one text at a time under a benchmark time limit (a demo)."""
    return CAPPED_BATCHES if limits.max_benchmark_minutes is not None else thoroughness.batch_sizes


def seq_choices(lengths: Sequence[int]) -> list[str]:
    """The text lengths offered: the usual ones and those the person's models read (a run trained at 96 tokens)."""
    return [str(n) for n in sorted({*SEQ_CHOICES, *lengths})]


def intro_markdown(limits: UsageLimits) -> str:
    if limits.max_benchmark_minutes is None:
        return INTRO
    return (f"{INTRO}\n\nIn this demo a benchmark may take up to **{limits.max_benchmark_minutes:g} minutes**, and "
            "trainings wait for it to finish.")


def availability_notes() -> dict[str, str]:
    """' (random weights: not downloaded)' for comparison models that would need a download."""

    notes = {}
    for key in COMPARISON_MODELS:
        try:
            status = availability(key)
        except UserError:
            status = "download"
        notes[key] = {"bundled": " (bundled)", "download": " (not downloaded: timed with random weights)"}.get(status, "")
    return notes


def default_models(runs: Sequence[RunInfo], preferred_run: str | None, limits: UsageLimits = NO_LIMITS) -> list[str]:
    """The trained run (the one open in the app, else the newest) and two well-known models to compare it with
    (DistilBERT and BERT-base for a MiniLM run), those the limits allow."""
    own = _preferred_run(runs, preferred_run)
    return [*own, *comparison_models(own, allowed_comparisons(limits))]


def _preferred_run(runs: Sequence[RunInfo], preferred_run: str | None) -> list[str]:
    paths = [str(run.path) for run in runs]
    return [preferred_run] if preferred_run in paths else paths[:1]


def ticked_models(runs: Sequence[RunInfo], preferred_run: str | None, current: Sequence[str] | None,
                  available: Sequence[str], limits: UsageLimits = NO_LIMITS) -> list[str]:
    """What stays ticked when the list is refreshed: the person's ticks, plus their trained run when none of
    their runs is ticked (a run trained since the tab was last opened is what they want to time)."""
    kept = [m for m in (current or []) if m in available]
    if not kept:
        return default_models(runs, preferred_run, limits)
    run_paths = {str(run.path) for run in runs}
    if any(m in run_paths for m in kept):
        return kept
    return [*_preferred_run(runs, preferred_run), *kept]


def sizes_follow(runs: Sequence[RunInfo], before: Sequence[str] | None, after: Sequence[str]) -> bool:
    """Whether the sizes are set again for the models now ticked: when the app ticked another run of the person's
    (its text length is what to time), not when it only kept the person's ticks (and their sizes)."""
    paths = {str(run.path) for run in runs}
    return {m for m in before or [] if m in paths} != {m for m in after if m in paths}


def progress_html(snapshot: JobSnapshot) -> str:
    return bar_html(snapshot.fraction)


def status_markdown(snapshot: JobSnapshot) -> str:
    if snapshot.error:
        return f"**The benchmark stopped with a problem:** {snapshot.error}"
    if snapshot.cancelled:
        why = "" if snapshot.message == STOPPED else f" {snapshot.message}"
        return f"**Stopped.** {count_noun(len(snapshot.records), 'measurement')} kept.{why}"
    if snapshot.finished:
        skipped = "".join(f"\n- Skipped: {s}" for s in snapshot.skipped)
        return f"**Done:** {count_noun(len(snapshot.records), 'measurement')}.{skipped}"
    if snapshot.running:
        return f"{snapshot.message} ({snapshot.done} of {snapshot.total} measurements)"
    return "Pick models, ways of running them and sizes, then press **Run the benchmark**."


def recommendation_markdown(records: Sequence[BenchRecord]) -> str:
    """For each of the person's own models: the fastest way to run it whose answers can be trusted."""
    return "\n\n".join(rec.markdown() for rec in own_model_recommendations(records))


def results_table(records: Sequence[BenchRecord]) -> pd.DataFrame:
    return pd.DataFrame(table_rows(records), columns=list(TABLE_HEADER))


def results_view(records: Sequence[BenchRecord]) -> tuple[str, str, object, pd.DataFrame, str]:
    """(headline, recommendation, chart, table, footnotes) for the records measured so far."""
    if not records:
        return "", "", latency_chart([]), results_table([]), ""
    return (f"### {headline(records)}", recommendation_markdown(records), latency_chart(records),
            results_table(records), "\n\n".join(footnotes(records)))


def plan_from_choices(workspace: Workspace, models: Sequence[str], backends: Sequence[str],
                      batches: Sequence[int | str], seqs: Sequence[int | str],
                      thoroughness: str = QUICK.key) -> BenchmarkPlan:
    """A plan from what was ticked, measured as carefully as ``thoroughness`` (a key of ``THOROUGHNESS``) says;
    run folders must belong to this workspace (paths come from the browser)."""

    if not models:
        raise UserError("No model is ticked.", "Tick your trained model and at least one model to compare with.")
    if not backends:
        raise UserError("No way of running the models is ticked.", "Tick at least one, e.g. PyTorch fp32.")
    if not batches or not seqs:
        raise UserError("No size is ticked.", "Tick at least one batch size and one text length.")
    care = THOROUGHNESS.get(thoroughness, QUICK)
    return BenchmarkPlan(models=tuple(checked_models(workspace, models)),
                         backends=tuple(b for b in ALL_BACKENDS if b in backends),
                         batch_sizes=tuple(sorted(int(b) for b in batches)),
                         seq_lens=tuple(sorted(int(s) for s in seqs)), policy=care.policy,
                         busy_retries=care.busy_retries)


def checked_models(workspace: Workspace, models: Sequence[str]) -> list[str]:
    """Registry keys as they are, and run folders of this workspace (a UserError for any other path: the values
    come from the browser)."""
    return [m if find_variant(m) is not None else str(checked_run_dir(workspace, m)) for m in models]


def sizes_for(workspace: Workspace, thoroughness: str, models: Sequence[str], limits: UsageLimits = NO_LIMITS
              ) -> tuple[list[str], list[str], list[str]]:
    """(batch sizes ticked, text lengths offered, text lengths ticked) for a choice of thoroughness and the ticked
    models: the lengths the person's models read come from the engine (their max_length)."""
    care = THOROUGHNESS.get(thoroughness, QUICK)
    lengths = lengths_to_time(care, checked_models(workspace, models))
    return [str(b) for b in default_batches(limits, care)], seq_choices(lengths), [str(n) for n in lengths]


def estimate_markdown(workspace: Workspace | None, models: Sequence[str], backends: Sequence[str],
                      batches: Sequence[int | str], seqs: Sequence[int | str], limits: UsageLimits = NO_LIMITS,
                      thoroughness: str = QUICK.key) -> str:
    """How long the ticked selection should take (the engine's estimate), or what is missing from it, or which
    limit it goes past."""
    if workspace is None:
        return ""
    try:
        plan = plan_from_choices(workspace, models, backends, batches, seqs, thoroughness)
        estimate = estimate_benchmark(plan)
        limits.check_benchmark(estimate.seconds)
    except UserError as err:
        return f"*{err}*"
    return f"**Time estimate:** {estimate.text()}"


# --------------------------------------------------------------------------- the tab


def build(ctx: AppContext) -> None:
    """The Benchmark tab (the app lists it in ``TABS``)."""
    with gr.Tab("Benchmark", id="benchmark") as tab:
        gr.Markdown(intro_markdown(ctx.limits))
        with gr.Row():
            models = gr.CheckboxGroup(label="Models", choices=model_choices([]), elem_id="bench-models",
                                      info="Your trained models and well-known models to compare with.", scale=3)
            backends = gr.CheckboxGroup(label="Ways of running them",
                                        choices=[(BACKEND_LABELS[b], b) for b in ALL_BACKENDS],
                                        value=list(ALL_BACKENDS), elem_id="bench-backends", scale=2)
        thoroughness = gr.Radio(label="How thorough", choices=thoroughness_choices(), value=QUICK.key,
                                elem_id="bench-thoroughness", info=thoroughness_info())
        lengths = lengths_to_time(QUICK, [])  # until the page's workspace names the person's runs
        with gr.Row():
            batches = gr.CheckboxGroup(label="Batch sizes (texts at once; 1 = one request at a time)",
                                       choices=[str(b) for b in BATCH_CHOICES],
                                       value=[str(b) for b in default_batches(ctx.limits)], elem_id="bench-batches")
            seqs = gr.CheckboxGroup(label="Text lengths (tokens)", choices=seq_choices(lengths),
                                    value=[str(n) for n in lengths], elem_id="bench-seqs")
        estimate_md = gr.Markdown(elem_id="bench-estimate")
        with gr.Row():
            start = gr.Button("Run the benchmark", variant="primary", elem_id="bench-start")
            stop = gr.Button("Stop", variant="stop", elem_id="bench-stop")
        bar = gr.HTML(progress_html(JobSnapshot()), elem_id="bench-bar")
        status_md = gr.Markdown(status_markdown(JobSnapshot()), elem_id="bench-status")
        headline_md = gr.Markdown(elem_id="bench-headline")
        advice_md = gr.Markdown(elem_id="bench-recommendation")
        plot = gr.Plot(latency_chart([]), show_label=False, elem_id="bench-chart")
        table = gr.Dataframe(results_table([]), interactive=False, wrap=True, elem_id="bench-table")
        notes_md = gr.Markdown(elem_id="bench-notes")
        shown = gr.State(0)  # how many records the page shows, so unchanged ticks redraw nothing
        timer = gr.Timer(POLL_SECONDS, active=False)

        view = [bar, status_md, headline_md, advice_md, plot, table, notes_md, shown, timer]
        results = [headline_md, advice_md, plot, table, notes_md]

        def render(snapshot: JobSnapshot, redraw: bool = True) -> dict:
            shown_now = {bar: progress_html(snapshot), status_md: status_markdown(snapshot),
                         shown: len(snapshot.records),
                         timer: gr.Timer(active=snapshot.running or not snapshot.finished)}
            if redraw:
                shown_now.update(zip(results, results_view(snapshot.records)))
            return shown_now

        def sizes(workspace: Workspace, care: str, chosen_models: Sequence[str]) -> dict:
            batch_values, length_choices, length_values = sizes_for(workspace, care, chosen_models, ctx.limits)
            return {batches: gr.CheckboxGroup(value=batch_values),
                    seqs: gr.CheckboxGroup(choices=length_choices, value=length_values)}

        @friendly
        def on_thoroughness(workspace, care: str, chosen_models: list[str]) -> dict:
            return sizes(require_workspace(workspace), care, chosen_models)

        @friendly
        def list_models(workspace, run_dir: str | None, current: list[str] | None, care: str) -> dict:
            ws = require_workspace(workspace)
            runs = list_workspace_runs(ws)
            choices = model_choices(runs, availability_notes(), ctx.limits)
            ticked = ticked_models(runs, run_dir, current, [value for _, value in choices], ctx.limits)
            shown = {models: gr.CheckboxGroup(choices=choices, value=ticked)}
            return {**shown, **(sizes(ws, care, ticked) if sizes_follow(runs, current, ticked) else {})}

        @friendly
        def on_start(workspace, chosen_models, chosen_backends, chosen_batches, chosen_seqs, care) -> dict:
            ws = require_workspace(workspace)
            plan = plan_from_choices(ws, chosen_models, chosen_backends, chosen_batches, chosen_seqs, care)
            # Refused past the limits, or while a benchmark runs or a training runs or waits.
            job = ctx.jobs.start(ws.id, BenchmarkJob(plan, ctx.limits))
            return render(job.snapshot())

        @friendly
        def on_stop(workspace) -> str:
            if not ctx.jobs.stop(require_workspace(workspace).id, BENCHMARK):
                gr.Warning("No benchmark is running.")
                return gr.skip()
            return "Stopping after the current measurement…"

        def on_tick(workspace, count: int) -> dict:
            job = ctx.jobs.latest(workspace.id, BENCHMARK) if workspace is not None else None
            if job is None:
                return {timer: gr.Timer(active=False)}
            snapshot = job.snapshot()
            return render(snapshot, redraw=len(snapshot.records) != count or snapshot.finished)

        def on_choice(workspace, chosen_models, chosen_backends, chosen_batches, chosen_seqs, care) -> str:
            return estimate_markdown(workspace, chosen_models, chosen_backends, chosen_batches, chosen_seqs,
                                     ctx.limits, care)

        def on_reload(workspace) -> gr.Timer:
            """Re-attach to this workspace's benchmark (running or finished) after a page (re)load."""
            has_job = workspace is not None and ctx.jobs.latest(workspace.id, BENCHMARK) is not None
            return gr.Timer(active=has_job)

        choices = [ctx.workspace, models, backends, batches, seqs, thoroughness]
        start.click(on_start, choices, view)
        for group in (models, backends, batches, seqs, thoroughness):
            group.change(on_choice, choices, estimate_md, show_progress="hidden")
        # The person picks how thorough: the sizes follow (and they may tick others afterwards).
        thoroughness.input(on_thoroughness, [ctx.workspace, thoroughness, models], [batches, seqs])
        stop.click(on_stop, ctx.workspace, status_md)
        timer.tick(on_tick, [ctx.workspace, shown], view, concurrency_limit=None, show_progress="hidden")
        listed = [models, batches, seqs]
        tab.select(list_models, [ctx.workspace, ctx.run_dir, models, thoroughness], listed)
        # A newly trained (or newly opened) run is what the person wants timed: select it afresh.
        ctx.run_dir.change(lambda ws, run_dir, care: list_models(ws, run_dir, None, care),
                           [ctx.workspace, ctx.run_dir, thoroughness], listed)
        ctx.session_loaded.then(list_models, [ctx.workspace, ctx.run_dir, models, thoroughness], listed).then(
            on_reload, ctx.workspace, timer)


build_benchmark_tab = build
