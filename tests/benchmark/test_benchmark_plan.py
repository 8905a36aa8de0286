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


# --- the time estimate shown before a benchmark runs ------------------------------------------------------------


def test_estimate_grows_with_the_selection_and_the_model():
    from bertstudio.benchmark.plan import BenchmarkPlan, estimate_benchmark
    from bertstudio.benchmark.timing import RepeatPolicy

    policy = RepeatPolicy(warmup=2, min_repeats=5, min_seconds=0.5, max_seconds=20.0)
    small = BenchmarkPlan(models=("distilbert-base-uncased",), backends=("torch-fp32",), batch_sizes=(1,),
                          seq_lens=(128,), policy=policy)
    one = estimate_benchmark(small, gflops=100)
    assert one.cells == 1 and one.seconds > policy.min_seconds  # at least the minimum timing of one phase
    bigger = estimate_benchmark(BenchmarkPlan(**{**small.__dict__, "models": ("bert-base-uncased",)}), gflops=100)
    assert bigger.seconds > one.seconds  # BERT-base has more parameters than DistilBERT
    grid = BenchmarkPlan(**{**small.__dict__, "backends": ("torch-fp32", "onnx"), "batch_sizes": (1, 8)})
    assert estimate_benchmark(grid, gflops=100).cells == 4
    assert estimate_benchmark(grid, gflops=100).seconds > 3 * one.seconds
    assert estimate_benchmark(grid, gflops=10).seconds > estimate_benchmark(grid, gflops=100).seconds
    assert one.text().startswith("About ") and "1 measurements" in one.text() and "100 GFLOP/s" in one.text()


def test_estimate_reads_the_shape_of_a_trained_run_and_of_registry_models(tiny_run, tmp_path):
    from bertstudio.benchmark.plan import BERT_BASE_SHAPE, encoder_shape, forward_flops
    from bertstudio.train.auto import ModelShape

    assert encoder_shape(str(tiny_run)) == ModelShape(hidden=32, layers=2, ffn=64)  # its model's config.json
    assert encoder_shape("distilbert-base-uncased") == ModelShape(hidden=768, layers=6, ffn=3072)
    assert encoder_shape(str(tmp_path)) == BERT_BASE_SHAPE  # no model there: assume the common size
    # BERT-base at 128 tokens: about 22 GFLOP per text (the usual figure for its 86 M non-embedding parameters)
    assert 20e9 < forward_flops(BERT_BASE_SHAPE, 1, 128) < 25e9
