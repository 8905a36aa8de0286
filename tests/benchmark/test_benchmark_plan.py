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


def test_the_estimate_counts_each_step_the_runner_takes(tiny_run):
    """The estimate adds up what runner._Grid does (bench/benchmark_estimate.py measured the old one at 0.45-0.58x
    of the real time): the machine-speed probes around every cell, one ONNX export shared by both ONNX backends
    plus the INT8 build, a trained model's parity checks, and the tokenizer in every round."""
    import math

    from bertstudio.benchmark import plan as P
    from bertstudio.benchmark.contention import PROBE_REPEATS, PROBE_SETTLE_S, START_SAMPLES
    from bertstudio.benchmark.models import trained_facts
    from bertstudio.benchmark.parity import PARITY_BATCH
    from bertstudio.benchmark.timing import RepeatPolicy

    policy = RepeatPolicy(warmup=2, min_repeats=5, min_seconds=0.5, max_seconds=20.0)
    base = P.BenchmarkPlan(models=("distilbert-base-uncased",), backends=("torch-fp32",), batch_sizes=(1, 8),
                           seq_lens=(64,), policy=policy, tokenization=False)

    def estimate(**changes) -> P.BenchmarkEstimate:
        return P.estimate_benchmark(P.BenchmarkPlan(**{**base.__dict__, **changes}), gflops=10)

    plain = estimate()
    assert plain.seconds == plain.parts.total and plain.parts.exports == plain.parts.parity == 0
    # A probe is the pause plus a few products at the machine's rate; three before the run, two per cell.
    assert P.probe_seconds(10) == PROBE_SETTLE_S + PROBE_REPEATS * P.PROBE_GFLOP / 10
    assert plain.parts.probes == (START_SAMPLES + 2 * 2) * P.probe_seconds(10)

    layers = 6  # DistilBERT: six BERT-base-sized layers
    onnx, int8, both = estimate(backends=("onnx",)), estimate(backends=("onnx-int8",)), estimate(
        backends=("onnx", "onnx-int8"))
    assert onnx.parts.exports == P.EXPORT_S_PER_LAYER * layers
    assert int8.parts.exports == (2 * P.EXPORT_S_PER_LAYER + P.QUANTIZE_S_PER_LAYER) * layers  # fp32 file, then INT8
    assert both.parts.exports == int8.parts.exports  # the fp32 export is cached: made once for both backends
    assert both.parts.loading == (P.LOAD_S_PER_LAYER + 2 * P.ORT_OPEN_S_PER_LAYER) * layers

    # With the tokenizer, one phase of rounds: a tokenizer call, then a model call (cells.end_to_end_round).
    with_tokens = estimate(tokenization=True)
    shape, speed = P.encoder_shape("distilbert-base-uncased"), 10e9 * P.FORWARD_EFFICIENCY
    model_s = P.forward_flops(shape, 8, 64) / speed + P.CALL_OVERHEAD_S
    tokenize_s = P.CALL_OVERHEAD_S * 8
    tokenized = P.BenchmarkPlan(**{**base.__dict__, "tokenization": True})
    assert math.isclose(P.cell_seconds(shape, 8, 64, speed, tokenized), P.phase_seconds(model_s + tokenize_s, policy))
    assert with_tokens.parts.timing > plain.parts.timing

    # A trained model (a run folder) is checked on its test rows: the PyTorch reference, then each backend.
    run = str(tiny_run)
    trained = estimate(models=(run,), backends=("torch-fp32", "onnx"))
    run_shape, tokens = P.encoder_shape(run), trained_facts(run).max_length  # its texts are cut there
    assert tokens < P.PARITY_TOKENS
    reference = P.parity_seconds(run_shape, P.PARITY_ROWS, speed, tokens)
    assert math.isclose(trained.parts.parity, reference + reference + P.parity_seconds(
        run_shape, P.PARITY_ROWS, speed * P.backend_speed("onnx"), tokens))
    assert math.isclose(reference, math.ceil(P.PARITY_ROWS / PARITY_BATCH) * (
        P.forward_flops(run_shape, PARITY_BATCH, tokens) / speed + P.CALL_OVERHEAD_S))
    assert estimate(models=(run,), parity_rows=0).parts.parity == 0

    # Retries happen only while other programs disturb the cells: not counted, but the text says so.
    assert "taken again after a 5 s pause, up to 2 more times, and once only" in plain.text()
    assert plain.busy_retries == 2
    assert "slower while other programs run" in estimate(busy_retries=0).text()


def test_the_machine_speed_is_measured_again_after_a_while(monkeypatch):
    """A busy moment when the app first asked stayed in every later estimate (it was measured once per process)."""
    from bertstudio.benchmark import plan as plan_module

    readings, clock = iter([20.0, 150.0]), [1000.0]
    monkeypatch.setattr(plan_module, "_product_gflops", lambda: next(readings))
    monkeypatch.setattr(plan_module, "_clock", lambda: clock[0])
    monkeypatch.setattr(plan_module, "_speeds", {})
    assert plan_module.measured_gflops(2) == 20.0
    clock[0] += plan_module.SPEED_REMEMBERED_S / 2
    assert plan_module.measured_gflops(2) == 20.0  # remembered: the app asks at every change of the selection
    clock[0] += plan_module.SPEED_REMEMBERED_S
    assert plan_module.measured_gflops(2) == 150.0


def test_a_quick_comparison_times_the_length_the_model_reads(tmp_path):
    """A model trained at 64 tokens was timed at 128 (four times the attention, twice the rest) with batch 32, and
    the tab promised 'About 51 min for 16 measurements'."""
    from bertstudio.benchmark import plan as P
    from helpers import make_tiny_run

    run = str(make_tiny_run(tmp_path / "run", max_length=64))
    assert P.lengths_to_time(P.QUICK, [run, "distilbert-base-uncased"]) == (64,)
    assert P.lengths_to_time(P.QUICK, ["distilbert-base-uncased"]) == (P.LENGTH_WHEN_UNKNOWN,)
    assert P.lengths_to_time(P.THOROUGH, [run]) == (16, 64, 128)
    assert P.QUICK.batch_sizes == (1, 8) and P.QUICK.policy.warmup == 1 and P.QUICK.busy_retries == 1
    # Compared with two well-known models, not with the one it was fine-tuned from (the same architecture).
    candidates = ("distilbert-base-uncased", "bert-base-uncased", "bundled-minilm")
    assert P.comparison_models([run], candidates) == ["distilbert-base-uncased", "bert-base-uncased"]
    assert P.comparison_models([run], ("bundled-minilm", "distilbert-base-uncased")) == ["distilbert-base-uncased"]
    assert P.comparison_models([], candidates) == list(candidates[:2])
    # A folder that cannot be read (deleted meanwhile) leaves the selection as if it were not ticked.
    gone = str(tmp_path / "gone")
    assert P.lengths_to_time(P.QUICK, [gone]) == (128,)
    assert P.comparison_models([gone], candidates) == list(candidates[:2])



def test_bf16_is_estimated_fast_on_a_cpu_with_bf16_instructions(monkeypatch):
    """bf16 was estimated at 0.35x fp32's speed everywhere: on this CPU (avx512_bf16) it runs about 3x faster, and a
    quick comparison's estimate read 12 min for a run of 7."""
    from bertstudio.benchmark import plan as P

    monkeypatch.setattr(P, "cpu_has_fast_bf16", lambda: True)
    assert P.backend_speed("torch-bf16") == 3.0 and P.backend_speed("onnx-int8") > P.backend_speed("onnx") == 1.0
    fast = P.estimate_benchmark(P.BenchmarkPlan(models=("bert-base-uncased",), backends=("torch-bf16",)), gflops=50)
    monkeypatch.setattr(P, "cpu_has_fast_bf16", lambda: False)
    assert P.backend_speed("torch-bf16") == 0.35 and P.backend_speed("torch-bf16", "cuda") == 1.0
    emulated = P.estimate_benchmark(P.BenchmarkPlan(models=("bert-base-uncased",), backends=("torch-bf16",)),
                                    gflops=50)
    assert emulated.parts.timing > 5 * fast.parts.timing
