"""Tab 4, Evaluate: how good the model is on texts it never saw, how far its confidence can be trusted,
where it goes wrong, and three deeper checks (mislabeled training rows, simple baselines, another file).

The deeper checks take from seconds to minutes, so they run as background jobs in the app's registry
(two at once in the whole app; a third waits for a free slot) while a generator handler keeps the page
informed; the page stays usable meanwhile.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from bertstudio.data.io import SUPPORTED_EXTENSIONS
from bertstudio.errors import DataError, UserError
from bertstudio.evaluation.cautions import findings_of
from bertstudio.evaluation.errors_table import tag_counts
from bertstudio.evaluation.metrics import left_out_note
from bertstudio.evaluation.multilabel_metrics import accuracy_name
from bertstudio.evaluation.report import read_eval
from bertstudio.evaluation.run import evaluate_run, label_noise_for_run, load_run_error_table
from bertstudio.events import Failed
from bertstudio.history.records import score_text
from bertstudio.jobs import BASELINES, EVALUATE_FILE, LABEL_NOISE, BackgroundJob, Completed, JobRegistry, TaskJob
from bertstudio.limits import NO_LIMITS, UsageLimits
from bertstudio.results import Summary
from bertstudio.runs import RunFolder
from bertstudio.safe_csv import read_escaped_csv
from bertstudio.ui.common import friendly, list_runs, require_workspace
from bertstudio.ui.context import AppContext
from bertstudio.ui.session import Workspace, checked_run_dir, save_upload
from bertstudio.ui.views import charts, tables
from bertstudio.ui.views import evaluation as evaluation_views
from bertstudio.ui.views import multilabel as multilabel_views

NO_RUN_YET = "Train a model in the Train tab; its results appear here."
INTRO = """### Step 4: evaluate
Scores on the **test texts**: a part of your data the model never saw while training, so they show how it will
do on new texts."""
MACRO_F1_WHY = ("**Macro-F1 is the number to watch**: it averages the score of every class, so a rare class the model "
                "misses pulls it down, while accuracy can still look fine.")
COUNTS, SHARES = "Counts", "Share of each true class"
TRUE_FILTER, PREDICTED_FILTER = "True class", "Predicted class"
NOISE_FILE_SUFFIX = "-likely-mislabeled.csv"
POLL_SECONDS = 1.0
SAME_SCORE = 0.01  # macro-F1 differences below one point are noise on a typical test split
PER_CLASS_LABEL = ("Per class (recall: share of the class found; precision: share of the predictions that were "
                   "right)")
CONFUSION_LABEL = ("Confusion matrix (rows: true class, columns: what the model said; darker: a bigger share of the "
                   "true class). Click a cell to list those texts below")
# After a cell click the filtered list is below the fold on a laptop screen: bring its heading into view.
SCROLL_TO_BROWSER = ("() => document.getElementById('browse-heading')"
                     "?.scrollIntoView({behavior: 'smooth', block: 'start'})")


# --- the run as the tab shows it -------------------------------------------------------------------


@dataclass
class RunView:
    """One finished run, loaded for the Evaluate tab."""

    run_dir: str
    summary: Summary
    evaluation: dict[str, Any] | None  # eval.json; None for runs trained before it existed
    errors: pd.DataFrame  # load_run_error_table: one row per test text, with tags
    label_names: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> Mapping[str, Any]:
        """eval.json's figures, or the summary's for older runs."""
        return self.evaluation or self.summary.metrics

    @property
    def labels(self) -> list[str]:
        return [str(n) for n in self.metrics.get("labels", self.label_names)]

    @property
    def multi_label(self) -> bool:
        return multilabel_views.is_multilabel(self.evaluation)


def load_run(workspace: Workspace, run_dir: str) -> RunView:
    path = checked_run_dir(workspace, run_dir)
    summary = Summary.read(RunFolder(path).summary)
    return RunView(str(path), summary, read_eval(path), load_run_error_table(path), summary.label_names)


# --- headline ---------------------------------------------------------------------------------------


def points(share: float) -> str:
    """A difference of shares in percentage points: 0.061 -> '6.1 percentage points'."""
    return f"{share * 100:.1f} percentage points"


def typical_bin(reliability: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The confidence bin holding the most rows: what 'the model says X% sure' usually means."""
    filled = charts.filled_bins(reliability)
    return max(filled, key=lambda b: b["count"]) if filled else None


def calibration_sentence(evaluation: Mapping[str, Any]) -> str:
    """How far the model's confidence can be taken at its word, before and after temperature scaling."""
    rows = int(evaluation.get("rows", 0))
    typical = typical_bin(evaluation.get("reliability", {}))
    # The engine's verdict first, the chart's title in a sentence ("right 100% of the time" on 17 texts must not read
    # as proof); it gives the average gap too.
    verdict = evaluation.get("confidence_verdict")
    said = f"{verdict['sentence']} " if verdict else ""
    if typical is not None:
        said += (f"When the model says it is about {typical['confidence']:.0%} sure ({typical['count']:,} of the "
                 f"{rows:,} test texts), it is right {typical['accuracy']:.0%} of the time. ")
    before, after = float(evaluation.get("ece", float("nan"))), float(evaluation.get("ece_calibrated", float("nan")))
    temperature = float(evaluation.get("temperature", 1.0))
    if temperature == 1.0:
        note = evaluation.get("calibration", {}).get("note", "")
        gap = "No" if verdict else f"On average its confidence is off by {points(before)}; no"
        return f"{said}{gap} calibration was applied. {note}".strip()
    change = ("shrank" if after < before else "went") + f" from {before * 100:.1f} to {points(after)}"
    verdict = "" if after < before else (" Calibration was fitted on the validation texts and did not help on "
                                         "the test texts; with more data it usually does.")
    return (f"{said}After calibration (temperature {temperature:.2f}, applied to every prediction from now on) the "
            f"average gap between how sure it says it is and how often it is right {change}.{verdict}")


def scoring_notes(figures: Mapping[str, Any], *, classes: bool = True, multi_label: bool = False) -> list[str]:
    """What the scores above them leave out, as ``bertstudio evaluate`` says it: the classes without rows here
    (``classes``), and for a blended run the fine-tuned model alone, which is not what the run ships."""
    notes = []
    if classes and figures.get("left_out"):
        note = left_out_note(figures["left_out"], figures.get("left_out_predicted"),
                             multi_label=multi_label or figures.get("task") == "multi_label")
        notes.append(f"**Note:** {note[:1].upper()}{note[1:]}")
    alone = figures.get("fine_tuned_alone")
    if alone:
        notes.append(f"These scores are the run's final model, the fine-tuned model blended with the simple "
                     f"word-count model. The fine-tuned model alone scores macro-F1 {score_text(alone['macro_f1'])} "
                     f"and accuracy {score_text(alone['accuracy'])} on the same texts.")
    return notes


def headline_markdown(view: RunView) -> str:
    s, m = view.summary, view.metrics
    where = "test" if s.evaluated_on == "test" else "validation"
    rows = int(m.get("rows", len(view.errors)))
    accuracy = accuracy_name(view.multi_label)  # with several labels per text: every label right ("exact match")
    title = (f"## Macro-F1 {score_text(m.get('macro_f1', s.macro_f1))} · {accuracy[:1].upper()}{accuracy[1:]} "
             f"{score_text(m.get('accuracy', 0))}")
    # What to know before trusting the scores comes right under them: a tester read "accuracy 93.3%" and missed the
    # recall of 0 further down, of a model that called every text 'positive'.
    lines = [title, *evaluation_views.findings_markdown(findings_of(m, s.evaluated_on)), MACRO_F1_WHY,
             *scoring_notes(m, multi_label=view.multi_label), *scoring_notes(view.evaluation or {}, classes=False)]
    if view.evaluation:
        e = view.evaluation
        lines.append(f"Micro-F1 {score_text(e['micro_f1'])} · weighted F1 {score_text(e['weighted_f1'])} · log loss "
                     f"{e['log_loss']:.3f} (lower is better; it punishes confident mistakes most).")
    lines += multilabel_views.evaluation_lines(view.evaluation or {})
    lines.append(f"On {rows:,} {where} texts. Model {s.model}, trained in {s.train_seconds or 0:.0f} s "
                 f"on {s.device}; best checkpoint at epoch {s.best_epoch or 0:g}.")
    if view.evaluation:
        sentence = (multilabel_views.calibration_sentence if view.multi_label else calibration_sentence)
        lines.append(f"**Can you trust its confidence?** {sentence(view.evaluation)}")
    else:
        lines.append("This run was trained before calibration figures existed; train it again to see them.")
    return "\n\n".join(lines)


def reliability_figure(view: RunView):
    e = view.evaluation
    if view.multi_label:
        return multilabel_views.reliability_figure(e)
    if not e or "reliability" not in e:
        return charts.empty_chart("Can its confidence be trusted?", "No calibration figures for this run")
    return charts.reliability_chart(e["reliability"], e.get("reliability_calibrated"),
                                    temperature=float(e.get("temperature", 1.0)), verdict=e.get("confidence_verdict"))


def confusion_view(view: RunView, mode: str) -> Any:
    """The confusion matrix as a coloured, clickable table, as counts or as shares of each true class; for
    several labels per text, each label's found / missed / extra / neither counts instead."""
    if view.multi_label:
        return multilabel_views.label_outcomes_table(view.evaluation)
    return tables.confusion_heatmap(view.metrics.get("confusion_matrix", []), view.labels, shares=mode == SHARES)


def per_class_view(view: RunView) -> pd.DataFrame:
    if view.multi_label:
        return multilabel_views.per_label_table(view.evaluation)
    return tables.per_class_table(view.metrics)


def browse_rows(view: RunView, query: tables.ErrorQuery) -> tuple[pd.DataFrame, str]:
    """The error browser's rows and caption for ``query``."""
    rows = tables.query_errors(view.errors, query)
    shown = tables.error_browser_view(rows)
    caption = tables.error_caption(len(shown), len(rows), len(view.errors), query)
    if view.multi_label:
        return multilabel_views.browser_view(shown), f"{caption}\n\n{multilabel_views.BROWSER_NOTE}"
    return shown, caption


# --- deeper checks: label noise, baselines, another file ---------------------------------------------


@dataclass
class NoiseOutcome:
    """Training rows suspected of a wrong label, and the CSV a person can download."""

    table: pd.DataFrame  # LabelNoiseReport.table
    csv_path: Path
    summary: str


def noise_csv_path(workspace: Workspace, run_dir: str | Path) -> Path:
    return workspace.exports / f"{Path(run_dir).name}{NOISE_FILE_SUFFIX}"


def find_label_noise(workspace: Workspace | None, run_dir: str | None, *, encoder: str | None = None) -> NoiseOutcome:
    """Run the confident-learning check on the run's training rows (tens of seconds) and save the CSV."""
    ws = require_workspace(workspace)
    run = checked_run_dir(ws, run_dir)
    report = label_noise_for_run(run, encoder=encoder)
    return NoiseOutcome(report.table, report.to_csv(noise_csv_path(ws, run)), report.summary())


def saved_label_noise(workspace: Workspace, run_dir: str) -> NoiseOutcome | None:
    """The result of an earlier check of this run, so it survives a page reload."""
    path = noise_csv_path(workspace, run_dir)
    if not path.is_file():
        return None
    table = read_escaped_csv(path, dtype={"text": str, "text_pair": str, "given_label": str,
                                          "suspected_label": str}, keep_default_na=False)
    return NoiseOutcome(table, path, f"Found earlier: {len(table):,} training rows look mislabeled.")


def noise_markdown(outcome: NoiseOutcome) -> str:
    if outcome.table.empty:
        return f"{outcome.summary} No training row looks mislabeled: the labels look consistent."
    return (f"{outcome.summary} Look them up in your spreadsheet: fixing wrong labels often helps more than any "
            "setting. **Suspected label** is what a simple model trained on the other rows expected; **how sure** "
            "is its confidence. The full list is in the CSV below.")


def compare_baselines(workspace: Workspace | None, run_dir: str | None, *, encoder: str | None = None):
    """Train the TF-IDF and frozen-encoder baselines on the run's split and score them on its test texts."""
    run = checked_run_dir(require_workspace(workspace), run_dir)
    return evaluate_run(run, baselines=True, encoder=encoder)


def baseline_sentence(model_macro_f1: float, baselines: Sequence[Any]) -> str:
    """One honest sentence: did fine-tuning beat the best simple baseline, and by how much?"""
    def value(b: Any, name: str) -> Any:
        return b[name] if isinstance(b, Mapping) else getattr(b, name)

    if not baselines:
        return "No baseline could be trained."
    best = max(baselines, key=lambda b: value(b, "macro_f1"))
    name, gap = value(best, "name"), model_macro_f1 - value(best, "macro_f1")
    if abs(gap) < SAME_SCORE:
        return (f"Fine-tuning scored about the same as the best simple baseline ({name}, {points(abs(gap))} apart): "
                "on this data the simpler, faster model may be enough.")
    if gap > 0:
        return f"Fine-tuning beat the best simple baseline ({name}): its macro-F1 is {points(gap)} higher."
    return (f"The simple baseline {name} beat the fine-tuned model: its macro-F1 is {points(-gap)} higher. Training "
            "longer or on more data may help, or the simpler model is the better choice here.")


def baselines_markdown_and_table(model_macro_f1: float, model_accuracy: float, baselines: Sequence[Any],
                                 model_seconds: float | None,
                                 notes: Sequence[Any] = ()) -> tuple[str, pd.DataFrame]:
    """``notes``: the evaluation's notes (Finding); the one saying the bundled encoder stood in for the run's base
    model is shown, since the frozen-encoder baseline's name would otherwise read as that model's."""
    stand_in = [f"*{note.message}*" for note in notes if note.code == "encoder_stands_in"]
    return ("\n\n".join([baseline_sentence(model_macro_f1, baselines), *stand_in]),
            tables.baselines_table(model_macro_f1, model_accuracy, baselines, model_seconds))


@dataclass
class ShiftOutcome:
    """The run evaluated on another labeled file."""

    file_name: str
    evaluation: dict[str, Any]  # EvalReport.to_dict()


def evaluate_on_file(workspace: Workspace | None, run_dir: str | None, file: str | None,
                     limits: UsageLimits = NO_LIMITS) -> ShiftOutcome:
    """Score the run on another labeled file: does it hold up on texts from elsewhere? The upload is kept within
    ``limits`` (the upload limits, the workspace's share of the disk), as the Data tab's is."""

    ws = require_workspace(workspace)
    run = checked_run_dir(ws, run_dir)
    if not file:
        raise DataError("No file is uploaded yet.", "Upload a labeled file (same label names as your training "
                                                    "data) first, then press the button.")
    saved = save_upload(ws, file, original_name=Path(file).name, limits=limits, to_label=True)
    return ShiftOutcome(saved.name, evaluate_run(run, data=saved).to_dict())


def shift_markdown(test: Mapping[str, Any], outcome: ShiftOutcome) -> str:
    """One sentence comparing the other file with the test texts."""
    ours, theirs = float(test.get("macro_f1", 0)), float(outcome.evaluation.get("macro_f1", 0))
    gap = theirs - ours
    # How the file was read (the column taken for the texts, labels read as the model spells them) comes first,
    # as `bertstudio evaluate` prints it: a wrong column would make the score below mean nothing.
    read_as = "".join(f"{note}\n\n" for note in outcome.evaluation.get("notes", ()))
    head = f"{read_as}On **{outcome.file_name}** macro-F1 is **{score_text(theirs)}**"
    # A model that never predicts a class on the file, or a file of a few texts, qualifies the comparison too.
    evaluated_on = outcome.evaluation.get("evaluated_on", f"file: {outcome.file_name}")
    notes = "".join(f"\n\n{note}" for note in [*evaluation_views.findings_markdown(
        findings_of(outcome.evaluation, evaluated_on)), *scoring_notes(outcome.evaluation)])
    if abs(gap) < SAME_SCORE:
        return f"{head}, about the same as on the test texts: the model holds up on these texts.{notes}"
    if gap > 0:
        return f"{head}, {points(gap)} higher than on the test texts: these texts are easier for it.{notes}"
    return (f"{head}, {points(-gap)} lower than on the test texts: texts like these are harder for the model. Adding "
            f"some of them to the training data usually helps.{notes}")


# --- running the slow checks without freezing the page ---------------------------------------------


def start_check(jobs: JobRegistry, workspace: Workspace | None, kind: str, task: Callable[[], Any]) -> BackgroundJob:
    """Run ``task`` as the workspace's latest job of ``kind`` (the registry runs two checks at once in the
    whole app; a third waits for a free slot)."""
    return jobs.start(require_workspace(workspace).id, TaskJob(kind, task, what="The check"))


def working_markdown(what: str, seconds: float, usually: str) -> str:
    return f"{what}… {seconds:.0f} s so far ({usually}). You can keep using the page meanwhile."


def problem_shown(status: Hashable, problem: str) -> dict:
    """A check that could not run or failed: a pop-up warning, and a short note in ``status``."""
    gr.Warning(problem, title="Please check")
    return {status: f"**Please check:** {problem}"}


def follow_check(job: BackgroundJob, status: Hashable, what: str, usually: str, show: Callable[[Any], dict],
                 poll_seconds: float = POLL_SECONDS) -> Iterator[dict]:
    """Generator handler body: a working message in ``status`` while ``job`` runs (about every
    ``poll_seconds``), then ``show(value)``; a failure (in the job's plain words, never a traceback)
    becomes :func:`problem_shown`."""
    yield {status: working_markdown(what, 0.0, usually)}
    while not job.wait(poll_seconds):
        yield {status: working_markdown(what, time.time() - (job.started_at or time.time()), usually)}
    outcome = job.outcome
    if isinstance(outcome, Completed):
        yield show(outcome.value)
    else:
        yield problem_shown(status, outcome.text() if isinstance(outcome, Failed) else "The check was stopped.")


# --- the tab ----------------------------------------------------------------------------------------


def check_controls(label: str, button_id: str, key: str,
                   **table: Any) -> tuple[gr.Button, gr.Markdown, gr.Dataframe]:
    """One of the longer checks: its button, its status line, and its table (hidden until it has rows)."""
    return (gr.Button(label, elem_id=button_id), gr.Markdown(elem_id=f"{key}-status"),
            gr.Dataframe(interactive=False, wrap=True, visible=False, elem_id=f"{key}-table", **table))


def build(ctx: AppContext) -> None:
    with gr.Tab("4. Evaluate", id="evaluate") as tab:
        gr.Markdown(INTRO)
        with gr.Row():
            run_dd = gr.Dropdown(label="Trained model (newest first)", choices=[], scale=4, elem_id="run-choice",
                                 info="Every finished training run in this browser is kept here.")
            refresh = gr.Button("Refresh the list", scale=1, size="md")
        headline = gr.Markdown(NO_RUN_YET, elem_id="eval-headline")
        # Shown once a run is open: before that its tables and chart would stand empty.
        with gr.Column(visible=False, elem_id="eval-results") as results:
            # One table under the other, each the width of the page: side by side, half a 1400-px screen hid the
            # last columns of a 5-class matrix. Class names wrap between words (CSS in app.py), so 8 classes with
            # names of a few words fit; on a phone the matrix scrolls sideways.
            per_class = gr.Dataframe(label=PER_CLASS_LABEL, interactive=False, wrap=True,
                                     elem_id="per-class-table")
            confusion_mode = gr.Radio([COUNTS, SHARES], value=COUNTS, label="Confusion matrix shows",
                                      elem_id="confusion-mode")
            confusion = gr.Dataframe(label=CONFUSION_LABEL, interactive=False, wrap=True,
                                     elem_id="confusion-table")
            # The text goes under the chart when the screen is too narrow for both (a phone), never into a sliver.
            with gr.Row():
                reliability_plot = gr.Plot(show_label=False, elem_id="reliability-chart", scale=3, min_width=340)
                with gr.Column(scale=1, min_width=260):
                    gr.Markdown("#### Reading the calibration chart\nEach bar gathers the test texts the model was "
                                "equally sure about, and shows how often it was right on them. Bars **below** the "
                                "dashed line: the model is over-confident; **above**: it is more often right than it "
                                "claims. Calibration divides its scores by one number (the *temperature*, fitted on "
                                "the validation texts) so that a 90% becomes a 90% you can rely on.",
                                elem_id="calibration-reading")

            gr.Markdown("#### Browse the test texts\nSee which texts the model gets wrong: often a label is wrong or "
                        "two classes overlap, and fixing the data helps more than any setting. **Tags** point at the "
                        "texts worth a look first.", elem_id="browse-heading")
            with gr.Row():
                true_dd = gr.Dropdown(label=TRUE_FILTER, choices=[tables.ALL], value=tables.ALL, elem_id="filter-true")
                pred_dd = gr.Dropdown(label=PREDICTED_FILTER, choices=[tables.ALL], value=tables.ALL,
                                      elem_id="filter-predicted")
                tag_dd = gr.Dropdown(label="Tag", choices=[tables.ALL_ROWS], value=tables.ALL_ROWS,
                                     elem_id="filter-tag")
                # Twice as wide as the others: its longest choice was cut off ("...highest los") at a quarter of
                # the row.
                sort_dd = gr.Dropdown(label="Order", choices=list(tables.ERROR_SORTS), value=tables.DEFAULT_ERROR_SORT,
                                      elem_id="error-sort", scale=2, min_width=330)
            with gr.Row():
                search = gr.Textbox(label="Search the text", placeholder="a word or phrase, then Enter", scale=3,
                                    elem_id="search-text")
                mistakes = gr.Checkbox(label="Only mistakes", value=False, elem_id="only-mistakes", scale=1)
            caption = gr.Markdown(elem_id="browser-caption")
            browser = gr.Dataframe(interactive=False, wrap=True, elem_id="error-browser", max_height=520,
                                   column_widths=["30%", "9%", "9%", "5%", "9%", "9%", "6%", "9%", "14%"])

            gr.Markdown("### Dig deeper\nThree checks that take a little longer; each runs in the background.")
            with gr.Column():
                gr.Markdown("#### Likely mislabeled training rows\nA simple model trained on the other rows looks "
                            "at each training row; rows whose label it finds implausible are listed, most suspicious "
                            "first (usually under a minute).")
                noise_btn, noise_md, noise_table = check_controls(
                    "Find likely mislabeled training rows", "find-noise", "noise", max_height=400,
                    column_widths=["58%", "14%", "16%", "12%"])
                noise_download = gr.DownloadButton("Download the list (.csv)", visible=False, elem_id="noise-download")
            with gr.Row(equal_height=False):
                with gr.Column():
                    gr.Markdown("#### Compare with simple baselines\nWould something simpler do as well? Trains TF-IDF "
                                "with logistic regression, and the pre-trained model without fine-tuning plus logistic "
                                "regression, on the same texts.")
                    baseline_btn, baseline_md, baseline_table = check_controls(
                        "Compare with simple baselines", "run-baselines", "baseline",
                        column_widths=["46%", "18%", "18%", "18%"])
                with gr.Column():
                    gr.Markdown("#### Evaluate on another labeled file\nDoes the model hold up on texts from elsewhere "
                                "(another shop, a later month)? The file needs the same labels.")
                    shift_file = gr.File(label="Labeled file", file_types=list(SUPPORTED_EXTENSIONS), type="filepath",
                                         elem_id="shift-upload", height=120)
                    shift_btn, shift_md, shift_table = check_controls("Evaluate on this file", "run-shift", "shift")
        view_state = gr.State(None)

        filters = [true_dd, pred_dd, tag_dd, mistakes, sort_dd, search]

        def browse(view: RunView | None, true_label: str, predicted: str, tag: str, only_mistakes: bool, sort: str,
                   query: str) -> dict:
            if view is None:
                return {browser: None, caption: ""}
            rows, text = browse_rows(view, tables.ErrorQuery(
                true_label=true_label or tables.ALL, predicted_label=predicted or tables.ALL,
                only_mistakes=bool(only_mistakes), sort=sort or tables.DEFAULT_ERROR_SORT, search=query or "",
                tag=tag or tables.ALL_ROWS))
            return {browser: rows, caption: text}

        def noise_outputs(outcome: NoiseOutcome | None) -> dict:
            if outcome is None:
                return {noise_md: "", noise_table: gr.Dataframe(visible=False),
                        noise_download: gr.DownloadButton(visible=False)}
            return {noise_md: noise_markdown(outcome),
                    noise_table: gr.Dataframe(tables.label_noise_table(outcome.table), visible=not outcome.table.empty),
                    noise_download: gr.DownloadButton(value=str(outcome.csv_path), visible=not outcome.table.empty)}

        def baseline_outputs(metrics: Mapping[str, Any], seconds: float | None, baselines: Sequence[Any],
                             notes: Sequence[Any] = ()) -> dict:
            if not baselines:
                return {baseline_md: "", baseline_table: gr.Dataframe(visible=False)}
            text, table = baselines_markdown_and_table(metrics["macro_f1"], metrics["accuracy"], baselines, seconds,
                                                       notes)
            return {baseline_md: text, baseline_table: gr.Dataframe(table, visible=True)}

        @friendly
        def open_run(workspace, run_dir: str | None, current: RunView | None, mode: str) -> dict:
            if not run_dir:  # no run (yet, or no more): nothing to show
                return {view_state: None, headline: NO_RUN_YET, results: gr.Column(visible=False)}
            if current is not None and current.run_dir == run_dir:
                return gr.skip()  # already open: keep the person's filters
            ws = require_workspace(workspace)
            view = load_run(ws, run_dir)
            classes = [tables.ALL, *view.labels]
            multi = view.multi_label
            return {view_state: view, headline: headline_markdown(view), results: gr.Column(visible=True),
                    per_class: gr.Dataframe(per_class_view(view), label=multilabel_views.PER_LABEL_CAPTION if multi
                                            else PER_CLASS_LABEL),
                    confusion: gr.Dataframe(confusion_view(view, mode), label=multilabel_views.OUTCOMES_CAPTION
                                            if multi else CONFUSION_LABEL),
                    confusion_mode: gr.Radio(visible=not multi),
                    reliability_plot: reliability_figure(view),
                    true_dd: gr.Dropdown(choices=classes, value=tables.ALL,
                                         label=multilabel_views.TRUE_FILTER if multi else TRUE_FILTER),
                    pred_dd: gr.Dropdown(choices=classes, value=tables.ALL,
                                         label=multilabel_views.PREDICTED_FILTER if multi else PREDICTED_FILTER),
                    tag_dd: gr.Dropdown(choices=tables.tag_choices(tag_counts(view.errors)), value=tables.ALL_ROWS),
                    mistakes: False, search: "",
                    **browse(view, tables.ALL, tables.ALL, tables.ALL_ROWS, False, tables.DEFAULT_ERROR_SORT, ""),
                    **noise_outputs(saved_label_noise(ws, view.run_dir)),
                    **baseline_outputs(view.metrics, view.summary.train_seconds,
                                       (view.evaluation or {}).get("baselines", [])),
                    shift_md: "", shift_table: gr.Dataframe(visible=False)}

        def pick_cell(view: RunView | None, evt: gr.SelectData) -> dict:
            """A click on a cell of the confusion matrix filters the browser to that (true, predicted) cell."""
            if view is None or view.multi_label:  # the labels' 2x2 counts are not a (true, predicted) grid
                return gr.skip()
            cell = tables.cell_from_selection(evt.index, view.labels)
            if cell is None:
                return gr.skip()
            return {true_dd: cell[0], pred_dd: cell[1], tag_dd: tables.ALL_ROWS, mistakes: False}

        @friendly
        def switch_confusion(view: RunView | None, mode: str) -> dict:
            if view is None:
                return gr.skip()
            return {confusion: confusion_view(view, mode)}

        def run_check(kind: str, workspace, task: Callable[[], Any], status, what: str, usually: str,
                      show: Callable[[Any], dict]) -> Iterator[dict]:
            try:
                job = start_check(ctx.jobs, workspace, kind, task)
            except UserError as err:  # e.g. the page is still starting up
                yield problem_shown(status, str(err))
                return
            yield from follow_check(job, status, what, usually, show)

        def on_noise(workspace, view: RunView | None) -> Iterator[dict]:
            task = functools.partial(find_label_noise, workspace, view.run_dir if view else None)
            yield from run_check(LABEL_NOISE, workspace, task, noise_md, "Looking for mislabeled training rows",
                                 "usually under a minute", noise_outputs)

        def on_baselines(workspace, view: RunView | None) -> Iterator[dict]:
            def show(report) -> dict:
                return baseline_outputs(report.metrics, view.summary.train_seconds, report.baselines, report.notes)

            task = functools.partial(compare_baselines, workspace, view.run_dir if view else None)
            yield from run_check(BASELINES, workspace, task, baseline_md, "Training the baselines",
                                 "usually under a minute", show)

        def on_shift(workspace, view: RunView | None, file: str | None) -> Iterator[dict]:
            def show(outcome: ShiftOutcome) -> dict:
                return {shift_md: shift_markdown(view.metrics, outcome),
                        shift_table: gr.Dataframe(tables.shift_table(view.metrics, outcome.evaluation,
                                                                     outcome.file_name), visible=True)}

            task = functools.partial(evaluate_on_file, workspace, view.run_dir if view else None, file, ctx.limits)
            yield from run_check(EVALUATE_FILE, workspace, task, shift_md, "Scoring the file",
                                 "about as long as predicting it", show)

        opened = [view_state, headline, results, per_class, confusion, confusion_mode, reliability_plot, true_dd,
                  pred_dd, tag_dd, mistakes, search, browser, caption, noise_md, noise_table, noise_download,
                  baseline_md, baseline_table, shift_md, shift_table]
        open_inputs = [ctx.workspace, run_dd, view_state, confusion_mode]
        refresh.click(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd).then(open_run, open_inputs, opened)
        tab.select(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd).then(open_run, open_inputs, opened)
        run_dd.input(lambda path: path, run_dd, ctx.run_dir)
        ctx.run_dir.change(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd).then(
            open_run, open_inputs, opened)
        gr.on([true_dd.input, pred_dd.input, tag_dd.input, mistakes.input, sort_dd.input, search.submit], browse,
              [view_state, *filters], [browser, caption], trigger_mode="always_last")
        confusion_mode.input(switch_confusion, [view_state, confusion_mode], confusion)
        confusion.select(pick_cell, view_state, [true_dd, pred_dd, tag_dd, mistakes]).then(
            browse, [view_state, *filters], [browser, caption]).then(None, js=SCROLL_TO_BROWSER)
        noise_btn.click(on_noise, [ctx.workspace, view_state], [noise_md, noise_table, noise_download])
        baseline_btn.click(on_baselines, [ctx.workspace, view_state], [baseline_md, baseline_table])
        shift_btn.click(on_shift, [ctx.workspace, view_state, shift_file], [shift_md, shift_table])
        ctx.session_loaded.then(list_runs, [ctx.workspace, ctx.run_dir, run_dd], run_dd)
