"""The benchmark times the prediction backends themselves: the same model call, the same ONNX Runtime session."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertstudio.benchmark.backends import cached_onnx, ort_runner, torch_runner
from bertstudio.benchmark.inputs import token_batch
from bertstudio.benchmark.models import load_tokenizer, preprocessing_for, resolve_model
from bertstudio.errors import ConfigError
from bertstudio.predict.backends import OnnxBackend, TorchBackend, load_classifier


@pytest.fixture
def tiny_classifier(tiny_bert_dir):
    torch.manual_seed(0)  # the folder has no head: a fresh one, the same every time
    return load_classifier(tiny_bert_dir)


def test_pytorch_rows_time_the_prediction_call_with_cls_alone(tiny_classifier, monkeypatch):
    from bertstudio.train.speedups import cls_only

    applied = []
    real = cls_only.compute_last_layer_for_cls_only
    monkeypatch.setattr(cls_only, "compute_last_layer_for_cls_only", lambda m: applied.append(real(m)) or applied[-1])
    batch = token_batch(2, 8, tiny_classifier.config.vocab_size)
    expected = TorchBackend(tiny_classifier).logits(batch)
    applied.clear()

    runner = torch_runner(tiny_classifier, "torch-fp32", "cpu")
    assert isinstance(runner.engine, TorchBackend) and runner.engine.model is tiny_classifier
    assert runner.file is None and runner.device == "cpu"
    timed = runner.bind(batch)
    assert np.array_equal(timed().numpy(), expected)  # the bound call is the backend's own forward
    assert applied == [True]  # ... with the last layer for [CLS] alone, as `bertstudio predict` runs it
    assert np.array_equal(runner.logits(batch), expected)


def test_bf16_methods_cast_a_copy_or_autocast_the_fp32_model(tiny_classifier):
    batch = token_batch(2, 8, tiny_classifier.config.vocab_size)
    reference = TorchBackend(tiny_classifier).logits(batch)
    cast = torch_runner(tiny_classifier, "torch-bf16", "cpu", "cast")
    assert cast.engine.model is not tiny_classifier and next(cast.engine.model.parameters()).dtype == torch.bfloat16
    assert next(tiny_classifier.parameters()).dtype == torch.float32  # the other backends still get fp32
    autocast = torch_runner(tiny_classifier, "torch-bf16", "cpu", "autocast")
    assert autocast.engine.model is tiny_classifier
    assert autocast.bind(batch)().dtype == torch.bfloat16  # every call runs under autocast
    for runner in (cast, autocast):
        assert runner.logits(batch).dtype == np.float32
        assert np.allclose(runner.logits(batch), reference, atol=0.05)
    with pytest.raises(ConfigError, match="Unknown bf16 method"):
        torch_runner(tiny_classifier, "torch-bf16", "cpu", "half")
    cast.close()
    with pytest.raises(AttributeError):
        cast.bind(batch)  # let go of the bf16 copy


def test_onnx_rows_time_the_prediction_session_on_the_planned_cores(tiny_classifier, tiny_bert_dir, tmp_path):
    model = resolve_model(str(tiny_bert_dir))
    files = cached_onnx(tiny_classifier, load_tokenizer(model), preprocessing_for(model), label="tiny",
                        cache_root=tmp_path, int8=False)
    batch = token_batch(2, 8, tiny_classifier.config.vocab_size)
    runner = ort_runner(files.fp32, "onnx", threads=1)
    assert isinstance(runner.engine, OnnxBackend) and runner.file == files.fp32
    options = runner.engine.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    timed = runner.bind(batch)
    assert np.array_equal(timed()[0], OnnxBackend(files.fp32).logits(batch))  # what `bertstudio predict` computes
    assert np.allclose(runner.logits(batch), TorchBackend(tiny_classifier).logits(batch), atol=1e-4)
