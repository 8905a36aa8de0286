"""Tab 6, Predict: the trained model on a text typed here, or on every row of a file.

Texts are prepared exactly as in training (the engine's :class:`~bertstudio.predict.predictor.Predictor` reads
``preprocessing.json``).  The model runs as trained (PyTorch) or from one of its exports made in the
Export tab (ONNX, ONNX INT8).  Loaded models are kept for the next text (in the app's
:class:`~bertstudio.ui.predictors.PredictorCache`), so typing is quick.  A file is labelled by the engine's
:class:`~bertstudio.predict.job.LabelFileJob`, in the app's line for heavy work and within its limits; the page
follows it, and closing the page stops it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from bertstudio.data.io import SUPPORTED_EXTENSIONS
from bertstudio.data.labels import is_blank
from bertstudio.errors import DataError, UserError
from bertstudio.events import Failed
from bertstudio.jobs import Completed, JobRegistry, QueuePlace, Stopped
from bertstudio.limits import NO_LIMITS, UsageLimits
from bertstudio.predict.files import (
    PredictFileResult,
    estimate_rows,
    iter_table_chunks,
    resolve_text_columns,
)
from bertstudio.predict.job import LabelFileJob
from bertstudio.predict.locate import locate_model
from bertstudio.predict.preprocessing import load_preprocessing
from bertstudio.ui.common import friendly, list_runs, require_workspace
from bertstudio.ui.context import AppContext
from bertstudio.ui.predictors import PredictorCache
from bertstudio.ui.session import Workspace, check_room, checked_run_dir, safe_file_name, save_upload
from bertstudio.ui.views import charts
from bertstudio.ui.views import limits as limit_views
from bertstudio.ui.views import multilabel as multilabel_views
from bertstudio.ui.views.charts import format_percent

BACKENDS = ("auto", "torch", "torch-bf16", "onnx", "onnx-int8")
BACKEND_TITLES = {"auto": "Automatic", "torch": "PyTorch (as trained)", "torch-bf16": "PyTorch bf16",
                  "onnx": "ONNX", "onnx-int8": "ONNX INT8"}
BACKEND_HELP = ("Automatic runs the model as trained: in bf16 when it was trained in bf16 on a machine that computes "
                "it fast. PyTorch runs it in full precision; PyTorch bf16 is much faster on CPUs with bf16 "
                "instructions and may rarely answer differently. ONNX gives the same answers as PyTorch, often "
                "faster on a CPU; ONNX INT8 is 4x smaller and faster still, and may rarely answer differently. "
                "Both ONNX ways need an export from the Export tab first.")
FILE_CHUNK_ROWS = 1_000  # rows per step of a file prediction: the progress bar moves every few seconds
FILE_POLL_SECONDS = 1.0  # how often the page says where labelling stands
GUESS_ROWS = 20  # rows read to guess which column holds the texts
UNSURE_BELOW = 0.5  # below this confidence the answer is shown as a guess

INTRO = """### Step 6: predict
Use the trained model on new texts: type one to see the label it gives (or the labels, for a model that gives
several per text) and how sure it is, or upload a file to label every row and download the result."""

EMPTY_CHART_TITLE = "Class probabilities"


# --------------------------------------------------------------------------- pure view builders


def backend_choices(available: Sequence[str]) -> list[tuple[str, str]]:
    """(label, value) pairs for the backend picker; exports that do not exist yet say so."""
    return [(BACKEND_TITLES[b] + ("" if b == "auto" or b in available else " · not exported yet"), b)
            for b in BACKENDS]


def model_markdown(info: dict[str, Any]) -> str:
    """What is loaded, in one line: which way it runs, its classes, how texts are cut, whether it reads pairs."""
    labels = info["labels"]
    shown = ", ".join(labels[:12]) + (f" and {len(labels) - 12} more" if len(labels) > 12 else "")
    how = {"torch": "as trained (PyTorch)", "torch-bf16": "as trained, in bfloat16 (PyTorch bf16)",
           "onnx": "from its ONNX export", "onnx-int8": "from its ONNX INT8 export",
           "torchscript": "from its TorchScript export"}.get(info["backend"], info["backend"])
    pairs = " It reads **pairs of texts**: give both." if info.get("text_pair") else ""
    cut = (f"Texts longer than {info['max_length']} tokens are cut" if info.get("long_texts", "head") == "head"
           else info["kept"][:1].upper() + info["kept"][1:])
    classes = (f"**{len(labels)} labels** (a text gets any number of them):" if info.get("thresholds")
               else f"**{len(labels)} classes:**")
    # What the engine says every output must carry about this model (an unfinished run, an export passed over).
    notes = "".join(f"\n\n**Note:** {note}" for note in info.get("notes") or ())
    return f"Runs {how}. {classes} {shown}. {cut}, as in training.{pairs}{notes}"


def problem_markdown(err: UserError) -> str:
    hint = f" **What to do:** {err.hint}" if err.hint else ""
    return f"**{err.message}**{hint}"


def prediction_markdown(label: str, confidence: float) -> str:
    """The answer for one text: the class, and how sure the model is in plain words."""
    sure = format_percent(confidence)
    if confidence < UNSURE_BELOW:
        return (f"### Predicted: {label}\nA guess: the model is only **{sure}** sure; the chart shows the other "
                "candidates.")
    return f"### Predicted: {label}\nThe model is **{sure}** sure."


def file_result_markdown(result: PredictFileResult, file_name: str) -> str:
    rows, seconds = result.rows, result.seconds
    speed = f", {rows / seconds:,.0f} rows per second" if seconds > 0 else ""
    counts = ", ".join(f"{name} **{n:,}**" for name, n in sorted(result.label_counts.items(), key=lambda kv: -kv[1]))
    notes = "".join(f"\n\n**Note:** {note.message}" + (f" {note.hint}" if note.hint else "") for note in result.notes)
    others = f", then the file's other columns ({', '.join(result.other_columns)})" if result.other_columns else ""
    columns = (multilabel_views.FILE_COLUMNS if result.multi_label else
               "the text, the predicted label, its confidence, one probability column per class")
    counted = "Texts given each label" if result.multi_label else "Classes"
    return (f"**Labelled {rows:,} rows of {file_name}** in {seconds:.1f} s{speed}. {counted}: {counts}. "
            f"The CSV has {columns}{others}.{notes}")


def predictions_path(workspace: Workspace, upload_name: str) -> Path:
    """Where a file's predictions go: the workspace's ``predictions/`` folder, never overwriting an earlier one."""
    stem = Path(safe_file_name(upload_name)).stem
    return workspace.root / "predictions" / f"{stem}-predictions-{time.strftime('%Y%m%d-%H%M%S')}.csv"


# --------------------------------------------------------------------------- models


def available_backends(run_dir: Path) -> list[str]:
    return locate_model(run_dir).available_backends()


@dataclass
class TextPrediction:
    label: str
    confidence: float
    label_names: list[str]
    probabilities: list[float]
    label_set: list[str] | None = None  # multi-label models: every label the text gets
    thresholds: list[float] | None = None


def predict_text(predictors: PredictorCache, workspace: Workspace, run_dir: str | None, backend: str, text: str,
                 text_pair: str | None = None) -> TextPrediction:
    """One text (and its second text, for pair models) through the chosen model."""
    if is_blank(text):
        raise DataError("There is no text to classify.", "Type or paste a text first.")
    predictor = predictors.get(checked_run_dir(workspace, run_dir), backend or "auto")
    pairs = None
    if predictor.prep.text_pair:
        if is_blank(text_pair):
            raise DataError("This model was trained on pairs of texts, so it needs the second text too.",
                            "Fill in the second text box.")
        pairs = [text_pair]
    batch = predictor.predict([text], pairs)
    multi = batch.label_sets is not None
    return TextPrediction(batch.labels[0], float(batch.confidences[0]), batch.label_names,
                          [float(p) for p in batch.probs[0]], batch.label_sets[0] if multi else None,
                          predictor.prep.threshold_vector() if multi else None)


@dataclass
class FileColumns:
    columns: list[str]
    text: str | None
    text_pair: str | None
    text_pair_needed: bool


def guess_columns(workspace: Workspace, run_dir: str | None, file: Path) -> FileColumns:
    """The file's columns, and which hold the texts: as named in training, else a good guess (None: ask)."""

    prep = load_preprocessing(locate_model(checked_run_dir(workspace, run_dir)).folder)
    head = next(iter(iter_table_chunks(file, None, GUESS_ROWS)))
    columns = [str(c) for c in head.columns]
    try:
        text, pair = resolve_text_columns(columns, prep, None, None, sample=head)  # as predict_file chooses
    except DataError:  # no familiar name: texts are usually the longest cells (not an id or a date)
        lengths = {c: head[c].astype(str).str.len().mean() for c in head.columns}
        text, pair = (str(max(lengths, key=lambda c: lengths[c])) if lengths else None), None
    return FileColumns(columns, text, pair, prep.text_pair)


def file_labelling(predictors: PredictorCache, workspace: Workspace, run_dir: str | None, backend: str,
                   file: str | None, text_column: str | None, text_pair_column: str | None,
                   limits: UsageLimits = NO_LIMITS) -> LabelFileJob:
    """The job that labels every row of an uploaded file (already saved in the workspace) into a predictions CSV
    in the workspace; not started. Refused when the file or run is not this workspace's, or the workspace holds
    its share of the disk."""
    if not file:
        raise DataError("No file is uploaded yet.", "Upload a CSV, TSV, JSON lines, Parquet or Excel file first.")
    if not workspace.owns(file):
        raise UserError("That file does not belong to this browser session.", "Upload it again.")
    check_room(workspace, limits)
    predictor = predictors.get(checked_run_dir(workspace, run_dir), backend or "auto")
    source = Path(file)
    return LabelFileJob(predictor, source, predictions_path(workspace, source.name), text_column=text_column or None,
                        text_pair_column=(text_pair_column or None) if predictor.prep.text_pair else None,
                        chunk_rows=FILE_CHUNK_ROWS, limits=limits)


def labelling_markdown(job: LabelFileJob, place: QueuePlace | None, total: int | None, file_name: str) -> str:
    """Where labelling stands: its place in line, or the rows done so far."""
    if place is not None:
        return limit_views.heavy_queue_markdown(place, f"Labelling {file_name}")
    of = f" of about {total:,}" if total else ""
    return f"Labelling **{file_name}**… {job.rows_done:,}{of} rows so far. Closing this page stops it."


def follow_labelling(jobs: JobRegistry, job: LabelFileJob, total: int | None, file_name: str,
                     poll_seconds: float = FILE_POLL_SECONDS) -> Iterator[str]:
    """What the page says while ``job`` waits and runs, about every ``poll_seconds``, until it has ended."""
    while not job.wait(poll_seconds):
        yield labelling_markdown(job, jobs.place(job), total, file_name)


# --------------------------------------------------------------------------- the tab


def no_answer_chart():
    return charts.empty_chart(EMPTY_CHART_TITLE, "Type a text and press Predict")


def build(ctx: AppContext) -> None:
    with gr.Tab("6. Predict", id="predict") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            run_dd = gr.Dropdown(label="Trained model (newest first)", choices=[], scale=4,
                                 elem_id="predict-run-choice")
            refresh = gr.Button("Refresh the list", scale=1, size="md")
        backend_radio = gr.Radio(label="How to run it", choices=backend_choices([]), value="auto",
                                 info=BACKEND_HELP, elem_id="predict-backend")
        model_md = gr.Markdown("Train a model first (Train tab); you can try it here.", elem_id="predict-model")

        gr.Markdown("#### Try a text")
        with gr.Row():
            with gr.Column(scale=2):
                text_box = gr.Textbox(label="Text", lines=3, placeholder="Type or paste a text, then press Predict",
                                      elem_id="predict-text")
                pair_box = gr.Textbox(label="Second text (this model reads pairs of texts)", lines=2, visible=False,
                                      elem_id="predict-text-pair")
                predict_btn = gr.Button("Predict", variant="primary", elem_id="predict-button")
                answer_md = gr.Markdown(elem_id="predict-answer")
            chart = gr.Plot(no_answer_chart(), show_label=False, elem_id="predict-chart", scale=3)

        gr.Markdown(limit_views.predict_file_note(ctx.limits), elem_id="predict-file-note")
        with gr.Row():
            upload = gr.File(label="File to label", file_types=list(SUPPORTED_EXTENSIONS), type="filepath",
                             elem_id="predict-upload", scale=2)
            with gr.Column(scale=2):
                text_col = gr.Dropdown(label="Column with the texts", choices=[], elem_id="predict-text-column")
                pair_col = gr.Dropdown(label="Column with the second texts", choices=[], visible=False,
                                       elem_id="predict-pair-column")
                file_btn = gr.Button("Label the file", variant="primary", elem_id="predict-file-button")
        file_md = gr.Markdown(elem_id="predict-file-result")
        file_download = gr.DownloadButton("Download the predictions (.csv)", interactive=False,
                                          elem_id="download-predictions")
        saved_file = gr.State(None)  # the upload's copy inside the workspace

        @friendly
        def open_model(workspace, run_dir: str | None, backend: str) -> dict:
            """Load the chosen model; a missing export is explained here rather than as a pop-up."""
            if workspace is None or not run_dir:
                return gr.skip()
            run = checked_run_dir(workspace, run_dir)
            radio = gr.Radio(choices=backend_choices(available_backends(run)), value=backend or "auto")
            try:
                info = ctx.predictors.get(run, backend or "auto").info()
            except UserError as err:
                return {backend_radio: radio, model_md: problem_markdown(err)}
            return {backend_radio: radio, model_md: model_markdown(info),
                    pair_box: gr.Textbox(visible=bool(info["text_pair"]))}

        @friendly
        def on_predict(workspace, run_dir: str | None, backend: str, text: str, text_pair: str) -> dict:
            result = predict_text(ctx.predictors, require_workspace(workspace), run_dir, backend, text, text_pair)
            answer = (prediction_markdown(result.label, result.confidence) if result.label_set is None else
                      multilabel_views.label_set_markdown(result.label_set, result.label_names,
                                                          result.probabilities, result.thresholds))
            return {answer_md: answer,
                    chart: charts.probability_chart(result.label_names, result.probabilities, result.thresholds)}

        @friendly
        def on_upload(workspace, run_dir: str | None, file: str | None) -> dict:
            cleared = {file_download: gr.DownloadButton(value=None, interactive=False)}
            if not file:
                return {saved_file: None, text_col: gr.Dropdown(choices=[], value=None),
                        pair_col: gr.Dropdown(visible=False), file_md: "", **cleared}
            ws = require_workspace(workspace)
            saved = save_upload(ws, file, original_name=Path(file).name, limits=ctx.limits, to_label=True)
            found = guess_columns(ws, run_dir, saved)
            rows = estimate_rows(saved)
            size = f" (about {rows:,} rows)" if rows is not None else ""
            return {saved_file: str(saved), text_col: gr.Dropdown(choices=found.columns, value=found.text),
                    pair_col: gr.Dropdown(choices=found.columns, value=found.text_pair,
                                          visible=found.text_pair_needed),
                    file_md: f"Ready to label **{saved.name}**{size}: press **Label the file**.", **cleared}

        def on_file(workspace, run_dir: str | None, backend: str, file: str | None, text_column: str | None,
                    text_pair_column: str | None, request: gr.Request) -> Iterator[dict]:
            """Label the file in the background (it may wait for its turn), saying where it stands meanwhile."""
            try:
                ws = require_workspace(workspace)
                job = file_labelling(ctx.predictors, ws, run_dir, backend, file, text_column, text_pair_column,
                                     ctx.limits)
                job.page = request.session_hash  # closing this page stops it
                ctx.jobs.start(ws.id, job)
            except UserError as refusal:
                gr.Warning(str(refusal), title="Please check")
                yield {file_md: f"**Please check:** {refusal}"}
                return
            name, total = Path(file).name, estimate_rows(Path(file))
            yield {file_md: labelling_markdown(job, ctx.jobs.place(job), total, name),
                   file_download: gr.DownloadButton(value=None, interactive=False)}
            for text in follow_labelling(ctx.jobs, job, total, name):
                yield {file_md: text}
            yield labelled(job, name)

        def labelled(job: LabelFileJob, name: str) -> dict:
            """How labelling ended: the result and its download, or why it stopped."""
            outcome = job.outcome
            if isinstance(outcome, Completed):
                return {file_md: file_result_markdown(outcome.value, name),
                        file_download: gr.DownloadButton(value=str(outcome.value.out_path), interactive=True)}
            if isinstance(outcome, Failed):
                gr.Warning(outcome.text(), title="Please check")
                return {file_md: f"**{name} was not labelled.** {outcome.text()}"}
            return {file_md: f"**Labelling {name} stopped.** {outcome.message if isinstance(outcome, Stopped) else ''}"}

        model_inputs = [ctx.workspace, run_dd, backend_radio]
        model_outputs = [backend_radio, model_md, pair_box]
        for trigger in (refresh.click, tab.select, ctx.run_dir.change):
            trigger(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd).then(open_model, model_inputs,
                                                                                  model_outputs)
        ctx.session_loaded.then(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd)
        run_dd.input(lambda path: path, run_dd, ctx.run_dir)
        backend_radio.input(open_model, model_inputs, model_outputs)
        # An answer belongs to the model that gave it: gone when another model (or way of running it) is chosen,
        # and when the next text is sent, so a refused text never leaves the last answer standing as if it were its.
        def no_answer() -> dict:
            return {answer_md: "", chart: no_answer_chart()}

        gr.on([ctx.run_dir.change, backend_radio.input], no_answer, None, [answer_md, chart])
        gr.on([predict_btn.click, text_box.submit, pair_box.submit], no_answer, None, [answer_md, chart]).then(
            on_predict, [*model_inputs, text_box, pair_box], [answer_md, chart])
        upload.upload(on_upload, [ctx.workspace, run_dd, upload],
                      [saved_file, text_col, pair_col, file_md, file_download])
        upload.clear(on_upload, [ctx.workspace, run_dd, upload],
                     [saved_file, text_col, pair_col, file_md, file_download])
        file_btn.click(on_file, [*model_inputs, saved_file, text_col, pair_col], [file_md, file_download])
