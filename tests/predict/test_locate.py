"""The tiny run of ``helpers.make_tiny_run`` looks like a run to the engine, and a folder without a model does not."""

from __future__ import annotations

import pytest

from bertstudio.errors import ModelError
from bertstudio.predict.locate import locate_model
from bertstudio.predict.predictor import load_predictor


def test_tiny_run_is_found_as_a_run(tiny_run):
    for given in (tiny_run, tiny_run / "model", tiny_run / "model" / "model.safetensors"):
        location = locate_model(given)
        assert location.folder == tiny_run / "model"
        assert location.run_dir == tiny_run
        assert location.available_backends() == ["torch", "torch-bf16"]  # the same weights, two ways


def test_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(ModelError, match="No trained model"):
        load_predictor(tmp_path)
    with pytest.raises(ModelError, match="does not exist"):
        load_predictor(tmp_path / "nowhere")
