"""The Data tab against the engine: refusals that stay on the page, the label columns of a multi-label file, and
the length box, chart and preview of long texts, all saying what training will read (tester_app #5, #7, #8,
tester_files #15)."""

from __future__ import annotations

import pytest
from helpers import tab_page, write_long_text_csv, write_rows, write_workbook

from bertstudio.data.long_texts import encode_long_texts
from bertstudio.limits import UsageLimits
from bertstudio.ui import data_tab
from bertstudio.ui.common import TokenizerCache
from bertstudio.ui.session import recall_data
from bertstudio.ui.state import ModelChoice, build_config
from bertstudio.ui.views import advice

LABELS = ["billing", "refund", "delivery", "account", "bug"]
ON_CPU = ModelChoice(model="bundled-minilm", settings={"device": "cpu"})


@pytest.fixture(scope="module")
def tokenizers() -> TokenizerCache:
    return TokenizerCache()


@pytest.fixture
def page(tmp_path, tokenizers):
    """The Data tab of a test app with a 200-row limit and a 1 MB upload limit: its handlers by name, its
    components by elem_id, and a visitor's workspace."""
    return tab_page(tmp_path / "data", data_tab.build, tokenizers=tokenizers,
                    limits=UsageLimits(max_rows=200, max_upload_mb=1))


def _table(path, rows: int):
    return write_rows(path, ["text", "label"], [[f"message number {i} about {'ab'[i % 2]}", "ab"[i % 2]]
                                                for i in range(rows)])


def test_a_refused_file_says_why_where_it_stays_and_which_data_is_loaded(page, tmp_path):
    """#5: the row limit's refusal was a toast that faded, leaving "Reading your file…" and an Error badge over
    the previous file's report."""
    ctx, handlers, components, workspace = page
    status, upload = components["data-status"], components["data-upload"]
    first = handlers["on_upload"](str(_table(tmp_path / "small.csv", 120)), workspace, "bundled-minilm", None, None)
    assert first[status] == "" and first[ctx.data].file_name == "small.csv"

    too_many = handlers["on_upload"](str(_table(tmp_path / "rows_300.csv", 300)), workspace, "bundled-minilm",
                                     first[ctx.data], None)  # returned, not raised: no Error badge, no fading toast
    assert too_many[status].startswith("**rows_300.csv was not loaded.** Your data has more than 200 rows; this demo "
                                       "trains on at most 200 (row limit).")  # counted only up to the 201st row
    assert "Still loaded: **small.csv**" in too_many[status]
    assert too_many[upload] is None and ctx.data not in too_many  # the box is emptied; the data stays as it was

    nothing_before = handlers["on_sample"](workspace, "bundled-minilm", None, None)
    assert nothing_before[status].startswith("**The sample data was not loaded.** Your data has 400 rows")
    assert nothing_before[status].endswith("No data is loaded yet.") and nothing_before[ctx.data] is None


def test_archives_reach_the_engine_which_says_what_to_do(page, tmp_path):
    """tester_files #15: a .zip got Gradio's 'Invalid file type'; the engine says what it is and what to do."""
    import zipfile

    ctx, handlers, components, workspace = page
    assert {".zip", ".gz"} <= set(components["data-upload"].file_types)
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("data.csv", "text,label\nhello,a\n")
    shown = handlers["on_upload"](str(archive), workspace, "bundled-minilm", None, None)
    assert shown[components["data-status"]].startswith("**data.zip was not loaded.** 'data.zip' is a zip archive "
                                                       "(1 file: data.csv), not a table. Unzip it")


def test_the_upload_box_states_the_size_limit(page):
    _, _, components, _ = page
    assert "at most 1 MB in this demo" in components["data-upload"].label


def test_labels_from_0_1_columns_are_named_as_such(tmp_path, tokenizers):
    """#8: detection worked, but the report said "labels from billing", the Label column showed billing and the
    0/1 picker was empty."""
    rows = [[f"text {i} about {LABELS[i % 5]} and {LABELS[(i + 2) % 5]}"] + [int(n in (i % 5, (i + 2) % 5))
                                                                           for n in range(5)] for i in range(60)]
    path = write_rows(tmp_path / "cols.csv", ["text", *LABELS], rows)
    selection = data_tab.analyse(tokenizers, str(path), "bundled-minilm")
    assert selection.label_column is None and data_tab.detected_label_columns(selection) == LABELS
    assert "labels from 5 columns (**billing**, **refund**, **delivery**, **account**, **bug**)" in \
        data_tab.report_text(selection)
    config = build_config(selection, ModelChoice())
    assert (config.task, config.label_column, config.label_columns) == ("multi_label", None, LABELS)

    # The picker shows the detected columns; untouched they are not the person's choice (another task or label
    # column lets the engine decide again), a change to them is.
    assert data_tab.chosen_label_columns(LABELS, selection) is None
    assert data_tab.chosen_label_columns(LABELS[:3], selection) == LABELS[:3]
    assert data_tab.chosen_label_columns([], selection) is None


def test_chinese_texts_warn_that_the_chosen_model_does_not_know_them_and_the_measure_is_kept(tmp_path, tokenizers):
    """A tester's Chinese file: the preview was mostly [UNK] and the page said the data looked good."""
    rows = [[f"包裹晚到了{i}天，而且箱子被压坏了。", "ab"[i % 2]] for i in range(40)]
    path = str(write_rows(tmp_path / "zh.csv", ["text", "label"], rows))
    selection = data_tab.analyse(tokenizers, path, "bundled-minilm")
    assert selection.vocabulary.measured_by == "bundled-minilm" and selection.vocabulary.reads_poorly
    assert "unknown_words" in [f.code for f in selection.report.findings]
    assert "Your data looks good" not in data_tab.report_text(selection)
    # Multilingual BERT chosen but not downloaded: the bundled tokenizer measures, and says nothing of it.
    chosen = data_tab.analyse(tokenizers, path, "bert-base-multilingual-cased")
    assert chosen.tokenizer_model == "bundled-minilm" and chosen.vocabulary is not None
    assert "unknown_words" not in [f.code for f in chosen.report.findings]


def test_the_length_views_show_what_the_plan_reads(tmp_path, tokenizers):
    """#7: long texts on a CPU: the box said 512, the chart "cut at 512" and the preview counted tokens dropped
    after 512, while training reads 256 tokens, the first 64 and the last 190."""
    selection = data_tab.analyse(tokenizers, str(write_long_text_csv(tmp_path / "long.csv")), "bundled-minilm")
    use = data_tab.length_in_use(selection, ON_CPU)
    assert selection.max_length > 256 and use.used == 256 and use.kept.strategy == "head_tail"
    assert data_tab.length_shown(selection, use) == 256
    assert f"your texts suggest {selection.max_length}, but training here reads 256" in advice.length_box_info(use)

    chart = data_tab.length_chart(selection, use)
    assert chart.layout.shapes[0].x0 == 256 and chart.layout.annotations[0].text == "cut at 256"
    assert "keep the first 64 and last 190 tokens" in chart.layout.title.text

    tokenizer = tokenizers.get("bundled-minilm")
    text = max((t for t, _, _ in selection.preview), key=len)
    reading = data_tab.read_by_training(tokenizer, text, None, use.kept)
    head, skipped, tail = reading.parts
    trained = tokenizer.convert_ids_to_tokens(encode_long_texts(tokenizer, [text], use.kept)["input_ids"][0])
    assert [*head, *tail] == trained and len(head) == 1 + 64 and len(tail) == 190 + 1  # the engine's own tokens
    assert skipped == reading.length - 256
    preview = data_tab.preview_table(tokenizers, selection, use)
    assert f"{reading.length} (reads 256; {skipped:,} not read)" in list(preview["Tokens"])


def test_the_chart_and_the_box_say_what_each_strategy_does():
    from bertstudio.data.long_texts import LongTexts
    from bertstudio.train.plan import LengthInUse

    assert advice.length_chart_words(LongTexts("head", 128)) == ("cut at", "will be cut")
    assert advice.length_chart_words(LongTexts("tail", 128)) == ("cut at", "keep the last 126 tokens")
    assert advice.length_chart_words(LongTexts("windows", 128)) == ("windows of", "are read in windows")
    lowered = LengthInUse(suggested=512, used=256, kept=LongTexts("head_tail", 256), longer_share=1.0)
    assert "your texts suggest 512, but training here reads 256" in advice.length_box_info(lowered)
    assert "Chosen from your texts" in advice.length_box_info(LengthInUse(128, 128, LongTexts("head", 128), 0.01))
    chosen = LengthInUse(512, 384, LongTexts("head", 384), 0.5, chosen=True)
    assert "type another length" in advice.length_box_info(chosen)


def test_a_typed_length_is_the_persons_even_the_suggestion(tmp_path, tokenizers):
    """The box shows the plan's 256: leaving it unchanged changes nothing; typing the suggested 512 keeps 512 (it
    used to count as "not set", so the CPU lowered it again); "Use 256" goes back to the automatic length."""
    selection = data_tab.analyse(tokenizers, str(write_long_text_csv(tmp_path / "long.csv")), "bundled-minilm")
    assert data_tab.typed_length(selection, ON_CPU, 256) is None
    typed = data_tab.typed_length(selection, ON_CPU, selection.max_length)
    assert typed.max_length_set and data_tab.length_in_use(typed, ON_CPU).used == selection.max_length
    assert data_tab.automatic_length(typed, ON_CPU) == 256
    back = data_tab.automatic(typed)
    assert not back.max_length_set and data_tab.length_in_use(back, ON_CPU).used == 256


def _legend_then_data(path):
    """A workbook opening with a legend of the label codes (one row per code), the data on the second sheet."""
    legend = [("label", "description"), *((f"code{i}", f"What code {i} means") for i in range(12))]
    data = [("text", "label"), *((f"Customer comment number {i} about the order.", "ab"[i % 2]) for i in range(30))]
    return write_workbook(path, {"Legend": legend, "Data": data})


def test_a_workbooks_sheet_is_chosen_in_a_picker_kept_on_reload_and_trained_on(page, tmp_path):
    """The engine passed over a legend sheet with a note, but the app had no way to read another sheet."""
    ctx, handlers, components, workspace = page
    picker = components["data-sheet"]
    shown = handlers["on_upload"](str(_legend_then_data(tmp_path / "book.xlsx")), workspace, "bundled-minilm",
                                  None, None)
    data = shown[ctx.data]
    assert (shown[picker].choices, shown[picker].value, shown[picker].visible) == (
        [("Legend (12 rows)", "Legend"), ("Data (30 rows)", "Data")], "Data", True)
    assert data.sheet == "Data" and not data.has_errors and build_config(data, ON_CPU).sheet == "Data"

    legend = handlers["on_sheet"](data.path, "Legend", "bundled-minilm", data)  # read again, columns guessed again
    chosen = legend[ctx.data]
    assert legend[components["data-status"]] == "" and legend[picker].value == "Legend"
    assert (chosen.sheet, chosen.rows, chosen.text_column, chosen.label_column) == ("Legend", 12, "description",
                                                                                    "label")
    assert chosen.has_errors and "a label that no other row has" in chosen.errors_text
    assert "sheet 'Legend'" in legend[components["data-report"]] and "Training cannot start yet" in \
        legend[components["data-report"]]
    assert build_config(chosen, ON_CPU).sheet == "Legend"  # config.json records it: resume reads the same sheet

    handlers["on_data_changed"](workspace, chosen, chosen.path, "Legend")
    assert recall_data(workspace)[1].sheet == "Legend"
    again = handlers["on_restore"](workspace, "bundled-minilm")  # a reloaded page
    assert again[ctx.data].sheet == "Legend" and again[picker].value == "Legend"
    # The upload box is empty after a reload (a tester saw "Drop File Here" above a loaded file's report).
    assert again[components["data-status"]].startswith("Still loaded from before: **book.xlsx**")
    kept = handlers["on_model"](again[ctx.data], "bert-base-uncased")  # another model measures the same sheet
    assert kept[ctx.data].sheet == "Legend"

    csv = handlers["on_upload"](str(_table(tmp_path / "small.csv", 40)), workspace, "bundled-minilm", chosen, None)
    assert csv[picker].visible is False and csv[ctx.data].sheet is None
    assert build_config(csv[ctx.data], ON_CPU).sheet is None


def test_a_sheet_whose_columns_are_to_be_chosen_is_kept_for_them_and_on_reload(page, tmp_path):
    """A sheet whose labels are not found asks for the columns; choosing them reads that sheet, not the engine's."""
    ctx, handlers, components, workspace = page
    notes = [("note",), *((f"A note written on day {i} of the month.",) for i in range(12))]
    data = [("text", "label"), *((f"Customer comment number {i} about the order.", "ab"[i % 2]) for i in range(30))]
    data_table = [("message", "code", "reply"), *((text, label, f"reply {i}") for i, (text, label) in
                                                  enumerate(data[1:]))]
    book = write_workbook(tmp_path / "book.xlsx", {"Data": data, "Notes": notes, "Other": data_table})
    first = handlers["on_upload"](str(book), workspace, "bundled-minilm", None, None)
    path = first[ctx.data].path
    asked = handlers["on_sheet"](path, "Notes", "bundled-minilm", first[ctx.data])
    assert asked[ctx.data] is None and asked[components["data-sheet"]].value == "Notes"
    assert "sheet 'Notes'" in asked[components["data-report"]]

    handlers["on_data_changed"](workspace, None, path, "Notes")  # columns still to be chosen: the sheet is kept
    assert recall_data(workspace)[1].sheet == "Notes"
    assert handlers["on_restore"](workspace, "bundled-minilm")[components["data-sheet"]].value == "Notes"

    other = handlers["on_columns"](path, "message", "code", data_tab.NO_PAIR, False, "bundled-minilm", "auto", "",
                                   None, "skip", "Other", None)
    assert other[ctx.data].sheet == "Other" and other[ctx.data].text_column == "message"


def test_the_same_file_uploaded_again_keeps_the_columns_chosen_for_it(page, tmp_path):
    """A tester picked the label column by hand, uploaded the (edited) file again, and the guess was back."""
    ctx, handlers, components, workspace = page
    rows = [[f"message number {i} about {'ab'[i % 2]}", "xyz"[i % 3], "ab"[i % 2]] for i in range(60)]
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    path = write_rows(tmp_path / "first" / "tickets.csv", ["text", "label", "owner"], rows)
    first = handlers["on_upload"](str(path), workspace, "bundled-minilm", None, None)
    assert first[ctx.data].label_column == "label"  # the guess, by name
    chosen = handlers["on_columns"](first[ctx.data].path, "text", "owner", data_tab.NO_PAIR, False, "bundled-minilm",
                                    "auto", "", None, "skip", None, first[ctx.data])[ctx.data]
    handlers["on_data_changed"](workspace, chosen, chosen.path, None)

    edited = write_rows(tmp_path / "second" / "tickets.csv", ["text", "label", "owner"], rows + rows[:6])
    again = handlers["on_upload"](str(edited), workspace, "bundled-minilm", chosen, None)
    assert (again[ctx.data].label_column, again[ctx.data].rows) == ("owner", 66)
    assert again[components["data-status"]].startswith("**tickets.csv** again: the columns and settings you chose")
    handlers["on_data_changed"](workspace, again[ctx.data], again[ctx.data].path, None)

    other = write_rows(tmp_path / "other.csv", ["text", "label", "owner"], rows)  # another file: guessed afresh
    fresh = handlers["on_upload"](str(other), workspace, "bundled-minilm", again[ctx.data], None)
    assert fresh[ctx.data].label_column == "label" and fresh[components["data-status"]] == ""
