"""Exports: each format is written atomically, loads on its own, and reproduces the PyTorch model."""

from __future__ import annotations

import json
import time

import numpy as np
import onnx
import pytest
from helpers import LABELS, make_tiny_run, sample_texts

from bertstudio.errors import ConfigError, ModelError
from bertstudio.export.card import describe_export
from bertstudio.export.core import export_run
from bertstudio.predict.predictor import load_predictor

LONG_TEXT = "good film " * 60  # far longer than the tiny run's max_length of 24 tokens


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One run exported to every format into its default place, RUN/exports/<format>/."""
    run = make_tiny_run(tmp_path_factory.mktemp("export-run"))
    results = export_run(run, "all")
    return run, {r.format: r for r in results}


def test_all_formats_land_in_their_own_folders(exported):
    run, results = exported
    assert list(results) == ["onnx", "onnx-int8", "torchscript", "hf"]
    for fmt, result in results.items():
        assert result.folder == run / "exports" / fmt and result.path.exists()
        assert result.size_bytes > 0 and f"{result.size_bytes / 1e6:.1f} MB" in describe_export(result)
        info = json.loads((result.folder / "export.json").read_text())
        assert info["format"] == fmt and info["parity"]["rows"] == 48
        for name in ("preprocessing.json", "config.json", "README.md", "tokenizer.json"):
            assert (result.folder / name).is_file(), (fmt, name)
    assert not [p for p in (run / "exports").iterdir() if p.name.startswith(".")]


def test_onnx_matches_pytorch_with_dynamic_batch_and_length(exported):
    run, results = exported
    parity = results["onnx"].parity
    assert parity.max_abs_logit_diff < 1e-3 and parity.label_agreement == 1.0
    torch_predictor, onnx_predictor = load_predictor(run), load_predictor(run, backend="onnx")
    assert onnx_predictor.backend.file == results["onnx"].path  # found in RUN/exports/onnx
    for texts in (["one"], sample_texts(7), [LONG_TEXT, "short"]):
        np.testing.assert_allclose(onnx_predictor.logits(texts), torch_predictor.logits(texts), atol=1e-4)
    assert "largest logit difference" in describe_export(results["onnx"])


def test_int8_is_smaller_and_its_accuracy_change_is_measured(exported):
    _, results = exported
    int8, fp32 = results["onnx-int8"], results["onnx"]
    assert int8.size_bytes < 0.5 * fp32.size_bytes
    assert int8.parity.fp32_size_bytes == pytest.approx(fp32.size_bytes, rel=0.02)  # its own fp32 graph
    assert int8.parity.labelled_rows == 48
    quantization = json.loads((int8.folder / "export.json").read_text())["quantization"]
    assert quantization["graph"] == "fused" and quantization["fused_ops"]["Attention"] >= 1
    ops = {node.op_type for node in onnx.load(str(int8.path)).graph.node}
    assert "QAttention" in ops  # one fused, quantized attention kernel per layer (see export/int8.py)
    for key in ("accuracy_change_points", "macro_f1_change_points"):
        assert isinstance(getattr(int8.parity, key), float)
    assert "accuracy change" in describe_export(int8) and "of the fp32 ONNX file" in describe_export(int8)


def test_torchscript_matches_pytorch(exported):
    run, results = exported
    assert results["torchscript"].parity.max_abs_logit_diff < 1e-4
    traced = load_predictor(results["torchscript"].folder)
    assert traced.backend.name == "torchscript"
    texts = sample_texts(9) + [LONG_TEXT]
    np.testing.assert_allclose(traced.logits(texts), load_predictor(run).logits(texts), atol=1e-4)


def test_transformers_pipeline_agrees_with_our_predictor(exported):
    from transformers import pipeline

    _, results = exported
    folder = results["hf"].folder
    assert results["hf"].parity.pipeline_label_agreement == 1.0
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {str(i): n for i, n in enumerate(LABELS)}
    assert json.loads((folder / "preprocessing.json").read_text())["temperature"] == 1.0
    texts = sample_texts(12) + [LONG_TEXT]
    pipe = pipeline("text-classification", model=str(folder), device="cpu")
    theirs = [out["label"] for out in pipe(texts, truncation=True)]
    assert theirs == load_predictor(folder).predict(texts).labels


def test_model_card_has_metadata_data_and_metrics(exported):
    _, results = exported
    card = (results["hf"].folder / "README.md").read_text()
    front = card.split("---")[1]
    for line in ("library_name: transformers", "pipeline_tag: text-classification",
                 'base_model: "sentence-transformers/all-MiniLM-L6-v2"', "- accuracy"):
        assert line in front
    for text in ("## Results", "| accuracy | 0.5000 |", "## Training data", "Read 240 rows", "| neutral | 80 |",
                 "## Intended use and limitations", "## Export checks", "ONNX INT8:", "truncation=True"):
        assert text in card
    assert "/exports/" not in card  # paths in the card are relative to the export folder


@pytest.mark.parametrize("fmt", ("onnx", "onnx-int8", "torchscript"))
def test_each_card_s_snippet_runs_as_pasted_and_names_the_label(exported, fmt):
    """A person pastes the card's Python: the TorchScript one failed (NameError: INPUTS), and the single-label
    snippets stopped at the logits; each now ends with the label the exported model gives."""
    from helpers import run_readme_code

    run, results = exported
    folder = results[fmt].folder
    pasted = folder.parent / f"{fmt}-README.md"
    pasted.write_text((folder / "README.md").read_text().replace("path/to/this/folder", str(folder)),
                      encoding="utf-8")
    namespace = run_readme_code(pasted)
    expected = load_predictor(folder).predict(["your text"])
    assert namespace["label"] == expected.labels[0]
    np.testing.assert_allclose(namespace["logits"][0], load_predictor(folder).logits(["your text"])[0], atol=1e-4)


def test_failed_export_leaves_no_folder_and_keeps_the_previous_one(tmp_path, monkeypatch):
    from bertstudio.export import core

    run = make_tiny_run(tmp_path / "run", test_rows=6)

    def broken(source, tmp, done):
        (tmp / "model.onnx").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setitem(core.BUILDERS, "onnx", broken)
    with pytest.raises(RuntimeError):
        export_run(run, "onnx", tmp_path / "out")
    assert not (tmp_path / "out" / "onnx").exists() and list((tmp_path / "out").iterdir()) == []
    monkeypatch.undo()
    first = export_run(run, "torchscript", tmp_path / "out")[0]
    monkeypatch.setitem(core.BUILDERS, "torchscript", broken)
    with pytest.raises(RuntimeError):
        export_run(run, "torchscript", tmp_path / "out")
    assert first.path.is_file() and [p.name for p in (tmp_path / "out").iterdir()] == ["torchscript"]


def test_distilbert_and_pair_models_export_to_onnx(tmp_path):
    distil = make_tiny_run(tmp_path / "distil", family="distilbert", test_rows=8)
    result = export_run(distil, "onnx", tmp_path / "d")[0]
    assert result.parity.max_abs_logit_diff < 1e-3
    assert json.loads((result.folder / "export.json").read_text())["inputs"] == ["input_ids", "attention_mask"]
    pairs = make_tiny_run(tmp_path / "pairs", text_pair=True, test_rows=8)
    result = export_run(pairs, "onnx", tmp_path / "p")[0]
    assert result.parity.max_abs_logit_diff < 1e-3
    texts, seconds = sample_texts(5), list(reversed(sample_texts(5)))
    np.testing.assert_allclose(load_predictor(result.folder).logits(texts, seconds),
                               load_predictor(pairs).logits(texts, seconds), atol=1e-4)


def test_export_without_run_data_checks_on_given_texts(tmp_path):
    run = make_tiny_run(tmp_path / "run", test_rows=4)
    result = export_run(run / "model", "onnx", tmp_path / "out", texts=sample_texts(10))[0]
    assert result.parity.rows == 10 and result.parity.labelled_rows == 0
    assert "10 given texts" in result.parity.source


def test_bad_format_and_misplaced_push_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="Unknown export format 'pickle'"):
        export_run(tmp_path, "onnx,pickle")
    with pytest.raises(ConfigError, match="Hugging Face export"):
        export_run(tmp_path, "onnx", push_to_hub="me/model")


def test_push_to_hub_fails_fast_and_never_shows_the_token(tmp_path, monkeypatch):
    from bertstudio.export.hf import push_to_hub

    monkeypatch.delenv("MY_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="MY_TOKEN"):
        push_to_hub(tmp_path, "me/model", token_env="MY_TOKEN")
    with pytest.raises(ConfigError, match="repository name"):
        push_to_hub(tmp_path, "not a repo", token_env="MY_TOKEN")
    monkeypatch.setenv("MY_TOKEN", "hf_secret_value")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelError) as err:
        push_to_hub(tmp_path, "me/model", token_env="MY_TOKEN")
    assert time.perf_counter() - start < 5
    assert "Hub" in str(err.value) and "hf_secret_value" not in str(err.value)


def test_export_cli_prints_results_and_json(tmp_path, capsys):
    from bertstudio.cli import main

    run = make_tiny_run(tmp_path / "run", test_rows=6)
    assert main(["export", str(run), "--format", "onnx-int8", "--out", str(tmp_path / "out"), "--rows", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("ONNX INT8: ")
    assert json.loads(lines[-1])[0]["format"] == "onnx-int8"
    assert (tmp_path / "out" / "onnx-int8" / "model.int8.onnx").is_file()
    assert not (tmp_path / "out" / "onnx-int8" / ".fp32-model.onnx").exists()
    assert main(["export", str(tmp_path / "missing"), "--format", "onnx"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("model_fixture", ["tiny_bert_dir", "tiny_distilbert_dir"])
def test_exports_trace_the_last_layer_for_cls_alone(request, model_fixture):
    """What every exporter records: the same logits, the last layer run for one position (less work)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from bertstudio.export.tracing import logits_module

    model = AutoModelForSequenceClassification.from_pretrained(request.getfixturevalue(model_fixture),
                                                               num_labels=3).eval()
    ids = torch.randint(1000, 2000, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    module, names = logits_module(model)
    base = model.base_model
    last = base.encoder.layer[-1] if hasattr(base, "encoder") else base.transformer.layer[-1]
    lengths = []
    hook = last.register_forward_hook(lambda _m, _i, out: lengths.append((out[0] if isinstance(out, tuple) else out)
                                                                         .shape[1]))
    with torch.no_grad():
        traced_logits = module(ids, mask)
        full_logits = model(input_ids=ids, attention_mask=mask).logits
    hook.remove()
    assert lengths == [1, 9]  # inside the export module: [CLS] alone; the model itself is left whole
    torch.testing.assert_close(traced_logits, full_logits, atol=1e-6, rtol=0)
