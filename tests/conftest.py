"""Shared fixtures: tiny random-weight models (seconds to train) and small data files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """The tests' own cache folder: a test run must not fill the person's ~/.cache/bertstudio (hundreds of
    cached copies of temporary data files were found there). Tests that need an empty cache set their own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BERTSTUDIO_CACHE", str(tmp_path_factory.mktemp("bertstudio-cache")))
        yield


def _save_tiny(config, target: Path) -> Path:
    from transformers import AutoModel

    from bertstudio.models.bundled import bundled_model_path

    AutoModel.from_config(config).save_pretrained(target, safe_serialization=True)
    for name in TOKENIZER_FILES:  # the bundled uncased WordPiece vocabulary, so texts tokenize realistically
        source = bundled_model_path() / name
        if source.exists():
            shutil.copy(source, target / name)
    return target


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    from transformers import BertConfig

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    return _save_tiny(config, tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def six_layer_bert_dir(tmp_path_factory) -> Path:
    """As deep as the bundled model (the automatic freezing depends on depth), as narrow as the tiny one."""
    from transformers import BertConfig

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=6, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    return _save_tiny(config, tmp_path_factory.mktemp("six-layer-bert"))


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tmp_path_factory) -> Path:
    from transformers import DistilBertConfig

    config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                              max_position_embeddings=128)
    return _save_tiny(config, tmp_path_factory.mktemp("tiny-distilbert"))


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    from bertstudio.data import SAMPLE_DATA_PATH

    return SAMPLE_DATA_PATH


@pytest.fixture
def small_csv(tmp_path) -> Path:
    """60 rows, 3 easy classes: enough for the pipeline to learn something in a few steps."""
    from helpers import write_topic_csv

    return write_topic_csv(tmp_path / "small.csv", 20)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A trained-looking run folder with random weights (see ``helpers.make_tiny_run``)."""
    from helpers import make_tiny_run

    return make_tiny_run(tmp_path_factory.mktemp("tiny-run"))


@pytest.fixture(scope="session")
def multilabel_run(tmp_path_factory, tiny_bert_dir) -> Path:
    """A multi-label run trained on the tiny BERT (three labels, one or two per text), with every export."""
    from helpers import write_multilabel_csv

    from bertstudio.config import config_from_preset
    from bertstudio.export.core import export_run
    from bertstudio.train.pipeline import train

    root = tmp_path_factory.mktemp("multilabel-run")
    data = write_multilabel_csv(root / "emotions.csv")
    train(config_from_preset("balanced", data=str(data), model=str(tiny_bert_dir), output_dir=str(root / "run"),
                             max_steps=12, max_length=16, batch_size=16))
    export_run(root / "run", "all")
    return root / "run"
