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


def test_token_preview_table_marks_cut_texts():
    frame = tables.token_preview_table(["a", "b"], [["[CLS]", "hi", "[SEP]"], ["[CLS]", "long", "[SEP]"]],
                                       [3, 40], max_length=32)
    assert frame.iloc[0]["Tokens"] == "3 (fits)"
    assert frame.iloc[1]["Tokens"] == "40 (cut: 8 tokens dropped)"
    assert frame.iloc[0]["What the model reads"] == "[CLS] hi [SEP]"


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
