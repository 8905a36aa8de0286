"""The Evaluate tab: its pure builders (charts, tables, sentences) and its handlers on a tiny trained run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from bertstudio.data.findings import Finding
from bertstudio.errors import DataError, UserError
from bertstudio.evaluation.baselines import BaselineResult
from bertstudio.evaluation.errors_table import error_table
from bertstudio.jobs import BASELINES, EVALUATE_FILE, LABEL_NOISE
from bertstudio.limits import LimitExceeded, UsageLimits
from bertstudio.ui import evaluate_tab as ev
from bertstudio.ui.session import SessionStore
from bertstudio.ui.views import charts, tables

LABELS = ["billing", "delivery", "praise"]
WORDS = {"billing": "invoice refund charge payment", "delivery": "parcel courier late shipping",
         "praise": "great lovely wonderful thanks"}


def _bin(lower, upper, count, confidence, accuracy):
    return {"lower": lower, "upper": upper, "count": count, "confidence": confidence, "accuracy": accuracy}


BEFORE = {"ece": 0.12, "rows": 50, "bins": [_bin(0.0, 0.5, 0, None, None), _bin(0.5, 0.75, 10, 0.6, 0.4),
                                            _bin(0.75, 1.0, 40, 0.95, 0.8)]}
AFTER = {"ece": 0.03, "rows": 50, "bins": [_bin(0.0, 0.5, 0, None, None), _bin(0.5, 0.75, 20, 0.62, 0.6),
                                           _bin(0.75, 1.0, 30, 0.85, 0.83)]}


def evaluation(**extra) -> dict:
    base = {"rows": 50, "accuracy": 0.76, "macro_f1": 0.7, "micro_f1": 0.76, "weighted_f1": 0.75, "log_loss": 0.61,
            "ece": 0.12, "ece_calibrated": 0.03, "temperature": 1.6, "reliability": BEFORE,
            "reliability_calibrated": AFTER, "labels": LABELS, "confusion_matrix": [[3, 1, 0], [0, 4, 0], [1, 0, 1]]}
    return {**base, **extra}


def errors_frame() -> pd.DataFrame:
    probs = [[0.9, 0.05, 0.05], [0.1, 0.85, 0.05], [0.55, 0.4, 0.05], [0.45, 0.5, 0.05], [0.05, 0.15, 0.8]]
    texts = ["refund please", "parcel late", "invoice wrong", "charge twice", "lovely thanks"]
    return error_table(texts, ["billing", "delivery", "billing", "billing", "delivery"], probs, LABELS)


# --- charts ------------------------------------------------------------------------------------------


def test_reliability_chart_draws_filled_bins_against_the_diagonal():
    fig = charts.reliability_chart(BEFORE, AFTER, temperature=1.6)
    diagonal, before, after = fig.data
    assert list(diagonal.x) == [0, 1] and list(diagonal.y) == [0, 1]
    assert list(before.y) == [0.4, 0.8] and list(after.y) == [0.6, 0.83]  # empty bins are left out
    assert "1.60" in after.name
    assert before.x[0] < 0.625 < after.x[0]  # the two series stand side by side around the bin centre
    assert "right %{y:.0%}" in before.hovertemplate


def test_reliability_chart_without_calibration_has_one_series():
    fig = charts.reliability_chart(BEFORE, AFTER, temperature=1.0)
    assert [t.name for t in fig.data] == ["perfectly calibrated", "the model (no calibration)"]


def test_reliability_chart_keeps_its_legend_clear_of_its_title():
    """With the 'after calibration' series the legend, above the plot, ran into the title."""
    fig = charts.reliability_chart(BEFORE, AFTER, temperature=1.6)
    assert fig.layout.legend.y < 0 and fig.layout.legend.yanchor == "top"  # under the plot
    assert fig.layout.title.text.count("<br>") == 1 and fig.layout.margin.t >= 70


def test_reliability_chart_asks_and_answers_with_the_engines_verdict():
    """'Can its confidence be trusted? Bars on the dashed line: yes' read as a verdict, 'yes', over bars far off the
    line."""
    unanswered = charts.reliability_chart(BEFORE).layout.title.text
    assert unanswered == f"<b>Can its confidence be trusted?</b><br>{charts.HOW_TO_READ_BARS}"
    assert "yes" not in unanswered.lower()
    over = {"kind": "over_confident", "ece": 0.14, "chance_ece": 0.05, "rows": 400}
    assert charts.reliability_chart(BEFORE, verdict=over).layout.title.text.endswith(
        "<br>Not fully: 14 points over-confident on average")
    trusted = {"kind": "trusted", "ece": 0.03, "chance_ece": 0.05, "rows": 400}
    assert charts.reliability_chart(BEFORE, AFTER, temperature=1.6, verdict=trusted).layout.title.text.endswith(
        "<br>After calibration, yes: off by 3 points, within chance")
    few = {"kind": "too_few", "ece": 0.3, "chance_ece": 0.11, "rows": 30}
    assert charts.confidence_answer(few) == "Too few texts (30) to tell: chance alone moves bars 11 points"




# --- tables ------------------------------------------------------------------------------------------


def test_confusion_share_table_keeps_the_layout_that_cell_clicks_read():
    frame = tables.confusion_share_table([[3, 1], [1, 2]], ["a", "b"])
    assert frame.iloc[0].tolist() == ["a", "75%", "25%"]
    assert frame.iloc[1].tolist() == ["b", "33.3%", "66.7%"]
    assert tables.cell_from_selection([1, 1], ["a", "b"]) == ("b", "a")


def test_confusion_heatmap_is_the_clickable_table_coloured_by_share_of_the_true_class():
    counts = tables.confusion_heatmap([[8, 2], [0, 0]], ["a", "b"])
    assert counts.data.iloc[0].tolist() == ["a", 8, 2]  # the layout cell_from_selection reads
    assert counts.data.iloc[1].tolist() == ["b", 0, 0]  # an empty row does not divide by zero
    styles = counts._compute().ctx  # {(row, column): [(css property, value)]}, what gr.Dataframe draws
    dark, light, empty = dict(styles[(0, 1)]), dict(styles[(0, 2)]), dict(styles[(1, 1)])
    assert dark["background-color"] == "rgb(56, 89, 137)" and dark["color"] == "#ffffff"
    assert light["color"] == "#111827" and empty["background-color"] == "rgb(247, 251, 255)"
    shares = tables.confusion_heatmap([[3, 1], [1, 2]], ["a", "b"], shares=True)
    assert shares.data.iloc[0].tolist() == ["a", "75%", "25%"]
    assert dict(shares._compute().ctx[(0, 1)]) == dict(tables.confusion_heatmap([[3, 1], [1, 2]], ["a", "b"])
                                                       ._compute().ctx[(0, 1)])  # same colours either way


def test_heat_style_goes_from_light_to_dark_with_readable_text():
    assert tables.heat_style(0.0).startswith("background-color: rgb(247, 251, 255); color: #111827")
    assert tables.heat_style(1.0).startswith("background-color: rgb(8, 48, 107); color: #ffffff")
    assert tables.heat_style(2.0) == tables.heat_style(1.0)  # clamped
    assert tables.row_shares([[3, 1], [0, 0]]) == [[0.75, 0.25], [0.0, 0.0]]


def test_query_errors_filters_by_tag_class_and_mistakes_and_sorts():
    table = errors_frame()
    assert tables.tag_choices({"near miss": 2, "right-but-unsure": 1})[1] == (
        "Near miss (right answer was its second choice): 2", "near miss")
    near = tables.query_errors(table, tables.ErrorQuery(tag="near miss"))
    assert set(near["text"]) == {"charge twice", "lovely thanks"}
    wrong_billing = tables.query_errors(table, tables.ErrorQuery(true_label="billing", only_mistakes=True))
    assert wrong_billing["text"].tolist() == ["charge twice"]
    by_margin = tables.query_errors(table, tables.ErrorQuery(sort="Closest calls first (smallest margin)"))
    assert by_margin["text"].iloc[0] == "charge twice"  # 0.50 vs 0.45: the closest call
    searched = tables.query_errors(table, tables.ErrorQuery(search=" PARCEL "))
    assert searched["text"].tolist() == ["parcel late"]
    original = tables.query_errors(table, tables.ErrorQuery(sort="Original order"))
    assert original["row"].tolist() == [0, 1, 2, 3, 4]


def test_error_browser_view_names_the_new_columns_and_keeps_true_class_second():
    view = tables.error_browser_view(errors_frame(), limit=3)
    assert list(view.columns) == ["Text", "True class", "Predicted", "Right?", "Confidence", "Lead over 2nd choice",
                                  "Loss", "Uncertainty", "Tags"]
    assert len(view) == 3 and view["Right?"].tolist() == ["yes", "yes", "yes"]
    assert view["Confidence"].iloc[0] == 0.9


def test_error_caption_names_the_tag():
    caption = tables.error_caption(2, 2, 5, tables.ErrorQuery(tag="near miss"))
    assert caption == "2 of 5 test texts match: tagged **near miss**."
    both = tables.error_caption(1, 1, 5, tables.ErrorQuery(true_label="billing", tag="confident-and-wrong"))
    assert both == "1 of 5 test texts match: tagged **confident and wrong**, true class **billing**."
    assert tables.error_caption(5, 5, 5, tables.ErrorQuery()).endswith("all test texts.")


def test_label_noise_baseline_and_shift_tables():
    noise = pd.DataFrame({"rank": [1], "row": [7], "text": ["refund"], "given_label": ["praise"],
                          "suspected_label": ["billing"], "confidence": [0.913], "given_label_prob": [0.02]})
    assert tables.label_noise_table(noise).iloc[0].tolist() == ["refund", "praise", "billing", "91%"]

    baselines = [BaselineResult("TF-IDF + logistic regression", 0.8, 0.75, 40, 10, 0.2, "words"),
                 {"name": "Frozen + LR", "accuracy": 0.9, "macro_f1": 0.88, "seconds": 3.0}]
    frame = tables.baselines_table(0.91, 0.93, baselines, model_seconds=42)
    assert frame["Model"].tolist() == [tables.FINE_TUNED, "TF-IDF + logistic regression", "Frozen + LR"]
    assert frame["Macro-F1"].tolist() == ["91.0%", "75.0%", "88.0%"] and frame["Training time"].iloc[0] == "42 s"

    shift = tables.shift_table(evaluation(), evaluation(rows=20, macro_f1=0.5, log_loss=None), "other.csv")
    assert shift.columns.tolist() == ["Measure", "Test texts", "other.csv"]
    assert shift.set_index("Measure").loc["Macro-F1"].tolist() == ["70.0%", "50.0%"]
    assert shift.set_index("Measure").loc["Log loss", "other.csv"] == "–"


# --- sentences ---------------------------------------------------------------------------------------


def test_calibration_sentence_says_how_far_confidence_can_be_trusted():
    text = ev.calibration_sentence(evaluation())
    assert "about 95% sure (40 of the 50 test texts), it is right 80% of the time" in text
    assert "temperature 1.60" in text and "shrank from 12.0 to 3.0 percentage points" in text

    worse = ev.calibration_sentence(evaluation(ece_calibrated=0.2))
    assert "went from 12.0 to 20.0 percentage points" in worse and "did not help" in worse
    kept = ev.calibration_sentence(evaluation(temperature=1.0, calibration={"note": "No mistakes to learn from."}))
    assert "no calibration was applied. No mistakes to learn from." in kept


def test_calibration_sentence_starts_with_the_engines_verdict():
    """'Right 100% of the time' on 17 of 30 texts read as proof; the verdict says first what so few can show."""
    verdict = {"kind": "too_few", "ece": 0.1, "chance_ece": 0.11, "rows": 30,
               "sentence": "Too few test texts to tell (30): ..."}
    kept = ev.calibration_sentence(evaluation(temperature=1.0, confidence_verdict=verdict))
    assert kept.startswith("Too few test texts to tell (30): ... When the model says it is about 95% sure")
    assert kept.endswith("No calibration was applied.") and "off by" not in kept


def test_baseline_sentence_is_honest_both_ways():
    tfidf = {"name": "TF-IDF", "macro_f1": 0.80}
    assert ev.baseline_sentence(0.85, [tfidf]) == "Fine-tuning beat the best simple baseline (TF-IDF): its macro-F1 " \
                                                  "is 5.0 percentage points higher."
    assert ev.baseline_sentence(0.70, [tfidf]).startswith("The simple baseline TF-IDF beat the fine-tuned model: its "
                                                          "macro-F1 is 10.0 percentage points higher.")
    assert "about the same" in ev.baseline_sentence(0.805, [tfidf])


def test_shift_markdown_says_first_how_the_file_was_read():
    """evaluate --data's reading notes (another text column, labels read in the model's spelling) reached the
    command line and eval-*.json but not the Evaluate tab."""
    outcome = ev.ShiftOutcome("other.csv", {"macro_f1": 0.6, "notes": ["Read 'Billing' as 'billing'."]})
    text = ev.shift_markdown({"macro_f1": 0.6}, outcome)
    assert text.startswith("Read 'Billing' as 'billing'.\n\nOn **other.csv** macro-F1")


def test_shift_markdown_compares_with_the_test_texts():
    lower = ev.ShiftOutcome("shop2.csv", {"macro_f1": 0.5})
    assert "20.0 percentage points lower than on the test texts" in ev.shift_markdown({"macro_f1": 0.7}, lower)
    assert "about the same" in ev.shift_markdown({"macro_f1": 0.505}, lower)
    assert "Note" not in ev.shift_markdown({"macro_f1": 0.7}, lower)


def test_what_the_scores_leave_out_is_said_as_the_command_says_it():
    """`bertstudio evaluate` named a class without rows and a blend's fine-tuned model alone; the tab did not."""
    missing = {"macro_f1": 0.76, "left_out": ["Sports"], "left_out_predicted": {"Sports": 2}}
    text = ev.shift_markdown({"macro_f1": 0.8}, ev.ShiftOutcome("nosports.csv", missing))
    assert "\n\n**Note:** No rows here belong to 'Sports', so macro-F1 averages the other classes" in text
    assert "predicted 'Sports' for 2 rows" in text
    blended = {"fine_tuned_alone": {"macro_f1": 0.68, "accuracy": 0.7}}
    assert ev.scoring_notes(blended) == [
        "These scores are the run's final model, the fine-tuned model blended with the simple word-count model. "
        "The fine-tuned model alone scores macro-F1 68.0% and accuracy 70.0% on the same texts."]
    assert ev.scoring_notes({"macro_f1": 0.9}) == []


# --- background work ---------------------------------------------------------------------------------


@pytest.fixture
def jobs():
    from bertstudio.jobs import JobRegistry

    return JobRegistry()


def follow(job) -> Iterator[dict]:
    return ev.follow_check(job, "status", "Thinking", "seconds", lambda v: {"status": v, "table": "t"},
                           poll_seconds=0.05)


def test_a_check_shows_working_then_its_result(jobs, tmp_path):
    workspace = SessionStore(tmp_path).open(None)
    release = threading.Event()
    job = ev.start_check(jobs, workspace, LABEL_NOISE, lambda: release.wait(30) and "ok")
    assert jobs.latest(workspace.id, LABEL_NOISE) is job  # the app's registry holds it, per workspace
    updates = follow(job)
    first, second = next(updates), next(updates)
    assert first == {"status": "Thinking… 0 s so far (seconds). You can keep using the page meanwhile."}
    assert list(second) == ["status"] and second["status"].startswith("Thinking…")
    release.set()
    assert list(updates)[-1] == {"status": "ok", "table": "t"}


def test_a_failed_check_is_a_readable_warning_never_a_traceback(jobs, tmp_path):
    workspace = SessionStore(tmp_path).open(None)

    def broken():
        raise DataError("No rows.", "Add rows.")

    with pytest.warns(UserWarning):  # outside a Gradio request gr.Warning becomes a Python warning
        failed = list(follow(ev.start_check(jobs, workspace, BASELINES, broken)))[-1]
    assert failed == {"status": "**Please check:** No rows. Add rows."}
    with pytest.warns(UserWarning):
        bug = list(follow(ev.start_check(jobs, workspace, BASELINES, lambda: 1 / 0)))[-1]
    assert "unexpected error: ZeroDivisionError" in bug["status"] and "Traceback" not in bug["status"]
    with pytest.raises(UserError, match="still starting up"):  # no workspace yet: refused before any job
        ev.start_check(jobs, None, BASELINES, lambda: 1)


# --- handlers on a tiny trained run ---------------------------------------------------------------


def write_csv(path: Path, per_class: int, flipped: int = 0) -> Path:
    rows = ["text,label"]
    for i in range(per_class):
        for n, (label, vocab) in enumerate(WORDS.items()):
            w = vocab.split()
            given = LABELS[(n + 1) % 3] if i < flipped else label  # a few deliberately wrong labels
            rows.append(f"\"{w[i % 4]} {w[(i + 1) % 4]} number {i}\",{given}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_bert_dir):
    """A workspace holding one finished run of a tiny random-weight BERT."""
    from bertstudio.config import config_from_preset
    from bertstudio.train.pipeline import train

    folder = tmp_path_factory.mktemp("ui-evaluate")
    workspace = SessionStore(folder / "data").open(None)
    data = write_csv(folder / "train.csv", 30, flipped=2)
    run_dir = workspace.runs / "20250101-000000-tiny"
    train(config_from_preset(data=str(data), model=str(tiny_bert_dir), max_steps=3, max_length=32,
                             precision="fp32", output_dir=str(run_dir)))
    return workspace, str(run_dir)


def test_open_run_builds_every_view(tiny_run):
    workspace, run_dir = tiny_run
    view = ev.load_run(workspace, run_dir)
    assert view.evaluation is not None and view.labels == LABELS
    assert {"entropy", "margin", "tags"} <= set(view.errors.columns)
    headline = ev.headline_markdown(view)
    assert headline.startswith("## Macro-F1") and "Macro-F1 is the number to watch" in headline
    assert "log loss" in headline and "Can you trust its confidence?" in headline
    assert ev.confusion_view(view, ev.SHARES).data.iloc[0, 1].endswith("%")
    counts = ev.confusion_view(view, ev.COUNTS).data
    assert int(counts.iloc[:, 1:].to_numpy().sum()) == len(view.errors)
    assert ev.reliability_figure(view).data[0].name == "perfectly calibrated"
    rows, caption = ev.browse_rows(view, tables.ErrorQuery(true_label="praise"))
    assert set(rows["True class"]) <= {"praise"} and "true class **praise**" in caption
    assert ev.saved_label_noise(workspace, run_dir) is None


def test_label_noise_baselines_and_another_file(tiny_run, tmp_path):
    workspace, run_dir = tiny_run
    outcome = ev.find_label_noise(workspace, run_dir)
    assert outcome.csv_path.is_file() and workspace.owns(outcome.csv_path)
    assert "training rows look mislabeled" in outcome.summary
    assert ev.noise_markdown(outcome)
    again = ev.saved_label_noise(workspace, run_dir)  # survives a page reload
    assert again is not None and len(again.table) == len(outcome.table)

    report = ev.compare_baselines(workspace, run_dir)
    assert len(report.baselines) == 2 and report.baselines[0].name == "TF-IDF + logistic regression"
    text, table = ev.baselines_markdown_and_table(report.metrics["macro_f1"], report.metrics["accuracy"],
                                                  report.baselines, 10.0)
    assert len(table) == 3 and ("baseline" in text)
    stand_in = Finding("info", "encoder_stands_in", "The run's base model could not load: the bundled encoder stood in.")
    text, _ = ev.baselines_markdown_and_table(0.8, 0.8, report.baselines, 10.0,
                                              [stand_in, Finding("info", "other", "not about baselines")])
    assert "the bundled encoder stood in" in text and "not about baselines" not in text

    other = write_csv(tmp_path / "shop2.csv", 4)
    shifted = ev.evaluate_on_file(workspace, run_dir, str(other))
    assert shifted.file_name == "shop2.csv" and shifted.evaluation["rows"] == 12
    assert "On **shop2.csv** macro-F1" in ev.shift_markdown(ev.load_run(workspace, run_dir).metrics, shifted)
    # On a shared app the file is kept within the limits, as the Data tab's upload is (it skipped them).
    with pytest.raises(LimitExceeded, match=r"upload size limit"):
        ev.evaluate_on_file(workspace, run_dir, str(write_csv(tmp_path / "big.csv", 400)),
                            UsageLimits(max_upload_mb=0.001))


def test_handlers_refuse_plainly(tiny_run, tmp_path, jobs):
    workspace, run_dir = tiny_run
    with pytest.raises(UserError, match="No trained model is selected"):
        ev.compare_baselines(workspace, None)
    with pytest.raises(DataError, match="No file is uploaded"):
        ev.evaluate_on_file(workspace, run_dir, None)
    stranger = SessionStore(tmp_path).open(None)
    with pytest.raises(UserError, match="does not belong"):
        ev.find_label_noise(stranger, run_dir)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("text,label\nhello there,spam\nanother text,spam\n", encoding="utf-8")
    job = ev.start_check(jobs, workspace, EVALUATE_FILE, lambda: ev.evaluate_on_file(workspace, run_dir, str(unknown)))
    assert job.wait(60)
    problem = job.outcome.text()
    assert "never trained on" in problem and "'spam'" in problem


def test_the_tab_builds_inside_the_app(tmp_path):
    from bertstudio.ui.app import build_app

    demo = build_app(tmp_path)
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"reliability-chart", "confusion-mode", "filter-tag", "find-noise", "run-baselines", "shift-upload"} <= ids


# --- what to know before trusting the scores ---------------------------------------------------------------------


def stuck_evaluation(**extra) -> dict:
    """A 95/5 run that calls every test text 'positive'."""
    return evaluation(labels=["negative", "positive"], confusion_matrix=[[0, 2], [0, 28]], rows=30, accuracy=0.933,
                      macro_f1=0.483, **extra)


def stuck_view(evaluation_figures: dict) -> ev.RunView:
    from bertstudio.results import Summary

    summary = Summary(accuracy=0.933, macro_f1=0.483, evaluated_on="test", model="Tiny", device="CPU",
                      metrics={"confusion_matrix": [[0, 2], [0, 28]], "labels": ["negative", "positive"]})
    return ev.RunView("runs/x", summary, evaluation_figures, pd.DataFrame())


def test_the_headline_says_first_that_the_model_never_predicts_a_class():
    """A tester read 'macro-F1 is 48.3% and accuracy 93.3%' and a recall of 0 further down, and nothing plain."""
    headline = ev.headline_markdown(stuck_view(stuck_evaluation()))
    title, warning, rough = headline.split("\n\n")[:3]
    assert title.startswith("## Macro-F1 48.3%")
    assert warning.startswith("> **Warning:** The model labels every one of the 30 test texts 'positive'; it never "
                              "predicts 'negative' (0 of 2 found)")
    assert "\n>\n> **What to do:** Give it more examples of 'negative'" in warning
    assert rough.startswith("> **Warning:** Scores on only 30 test texts are rough: one text more or less right "
                            "changes accuracy by 3 points")


def test_the_headline_shows_the_findings_saved_in_eval_json():
    saved = [{"level": "warning", "code": "rough_scores", "message": "Saved words.", "hint": None, "count": 30}]
    headline = ev.headline_markdown(stuck_view(stuck_evaluation(findings=saved)))
    assert headline.split("\n\n")[1] == "> **Warning:** Saved words." and "'positive'" not in headline


def test_another_file_says_when_the_model_never_predicts_a_class_on_it():
    outcome = ev.ShiftOutcome("shop2.csv", stuck_evaluation(evaluated_on="file: shop2.csv"))
    text = ev.shift_markdown({"macro_f1": 0.7}, outcome)
    assert "\n\n> **Warning:** The model labels every one of the 30 texts of shop2.csv 'positive'" in text
