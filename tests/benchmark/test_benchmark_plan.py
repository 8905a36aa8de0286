"""The benchmark plan: validation in plain words, duplicates removed, and the cores it uses (pure, no models)."""

from __future__ import annotations

import os

import pytest

from bertstudio.benchmark.plan import BenchmarkPlan, resolve_threads, torch_threads, validate_plan
from bertstudio.errors import ConfigError


def test_validate_plan_drops_repeats_and_keeps_the_order():
    plan = validate_plan(BenchmarkPlan(models=("b", "a", "b"), backends=("onnx", "torch-fp32", "onnx"),
                                       batch_sizes=(8, 1, 8), seq_lens=(64, "16", 64)))
    assert plan.models == ("b", "a") and plan.backends == ("onnx", "torch-fp32")
    assert plan.batch_sizes == (8, 1) and plan.seq_lens == (64, 16)
    assert plan.total_cells == 2 * 2 * 2 * 2


@pytest.mark.parametrize(("changes", "message", "hint"), [
    ({"backends": ("tensorrt",)}, "Unknown backend(s): tensorrt.", "Use any of: torch-fp32"),
    ({"models": ()}, "No model to benchmark.", "Name at least one model"),
    ({"seq_lens": ()}, "Nothing to measure.", "at least one backend, batch size and sequence length"),
    ({"batch_sizes": (1, 0)}, "must be whole numbers of at least 1", "--batch-sizes 1,8,32"),
    ({"bf16_method": "half"}, "Unknown bf16 method 'half'.", "Use one of: cast, autocast."),
    ({"device": "tpu"}, "Unknown device 'tpu'.", "Use cpu or cuda."),
])
def test_plan_mistakes_say_what_to_do(changes, message, hint):
    with pytest.raises(ConfigError) as caught:
        validate_plan(BenchmarkPlan(**{"models": ("bundled-minilm",), **changes}))
    assert message in str(caught.value) and hint in caught.value.hint


def test_threads_default_to_every_core_this_process_may_use():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert resolve_threads(None) == cores
    assert resolve_threads(3) == 3 and resolve_threads(0) == 1
    assert BenchmarkPlan(models=("m",), threads=None).settings()["threads"] == cores


def test_torch_threads_come_back_afterwards():
    import torch

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
