"""The GPU speed work (issue 22), checked on a CPU: length buckets change no logit or gradient, the compile setting
resolves as documented and falls back on failure, step figures are read back together on a device and unchanged on
a CPU."""

import logging

import pytest
import torch
import torch.nn.functional as F

from bertstudio.config import TrainConfig
from bertstudio.events import Step
from bertstudio.train import readings as readings_module
from bertstudio.train.auto import (
    COMPILE_PAYBACK_STEPS,
    GPU_BATCH,
    DataStats,
    Hardware,
    choose_compile,
    resolve,
)
from bertstudio.train.batch_order import length_buckets, padded_length
from bertstudio.train.batching import PaddingCollator
from bertstudio.train.feeds import full_forward
from bertstudio.train.readings import StepReadings
from bertstudio.train.speedups import compile as compile_module
from bertstudio.train.speedups.compile import CompiledForward, compiled_or_plain, run_step


def tiny_classifier(model_dir, attention="sdpa"):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3, attn_implementation=attention)


def rows_of_lengths(*lengths):
    generator = torch.Generator().manual_seed(3)
    return [{"input_ids": [101] + torch.randint(1000, 2000, (n - 2,), generator=generator).tolist() + [102],
             "token_type_ids": [0] * n, "label": i % 3} for i, n in enumerate(lengths)]


# --- length buckets -------------------------------------------------------------------------------------------


def test_length_buckets_are_few_and_end_at_the_maximum_length():
    assert length_buckets(128) == (16, 32, 48, 64, 80, 96, 112, 128)
    assert length_buckets(512) == (16, 32, 48, 64, 80, 96, 112, 128, 192, 256, 320, 384, 448, 512)
    assert length_buckets(50) == (16, 32, 48, 50)
    assert padded_length(14, 8, length_buckets(128)) == 16
    assert padded_length(129, 8, length_buckets(512)) == 192
    assert padded_length(14, 8) == 16 and padded_length(17, 8) == 24 and padded_length(17) == 17


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_bucketed_padding_gives_the_same_logits_and_gradients(tiny_bert_dir, attention):
    """Padding a batch to its bucket instead of its longest text: the attention mask hides the extra padding, so
    every text's logits and every gradient are those of the unbucketed batch."""
    rows = rows_of_lengths(21, 9, 14, 5)
    results = []
    for buckets in ((), length_buckets(64)):
        batch = PaddingCollator(0, None, True, buckets)(rows)
        model = tiny_classifier(tiny_bert_dir, attention).eval()  # no dropout: the two passes are comparable
        labels = batch.pop("labels")
        logits = full_forward(model, batch)
        F.cross_entropy(logits, labels).backward()
        results.append((batch["input_ids"].shape[1], logits.detach(),
                        {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (plain_len, plain_logits, plain_grads), (bucket_len, bucket_logits, bucket_grads) = results
    assert (plain_len, bucket_len) == (21, 32)  # the bucketed batch really is padded further
    assert torch.allclose(plain_logits, bucket_logits, atol=1e-5)
    assert plain_grads.keys() == bucket_grads.keys() and len(plain_grads) > 10
    for name, grad in plain_grads.items():
        assert torch.allclose(grad, bucket_grads[name], atol=1e-5, rtol=1e-4), name


def test_batches_pad_to_the_cpu_lengths_or_to_the_compiled_buckets(tiny_bert_dir):
    from datasets import Dataset
    from transformers import AutoTokenizer

    from bertstudio.train.feeds import token_feed, tokenize_split

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    long_text = "a rather longer text than that one, yes, with quite a few more words in it now"
    data = tokenize_split(Dataset.from_dict({"text": ["a short text", long_text] * 4, "label": [0, 1] * 4}),
                          tokenizer, 64)
    longest = max(data["length"])
    lengths = {}
    for setting in ("off", "on"):
        cfg = TrainConfig(batch_size=8, max_length=64, compile=setting)
        feed = token_feed(data, data, tokenizer, cfg, "cpu")
        feed.set_epoch(0)
        lengths[setting] = next(iter(feed.train))["input_ids"].shape[1]
    assert 16 < longest < 24 and lengths == {"off": 24, "on": 32}


# --- the compile setting --------------------------------------------------------------------------------------


def large_data(rows=50_000):
    return DataStats(train_rows=rows, class_counts={"a": rows // 2, "b": rows - rows // 2})


def test_compile_is_off_on_a_cpu_and_for_short_gpu_runs_and_on_for_long_ones():
    cuda = Hardware(device="cuda", bf16=True)
    assert choose_compile(Hardware(), 100_000).value == "off"
    assert choose_compile(cuda, COMPILE_PAYBACK_STEPS - 1).value == "off"
    assert choose_compile(cuda, COMPILE_PAYBACK_STEPS).value == "on"
    assert choose_compile(cuda, 100_000, head_only=True).value == "off"
    for decision in (choose_compile(cuda, 10), choose_compile(cuda, 100_000)):
        assert "steps" in decision.reason


def test_gpu_defaults_on_large_data_take_bigger_batches_a_scaled_rate_and_compile():
    rows = 400_000  # one pass of batches of 128: 3,125 steps, enough to win compiling back
    on_gpu = resolve(TrainConfig(), large_data(rows), Hardware(device="cuda", bf16=True)).config
    on_cpu = resolve(TrainConfig(), large_data(rows), Hardware()).config
    assert (on_cpu.batch_size, on_cpu.compile) == (32, "off")
    assert (on_gpu.batch_size, on_gpu.compile) == (GPU_BATCH, "on")
    assert on_gpu.lr == pytest.approx(on_cpu.lr * 2)  # sqrt(128 / 32)
    reasons = {d.field: d.reason for d in resolve(TrainConfig(), large_data(rows), Hardware(device="cuda")).decisions}
    assert "128" in reasons["batch_size"] and "faster" in reasons["batch_size"] and "128" in reasons["lr"]
    # A batch the person chose keeps the unscaled rate; a short run is not compiled.
    chosen = resolve(TrainConfig(batch_size=128, max_steps=50), large_data(), Hardware(device="cuda")).config
    assert chosen.lr == on_cpu.lr and chosen.compile == "off"
    small = resolve(TrainConfig(), large_data(8_000), Hardware(device="cuda")).config
    assert small.batch_size == 32 and small.compile == "off"
    assert resolve(TrainConfig(), large_data(), Hardware(device="cuda")).config.compile == "off"  # 391 steps
    assert resolve(TrainConfig(compile="on"), large_data(), Hardware()).config.compile == "on"


def batch_for(n=4, length=9):
    return PaddingCollator(0, None, True)(rows_of_lengths(*[length] * n))


def test_compiled_forward_gives_the_plain_logits(tiny_bert_dir):
    model = tiny_classifier(tiny_bert_dir).eval()
    batch = batch_for()
    batch.pop("labels")
    compiled = CompiledForward(full_forward, backend="eager")
    assert torch.allclose(compiled(model, batch), full_forward(model, batch), atol=1e-6)
    assert not compiled.failed
    assert compiled_or_plain(full_forward, "off", "cuda") is full_forward


def failing_backend(graph_module, example_inputs):
    raise RuntimeError("no compiler for this machine")


def test_a_compile_failure_falls_back_to_the_plain_forward_with_one_warning(tiny_bert_dir, caplog):
    model = tiny_classifier(tiny_bert_dir).eval()
    batch = batch_for()
    batch.pop("labels")
    compiled = CompiledForward(full_forward, backend=failing_backend)
    with caplog.at_level(logging.WARNING):
        first = compiled(model, batch)
        second = compiled(model, batch)
    assert compiled.failed
    assert torch.allclose(first, full_forward(model, batch)) and torch.allclose(second, first)
    # The engine's own warnings only: loading the tiny model logs transformers' report of the new head.
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and r.name.startswith("bertstudio")]
    assert len(warnings) == 1 and "uncompiled" in warnings[0] and "no compiler" in warnings[0]


def test_a_failure_in_the_backward_pass_repeats_the_step_uncompiled():
    compiled = CompiledForward(full_forward, backend="eager")
    calls, undone = [], []

    def step():
        calls.append(compiled.failed)
        if not compiled.failed:
            raise RuntimeError("backward graph failed to compile")
        return "done"

    assert run_step(compiled, step, lambda: undone.append(True)) == "done"
    assert calls == [False, True] and undone == [True]

    def out_of_memory():
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.OutOfMemoryError):  # the loop's own retry (smaller pieces) handles it
        run_step(CompiledForward(full_forward, backend="eager"), out_of_memory, lambda: None)
    assert run_step(full_forward, lambda: "plain", lambda: None) == "plain"


def run_losses(cfg_kwargs, small_csv, tiny_bert_dir, out, steps=4):
    from bertstudio.config import config_from_preset
    from bertstudio.train.pipeline import load_inputs, run_training

    cfg = config_from_preset(data=str(small_csv), model=str(tiny_bert_dir), output_dir=str(out), batch_size=16,
                             max_steps=steps, eval_every=2, max_length=32, precision="fp32", **cfg_kwargs)
    steps: list[Step] = []
    summary = run_training(load_inputs(cfg), emit=lambda e: steps.append(e) if isinstance(e, Step) else None)
    return steps, summary


def test_a_compiled_run_trains_to_the_same_losses(tiny_bert_dir, small_csv, tmp_path, monkeypatch):
    """The loop's wiring of the compiled forward (training steps), with dynamo's eager backend,
    against the same bucketed batches uncompiled (bucketing changes the dropout masks' shapes, so the draws)."""
    from bertstudio.train import loop

    monkeypatch.setattr(compile_module, "BACKEND", "eager")
    compiled, summary = run_losses({"compile": "on"}, small_csv, tiny_bert_dir, tmp_path / "compiled", steps=2)
    assert summary["steps"] == 2
    monkeypatch.setattr(loop, "compiled_or_plain", lambda forward, setting, device_type: forward)
    plain, _ = run_losses({"compile": "on"}, small_csv, tiny_bert_dir, tmp_path / "plain", steps=2)
    assert [s.loss for s in compiled] == pytest.approx([s.loss for s in plain], rel=1e-5)


# --- step figures read back together ----------------------------------------------------------------------------


def test_deferred_readings_read_many_steps_at_once_with_each_steps_figures(monkeypatch):
    reads = []
    monkeypatch.setattr(readings_module, "read_back", lambda t: reads.append(len(t)) or t.tolist())
    events = []
    readings = StepReadings(deferred=True, emit=events.append, total_steps=10, steps_per_epoch=5, start=0.0)
    mask = torch.ones(4, 6, dtype=torch.long)
    for step in range(1, 6):
        readings.count_batch({"labels": torch.zeros(4), "attention_mask": mask})
        readings.record(step, torch.tensor(float(step), dtype=torch.float64), 1e-3, torch.tensor(0.5 * step),
                        elapsed=float(step))
    assert len(reads) == 1 and len(events) == 1  # the first step at once; the next four wait on the device
    assert readings.tokens == 5 * 24  # reading the total reads what is pending
    assert len(reads) == 2
    assert [e.step for e in events] == [1, 2, 3, 4, 5]
    assert [e.loss for e in events] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [e.grad_norm for e in events] == [0.5, 1.0, 1.5, 2.0, 2.5]
    assert events[2].tokens_per_second == pytest.approx(3 * 24 / 3.0)
    assert events[2].samples_per_second == pytest.approx(12 / 3.0)
    readings.flush()
    assert len(reads) == 2  # nothing pending: no read


def test_cpu_runs_report_every_step_at_once_and_deferred_reads_give_the_same_figures(
        tiny_bert_dir, small_csv, tmp_path, monkeypatch):
    """On a CPU nothing is deferred (the figures the run writes are unchanged); deferred, as on a GPU, the same
    figures come out with fewer reads."""
    reads = []
    real_read_back = readings_module.read_back
    monkeypatch.setattr(readings_module, "read_back", lambda t: reads.append(len(t)) or real_read_back(t))
    immediate, summary = run_losses({}, small_csv, tiny_bert_dir, tmp_path / "cpu")
    assert reads == []
    monkeypatch.setattr(readings_module, "FLUSH_SECONDS", 3600.0)  # only what the loop needs
    monkeypatch.setattr(readings_module, "defers_readbacks", lambda device_type: True)
    from bertstudio.train import loop

    monkeypatch.setattr(loop, "defers_readbacks", lambda device_type: True)
    deferred, deferred_summary = run_losses({}, small_csv, tiny_bert_dir, tmp_path / "deferred")
    # 4 steps, evaluations after steps 2 and 4: the first step, then before each evaluation.
    assert len(reads) == 3
    assert [e.step for e in deferred] == [1, 2, 3, 4]
    for a, b in zip(immediate, deferred):
        assert (a.loss, a.grad_norm) == pytest.approx((b.loss, b.grad_norm), rel=1e-9)
        assert a.tokens_per_second * a.elapsed == pytest.approx(b.tokens_per_second * b.elapsed)
    assert summary["tokens_per_second"] > 0 and deferred_summary["steps"] == 4


def test_the_gpu_asks_transformers_for_its_fused_attention(tiny_bert_dir, tiny_distilbert_dir):
    """None on a GPU: transformers 5 then picks SDPA for BERT and DistilBERT (flash or memory-efficient kernels
    on a GPU); a CPU trains with the plain attention (faster backward there)."""
    from transformers import AutoModelForSequenceClassification

    from bertstudio.hardware import detect_device
    from bertstudio.train.pipeline import attention_kernel

    class Cuda:
        type = "cuda"

    assert attention_kernel(detect_device("cpu")) == "eager" and attention_kernel(Cuda()) is None
    for folder in (tiny_bert_dir, tiny_distilbert_dir):
        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
        assert model.config._attn_implementation == "sdpa"
