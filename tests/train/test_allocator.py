"""The malloc settings for CPU training, checked on real training steps in fresh processes (the settings are
process-wide and stay, so each variant needs its own process)."""
import json
import subprocess
import sys

import pytest

from bertstudio.train.speedups.allocator import keep_freed_memory

STEPS = r"""
import json, resource, sys
import torch
from transformers import BertConfig, BertForSequenceClassification
from bertstudio.train.speedups.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
torch.manual_seed(0)
# Hidden 256 / intermediate 1,024: gradients of 0.25-1 MB, above glibc's initial mmap threshold, as real models' are.
model = BertForSequenceClassification(BertConfig(vocab_size=2000, hidden_size=256, num_hidden_layers=4,
                                                 num_attention_heads=4, intermediate_size=1024, num_labels=2))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
ids = torch.randint(5, 2000, (16, 16))
def step():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(input_ids=ids, labels=torch.zeros(16, dtype=torch.long)).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(json.dumps({"kept": kept, "faults_per_step": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10}))
"""


def faults_per_step(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_training_steps_reuse_freed_memory_instead_of_faulting_it_back_in():
    if not keep_freed_memory():
        pytest.skip("not glibc: the allocator is left alone")
    default, kept = faults_per_step("default"), faults_per_step("keep")
    assert kept["kept"]
    assert default["faults_per_step"] > 500, default  # the problem exists with glibc's defaults ...
    assert kept["faults_per_step"] < default["faults_per_step"] / 10, (default, kept)  # ... and is gone


def test_training_lets_its_optimizer_state_go_before_scoring(tiny_bert_dir, small_csv):
    """The optimizer's moments (twice the trainable weights) are no use once training ends; the accelerator and
    the schedule held them through the final scoring and saving."""
    import gc

    import torch

    from bertstudio.config import config_from_preset
    from bertstudio.train.loop import train_model
    from bertstudio.train.pipeline import build_model, load_inputs, make_accelerator, tokenize_splits

    cfg = config_from_preset(data=str(small_csv), model=str(tiny_bert_dir), batch_size=8, max_steps=3,
                             max_length=32, precision="fp32")
    inputs = load_inputs(cfg)
    data = tokenize_splits(inputs, 32)
    accelerator = make_accelerator(inputs.config, inputs.device)
    outcome = train_model(build_model(inputs, inputs.config), inputs.tokenizer, inputs.config, data.train,
                          data.validation, inputs.label_names, accelerator, emit=lambda e: None,
                          should_stop=lambda: False)
    gc.collect()
    assert outcome.steps_done == 3
    assert not [o for o in gc.get_objects() if isinstance(o, torch.optim.Optimizer) and o.state]


@pytest.mark.parametrize("device, expected", [("cpu", 2), ("cuda", 0), ("runtime", 0)])
def test_inference_hands_the_free_heap_back_when_the_batch_shape_changes(monkeypatch, device, expected):
    import numpy as np

    from bertstudio.train.speedups import allocator

    calls = []
    monkeypatch.setattr(allocator, "release_freed_memory", lambda: calls.append(1))
    memory = allocator.ReleaseOnNewShape(device)
    for width in (64, 64, 48, 48, 64):  # longest first, then a straggler of the first shape
        memory.before({"input_ids": np.zeros((8, width)), "attention_mask": np.zeros((8, width))})
    assert len(calls) == expected
