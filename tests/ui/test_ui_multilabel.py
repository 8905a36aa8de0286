"""Multi-label in the app: the Data tab's reading of the labels, the config it hands to training, the answers."""

from __future__ import annotations

from helpers import write_multilabel_csv

from bertstudio.data.multilabel import LabelSettings
from bertstudio.ui.state import ModelChoice, build_config
from bertstudio.ui.views import multilabel as views


def test_data_tab_reads_label_sets_and_training_gets_the_same_layout(tmp_path):
    from bertstudio.ui.common import TokenizerCache
    from bertstudio.ui.data_tab import analyse, label_settings, preview_table

    path = write_multilabel_csv(tmp_path / "tags.csv", separator="|")
    tokenizers = TokenizerCache()
    selection = analyse(tokenizers, str(path), "bundled-minilm")
    assert selection.multilabel.separator == "|" and selection.class_counts == {"anger": 45, "fear": 45, "joy": 45}
    assert selection.preview[1][2] == "anger; fear"  # the preview names every label of the row
    assert len(preview_table(tokenizers, selection)) == len(selection.preview)
    config = build_config(selection, ModelChoice())
    assert (config.task, config.label_separator, config.label_columns) == ("multi_label", "|", None)
    single = analyse(tokenizers, str(path), "bundled-minilm", labels=label_settings("single_label", "", [], "skip"))
    assert single.multilabel is None and build_config(single, ModelChoice()).task == "single_label"
    assert label_settings("auto", " ; ", None, None) == LabelSettings(separator=";")


def test_label_report_markdown(tmp_path):
    from bertstudio.data.inspect import read_and_prepare

    _, _, prepared = read_and_prepare(str(write_multilabel_csv(tmp_path / "tags.csv")))
    text = views.multilabel_markdown(prepared.multilabel)
    assert text.startswith("**Several labels per text** (labels joined by ';')")
    assert "1 label: 45 texts (50%), 2 labels: 45 texts (50%)" in text and "| anger + joy | 15 |" in text
    assert views.multilabel_markdown(None).startswith("**One label per text.**")


def test_label_set_answer():
    names, probs, thresholds = ["anger", "fear", "joy"], [0.7, 0.2, 0.55], [0.5, 0.4, 0.5]
    answer = views.label_set_markdown(["anger", "joy"], names, probs, thresholds)
    assert answer.startswith("### Predicted: anger, joy") and "**joy** (55%, threshold 50%)" in answer
    none = views.label_set_markdown([], names, [0.1, 0.3, 0.2], thresholds)
    assert "no label" in none and "closest is **fear** at 30% (needs 40%)" in none


def test_evaluation_lines_only_for_multilabel_runs():
    assert views.evaluation_lines({"macro_f1": 0.5}) == []
    lines = views.evaluation_lines({"task": "multi_label", "accuracy": 0.25, "hamming_loss": 0.1,
                                    "label_ranking_average_precision": 0.8, "macro_f1": 0.5,
                                    "at_threshold_0_5": {"macro_f1": 0.4},
                                    "threshold_choice": {"note": "Tuned on 20 rows."},
                                    "calibration_per_label": {"per_label": {"a": 0.02, "b": 0.2}}})
    assert "subset accuracy): 25.0%" in lines[0] and "with 0.5 for every label: 40.0%" in lines[1]
    assert lines[2].startswith("Least reliable probabilities") and "b 20.0 points" in lines[2]


# --------------------------------------------------------------------------- the Evaluate tab for a multi-label run


def multilabel_evaluation() -> dict:
    """eval.json of a multi-label run as the engine writes it."""
    import numpy as np

    from bertstudio.evaluation.multilabel_metrics import multilabel_metrics, per_label_calibration

    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    p = np.array([[0.9, 0.2, 0.4], [0.1, 0.8, 0.7], [0.6, 0.3, 0.1], [0.2, 0.1, 0.05]])
    names = ["anger", "fear", "joy"]
    calibration = per_label_calibration(y, p, names)
    return {**multilabel_metrics(y, p, names, [0.5, 0.5, 0.35]), "calibration_per_label": calibration,
            "ece": calibration["ece"]}


def test_per_label_table_is_the_main_view():
    table = views.per_label_table(multilabel_evaluation())
    assert list(table.columns) == views.PER_LABEL_COLUMNS
    joy = table.set_index("Label").loc["joy"]
    # joy: one text has it (row 0, p 0.4 >= 0.35: found), row 1 gets it at 0.7 without having it.
    assert (joy["Precision"], joy["Recall"], joy["Test texts with it"], joy["Threshold"]) == (0.5, 1.0, 1, 0.35)
    assert joy["Calibration error (points)"] > 0


def test_each_label_gets_its_own_two_by_two():
    table = views.label_outcomes_table(multilabel_evaluation()).set_index("Label")
    assert table.loc["joy"].tolist() == [1, 0, 1, 2]  # found, missed, extra, neither
    assert (table.sum(axis=1) == 4).all()  # every test text in one cell of each label
    assert views.label_outcomes_table({"per_class": {"a": {"precision": 1, "recall": 1, "f1": 1,
                                                           "support": 1}}}).empty  # evaluated before the counts


def test_reliability_chart_pools_every_label_probability():
    evaluation = multilabel_evaluation()
    fig = views.reliability_figure(evaluation)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 1 and sum(c for _, c in bars[0].customdata) == 12  # 4 texts x 3 labels
    assert "label decisions" in bars[0].hovertemplate and fig.layout.title.text == views.RELIABILITY_TITLE
    old = views.reliability_figure({"task": "multi_label", "calibration_per_label": {"per_label": {}}})
    assert old.layout.annotations[0].text == views.NO_RELIABILITY


def test_calibration_sentence_speaks_of_label_decisions():
    text = views.calibration_sentence(multilabel_evaluation())
    assert "of the 12 label decisions" in text and "no calibration is applied" in text
    assert "percentage points" in text


def test_evaluate_tab_shows_a_multilabel_run_by_its_labels(multilabel_run):
    from bertstudio.evaluation.report import read_eval
    from bertstudio.evaluation.run import load_run_error_table
    from bertstudio.results import Summary
    from bertstudio.runs import RunFolder
    from bertstudio.ui import evaluate_tab as ev

    summary = Summary.read(RunFolder(multilabel_run).summary)
    view = ev.RunView(str(multilabel_run), summary, read_eval(multilabel_run), load_run_error_table(multilabel_run),
                      summary.label_names)
    assert view.multi_label
    per_label = ev.per_class_view(view)
    assert per_label["Label"].tolist() == ["anger", "fear", "joy"] and per_label["Threshold"].notna().all()
    outcomes = ev.confusion_view(view, ev.COUNTS)
    assert (outcomes[views.OUTCOME_COLUMNS[1:]].sum(axis=1) == view.evaluation["rows"]).all()
    assert [t for t in ev.reliability_figure(view).data if t.type == "bar"]  # a chart, not "no figures"
    headline = ev.headline_markdown(view)
    assert "label decisions" in headline and "nan" not in headline
    assert headline.startswith("## Macro-F1") and "· Exact match " in headline.splitlines()[0]  # not "Accuracy"


def test_the_train_tab_says_what_each_multilabel_figure_counts():
    from bertstudio.events import Finished
    from bertstudio.results import Summary, ValidationScores
    from bertstudio.ui.views.progress import TrainProgress, fold_events, outcome_markdown

    def outcome(metrics: dict, stopped: bool) -> str:
        summary = Summary(validation=ValidationScores(macro_f1=0.51), best_step=10, steps=14, stopped_early=stopped,
                          macro_f1=0.768, accuracy=0.433, metrics=metrics)
        return outcome_markdown(fold_events(TrainProgress(), [Finished(run_dir="runs/x", summary=summary)]))

    for stopped in (True, False):
        text = outcome({"task": "multi_label"}, stopped)
        assert "macro-F1 is **76.8%** with each label decided by its own threshold" in text
        assert "**43.3%** of the texts got every one of their labels right (subset accuracy" in text
        assert "during training decides every label at 0.5" in text and "accuracy **43.3%**" not in text
    assert "macro-F1 is **76.8%** and accuracy **43.3%**." in outcome({}, True)  # one label per text: as before


def test_the_error_browser_speaks_of_label_sets(multilabel_run):
    from bertstudio.evaluation.report import read_eval
    from bertstudio.evaluation.run import load_run_error_table
    from bertstudio.results import Summary
    from bertstudio.runs import RunFolder
    from bertstudio.ui import evaluate_tab as ev
    from bertstudio.ui.views import tables

    summary = Summary.read(RunFolder(multilabel_run).summary)
    view = ev.RunView(str(multilabel_run), summary, read_eval(multilabel_run), load_run_error_table(multilabel_run),
                      summary.label_names)
    shown, caption = ev.browse_rows(view, tables.ErrorQuery())
    assert {"True labels", "Predicted labels", "Least sure decision", "Closest to a threshold"} <= set(shown.columns)
    assert "Lead over 2nd choice" not in shown.columns and "True class" not in shown.columns
    assert views.BROWSER_NOTE in caption
    # A filter on one label finds every text that has it, not only the texts with that label alone.
    with_anger, _ = ev.browse_rows(view, tables.ErrorQuery(true_label="anger"))
    has_anger = view.errors["label"].str.split("; ").apply(lambda names: "anger" in names)
    assert len(with_anger) == has_anger.sum() > (view.errors["label"] == "anger").sum()
    assert all("anger" in labels.split("; ") for labels in with_anger["True labels"])


def test_predict_tab_speaks_of_labels_and_draws_each_threshold():
    from pathlib import Path

    from bertstudio.predict.files import PredictFileResult
    from bertstudio.ui import predict_tab
    from bertstudio.ui.views import charts

    info = {"labels": ["anger", "fear", "joy"], "backend": "torch", "max_length": 64, "thresholds": [0.5, 0.4, 0.5]}
    assert "**3 labels** (a text gets any number of them): anger, fear, joy" in predict_tab.model_markdown(info)
    assert "**3 classes:** anger" in predict_tab.model_markdown({**info, "thresholds": None})
    assert "which class it picks" not in predict_tab.INTRO
    fig = charts.probability_chart(info["labels"], [0.7, 0.45, 0.2], info["thresholds"])
    bars, marks = fig.data
    assert list(bars.y) == ["anger", "fear", "joy"] and list(marks.x) == [0.5, 0.4, 0.5]
    assert bars.marker.color[0] == bars.marker.color[1] != bars.marker.color[2]  # anger and fear reach their marks
    result = PredictFileResult(rows=3, out_path=Path("p.csv"), seconds=1.0, backend="torch",
                               label_counts={"anger": 2, "fear": 1, "joy": 0}, text_column="text", multi_label=True)
    text = predict_tab.file_result_markdown(result, "mail.csv")
    assert "Texts given each label: anger **2**" in text and "the labels it gets" in text
    assert "the predicted label, its confidence" not in text
