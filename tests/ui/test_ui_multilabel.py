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
    assert text.startswith("**Several labels per text** (labels joined by “;”)")
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
    assert "subset accuracy): 25.0%" in lines[0] and "with 0.5 for every label: 0.400" in lines[1]
    assert lines[2].startswith("Least reliable probabilities") and "b 20.0 points" in lines[2]
