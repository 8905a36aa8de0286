"""Pure parts of the export checks: logit comparison, INT8 warnings, the model card text."""

from __future__ import annotations

import numpy as np

from bertstudio.export.card import CardFacts, hub_id_for, model_card
from bertstudio.export.core import fp32_warnings, int8_warnings
from bertstudio.export.parity import compare_logits
from bertstudio.results import ParityReport


def test_compare_logits_measures_drift_agreement_and_metric_change():
    reference = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])
    exported = np.array([[1.9, 0.0], [0.2, 0.1], [1.0, 0.0], [0.0, 3.0]])  # row 1 flips to class 0
    labels = np.array([0, 1, 0, 1])
    report = compare_logits(reference, exported, labels, ["a", "b"], "4 test rows of the run")
    assert report.rows == 4 and report.labelled_rows == 4
    assert np.isclose(report.max_abs_logit_diff, 0.9)
    assert report.label_agreement == 0.75
    assert report.reference_accuracy == 1.0 and report.accuracy == 0.75
    assert report.accuracy_change_points == -25.0 and report.macro_f1_change_points < 0
    assert "labels agree on 75.0% of 4 test rows of the run" in report.describe()  # the rows it ran on, named
    unlabeled = compare_logits(reference, exported, None, ["a", "b"], "given")
    assert unlabeled.accuracy_change_points is None and unlabeled.to_dict()["labelled_rows"] == 0


def test_int8_warns_only_beyond_one_point():
    base = dict(rows=100, source="t", max_abs_logit_diff=0.3, label_agreement=0.98, labelled_rows=100,
                reference_accuracy=0.90, reference_macro_f1=0.90)
    assert int8_warnings(ParityReport(**base, accuracy=0.895, macro_f1=0.892)) == []
    warning = int8_warnings(ParityReport(**base, accuracy=0.87, macro_f1=0.895))
    assert len(warning) == 1 and "loses 3.0 points of accuracy" in warning[0]
    unlabeled = dict(rows=100, source="t", max_abs_logit_diff=0.3)
    assert int8_warnings(ParityReport(**unlabeled, label_agreement=0.995)) == []
    assert "different label" in int8_warnings(ParityReport(**unlabeled, label_agreement=0.9))[0]
    assert fp32_warnings("ONNX", ParityReport(**unlabeled, label_agreement=1.0)) != []
    assert fp32_warnings("ONNX", ParityReport(rows=1, source="t", max_abs_logit_diff=1e-6, label_agreement=1)) == []


def test_model_card_shows_warnings_temperature_and_format_usage():
    facts = CardFacts(label_names=["spam", "ham: yes"], max_length=64, temperature=1.7, text_pair=False,
                      base_model=None, warnings=["The INT8 model loses 2.0 points of accuracy"],
                      checks=["ONNX INT8: 23.1 MB at onnx-int8/model.int8.onnx"])
    card = model_card(facts, "onnx-int8")
    assert card.startswith("---\nlibrary_name: transformers\n") and "base_model" not in card
    assert '- "onnx-int8"' in card
    assert "## Warnings\n\n- The INT8 model loses 2.0 points of accuracy" in card
    assert "temperature 1.700" in card and "model.int8.onnx" in card and "--backend onnx-int8" in card
    assert "Not recorded" in card  # no run data: said plainly, not invented
    assert "Only the first 64 tokens" in card


def test_model_card_says_an_onnx_export_and_a_torchscript_export():
    facts = CardFacts(label_names=["a", "b"], max_length=64, temperature=1.0, text_pair=False, base_model=None)
    assert "\n\nAn ONNX export of a BERT-family" in model_card(facts, "onnx")  # it said "A ONNX export"
    assert "\n\nAn ONNX INT8 export of" in model_card(facts, "onnx-int8")
    assert "\n\nA TorchScript export of" in model_card(facts, "torchscript")
    assert "\n\nA Hugging Face (safetensors) export of" in model_card(facts, "hf")


def test_a_blended_models_card_says_beside_its_code_that_the_code_runs_the_fine_tuned_model_alone():
    """A tester's ONNX snippet disagreed with `bertstudio predict` on 17 of 200 texts of a blended run, with no word
    beside the code; the pipeline's agreement figure read as agreement with BERT Studio's blended labels."""
    from pathlib import Path

    from bertstudio.export.card import describe_export
    from bertstudio.results import ExportRecord, ExportResult

    blended = CardFacts(label_names=["a", "b"], max_length=64, temperature=1.0, text_pair=False, base_model=None,
                        blend_weight=0.7)
    for fmt in ("hf", "onnx", "onnx-int8", "torchscript"):
        usage = model_card(blended, fmt).split("## How to use")[1]
        assert "The code above runs the fine-tuned model alone" in usage and "70% the fine-tuned model" in usage
    plain = CardFacts(label_names=["a", "b"], max_length=64, temperature=1.0, text_pair=False, base_model=None)
    assert "runs the fine-tuned model alone" not in model_card(plain, "onnx")
    parity = ParityReport(rows=200, source="t", max_abs_logit_diff=1e-6, label_agreement=1.0,
                          pipeline_label_agreement=1.0)
    line = describe_export(ExportResult(Path("hf"), ExportRecord(format="hf", parity=parity), 10**6))
    assert "transformers.pipeline against the fine-tuned model alone: 100.0%" in line


def test_hub_id_for_maps_registry_names_and_ignores_paths():
    assert hub_id_for("bundled-minilm") == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_id_for("bert-base-uncased") == "google-bert/bert-base-uncased"
    assert hub_id_for("/home/me/model") is None and hub_id_for(None) is None
    assert hub_id_for("someone/their-model") == "someone/their-model"


def test_formats_for_accepts_all_one_several_and_lists():
    import pytest

    from bertstudio.errors import ConfigError
    from bertstudio.export.core import formats_for

    assert formats_for("all") == ["onnx", "onnx-int8", "torchscript", "hf"]
    assert formats_for("hf, onnx") == ["onnx", "hf"]  # hf last: its card lists the others
    assert formats_for(["onnx-int8"]) == ["onnx-int8"]
    with pytest.raises(ConfigError):
        formats_for("")
