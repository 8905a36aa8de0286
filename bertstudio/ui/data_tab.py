"""Tab 1, Data: load a file, confirm the columns, read the check-up and the text lengths."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from bertstudio.data import SAMPLE_DATA_PATH
from bertstudio.data.inspect import LabelColumnNotFound, inspect_file
from bertstudio.data.long_texts import LongTexts, SpecialTokens, encode_long_texts
from bertstudio.data.multilabel import LabelSettings
from bertstudio.data.io import SUPPORTED_EXTENSIONS, TableInfo, read_table
from bertstudio.data.workbook import SheetSize, workbook_sheets
from bertstudio.errors import DataError, ModelError, UserError
from bertstudio.models.registry import DEFAULT_MODEL, find_variant
from bertstudio.train.estimate import planned_length
from bertstudio.train.lazy_tokens import encode_texts
from bertstudio.train.plan import LengthInUse
from bertstudio.ui.common import TokenizerCache, friendly
from bertstudio.ui.context import AppContext
from bertstudio.ui.session import Workspace, recall_data, remember_data, save_upload
from bertstudio.ui.state import DataChoice, DataSelection, ModelChoice, build_config
from bertstudio.ui.views import advice, charts, tables
from bertstudio.ui.views import limits as limit_views
from bertstudio.ui.views import multilabel as multilabel_views

NO_PAIR = "(none)"
READING_SAMPLE = "Reading the sample data and measuring its texts…"
READING_UPLOAD = "Reading your file and measuring its texts…"
RESTORED = ("Still loaded from before: **{name}**, with the columns and settings you chose. To use another file, "
            "drop it in the box above.")
KEPT_CHOICES = ("**{name}** again: the columns and settings you chose for it last time are kept (change them "
                "below).")
READING_SHEET = "Reading the chosen sheet and measuring its texts…"
UNEXPECTED = ("**Reading stopped on an unexpected error** (the message in the corner says more). The data loaded "
              "before, if any, is still loaded.")
# Compressed files and archives are no tables, but the upload box takes them so that the engine's refusal is shown,
# which says what they are and what to do (Gradio's own refusal only lists the extensions it takes).
EXPLAINED_EXTENSIONS = (".zip", ".gz", ".bz2", ".xz", ".zst", ".7z", ".rar")
PREVIEW_ROWS = 5
MIN_LENGTH, MAX_LENGTH = 8, 512

INTRO = """### Step 1: your data
Upload a table with one text per row and a column saying which class it belongs to
(CSV, TSV, JSON lines, Parquet or Excel), or try the sample data first. Nothing leaves this computer."""


# --- engine calls -------------------------------------------------------------------------------------


def _tokenizer(tokenizers: TokenizerCache, model: str) -> tuple[Any, str, str]:
    """(tokenizer, whose it is, a note): the bundled one when the chosen model is not on this computer yet."""
    try:
        return tokenizers.get(model), model, ""
    except ModelError:
        note = (f"{model} is not on this computer yet, so the bundled model's tokenizer measured the lengths "
                "(they are usually close).")
        return tokenizers.get(DEFAULT_MODEL), DEFAULT_MODEL, note


def analyse(tokenizers: TokenizerCache, path: str, model: str, *, text: str | None = None, label: str | None = None,
            pair: str | None = None, casefold: bool = False, labels: LabelSettings | None = None,
            sheet: str | None = None) -> DataSelection:
    """Read, check and measure the file (the engine's ``inspect_file``) into a DataSelection. ``sheet``: the
    workbook's sheet to read (None: the engine chooses it, and says why in the report)."""

    tokenizer, used, note = _tokenizer(tokenizers, model)
    labels = labels or LabelSettings()
    found = inspect_file(path, text_column=text, label_column=label, text_pair_column=pair,
                         casefold_labels=casefold, model=model, tokenizer=tokenizer, measured_by=used, labels=labels,
                         sheet=sheet)
    ds = found.prepared.dataset
    rows = ds.select(range(min(PREVIEW_ROWS, len(ds))))
    names = found.prepared.label_names
    pairs = rows["text_pair"] if "text_pair" in rows.column_names else [None] * len(rows)
    preview = [(t, p, label_text(names, y)) for t, p, y in zip(rows["text"], pairs, rows["label"])]
    report = found.report
    multilabel = found.prepared.multilabel
    from_columns = multilabel is not None and bool(multilabel.label_columns)  # one 0/1 column per label
    return DataSelection(
        path=str(path), file_name=Path(path).name, columns=list(found.table.columns),
        text_column=found.columns.text, label_column=None if from_columns else found.columns.label,
        text_pair_column=found.columns.text_pair,
        casefold_labels=casefold, max_length=found.lengths.suggested_max_length if found.lengths else 128,
        rows=report.n_rows_kept, class_counts=dict(report.class_counts), has_errors=report.has_errors,
        errors_text=" ".join(f.message for f in report.errors), lengths=found.lengths,
        table_text=found.table.describe(), report=report, preview=preview, model=model,
        tokenizer_model=used, tokenizer_note=note, vocabulary=found.vocabulary, task=labels.task,
        label_separator=labels.separator, label_columns=labels.label_columns, empty_labels=labels.empty_labels,
        multilabel=multilabel, sheet=found.table.sheet, sheets=sheets_of(found.table))


def sheets_of(table: TableInfo) -> list[SheetSize]:
    """The sheets of the workbook ``table`` was read from (the engine reports the sheet it read); none for a file
    that has no sheets."""
    return workbook_sheets(table.path) if table.sheet is not None else []


def label_text(names: list[str], label) -> str:
    """A preview row's label: the class, or a multi-label row's labels."""
    if isinstance(label, (list, tuple)):
        return "; ".join(n for n, on in zip(names, label) if on) or "(no label)"
    return names[label]


def preview_table(tokenizers: TokenizerCache, selection: DataSelection, use: LengthInUse | None = None):
    """The first rows as training reads them: with the plan's length and long-text choice (``use``), else cut at
    the length shown."""
    tokenizer = tokenizers.get(selection.tokenizer_model)
    kept = use.kept if use is not None else LongTexts(max_length=selection.max_length)
    readings = [read_by_training(tokenizer, text, pair, kept) for text, pair, _ in selection.preview]
    return tables.token_preview_table([label for _, _, label in selection.preview], readings)


def read_by_training(tokenizer, text: str, pair: str | None, kept: LongTexts) -> tables.TokenReading:
    """One text as training encodes it (the engine's own calls: the tokenizer's cut for a plain cut and for pairs,
    ``encode_long_texts`` for the end, head + tail, or windows), and where the tokens it leaves out are."""
    length = len(tokenizer(text, pair)["input_ids"])
    if pair is not None or kept.plain_cut:
        ids = encode_texts(tokenizer, [text], None if pair is None else [pair], kept.max_length)["input_ids"][0]
        return tables.TokenReading(length, (tokenizer.convert_ids_to_tokens(ids), length - len(ids)))
    pieces = [tokenizer.convert_ids_to_tokens(ids) for ids in encode_long_texts(tokenizer, [text], kept)["input_ids"]]
    if kept.strategy == "windows":
        return tables.TokenReading(length, (pieces[0],), windows=len(pieces))
    special = SpecialTokens.of(tokenizer)
    head = kept.head_count(kept.room(special.count)) if kept.strategy == "head_tail" else 0  # tail: none
    gap = len(special.prefix) + head
    piece = pieces[0]
    return tables.TokenReading(length, (piece[:gap], length - len(piece), piece[gap:]))


def lengths_markdown(selection: DataSelection) -> str:
    stats = selection.lengths
    if stats is None:
        return "No text was left to measure."
    p = stats.percentiles
    who = find_variant(selection.tokenizer_model)
    name = who.display_name if who else selection.tokenizer_model
    sample = f" (measured on a random sample of {stats.n:,} texts)" if stats.sampled else ""
    return (f"Texts are measured in **tokens**, the word pieces the model reads, using the tokenizer of {name}"
            f"{sample}: "
            f"median {p[50]}, 95% at most {p[95]}, longest {stats.max}. Suggested maximum length: "
            f"**{stats.suggested_max_length}**, the smallest step that fits at least 95% of your texts. "
            "Longer texts are cut; a higher maximum keeps more text but trains slower. "
            "What is kept of the longer ones (the start, the end, both, or a few overlapping windows) is "
            "chosen from your data unless you set it (Model tab: *What to keep of long texts*). "
            f"{selection.tokenizer_note}").strip()


def length_in_use(selection: DataSelection | None, choice: ModelChoice) -> LengthInUse | None:
    """What training will read of each text with the Model tab's settings on this computer: the engine's plan
    (on a CPU it may lower the suggested length, and it chooses what to keep of longer texts), not the suggestion
    alone; None while nothing can be planned."""
    if selection is None or selection.lengths is None or selection.has_errors:
        return None
    try:
        return planned_length(build_config(selection, choice), selection.rows, selection.class_counts,
                              selection.lengths, selection.max_length)
    except UserError:  # settings the Model tab is about to refuse: it says why, and no length is planned yet
        return None


def length_in_use_text(selection: DataSelection | None, choice: ModelChoice) -> str:
    use = length_in_use(selection, choice)
    return advice.length_in_use_markdown(use) if use is not None else ""


def length_shown(selection: DataSelection, use: LengthInUse | None) -> int:
    """The maximum length the box shows: the one training reads with (the plan's), else the selection's."""
    return use.used if use is not None else selection.max_length


def automatic(selection: DataSelection) -> DataSelection:
    """The selection with the length left to the engine again (the data's suggestion, lowered where it must be)."""
    return replace(selection, max_length=suggested_length(selection), max_length_set=False)


def automatic_length(selection: DataSelection, choice: ModelChoice) -> int:
    """The length training would read with if the person had typed none: what the "Use …" button goes back to."""
    back = automatic(selection)
    return length_shown(back, length_in_use(back, choice))


def typed_length(selection: DataSelection, choice: ModelChoice, wanted: int) -> DataSelection | None:
    """The selection with the length the person typed in the box, now theirs (even the suggestion, which a CPU
    would otherwise lower); None when it is the length the box already showed (leaving the box sends it again)."""
    if wanted == length_shown(selection, length_in_use(selection, choice)):
        return None
    return replace(selection, max_length=wanted, max_length_set=True)


def choices_for_the_same_file(earlier: tuple[Path, DataChoice] | None, upload: Path) -> DataChoice | None:
    """The columns and settings chosen for the file loaded before, when ``upload`` is that file again (the same
    name: the same spreadsheet, perhaps edited): a person who picked the label column by hand is not made to pick
    it again.  None for another file, or one whose columns were never chosen."""
    if earlier is None:
        return None
    path, choice = earlier
    if path.name != upload.name or choice.text_column is None:
        return None
    return choice


def restored(tokenizers: TokenizerCache, path: Path, choice: DataChoice, model: str) -> DataSelection:
    """The Data tab as the person left it before the page was reloaded: the same file, columns and settings,
    measured again (raises the DataError of a file that no longer reads with those choices)."""
    selection = analyse(tokenizers, str(path), model, text=choice.text_column, label=choice.label_column,
                        pair=choice.text_pair_column or "", casefold=choice.casefold_labels,
                        labels=label_settings(choice.task, choice.label_separator, choice.label_columns,
                                              choice.empty_labels), sheet=choice.sheet)
    if choice.max_length is None:
        return selection
    return replace(selection, max_length=choice.max_length, max_length_set=True)  # only a typed one is kept


def sheet_picker(sheets: list[SheetSize], read: str | None) -> gr.Dropdown:
    """The Sheet picker: the workbook's sheets with the one read chosen; shown only when there is a choice."""
    return gr.Dropdown(choices=tables.sheet_choices(sheets), value=read, visible=len(sheets) > 1)


def length_chart(selection: DataSelection, use: LengthInUse | None = None):
    """The text lengths with the line where training cuts (the plan's length, else the selection's) and what it
    keeps of the longer texts."""
    if selection.lengths is None:
        return charts.empty_chart("Text lengths in tokens", "No text to measure")
    line, longer = advice.length_chart_words(use.kept) if use is not None else ("cut at", "will be cut")
    shown = length_shown(selection, use)
    return charts.token_length_chart(selection.lengths.histogram, shown, selection.lengths.share_longer_than(shown),
                                     line=line, longer=longer)


def report_text(selection: DataSelection) -> str:
    """The check-up in words, with the label columns of a multi-label file and how many texts are too long for
    any maximum length the data could have (measured by the engine at the suggested length)."""
    stats = selection.lengths
    longer = stats.share_longer_than(stats.suggested_max_length) if stats is not None else 0.0
    return tables.report_markdown(selection.table_text, selection.report, selection.text_column,
                                  selection.label_column, selection.text_pair_column,
                                  label_columns=detected_label_columns(selection), longer_share=longer,
                                  readable=suggested_length(selection))


def detected_label_columns(selection: DataSelection | None) -> list[str]:
    """The 0/1 columns the labels are read from (chosen or detected); empty for a label column."""
    info = selection.multilabel if selection is not None else None
    return list(info.label_columns or []) if info is not None else []


def chosen_label_columns(picked: list[str] | None, current: DataSelection | None) -> list[str] | None:
    """The 0/1 columns the person chose in the picker. The picker shows the detected ones too; while it still
    shows exactly those, they count as not chosen, so that another task or label column lets the engine decide
    again instead of being overruled by columns the person never picked."""
    if not picked:
        return None
    detected = current is not None and current.label_columns is None
    return None if detected and list(picked) == detected_label_columns(current) else list(picked)


def label_settings(task: str | None, separator: str | None, columns: list[str] | None,
                   empty: str | None) -> LabelSettings:
    """The multi-label controls as the engine's settings (a blank separator: detect it)."""
    return LabelSettings(task=task or "auto", separator=(separator or "").strip() or None,
                         label_columns=list(columns) or None if columns else None, empty_labels=empty or "skip")


def separator_shown(selection: DataSelection) -> str:
    """The detected separator fills the box, so the person sees it (and can change it)."""
    info = selection.multilabel
    return (info.separator or "") if info is not None else ""


def suggested_length(selection: DataSelection) -> int:
    return selection.lengths.suggested_max_length if selection.lengths else selection.max_length


# --- the tab ------------------------------------------------------------------------------------------------


def build(ctx: AppContext) -> None:
    with gr.Tab("1. Data", id="data"):
        gr.Markdown(INTRO)
        gr.Markdown(limit_views.data_note(ctx.limits), elem_id="data-limits")
        with gr.Row(equal_height=True):
            upload = gr.File(label=tables.upload_label(ctx.limits.max_upload_mb),
                             file_types=[*SUPPORTED_EXTENSIONS, *EXPLAINED_EXTENSIONS], type="filepath",
                             elem_id="data-upload", scale=3)
            with gr.Column(scale=1, min_width=220):
                sample = gr.Button("Use the sample data", elem_id="use-sample")
                gr.Markdown("400 online-shop messages in 4 classes: billing, delivery, praise, product quality.")
        # What is happening between a click and the results (seconds on a cold app): never a click with no answer;
        # and afterwards why a file was not loaded, which stays until the next file (a toast fades in seconds).
        status_md = gr.Markdown(elem_id="data-status")
        with gr.Column(visible=False) as results:
            report_md = gr.Markdown(elem_id="data-report")
            sheet_dd = gr.Dropdown(label="Sheet", interactive=True, visible=False, elem_id="data-sheet",
                                   info="The sheet of the workbook your data is on. Choosing another reads it "
                                        "and guesses its columns again.")
            with gr.Row():
                text_dd = gr.Dropdown(label="Text column", info="The text the model reads.", interactive=True,
                                      elem_id="text-column")
                label_dd = gr.Dropdown(label="Label column", info="The class each text belongs to.", interactive=True,
                                       elem_id="label-column")
                pair_dd = gr.Dropdown(label="Second text column (optional)",
                                      info="Only for pairs of texts, e.g. question and answer.", interactive=True)
                casefold = gr.Checkbox(label="Treat “Spam” and “spam” as the same label",
                                       info="Labels that differ only in upper/lower case become one class.")
            with gr.Row():
                task_dd = gr.Dropdown(label="Labels per text", choices=multilabel_views.TASK_CHOICES, value="auto",
                                      info="One class per text, or several (e.g. tags).", interactive=True,
                                      elem_id="task-choice")
                separator_box = gr.Textbox(label="Separator between labels", placeholder="detected",
                                           info="What joins several labels in one cell, e.g. ; or |, or [] for cells "
                                                "written as lists like [\"a\", \"b\"].",
                                           elem_id="label-separator")
                label_cols = gr.Dropdown(label="Or one 0/1 column per label", multiselect=True, interactive=True,
                                         info="Pick them to use several 0/1 columns instead of a label column.",
                                         elem_id="label-columns")
                empty_dd = gr.Dropdown(label="An empty label cell means", choices=multilabel_views.EMPTY_CHOICES,
                                       value="skip", interactive=True,
                                       info="Not labelled yet: those rows are left out. None of the labels: the "
                                            "text truly has none.")
            task_md = gr.Markdown(elem_id="task-report")
            findings = gr.Dataframe(label="What the check found", interactive=False, wrap=True, visible=False,
                                    column_widths=["13%", "42%", "7%", "38%"], elem_id="data-findings")
            # The classes, the lengths and the preview belong to a file read with its columns: hidden while the
            # columns are still to be chosen (empty charts, a length of 0 and a table headed "1 2 3" otherwise).
            with gr.Column(visible=False, elem_id="data-analysis") as analysis:
                with gr.Row():
                    counts_plot = gr.Plot(label="Examples per class", show_label=False)
                    length_plot = gr.Plot(label="Text lengths", show_label=False, elem_id="length-histogram")
                with gr.Row(equal_height=True):
                    max_len = gr.Number(label="Maximum length in tokens", precision=0, minimum=MIN_LENGTH,
                                        maximum=MAX_LENGTH, elem_id="max-length", scale=1,
                                        info=advice.length_box_info(None))
                    use_suggested = gr.Button("Use the suggested length", visible=False, scale=1,
                                              elem_id="use-suggested")
                    length_md = gr.Markdown(elem_id="length-note")
                length_use_md = gr.Markdown(elem_id="length-in-use")
                preview = gr.Dataframe(label="The first rows as the model will read them ([CLS] starts a text, "
                                             "[SEP] ends it; ## marks the rest of a split word)",
                                       interactive=False, wrap=True, column_widths=["16%", "14%", "70%"],
                                       elem_id="token-preview")

        shown = [ctx.data, ctx.data_file, results, analysis, report_md, sheet_dd, text_dd, label_dd, pair_dd, casefold,
                 findings, counts_plot, length_md, task_dd, separator_box, label_cols, empty_dd, task_md]
        # The length box, the chart's cut line, the preview and the note under them say what training reads: the
        # engine's plan for this data and the Model tab's settings, redrawn whenever either changes.
        length_views = [max_len, use_suggested, length_plot, preview, length_use_md]
        # What loading a file answers: the tab, the status line (empty, or why the file was not loaded) and the
        # upload box (emptied when its file was not loaded, so it never names a file that is not the data).
        loading = [*shown, ctx.workspace, status_md, upload]

        def show(selection: DataSelection) -> dict:
            return {
                ctx.data: selection, ctx.data_file: selection.path, results: gr.Column(visible=True),
                analysis: gr.Column(visible=True), report_md: report_text(selection),
                sheet_dd: sheet_picker(selection.sheets, selection.sheet),
                text_dd: gr.Dropdown(choices=selection.columns, value=selection.text_column),
                label_dd: gr.Dropdown(choices=[NO_PAIR, *selection.columns], value=selection.label_column or NO_PAIR),
                pair_dd: gr.Dropdown(choices=[NO_PAIR, *selection.columns],
                                     value=selection.text_pair_column or NO_PAIR),
                casefold: selection.casefold_labels,
                findings: gr.Dataframe(value=tables.report_table(selection.report.findings),
                                       visible=bool(selection.report.findings)),
                counts_plot: charts.class_counts_chart(selection.class_counts),
                length_md: lengths_markdown(selection),
                task_dd: selection.task, separator_box: selection.label_separator or separator_shown(selection),
                label_cols: gr.Dropdown(choices=selection.columns, value=detected_label_columns(selection)),
                empty_dd: selection.empty_labels,
                task_md: multilabel_views.multilabel_markdown(selection.multilabel),
            }

        def show_column_choice(path: str, err: DataError, sheet: str | None = None) -> dict:
            """The file (or its ``sheet``) was read but not understood (e.g. no label column found): let the person
            pick columns. Raises the DataError of a file that is not even a table."""

            _, table = read_table(path, sheet=sheet)
            texts_alone = isinstance(err, LabelColumnNotFound) and len(table.columns) == 1
            what_to_do = err.hint if texts_alone and err.hint else "Choose the text and label columns below."
            gr.Warning(f"{err.message} {what_to_do}",
                       title="This file has no labels" if texts_alone else "Please choose the columns")
            found = err.guess.text if isinstance(err, LabelColumnNotFound) else None  # the texts, without labels
            return {
                ctx.data: None, ctx.data_file: path, results: gr.Column(visible=True),
                analysis: gr.Column(visible=False),
                report_md: f"{table.describe()}\n\n**{err.message}** {what_to_do}",
                sheet_dd: sheet_picker(sheets_of(table), table.sheet),
                text_dd: gr.Dropdown(choices=table.columns, value=found),
                label_dd: gr.Dropdown(choices=[NO_PAIR, *table.columns], value=None),
                pair_dd: gr.Dropdown(choices=[NO_PAIR, *table.columns], value=NO_PAIR),
                findings: gr.Dataframe(visible=False), counts_plot: None, length_md: "",
            }

        def load(path: str, model: str, sheet: str | None = None) -> dict:
            try:
                selection = analyse(ctx.tokenizers, path, model, sheet=sheet)
            except DataError as err:
                return show_column_choice(path, err, sheet)
            ctx.limits.check_rows(selection.rows)
            return show(selection)

        def refused(err: UserError, subject: str, current: DataSelection | None) -> dict:
            """A file (or the sample) that was not loaded: why, in the status line where it stays; the data loaded
            before stays loaded and shown, or, with none, the tab is emptied."""
            still = current.file_name if current is not None else None
            update = {status_md: tables.refusal_markdown(subject, str(err), still), upload: None}
            if current is not None:  # a refused sheet: the picker names the sheet still loaded
                update[sheet_dd] = sheet_picker(current.sheets, current.sheet)
            else:
                update.update({ctx.data: None, ctx.data_file: "", results: gr.Column(visible=False)})
            return update

        def loaded(path: str, model: str, subject: str, current: DataSelection | None,
                   sheet: str | None = None) -> dict:
            try:
                return {**load(path, model, sheet), status_md: ""}
            except UserError as err:
                return refused(err, subject, current)

        @friendly
        def on_upload(file: str | None, workspace, model: str, current: DataSelection | None,
                      request: gr.Request) -> dict:
            if not file:
                return gr.skip()  # not {}: Gradio reads an empty dict as one value for several outputs
            ws = ctx.workspace_for(workspace, request)
            name = Path(file).name
            earlier = recall_data(ws)  # read before this upload replaces it
            try:
                saved = save_upload(ws, file, original_name=name, limits=ctx.limits)
            except UserError as err:
                return {**refused(err, name, current), ctx.workspace: ws}
            again = choices_for_the_same_file(earlier, saved)
            if again is not None:
                try:
                    return {**show(restored(ctx.tokenizers, saved, again, model)), ctx.workspace: ws,
                            status_md: KEPT_CHOICES.format(name=saved.name)}
                except UserError:  # the file changed too much for them: read as a new file
                    pass
            return {**loaded(str(saved), model, name, current), ctx.workspace: ws}

        @friendly
        def on_sample(workspace, model: str, current: DataSelection | None, request: gr.Request) -> dict:
            ws = ctx.workspace_for(workspace, request)
            return {**loaded(str(save_upload(ws, SAMPLE_DATA_PATH)), model, "The sample data", current),
                    ctx.workspace: ws}

        @friendly
        def on_sheet(path: str | None, sheet: str | None, model: str, current: DataSelection | None) -> dict:
            """Another sheet of the workbook: read as a new file would be, its columns guessed again."""
            if not path or not sheet:
                return gr.skip()
            return loaded(path, model, f"The sheet '{sheet}'", current, sheet)

        def reading(trigger, handler, inputs: list, what: str) -> None:
            """``handler`` behind a status line: the words appear at once (no queue), the spinner stays on them
            while it works, and the handler replaces them: with nothing, or with why the file was not loaded.
            A bug (the handler raised) says so there too: Gradio runs no ``.then`` after a failure, so the
            "Reading…" words would otherwise stay as if it were still working."""
            trigger(lambda: what, None, status_md, queue=False, show_progress="hidden").then(
                handler, inputs, loading, show_progress_on=status_md).failure(
                lambda: UNEXPECTED, None, status_md, queue=False, show_progress="hidden")

        @friendly
        def on_columns(path: str | None, text: str | None, label: str | None, pair: str | None,
                       fold: bool, model: str, task: str, separator: str, columns: list[str] | None,
                       empty: str, sheet: str | None, current: DataSelection | None) -> dict:
            if not path:
                return gr.skip()
            label = None if label in (None, NO_PAIR) else label
            columns = chosen_label_columns(columns, current)
            if not text or not (label or columns or detected_label_columns(current)):
                raise DataError("Choose a text column, and a label column or the 0/1 columns of the labels.")
            if text == label:
                raise DataError("The text column and the label column must be different.",
                                "Pick the column with the classes as the label column.")
            second = "" if pair in (None, NO_PAIR) else pair  # "": the person chose no second column
            if second in (text, label):
                raise DataError("The second text column must differ from the text and label columns.",
                                f"Choose another column, or “{NO_PAIR}”.")
            return show(analyse(ctx.tokenizers, path, model, text=text, label=label, pair=second, casefold=fold,
                                labels=label_settings(task, separator, columns, empty), sheet=sheet or None))

        @friendly
        def on_max_length(selection: DataSelection | None, value: float | None, choice: ModelChoice) -> DataSelection:
            if selection is None or value is None:
                return gr.skip()
            wanted = int(value)
            if not MIN_LENGTH <= wanted <= MAX_LENGTH:
                raise DataError(f"The maximum length must be between {MIN_LENGTH} and {MAX_LENGTH} tokens "
                                f"(BERT models cannot read more than {MAX_LENGTH}).")
            updated = typed_length(selection, choice, wanted)
            return updated if updated is not None else gr.skip()

        @friendly
        def on_lengths(selection: DataSelection | None, choice: ModelChoice) -> dict:
            """The length views for the data and the Model tab's settings: what the engine's plan reads."""
            if selection is None:
                return {length_use_md: ""}
            use = length_in_use(selection, choice)
            back = automatic_length(selection, choice) if selection.max_length_set else None
            return {max_len: gr.Number(value=length_shown(selection, use), info=advice.length_box_info(use)),
                    use_suggested: gr.Button(f"Use {back}", visible=back is not None),
                    length_plot: length_chart(selection, use), preview: preview_table(ctx.tokenizers, selection, use),
                    length_use_md: advice.length_in_use_markdown(use) if use is not None else ""}

        @friendly
        def on_model(selection: DataSelection | None, model: str) -> dict:
            if selection is None or selection.model == model:
                return gr.skip()
            return show(analyse(ctx.tokenizers, selection.path, model, text=selection.text_column,
                                label=selection.label_column, pair=selection.text_pair_column,
                                casefold=selection.casefold_labels,
                                labels=label_settings(selection.task, selection.label_separator,
                                                      selection.label_columns, selection.empty_labels),
                                sheet=selection.sheet))

        @friendly
        def on_restore(workspace: Workspace | None, model: str) -> dict:
            """A reloaded page: the workspace (from the visitor's own cookie) still holds the file and the
            choices, so the tab shows them again; nothing to restore, or the file gone: the tab stays empty."""
            recalled = recall_data(workspace) if workspace is not None else None
            if recalled is None:
                return gr.skip()
            path, choice = recalled
            if choice.text_column is None:  # loaded, but its columns were never understood: ask again
                return loaded(str(path), model, path.name, None, choice.sheet)
            try:
                # The upload box comes back empty after a reload: the status line says which file is loaded.
                return {**show(restored(ctx.tokenizers, path, choice, model)),
                        status_md: RESTORED.format(name=path.name)}
            except DataError as err:
                return column_choice_or_refused(str(path), err, choice.sheet)

        def column_choice_or_refused(path: str, err: DataError, sheet: str | None) -> dict:
            try:
                return show_column_choice(path, err, sheet)
            except UserError as unreadable:
                return refused(unreadable, Path(path).name, None)

        def on_data_changed(workspace: Workspace | None, selection: DataSelection | None, path: str | None,
                            sheet: str | None) -> None:
            if workspace is not None:
                remember_data(workspace, path, selection, sheet)

        reading(upload.upload, on_upload, [upload, ctx.workspace, ctx.model, ctx.data], READING_UPLOAD)
        reading(sample.click, on_sample, [ctx.workspace, ctx.model, ctx.data], READING_SAMPLE)
        reading(sheet_dd.input, on_sheet, [ctx.data_file, sheet_dd, ctx.model, ctx.data], READING_SHEET)
        gr.on([text_dd.input, label_dd.input, pair_dd.input, casefold.input, task_dd.input, separator_box.submit,
               label_cols.input, empty_dd.input], on_columns,
              [ctx.data_file, text_dd, label_dd, pair_dd, casefold, ctx.model, task_dd, separator_box, label_cols,
               empty_dd, sheet_dd, ctx.data], shown, trigger_mode="always_last")
        gr.on([max_len.submit, max_len.blur], on_max_length, [ctx.data, max_len, ctx.model_choice], ctx.data,
              trigger_mode="always_last")
        use_suggested.click(lambda s: automatic(s) if s else gr.skip(), ctx.data, ctx.data)
        ctx.model.change(on_model, [ctx.data, ctx.model], shown)
        gr.on([ctx.data.change, ctx.model_choice.change], on_lengths, [ctx.data, ctx.model_choice], length_views,
              trigger_mode="always_last", show_progress="hidden")
        # The sheet too: another sheet whose columns are still to be chosen changes neither the data nor the file.
        gr.on([ctx.data.change, ctx.data_file.change, sheet_dd.change], on_data_changed,
              [ctx.workspace, ctx.data, ctx.data_file, sheet_dd], None, trigger_mode="always_last",
              show_progress="hidden")
        ctx.session_loaded.then(on_restore, [ctx.workspace, ctx.model], [*shown, status_md, upload],
                                show_progress_on=status_md)
