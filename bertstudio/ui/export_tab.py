"""Tab 5, Export: the trained model as a zip, a Hugging Face folder, ONNX, ONNX INT8 or TorchScript.

Every export is checked against the trained model on the run's test texts (the engine does that);
this tab says in plain words how each check went.  Exports run as background jobs
(:class:`bertstudio.export.job.ExportJob`) in the app's registry; a timer polls them, so the page stays
responsive and a reloaded page finds a running export again.  They go into the run's own
``exports/<format>/`` folder, inside the visitor's workspace: that is where the Predict tab (and
``load_predictor(run, backend="onnx")``) looks for them.
The zips offered for download go into the workspace's ``exports/`` folder.

One click per format: its button downloads the zip when the export exists, and otherwise starts the export and
remembers (per browser, in a ``gr.State``) that the download is wanted; the timer tick that sees the export end
hands the zip to a hidden ``gr.DownloadButton``, and a small script clicks a link to it, so the file arrives
without a second click.  The zip of all four formats is built the same way, by the job (with its progress and a
Stop), never inside a click: for BERT-base it holds about 1.3 GB and takes tens of seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from bertstudio.benchmark.backends import BACKEND_LABELS, PREDICTOR_BACKENDS
from bertstudio.benchmark.report import recommend_by_use
from bertstudio.errors import UserError
from bertstudio.export.bundle import (
    export_zip_is_fresh,
    exports_zip_is_fresh,
    finished_exports,
    missing_exports,
    zip_export,
)
from bertstudio.export.core import EXPORT_FORMATS, formats_for
from bertstudio.export.hf import push_to_hub
from bertstudio.export.job import ExportJob, ExportSnapshot
from bertstudio.history.records import read_run, score_text
from bertstudio.jobs import EXPORT, JobRegistry
from bertstudio.limits import NO_LIMITS, UsageLimits
from bertstudio.results import ExportResult, ParityReport, Summary, read_export
from bertstudio.runs import RunFolder
from bertstudio.ui.common import benchmark_records, friendly, list_runs, require_workspace
from bertstudio.ui.context import AppContext
from bertstudio.ui.session import Workspace, check_room, checked_run_dir, export_zip
from bertstudio.ui.views.charts import format_percent
from bertstudio.ui.views.exports import saved_in_markdown, serve_command
from bertstudio.ui.views.formats import FORMAT_INFO
from bertstudio.ui.views.progress import bar_html

POLL_SECONDS = 1.0
ALL = "all"

# Starts the download of the file the hidden DownloadButton was just given (nothing when it holds none): a link
# with `download` is what a click on a DownloadButton does, without needing the (hidden) button on screen.
DOWNLOAD_JS = """(file) => {
  if (file && file.url) {
    const link = document.createElement("a");
    link.href = file.url;
    link.download = file.orig_name || "";
    document.body.appendChild(link);
    link.click();
    link.remove();
  }
}"""


INTRO = """### Step 5: export
Take the trained model away. **Download the model** gives it as trained (weights, tokenizer, class names and
`preprocessing.json`: how texts must be prepared). The four formats below are made on request: one click exports
the format (the first time; it is **checked**: it must give the same answers as the trained model on your test
texts) and then downloads it. **Download all four formats** gives them in one zip, one folder each."""

USAGE = """**Using an export** (unzip it into a folder, here `my-model`):

```python
# Hugging Face folder or the zip above: Python with transformers
from transformers import pipeline
classify = pipeline("text-classification", model="my-model")  # add trust_remote_code=True if its README asks
print(classify("Where is my parcel?", truncation=True))

# Any folder (ONNX, ONNX INT8, TorchScript too), with BERT Studio: same preparation as in training
from bertstudio.predict.predictor import load_predictor
print(load_predictor("my-model").predict(["Where is my parcel?"]).to_records())
```

From the command line: `bertstudio predict my-model --data my_texts.csv --out predictions.csv`, or serve it over
HTTP with `bertstudio serve my-model`. Every zip has a `README.md` at its top: the model card (results, labels,
limits) and how to load what the zip holds; the zip of all four formats says how to load each folder. A model that
reads a text as the mean of its token vectors (the bundled model's way) carries those few lines of code beside its
weights, so transformers needs `trust_remote_code=True` for it (without it transformers refuses the folder rather
than read it the wrong way); ONNX and TorchScript need nothing. Try the model
on your own sentences in the **Predict** tab."""


# --------------------------------------------------------------------------- pure view builders


def format_size(size_bytes: int) -> str:
    """'91.6 MB', '812 KB', '1.20 GB': sizes as a file manager shows them."""
    if size_bytes >= 1e9:
        return f"{size_bytes / 1e9:.2f} GB"
    if size_bytes >= 1e6:
        return f"{size_bytes / 1e6:.1f} MB"
    if size_bytes >= 1e3:
        return f"{size_bytes / 1e3:.0f} KB"
    return f"{size_bytes} bytes"


def texts_noun(parity: ParityReport) -> str:
    """What the check ran on, in the words of the check's own source line."""
    if "example" in parity.source:
        return "example sentences"
    return "given texts" if "given" in parity.source else "test texts"


def parity_sentence(result: ExportResult) -> str:
    """'gives the same answers as the trained model on 100% of 40 test texts', plus INT8's size and accuracy."""
    p = result.parity
    text = (f"gives the same answers as the trained model on {format_percent(p.label_agreement)} "
            f"of {p.rows:,} {texts_noun(p)}")
    if result.format != "onnx-int8":
        return text
    if p.size_ratio is not None:
        text += f"; {format_percent(p.size_ratio)} of the size of the full ONNX model"
    change = p.accuracy_change_points
    if change is None:
        return text + "; accuracy could not be measured (the check texts have no labels)"
    moved = "no change" if round(change, 1) == 0 else f"**{change:+.1f} points**"
    return text + f"; accuracy {p.reference_accuracy:.1%} → {p.accuracy:.1%} ({moved})"


def card_markdown(fmt: str, result: ExportResult | None, *, exporting: bool = False,
                  data_dir: Path | None = None) -> str:
    """A format's card: what it is for, then whether it exists, how big it is and how its check went; on a local
    app (``data_dir``: the app's data folder) also where it was saved (see :mod:`bertstudio.ui.views.exports`)."""
    info = FORMAT_INFO[fmt]
    head = f"#### {info.title}\n{info.purpose}\n\n"
    if exporting:
        return head + "**Exporting now…**"
    if result is None:
        return head + "Not exported yet. Its button exports it (a few seconds to a minute), then downloads it."
    mark = "Check:" if result.warnings else "Ready:"
    lines = [f"{mark} **{format_size(result.size_bytes)}**, {parity_sentence(result)}.",
             saved_in_markdown(result.folder, data_dir), *(f"Warning: **{w}**" for w in result.warnings)]
    return head + "\n\n".join(line for line in lines if line)


def warnings_markdown(results: Mapping[str, ExportResult]) -> str:
    """Every export's warnings, at the top of the tab: a check that failed must not go unnoticed."""
    lines = [f"> Warning, **{FORMAT_INFO[fmt].title}:** {w}" for fmt, r in results.items() for w in r.warnings]
    return "\n>\n".join(lines)


def status_markdown(snapshot: ExportSnapshot | None, shown_run: str | None) -> str:
    """One line about the latest export job of this browser session."""
    if snapshot is None or not snapshot.steps:
        return "Pick a format and press its button; the checks take a few seconds to a minute."
    other = f" (of the run {Path(snapshot.run_dir).name})" if snapshot.run_dir != shown_run else ""
    titles = ", ".join(FORMAT_INFO[f].title for f in snapshot.formats) or "nothing new"
    if snapshot.running and snapshot.current is None:  # every format is exported: the zip of all four is made
        zipped = snapshot.zipped
        far = f": {format_size(zipped.done)} of {format_size(zipped.total)}" if zipped and zipped.total else ""
        return f"Putting all four formats into one zip{other}{far}… (Stop is safe: no half-made zip is kept.)"
    if snapshot.running:
        step = f"{len(snapshot.done) + 1} of {len(snapshot.formats)}"
        doing = FORMAT_INFO[snapshot.current].title if snapshot.current else "the last one"
        if not snapshot.done and snapshot.current == snapshot.formats[0]:
            return f"Loading the model and exporting {doing}{other} ({step})…"
        return f"Exporting {doing}{other} ({step})…"
    if snapshot.error:
        kept = f" Finished before the problem: {', '.join(FORMAT_INFO[f].title for f in snapshot.done)}." \
            if snapshot.done else ""
        return f"**The export stopped{other}:** {snapshot.error}{kept}"
    if snapshot.stopped:
        kept = f" Kept, as they were finished: {', '.join(FORMAT_INFO[f].title for f in snapshot.done)}." \
            if snapshot.done else ""
        return f"**Stopped{other}** as you asked; nothing half-made was kept.{kept} Press a button to start again."
    if not snapshot.formats:
        return (f"**Zipped all four formats{other}** in {snapshot.seconds:.0f} s; the download starts by itself "
                "(press the button again for another copy).")
    return (f"**Exported {titles}{other}** in {snapshot.seconds:.0f} s; the download starts by itself (press the "
            "button again for another copy). Try it in the Predict tab too.")


def progress_html(snapshot: ExportSnapshot | None) -> str:
    if snapshot is None or not snapshot.running:
        return ""
    # Half a step for the format being built, so the bar moves as soon as the export starts; the zip of all
    # four moves by the bytes it has copied.
    building = 0.5 / snapshot.steps if snapshot.current is not None else 0.0
    return bar_html(snapshot.fraction + building)


def speed_markdown(records: Sequence[Any], run_dir: str, results: Mapping[str, ExportResult], *,
                   shared: bool) -> str:
    """The fastest honest way to run this model here, from the Benchmark tab's measurements ('' when none);
    ``shared``: a shared app, whose command serves the unzipped download rather than the run's server folder."""

    if not any(r.model == run_dir and r.device == "cpu" for r in records):
        return ""
    # A format whose export check raised a warning is not trusted, whatever the benchmark's own check said.
    checks = {fmt: not r.warnings for fmt, r in results.items() if fmt in ("onnx", "onnx-int8")}
    lines = []
    for rec in recommend_by_use(records, run_dir, parity_passed=checks):
        use = f" ({rec.use})" if rec.use else ""
        serving = PREDICTOR_BACKENDS.get(rec.backend, rec.backend)
        lines.append(f"**The fastest honest way to run this model on this computer{use}: "
                     f"{BACKEND_LABELS.get(rec.backend, rec.backend)}.** {rec.reason} To use it, choose it in the "
                     f"Predict tab, or run {serve_command(run_dir, serving, shared=shared)}.")
    return "\n\n".join(lines)


def run_summary_markdown(run_dir: Path, zip_path: Path) -> str:
    record = read_run(run_dir)  # named by its start, as the run pickers and the Runs tab name it
    summary = record.summary or Summary.read(RunFolder(run_dir).summary)
    size = format_size(zip_path.stat().st_size)
    return (f"Model from the run {record.when}: **{summary.model}**, "
            f"macro-F1 {score_text(summary.macro_f1)} on the test texts. Zip size: {size}.")


# --------------------------------------------------------------------------- exports on disk


def zip_path_for(zip_dir: Path, run_dir: Path, fmt: str) -> Path:
    """The download of one format of a run (``fmt`` "all": every format in one zip)."""
    return Path(zip_dir) / f"{Path(run_dir).name}-{fmt}.zip"


def ready_download(workspace: Workspace, run_dir: Path, fmt: str) -> Path | None:
    """The zip that the button of ``fmt`` (a format or "all") downloads; None while a format it holds is not
    exported yet, or (for "all") while the zip of every format is not made yet: only a job makes that one."""
    formats = formats_for(fmt)
    done = finished_exports(run_dir, formats)
    if len(done) < len(formats):
        return None
    target = zip_path_for(workspace.exports, run_dir, fmt)
    if fmt == ALL:
        return target if exports_zip_is_fresh(list(done.values()), target) else None
    return zip_export(done[fmt].folder, target)


# --------------------------------------------------------------------------- background exports


def start_export(jobs: JobRegistry, workspace: Workspace, run_dir: str | None, fmt: str,
                 limits: UsageLimits = NO_LIMITS) -> ExportJob | None:
    """Export what ``fmt`` (a format or "all") still lacks in the background, each format zipped for download
    before it counts as done (and, for "all", the zip of every format before the job ends, even when every
    format was exported before); None when the download is ready already. Refused in a workspace that holds its
    share of the disk (``limits``)."""
    run = checked_run_dir(workspace, run_dir)
    missing = missing_exports(run, formats_for(fmt))
    bundle = zip_path_for(workspace.exports, run, ALL) if fmt == ALL else None
    if not missing and (bundle is None or ready_download(workspace, run, ALL) is not None):
        return None
    check_room(workspace, limits)

    def zip_it(result: ExportResult) -> None:
        zip_export(result.folder, zip_path_for(workspace.exports, run, result.format))

    return jobs.start(workspace.id, ExportJob(run, missing, on_result=zip_it, bundle=bundle))


# --------------------------------------------------------------------------- what the page shows


@dataclass
class ExportView:
    """Everything the format cards show for one run."""

    cards: list[str]
    zips: list[Path | None]
    warnings: str
    speed: str


def export_view(workspace: Workspace, run_dir: str | None, snapshot: ExportSnapshot | None, *,
                build_zips: bool, records: Sequence[Any] = (), data_dir: Path | None = None) -> ExportView:
    """The cards of ``run_dir``; missing zips are built only when ``build_zips`` (not on every timer tick).
    ``records``: the benchmark's measurements, for the speed advice; ``data_dir``: the app's data folder on a local
    app, where the cards say each export was saved (None: a shared app, which names no server folder)."""
    if not run_dir:
        return ExportView([card_markdown(f, None) for f in EXPORT_FORMATS], [None] * len(EXPORT_FORMATS), "", "")
    run = checked_run_dir(workspace, run_dir)
    results = {fmt: found for fmt in EXPORT_FORMATS if (found := read_export(RunFolder(run).export(fmt)))}
    exporting = snapshot.current if snapshot is not None and snapshot.run_dir == str(run) else None
    cards, zips = [], []
    for fmt in EXPORT_FORMATS:
        result = results.get(fmt)
        cards.append(card_markdown(fmt, result, exporting=fmt == exporting, data_dir=data_dir))
        target = zip_path_for(workspace.exports, run, fmt)
        if result is not None and fmt != exporting and (build_zips or export_zip_is_fresh(result.folder, target)):
            zips.append(zip_export(result.folder, target))
        else:
            zips.append(None)
    speed = speed_markdown(records, str(run), results, shared=data_dir is None)
    return ExportView(cards, zips, warnings_markdown(results), speed)


HUB_INTRO = """Upload the **Hugging Face** export (make it above first) to your account on huggingface.co, so
others can use it with `transformers.pipeline`. Create a token with write access at
huggingface.co/settings/tokens."""


def button_label(fmt: str) -> str:
    """The one button of a format (or of all four)."""
    return "Download all four formats (.zip)" if fmt == ALL else f"Download {FORMAT_INFO[fmt].title} (.zip)"


def build(ctx: AppContext) -> None:
    # Where the cards say an export was saved: only on a person's own computer (None on a shared app). The store keeps
    # workspaces in <data_dir>/sessions.
    local_data_dir = None if ctx.limits.limited else ctx.store.root.parent
    with gr.Tab("5. Export", id="export") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            run_dd = gr.Dropdown(label="Trained model (newest first)", choices=[], scale=4, elem_id="export-run-choice",
                                 info="The model you trained last is selected; earlier runs of this browser are "
                                      "listed too.")
            refresh = gr.Button("Refresh the list", scale=1, size="md")
        with gr.Row(equal_height=True):
            what_md = gr.Markdown("Train a model first (Train tab); the download appears here.", elem_id="export-run")
            download = gr.DownloadButton("Download the model (.zip)", variant="primary", interactive=False,
                                         elem_id="download-model", scale=0, min_width=260)
        warnings_md = gr.Markdown(elem_id="export-warnings")
        with gr.Row():
            export_all = gr.Button(button_label(ALL), variant="primary", elem_id="get-all", scale=0, min_width=260)
            status_md = gr.Markdown(status_markdown(None, None), elem_id="export-status")
            stop = gr.Button("Stop", variant="stop", elem_id="export-stop", scale=0, min_width=100, visible=False)
        bar = gr.HTML("", elem_id="export-bar")
        cards, buttons = [], []
        for fmt in EXPORT_FORMATS:
            with gr.Row(equal_height=True, variant="panel"):
                cards.append(gr.Markdown(card_markdown(fmt, None), elem_id=f"export-card-{fmt}"))
                with gr.Column(scale=0, min_width=240):
                    buttons.append(gr.Button(button_label(fmt), elem_id=f"get-{fmt}"))
        # Rendered but never shown: it only turns a finished export into a file URL for DOWNLOAD_JS.
        deliver = gr.DownloadButton(visible="hidden", elem_id="export-deliver")
        speed_md = gr.Markdown(elem_id="export-speed")
        with gr.Accordion("Share on the Hugging Face Hub", open=False, elem_id="hub-push"):
            gr.Markdown(HUB_INTRO)
            with gr.Row():
                hub_repo = gr.Textbox(label="Repository", placeholder="your-user-name/model-name", elem_id="hub-repo")
                hub_token = gr.Textbox(label="Access token (write)", type="password", placeholder="hf_...",
                                       info="Used for this upload only: never saved or shown.", elem_id="hub-token")
                hub_private = gr.Checkbox(True, label="Private (only you can see it)", elem_id="hub-private")
            hub_button = gr.Button("Upload the Hugging Face export", elem_id="hub-push-button")
            hub_md = gr.Markdown(elem_id="hub-status")
        gr.Markdown(USAGE)
        shown = gr.State(0)  # formats finished when the page last redrew, so quiet ticks redraw nothing
        wanted = gr.State("")  # the format (or "all") whose download starts when the running export ends
        timer = gr.Timer(POLL_SECONDS, active=False)

        view = [status_md, bar, warnings_md, *cards, *buttons, export_all, stop, speed_md, shown, timer]
        delivery = [deliver, wanted]

        def render(workspace: Workspace, run_dir: str | None, *, build_zips: bool) -> dict:
            job = ctx.jobs.latest(workspace.id, EXPORT)
            snapshot = job.snapshot() if isinstance(job, ExportJob) else None
            shown_view = export_view(workspace, run_dir, snapshot, build_zips=build_zips,
                                     records=benchmark_records(ctx.jobs, workspace), data_dir=local_data_dir)
            busy = snapshot is not None and snapshot.running
            return {status_md: status_markdown(snapshot, run_dir), bar: progress_html(snapshot),
                    warnings_md: shown_view.warnings, **dict(zip(cards, shown_view.cards)),
                    **{button: gr.Button(interactive=not busy) for button in [*buttons, export_all]},
                    stop: gr.Button(visible=busy),
                    speed_md: shown_view.speed, shown: len(snapshot.done) if snapshot else 0,
                    timer: gr.Timer(active=busy)}

        @friendly
        def open_run(workspace, run_dir: str | None) -> dict:
            ws = require_workspace(workspace)
            model = {}
            if run_dir:
                zip_path = export_zip(ws, run_dir)
                model = {what_md: run_summary_markdown(Path(run_dir), zip_path),
                         download: gr.DownloadButton(value=str(zip_path), interactive=True)}
            return {**model, **render(ws, run_dir, build_zips=True)}

        def getter(fmt: str) -> Callable:
            @friendly
            def get(workspace, run_dir: str | None) -> dict:
                ws = require_workspace(workspace)
                run = checked_run_dir(ws, run_dir)
                job = start_export(ctx.jobs, ws, str(run), fmt, ctx.limits)
                ready = ready_download(ws, run, fmt) if job is None else None
                return {**render(ws, run_dir, build_zips=False), deliver: str(ready) if ready else None,
                        wanted: "" if ready else fmt}

            return get

        def on_tick(workspace, run_dir: str | None, count: int, want: str) -> dict:
            job = ctx.jobs.latest(workspace.id, EXPORT) if workspace is not None else None
            if not isinstance(job, ExportJob):
                return {timer: gr.Timer(active=False), deliver: None, wanted: ""}
            snapshot = job.snapshot()
            if snapshot.running and len(snapshot.done) == count:  # only the progress line moves
                return {status_md: status_markdown(snapshot, run_dir), bar: progress_html(snapshot), deliver: None}
            ready = None
            if not snapshot.running and want and not snapshot.error and not snapshot.stopped:
                ready = ready_download(workspace, job.run_dir, want)
            if job.claim_outcome():  # the first tick after the job ended: a check that warned gets a pop-up too
                for fmt in snapshot.done:
                    result = read_export(RunFolder(job.run_dir).export(fmt))
                    for warning in result.warnings if result is not None else []:
                        gr.Warning(f"{FORMAT_INFO[fmt].title}: {warning}", duration=None, title="Check this export")
            handed = {deliver: str(ready) if ready else None, wanted: want if snapshot.running else ""}
            try:
                return {**render(workspace, run_dir, build_zips=False), **handed}
            except UserError:  # the shown run went away: stop polling quietly
                return {timer: gr.Timer(active=False), **handed}

        @friendly
        def on_push(workspace, run_dir: str | None, repo: str, token: str, private: bool) -> dict:
            ws = require_workspace(workspace)
            result = read_export(RunFolder(checked_run_dir(ws, run_dir)).export("hf"))
            if result is None:
                raise UserError("This model has no Hugging Face export yet.",
                                f"Press “{button_label('hf')}” above first (it exports it), then upload it.")
            url = push_to_hub(result.folder, (repo or "").strip(), token=token, private=bool(private))
            where = "privately" if private else "publicly"
            # The token box is emptied: the token lives in this request only.
            return {hub_md: f"Uploaded {where} to [{url}]({url}).", hub_token: ""}

        @friendly
        def on_stop(workspace, run_dir: str | None) -> dict:
            ws = require_workspace(workspace)
            ctx.jobs.stop(ws.id, EXPORT)  # the job ends between two formats or two chunks of the zip
            return render(ws, run_dir, build_zips=False)

        stop.click(on_stop, [ctx.workspace, run_dd], view)
        hub_button.click(on_push, [ctx.workspace, run_dd, hub_repo, hub_token, hub_private], [hub_md, hub_token])
        opened = [what_md, download, *view]
        for fmt, button in [*zip(EXPORT_FORMATS, buttons), (ALL, export_all)]:
            button.click(getter(fmt), [ctx.workspace, run_dd], [*view, *delivery]).then(
                None, deliver, None, js=DOWNLOAD_JS)
        timer.tick(on_tick, [ctx.workspace, run_dd, shown, wanted], [*view, *delivery], concurrency_limit=None,
                   show_progress="hidden").then(None, deliver, None, js=DOWNLOAD_JS)
        for trigger in (refresh.click, tab.select, ctx.run_dir.change):
            trigger(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd).then(
                open_run, [ctx.workspace, run_dd], opened)
        run_dd.input(lambda path: path, run_dd, ctx.run_dir)
        # After a reload: the runs, and a running export found again (open_run turns the timer on).
        ctx.session_loaded.then(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd).then(
            open_run, [ctx.workspace, run_dd], opened)
