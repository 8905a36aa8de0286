import torch

from bertstudio.config import TrainConfig
from bertstudio.train.batch_order import (
    cpu_length_buckets,
    length_buckets,
    length_grouped_batches,
    padded_length,
    padding_buckets,
    sorted_batches,
)
from bertstudio.train.batching import PaddingCollator, make_collator
from bertstudio.train.schedule import lr_multiplier, total_optimizer_steps, warmup_steps_for


def test_lr_warms_up_linearly_then_decays_to_zero():
    total, warm = 100, 10
    values = [lr_multiplier(s, total, warm) for s in range(total)]
    assert values[0] == 0.1 and values[9] == 1.0
    assert all(a < b for a, b in zip(values[:10], values[1:10]))
    assert all(a >= b for a, b in zip(values[10:], values[11:]))
    assert values[-1] < 0.02
    assert lr_multiplier(total, total, warm) == 0.0


def test_total_optimizer_steps_counts_accumulation_fractional_epochs_and_the_step_limit():
    assert total_optimizer_steps(TrainConfig(epochs=3, grad_accum=1), 10) == (30, 10)
    assert total_optimizer_steps(TrainConfig(epochs=3, grad_accum=4), 10) == (9, 3)  # a last short group counts
    assert total_optimizer_steps(TrainConfig(epochs=0.5, grad_accum=1), 7) == (4, 7)
    assert total_optimizer_steps(TrainConfig(epochs=3, grad_accum=1, max_steps=5), 10) == (5, 10)
    assert total_optimizer_steps(TrainConfig(epochs=3, grad_accum=1), 0) == (3, 1)  # never zero steps


def test_no_warmup_starts_at_peak():
    assert lr_multiplier(0, 50, 0) == 1.0
    assert warmup_steps_for(1000, 0.1) == 100


def test_length_grouping_covers_every_row_once_and_cuts_padding():
    lengths = [(i * 37) % 120 + 3 for i in range(1000)]
    batches = length_grouped_batches(lengths, 16, seed=1)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    import random
    order = list(range(1000)); random.Random(0).shuffle(order)
    naive = sum(16 * max(lengths[i] for i in order[s:s + 16]) for s in range(0, 1000, 16))
    assert padded < 0.6 * naive
    assert length_grouped_batches(lengths, 16, seed=1) == batches  # seeded
    assert length_grouped_batches(lengths, 16, seed=2) != batches  # new order each epoch


def test_sorted_batches_longest_first():
    batches = sorted_batches([1, 5, 3, 9], 2)
    assert batches == [[3, 1], [2, 0]]


def test_sorted_batches_keep_long_texts_within_a_token_budget():
    lengths = [256] * 40 + [32] * 200
    batches = sorted_batches(lengths, 64, max_tokens=16 * 256)
    assert sorted(i for batch in batches for i in batch) == list(range(240))  # every text once
    assert all(len(batch) * lengths[batch[0]] <= 16 * 256 for batch in batches)
    assert [len(b) for b in batches[:3]] == [16, 16, 16]  # 16 texts padded to 256, then short ones fill 64
    assert max(len(b) for b in batches) == 64  # short texts still fill whole batches
    assert sorted_batches([600], 64, max_tokens=4096) == [[0]]  # a text longer than the budget is still read


def test_collator_pads_to_longest_in_batch():
    rows = [{"input_ids": [101, 5, 102], "label": 1, "row": 0}, {"input_ids": [101, 102], "label": 0, "row": 1}]
    batch = PaddingCollator(pad_token_id=0, with_token_type_ids=True)(rows)
    assert batch["input_ids"].tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [1, 0] and batch["row"].tolist() == [0, 1]
    assert batch["token_type_ids"].shape == (2, 3)
    gpu = PaddingCollator(pad_token_id=0, pad_to_multiple_of=8, with_token_type_ids=False)(rows)
    assert gpu["input_ids"].shape == (2, 8) and "token_type_ids" not in gpu
    assert gpu["input_ids"].dtype == torch.long


def test_a_cpu_pads_to_few_lengths_with_little_padding():
    # Few shapes (the CPU's bf16 kernels keep state per shape), each a small share of padding.
    assert len(cpu_length_buckets(256)) == 24 and len(cpu_length_buckets(512)) == 32
    assert cpu_length_buckets(256)[-2:] == (240, 256) and cpu_length_buckets(100)[-2:] == (96, 100)
    assert cpu_length_buckets(1024)[-2:] == (960, 1024)
    for max_length in (64, 100, 128, 256, 300, 512, 1000):
        buckets = cpu_length_buckets(max_length)
        assert max(buckets) == max_length  # never past what the model can read
        for longest in range(1, max_length + 1):
            padded = padded_length(longest, None, buckets)
            assert longest <= padded <= max_length
            assert padded - longest <= max(7, longest // 8), (max_length, longest)


class _Tokenizer:
    pad_token_id = 0


def test_each_device_gets_its_own_padding():
    rows = [{"input_ids": list(range(1, 22))}, {"input_ids": [1, 2]}]  # the longest has 21 tokens
    width = {name: make_collator(_Tokenizer(), True, *where)(rows)["input_ids"].shape[1]
             for name, where in {"cpu": ("cpu", 128), "cpu, length unknown": ("cpu", None), "gpu": ("cuda", 128),
                                 "gpu, compiled": ("cuda", 128, True)}.items()}
    assert width == {"cpu": 24, "cpu, length unknown": 21, "gpu": 24, "gpu, compiled": 32}
    assert make_collator(_Tokenizer(), True, "cuda", 128, True).buckets == length_buckets(128)
