"""Every export of a multi-label run gives the same label sets, and the HF folder works in transformers.pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertstudio.evaluation.multilabel_metrics import sigmoid
from bertstudio.predict.predictor import load_predictor
from bertstudio.runs import RunFolder

TEXTS = ["happy and smiling", "furious, annoyed and scared", "nothing much", "worried but glad"]
FORMATS = ("hf", "onnx", "onnx-int8", "torchscript")


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_parity_is_checked_on_label_sets(multilabel_run, fmt):
    folder = RunFolder(multilabel_run).path / "exports" / fmt
    record = json.loads((folder / "export.json").read_text())
    parity = record["parity"]
    assert parity["label_agreement"] == 1.0 and parity["labelled_rows"] > 0
    assert parity["max_abs_probability_diff"] < (1e-2 if fmt == "onnx-int8" else 1e-4)
    reference = load_predictor(multilabel_run).predict(TEXTS)
    exported = load_predictor(folder).predict(TEXTS)
    assert exported.label_sets == reference.label_sets
    assert np.allclose(exported.probs, reference.probs, atol=1e-2 if fmt == "onnx-int8" else 1e-4)


def test_hf_folder_gives_sigmoid_scores_in_transformers_pipeline(multilabel_run):
    from transformers import pipeline

    folder = RunFolder(multilabel_run).path / "exports" / "hf"
    record = json.loads((folder / "export.json").read_text())
    assert record["parity"]["pipeline_label_agreement"] == 1.0
    assert json.loads((folder / "config.json").read_text())["problem_type"] == "multi_label_classification"
    pipe = pipeline("text-classification", model=str(folder), device="cpu", top_k=None)
    reference = load_predictor(multilabel_run)
    transformer_alone = sigmoid(reference.logits(TEXTS))  # the pipeline runs the transformer without any blend
    for text, scores, probs in zip(TEXTS, pipe(TEXTS, truncation=True), transformer_alone):
        by_label = {item["label"]: item["score"] for item in scores}
        assert np.allclose([by_label[n] for n in reference.label_names], probs, atol=1e-4)
        assert abs(sum(by_label.values()) - 1) > 1e-3 or len(by_label) == 1  # sigmoid scores, not a softmax


def test_model_card_explains_label_sets(multilabel_run):
    card = (RunFolder(multilabel_run).path / "exports" / "hf" / "README.md").read_text()
    assert 'top_k=None)' in card and "Several labels per text" in card and "anger " in card
    assert "any number of them, possibly none" in card


@pytest.mark.parametrize("fmt", ("onnx", "onnx-int8", "torchscript"))
def test_the_card_s_snippet_gives_the_label_set_as_written(multilabel_run, fmt):
    """A person pastes the card's snippet: it used to stop at the raw logits, and their argmax is one label."""
    from helpers import run_readme_code

    from bertstudio.evaluation.multilabel_metrics import label_set_names, predict_sets

    folder = RunFolder(multilabel_run).path / "exports" / fmt
    card = (folder / "README.md").read_text()
    assert "any number of its 3 labels (possibly none)" in card and "It predicts one of" not in card
    assert "| subset accuracy (every label of a text right) |" in card
    pasted = folder.parent / f"{fmt}-README.md"
    pasted.write_text(card.replace("path/to/this/folder", str(folder)), encoding="utf-8")
    namespace = run_readme_code(pasted)
    exported = load_predictor(folder)  # the transformer alone, as the snippet runs it (no blend)
    expected = predict_sets(sigmoid(exported.logits(["your text"])), exported.prep.threshold_vector())[0]
    assert namespace["labels"] == label_set_names(expected, exported.label_names)
    np.testing.assert_allclose(namespace["probs"][0], sigmoid(exported.logits(["your text"]))[0], atol=1e-5)
