"""Every pooling gives the same outputs in training's model, predict, serve and every export format."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from helpers import LABELS, make_tiny_run, run_readme_code, sample_texts

from bertstudio.export.core import export_run
from bertstudio.models.pooled_modeling import pool_tokens
from bertstudio.models.loading import load_model_for_classification
from bertstudio.models.pooling import own_config, save_classifier, trained_pooling, use_pooling
from bertstudio.predict.predictor import load_predictor
from bertstudio.results import Preprocessing

CASES = [("bert", "mean"), ("bert", "cls_no_pooler"), ("distilbert", "mean")]
TEXTS = sample_texts(11) + ["good film " * 40]  # padding in every batch, and one text cut at max_length


def pooled_run(root, family: str, pooling: str):
    """The tiny run, its model saved as training saves a model that pools this way."""
    from transformers import AutoModelForSequenceClassification

    run = make_tiny_run(root, family=family)
    model = use_pooling(AutoModelForSequenceClassification.from_pretrained(run / "model"), pooling)
    save_classifier(model, run / "model")
    prep = Preprocessing.read(run / "model" / "preprocessing.json")
    prep.model_copy(update={"pooling": pooling}).write(run / "model" / "preprocessing.json")
    return run


@pytest.fixture(scope="module", params=CASES, ids=[f"{f}-{p}" for f, p in CASES])
def exported(request, tmp_path_factory):
    family, pooling = request.param
    run = pooled_run(tmp_path_factory.mktemp(f"pooled-{family}-{pooling}"), family, pooling)
    return run, pooling, {r.format: r for r in export_run(run, "all")}


def reference_logits(run, pooling: str) -> np.ndarray:
    """Computed here from the encoder's token vectors, independently of the classes under test."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    prep = Preprocessing.read(run / "model" / "preprocessing.json")
    tokenizer = AutoTokenizer.from_pretrained(run / "model", trust_remote_code=False)
    encoder = AutoModel.from_pretrained(run / "model", config=own_config(run / "model")).eval()
    heads = load_file(str(run / "model" / "model.safetensors"))
    enc = tokenizer(TEXTS, truncation=True, max_length=prep.max_length, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**enc).last_hidden_state
        pooled = pool_tokens(hidden, enc["attention_mask"], pooling)
        if "pre_classifier.weight" in heads:  # DistilBERT's head
            pooled = torch.relu(pooled @ heads["pre_classifier.weight"].T + heads["pre_classifier.bias"])
        return (pooled @ heads["classifier.weight"].T + heads["classifier.bias"]).numpy()


def test_predict_replays_the_pooling_training_used(exported):
    run, pooling, _ = exported
    ours = load_predictor(run).logits(TEXTS)
    np.testing.assert_allclose(ours, reference_logits(run, pooling), atol=1e-4)
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["bertstudio_pooling"] == pooling and (run / "model" / "pooled_modeling.py").is_file()


def test_opening_a_pooled_run_prints_no_warning_about_its_model_type(exported):
    """Its config.json names a model type of its own: the tokenizer is loaded with the family's config, not
    through transformers' fallback, which warned 'You are using a model of type bertstudio_bert ...' each time."""
    run, _, _ = exported
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # transformers' loggers do not propagate to the root, where caplog listens
    logging.getLogger("transformers").addHandler(handler)
    try:
        load_predictor(run)
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert not [r.getMessage() for r in records if "model of type" in r.getMessage()]


def test_every_export_format_matches_pytorch(exported):
    run, _, results = exported
    assert results["onnx"].parity.max_abs_logit_diff < 1e-3 and results["onnx"].parity.label_agreement == 1.0
    assert results["torchscript"].parity.max_abs_logit_diff < 1e-4
    assert results["hf"].parity.max_abs_logit_diff < 1e-5
    assert results["onnx-int8"].parity.rows == 48
    reference = load_predictor(run).logits(TEXTS)
    for backend in ("onnx", "torchscript"):
        np.testing.assert_allclose(load_predictor(run, backend=backend).logits(TEXTS), reference, atol=1e-3)
    np.testing.assert_allclose(load_predictor(results["hf"].folder).logits(TEXTS), reference, atol=1e-5)


def test_transformers_pipeline_loads_the_hf_folder_with_its_pooling(exported):
    from transformers import pipeline

    run, pooling, results = exported
    folder = results["hf"].folder
    assert results["hf"].parity.pipeline_label_agreement == 1.0
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSequenceClassification"].startswith("pooled_modeling.")
    assert (folder / "pooled_modeling.py").is_file()
    pipe = pipeline("text-classification", model=str(folder), device="cpu", trust_remote_code=True)
    assert [out["label"] for out in pipe(TEXTS, truncation=True)] == load_predictor(run).predict(TEXTS).labels
    card = (folder / "README.md").read_text()
    assert "trust_remote_code=True" in card and "pooled_modeling.py" in card


def test_serve_answers_with_the_pooled_model(exported):
    from fastapi.testclient import TestClient

    from bertstudio.predict.serve import create_app

    run, _, _ = exported
    predictor = load_predictor(run)
    body = TestClient(create_app(predictor)).post("/predict", json={"texts": TEXTS[:3]}).json()
    assert [p["label"] for p in body["predictions"]] == predictor.predict(TEXTS[:3]).labels
    assert all(set(p["probabilities"]) == set(LABELS) for p in body["predictions"])


def test_a_plain_bert_folder_still_loads_as_before(tmp_path):
    run = make_tiny_run(tmp_path)
    config = json.loads((run / "model" / "config.json").read_text())
    assert "auto_map" not in config and not (run / "model" / "pooled_modeling.py").exists()
    assert type(load_predictor(run).backend.model).__name__ == "BertForSequenceClassification"


def test_plain_transformers_refuses_a_pooled_folder_rather_than_read_it_with_the_wrong_head(exported):
    """Without trust_remote_code the plain BERT head would load the same weights and predict other labels."""
    from transformers import AutoModelForSequenceClassification, pipeline

    run, pooling, results = exported
    for folder in (run / "model", results["hf"].folder):
        config = json.loads((folder / "config.json").read_text())
        assert config["model_type"].startswith("bertstudio_")
        assert config["auto_map"]["AutoConfig"] in ("pooled_modeling.PooledBertConfig",
                                                    "pooled_modeling.PooledDistilBertConfig")
        with pytest.raises(ValueError, match="trust_remote_code=True"):
            AutoModelForSequenceClassification.from_pretrained(str(folder), trust_remote_code=False)
        with pytest.raises(ValueError, match="trust_remote_code=True"):
            pipeline("text-classification", model=str(folder), device="cpu", trust_remote_code=False)


def test_a_pooled_model_folder_trains_on_with_its_pooling(exported):
    """A run's model as the starting point of another run: read with its family's config, pooling as it did."""
    run, pooling, _ = exported
    folder = run / "model"
    assert trained_pooling(folder) == pooling
    model = load_model_for_classification(str(folder), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
                                          label2id={name: i for i, name in enumerate(LABELS)},
                                          pooling=trained_pooling(folder)).eval()
    assert model.config.model_type in ("bert", "distilbert")  # the family, which every family check reads
    tokenizer_prep = Preprocessing.read(folder / "preprocessing.json")
    from transformers import AutoTokenizer

    enc = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)(
        TEXTS, truncation=True, max_length=tokenizer_prep.max_length, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits.numpy()
    np.testing.assert_allclose(logits, reference_logits(run, pooling), atol=1e-4)


def test_a_pooled_folder_saved_before_it_named_its_own_model_type_still_predicts(exported, tmp_path):
    import shutil

    run, pooling, _ = exported
    old = shutil.copytree(run, tmp_path / "old-run")
    path = old / "model" / "config.json"
    config = json.loads(path.read_text())
    config["model_type"] = config["model_type"].removeprefix("bertstudio_")
    del config["auto_map"]["AutoConfig"]
    path.write_text(json.dumps(config))
    predictor = load_predictor(old)
    assert predictor.backend.model.config.model_type in ("bert", "distilbert")
    np.testing.assert_allclose(predictor.logits(TEXTS), load_predictor(run).logits(TEXTS), atol=1e-5)


@pytest.mark.parametrize("pooling_now", ["own", "native"])
def test_lora_on_a_pooled_folder_keeps_an_adapter_readme_that_rebuilds_it(exported, tmp_path, pooling_now):
    """LoRA started from a pooled run's model (with its pooling or the family's own): the adapter folder's README,
    run as written, rebuilds the classifier the run trained, although transformers alone refuses the base folder."""
    from bertstudio.train.lora import add_lora, save_adapter
    from bertstudio.train.model_setup import is_head_parameter

    run, pooling, _ = exported
    folder = run / "model"
    family = own_config(folder).model_type
    pooling = pooling if pooling_now == "own" else {"bert": "cls", "distilbert": "cls_no_pooler"}[family]
    model = load_model_for_classification(str(folder), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
                                          label2id={name: i for i, name in enumerate(LABELS)}, pooling=pooling)
    add_lora(model, 4)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.eval()
    enc = {"input_ids": torch.tensor([[101, 2204, 2143, 102, 0], [101, 2919, 102, 0, 0]]),
           "attention_mask": torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])}
    with torch.no_grad():
        expected = model(**enc).logits
    adapter = save_adapter(model, tmp_path / "adapter", is_head_parameter)
    assert "trust_remote_code=True" in (adapter / "README.md").read_text()
    assert (adapter / "pooled_modeling.py").is_file()
    namespace = run_readme_code(adapter / "README.md")
    with torch.no_grad():
        torch.testing.assert_close(namespace["model"](**enc).logits, expected, atol=1e-5, rtol=1e-4)


def test_evaluate_reads_the_run_with_its_pooling(exported):
    """`evaluate` (and the Evaluate tab's baselines and other-file checks) reopen the run's model: with the plain
    class it read [CLS] through the pooler with a head trained on mean pooling and scored a good model at chance."""
    from bertstudio.evaluation.run import open_run

    run, pooling, _ = exported
    loaded = open_run(run)
    enc = loaded.tokenizer(TEXTS, truncation=True, max_length=loaded.max_length, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = loaded.model.eval()(**enc).logits.numpy()
    np.testing.assert_allclose(logits, reference_logits(run, pooling), atol=1e-4)


def _no_questions(monkeypatch) -> None:
    """transformers asks on the console (input) before it runs a folder's code: a test fails instead."""
    import builtins

    monkeypatch.setattr(builtins, "input", lambda *args: pytest.fail("transformers asked to run the folder's code"))


def test_the_tokenizer_of_a_pooled_hf_folder_loads_without_its_code_as_the_card_shows(exported, monkeypatch,
                                                                                      tmp_path):
    """Tester: AutoTokenizer.from_pretrained(<export>/hf) asked "Do you wish to run the custom code? [y/N]".
    transformers 5 reads config.json (whose pooling is code) before the tokenizer files; the tokenizer itself is a
    standard one, and the card's snippet loads it without running or offering to run anything."""
    run, _, results = exported
    folder = results["hf"].folder
    assert "auto_map" not in json.loads((folder / "tokenizer_config.json").read_text())
    _no_questions(monkeypatch)
    pasted = tmp_path / "README.md"
    pasted.write_text((folder / "README.md").read_text().replace("path/to/this/folder", str(folder)))
    namespace = run_readme_code(pasted)
    assert type(namespace["tokenizer"]).__module__.startswith("transformers.models.")  # not code from the folder
    labels = [out["label"] for out in namespace["classifier"](TEXTS, truncation=True)]
    assert labels == load_predictor(run).predict(TEXTS).labels


def test_a_plain_hf_export_needs_no_code_of_its_own(tmp_path, monkeypatch):
    """A model with its family's own pooling: no auto_map, and plain transformers loads all of it without asking."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run = make_tiny_run(tmp_path / "run", test_rows=6)
    [result] = export_run(run, "hf")
    assert "auto_map" not in json.loads((result.folder / "config.json").read_text())
    _no_questions(monkeypatch)
    AutoTokenizer.from_pretrained(result.folder)
    AutoModelForSequenceClassification.from_pretrained(result.folder)
    assert "trust_remote_code" not in (result.folder / "README.md").read_text()
