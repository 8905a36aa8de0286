"""The app's table and text builders: pure functions of engine results."""

from __future__ import annotations


from bertstudio.data.prepare import Finding, ValidationReport
from bertstudio.ui.views import tables

LABELS = ["billing", "delivery", "praise"]


def _report(*findings: Finding) -> ValidationReport:
    return ValidationReport(list(findings), n_rows_in=10, n_rows_kept=9, class_counts={"a": 5, "b": 4})


def test_report_table_lists_errors_first_with_what_to_do():
    report = _report(Finding("info", "x", "Some note."), Finding("error", "y", "Only one class.", "Add a class.", 9))
    frame = tables.report_table(report.findings)
    assert list(frame.columns) == ["Severity", "What we found", "Rows", "What to do"]
    assert frame.iloc[0]["What we found"] == "Only one class."
    assert frame.iloc[0]["What to do"] == "Add a class." and frame.iloc[0]["Rows"] == 9
    assert "Must fix" in frame.iloc[0]["Severity"]
    assert tables.report_table([]).empty


def test_report_markdown_says_whether_training_can_start():
    good = tables.report_markdown("Read 10 rows.", _report(), "text", "label")
    assert "looks good" in good and "**text**" in good and "**label**" in good
    warned = tables.report_markdown("Read.", _report(Finding("warning", "d", "Duplicates.")), "t", "l")
    assert "1 warning" in warned
    blocked = tables.report_markdown("Read.", _report(Finding("error", "e", "Empty.")), "t", "l", "t2")
    assert "cannot start" in blocked and "**t2**" in blocked


def test_report_markdown_names_the_0_1_label_columns():
    """tester_app #8: a multi-label file with one 0/1 column per label named only its first column as the labels."""
    text = tables.report_markdown("Read.", _report(), "text", None,
                                  label_columns=["billing", "refund", "delivery", "account", "bug"])
    assert "labels from 5 columns (**billing**, **refund**, **delivery**, **account**, **bug**)" in text
    assert "labels from **None**" not in text


def test_report_markdown_notes_texts_longer_than_the_model_reads():
    """tester_app #7: 'Your data looks good' with every text cut said so only in a 'Note' row of the findings."""
    long = tables.report_markdown("Read.", _report(), "review", "sentiment", longer_share=1.0, readable=512)
    assert "looks good" in long and "**Note: all your texts are longer than 512 tokens**" in long
    assert "**Note: 40% of your texts" in tables.report_markdown("R.", _report(), "t", "l", longer_share=0.4)
    assert "Note" not in tables.report_markdown("R.", _report(), "t", "l", longer_share=0.05)  # the 5% left out


def test_refusal_says_why_and_which_data_is_loaded():
    """tester_app #5: a refused file's reason stays in the Data tab, saying which data is still loaded."""
    reason = "Your data has 300 rows; this demo trains on at most 200 (row limit). Keep a sample."
    kept = tables.refusal_markdown("rows_300.csv", reason, "ml_190.csv")
    assert kept.startswith("**rows_300.csv was not loaded.** Your data has 300 rows")
    assert "Still loaded: **ml_190.csv**" in kept
    assert tables.refusal_markdown("The sample data", reason, None).endswith("No data is loaded yet.")


def test_upload_label_states_the_size_limit_in_mb():
    assert tables.upload_label(None) == "Your data file"
    assert "at most 1 MB in this demo" in tables.upload_label(1.0)


def test_token_preview_shows_what_training_reads_and_where_it_leaves_tokens_out():
    """tester_app #7: a head + tail cut showed the first tokens only and counted the tokens dropped at 512."""
    fits = tables.TokenReading(3, (["[CLS]", "hi", "[SEP]"], 0))
    head = tables.TokenReading(40, (["[CLS]", *"abcdefghijklmnopqrstuvwxyz123", "[SEP]"], 9))
    head_tail = tables.TokenReading(300, (["[CLS]", *[f"h{i}" for i in range(64)]], 44,
                                          [*[f"t{i}" for i in range(190)], "[SEP]"]))
    windows = tables.TokenReading(900, (["[CLS]", "w", "[SEP]"],), windows=8)
    frame = tables.token_preview_table(["a", "b", "c", "d"], [fits, head, head_tail, windows])
    assert list(frame["Tokens"]) == ["3 (fits)", "40 (reads 31; 9 not read)", "300 (reads 256; 44 not read)",
                                     "900 (read in 8 windows)"]
    reads = list(frame["What the model reads"])
    assert reads[0] == "[CLS] hi [SEP]"
    assert reads[1].endswith("3 [SEP] [… 9 tokens not read …]")
    assert "h28 … (+35 more) [… 44 tokens not read …] (+161 more) … t161" in reads[2]
    assert reads[2].endswith("t189 [SEP]")
    assert len(reads[2].split()) < tables.PREVIEW_TOKENS_SHOWN + 20  # both ends shown, within the same budget
    assert reads[3] == "[CLS] w [SEP] (then 7 more windows)"
    tail = tables.reading_text(tables.TokenReading(200, (["[CLS]"], 100, [*[f"t{i}" for i in range(99)], "[SEP]"])))
    assert tail.startswith("[CLS] [… 100 tokens not read …] (+41 more) … t41") and tail.endswith("t98 [SEP]")


def test_per_class_table_rounds_and_counts():
    metrics = {"per_class": {"a": {"precision": 0.12345, "recall": 1.0, "f1": 0.5, "support": 7}}}
    frame = tables.per_class_table(metrics)
    assert frame.to_dict("records") == [{"Class": "a", "Precision": 0.123, "Recall": 1.0, "F1": 0.5,
                                         "Test texts": 7}]


def test_confusion_table_and_cell_selection_agree():
    frame = tables.confusion_table([[5, 1, 0], [2, 3, 0], [0, 0, 4]], LABELS)
    assert list(frame.columns) == [tables.CORNER, *LABELS]
    assert frame.iloc[1]["billing"] == 2  # true delivery, predicted billing
    assert tables.cell_from_selection([1, 1], LABELS) == ("delivery", "billing")
    assert tables.cell_from_selection([2, 3], LABELS) == ("praise", "praise")
    assert tables.cell_from_selection([1, 0], LABELS) is None  # the row-name column is not a cell
    assert tables.cell_from_selection([5, 1], LABELS) is None
    assert tables.cell_from_selection(None, LABELS) is None


def test_browser_caption_describes_the_filter():
    chosen = tables.ErrorQuery("delivery", "billing", only_mistakes=True, search="late")
    text = tables.browser_caption(1, 1, 5, chosen)
    assert text.startswith("1 of 5 test texts match")
    assert "true class **delivery**" in text and "predicted **billing**" in text and "“late”" in text
    assert "showing the first 200" in tables.browser_caption(200, 900, 1000, tables.ErrorQuery())
    assert "all test texts" in tables.browser_caption(5, 5, 5, tables.ErrorQuery())


def test_variants_table_words_availability():
    frame = tables.variants_table([tables.VariantRow("MiniLM", 22.7, 6, "fastest", "bundled"),
                                   tables.VariantRow("BERT", 110, 12, "medium", "download")])
    assert frame["Parameters"].tolist() == ["22.7M", "110M"]
    assert "offline" in frame.iloc[0]["Availability"] and "download" in frame.iloc[1]["Availability"]


def test_the_long_texts_note_never_promises_a_text_read_whole():
    """Windows read at most max_windows windows (8 of 64 tokens cover ~5% of a 10,000-token text); the note said
    training keeps 'all of it in windows'."""
    note = tables.long_texts_note(0.3, 256)
    assert "30% of your texts are longer than 256 tokens" in note and "all of it" not in note
