import pytest
import torch
from accelerate import Accelerator

from bertstudio.config import TrainConfig
from bertstudio.train import feeds
from bertstudio.train.feeds import full_forward, head_logits
from bertstudio.train.loop import (
    BestSoFar,
    accumulate_gradients,
    backward_within_memory,
    clipped_step,
    epochs_of,
    split_batch,
)
from bertstudio.train.model_setup import (
    apply_freezing,
    make_optimizer,
    parameter_groups,
)


def tiny_classifier(model_dir, num_labels=3):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=num_labels)


def a_batch(n=6, length=7):
    torch.manual_seed(1)
    return {"input_ids": torch.randint(1000, 2000, (n, length)), "attention_mask": torch.ones(n, length, dtype=torch.long),
            "labels": torch.tensor([0, 1, 2, 0, 1, 2][:n])}


@pytest.mark.parametrize("weights", [None, torch.tensor([1.0, 3.0, 0.5])])
def test_micro_batches_give_the_same_gradient_as_one_batch(tiny_bert_dir, weights):
    accelerator = Accelerator(cpu=True)
    grads = []
    for parts in (1, 3):
        model = tiny_classifier(tiny_bert_dir).eval()  # no dropout: identical forward passes
        batch = {k: v.clone() for k, v in a_batch().items()}
        loss = accumulate_gradients(model, batch, full_forward, weights, accelerator, parts)
        grads.append((loss, model.classifier.weight.grad.clone()))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-5)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-6)


@pytest.mark.parametrize("max_norm", [1e-3, 1e3])  # clipping hard, and not at all
def test_clip_factor_given_to_the_fused_optimizer_matches_clipping_the_gradients(tiny_bert_dir, max_norm):
    """The CPU shortcut (clip factor as the fused AdamW's gradient scale) makes the same update as
    accelerate's clip_grad_norm_ followed by a plain step, and reports the same norm."""
    cfg = TrainConfig(lr=1e-2, head_lr=1e-2)
    # One backward pass feeds both updates: two passes may differ in the last bits (threaded reductions),
    # and hard clipping makes Adam's update of near-zero gradients sensitive to those bits.
    source = tiny_classifier(tiny_bert_dir).eval()
    accumulate_gradients(source, {k: v.clone() for k, v in a_batch().items()}, full_forward, None, Accelerator(cpu=True), 1)
    results = []
    for shortcut in (True, False):
        accelerator = Accelerator(cpu=True)
        model = tiny_classifier(tiny_bert_dir).eval()
        for mine, theirs in zip(model.parameters(), source.parameters()):
            mine.grad = None if theirs.grad is None else theirs.grad.clone()
        optimizer = accelerator.prepare(make_optimizer(model, cfg, "cpu"))
        if shortcut:
            norm = clipped_step(model, optimizer, accelerator, max_norm)
        else:
            norm = accelerator.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
        assert not hasattr(optimizer.optimizer, "grad_scale")  # never left behind for the next step
        # Adam's first update barely depends on the gradient's scale; its moment estimates do.
        moments = [optimizer.optimizer.state[p]["exp_avg"].clone() for p in model.parameters() if p.requires_grad]
        results.append((float(norm), [p.detach().clone() for p in model.parameters()], moments))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    # A weight moves by about lr in Adam's first step, so float32 rounding of that step is ~lr * 1e-7:
    # weights near zero need an absolute tolerance of that order, not one relative to their value.
    for fast, reference in zip(results[0][1], results[1][1]):
        assert torch.allclose(fast, reference, rtol=1e-5, atol=cfg.lr * 1e-5)
    for fast, reference in zip(results[0][2], results[1][2]):
        assert torch.allclose(fast, reference, rtol=1e-5, atol=1e-12)


def test_split_batch_keeps_every_row():
    pieces = split_batch(a_batch(5), 2)
    assert [len(p["labels"]) for p in pieces] == [3, 2]


def out_of_memory_beyond(rows: int, fail_calls: tuple[int, ...] = ()):
    """A forward that runs out of memory on pieces of more than ``rows`` texts, and on the numbered calls."""
    calls = []

    def forward(model, batch):
        calls.append(len(batch["input_ids"]))
        if len(batch["input_ids"]) > rows or len(calls) in fail_calls:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return full_forward(model, batch)

    return forward, calls


def test_out_of_memory_retry_halves_the_pieces_until_they_fit_and_gives_the_same_gradient(tiny_bert_dir):
    accelerator = Accelerator(cpu=True)
    reference = tiny_classifier(tiny_bert_dir).eval()
    expected_loss = accumulate_gradients(reference, a_batch(), full_forward, None, accelerator, 1)

    model = tiny_classifier(tiny_bert_dir).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    forward, calls = out_of_memory_beyond(2)
    loss, pieces = backward_within_memory(model, a_batch(), forward, None, accelerator, optimizer, 1)
    assert pieces == 4 and calls == [6, 3, 2, 2, 2]  # 6 and 3 texts do not fit; 4 pieces of up to 2 do
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert torch.allclose(model.classifier.weight.grad, reference.classifier.weight.grad, atol=1e-6)

    again = tiny_classifier(tiny_bert_dir).eval()
    # The second piece fails after the first's backward pass: the retry must clear that half-done gradient.
    forward, calls = out_of_memory_beyond(6, fail_calls=(2,))
    loss, pieces = backward_within_memory(again, a_batch(), forward, None, accelerator,
                                          torch.optim.SGD(again.parameters(), lr=0.1), 2)
    assert pieces == 4 and calls == [3, 3, 2, 2, 2]
    assert torch.allclose(again.classifier.weight.grad, reference.classifier.weight.grad, atol=1e-6)


def test_out_of_memory_retry_gives_up_at_one_text_and_passes_other_errors_on(tiny_bert_dir):
    accelerator = Accelerator(cpu=True)
    model = tiny_classifier(tiny_bert_dir).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    never_fits, calls = out_of_memory_beyond(0)
    with pytest.raises(torch.OutOfMemoryError):
        backward_within_memory(model, a_batch(3), never_fits, None, accelerator, optimizer, 1)
    assert calls == [3, 2, 1]  # one text at a time was the last try

    def broken(model, batch):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes"):
        backward_within_memory(model, a_batch(), broken, None, accelerator, optimizer, 1)


def test_best_so_far_keeps_a_copy_of_the_best_weights_and_counts_evaluations_without_gain():
    model = torch.nn.Linear(2, 1)
    best = BestSoFar()
    assert best.offer({"loss": 0.9}, -0.9, step=10, epoch=0.5, model=model)
    kept = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)  # training moves on; the kept weights must not follow
    assert not best.offer({"loss": 1.0}, -1.0, step=20, epoch=1.0, model=model)
    assert not best.offer({"loss": float("nan")}, float("nan"), step=30, epoch=1.5, model=model)  # NaN never wins
    assert (best.step, best.epoch, best.metrics, best.evaluations_without_gain) == (10, 0.5, {"loss": 0.9}, 2)
    assert best.patience_spent(2) and not best.patience_spent(3) and not best.patience_spent(0)
    best.restore(model)
    assert torch.equal(model.weight, kept)

    assert best.offer({"loss": 0.5}, -0.5, step=40, epoch=2.0, model=model)  # a gain resets the count
    assert best.evaluations_without_gain == 0 and best.step == 40


def test_best_so_far_without_any_evaluation_leaves_the_model_as_it_is():
    model = torch.nn.Linear(2, 1)
    before = model.weight.detach().clone()
    BestSoFar().restore(model)
    assert torch.equal(model.weight, before)


def test_epochs_of_sets_each_epoch_before_its_batches():
    seen = []

    class Feed:
        def set_epoch(self, epoch):
            seen.append(f"epoch {epoch}")

    positions = []
    for position, batch in epochs_of(Feed(), ["a", "b"]):
        seen.append(batch)
        positions.append((position.epoch, position.index, position.last_of_epoch, position.following()))
        if len(seen) == 6:
            break
    assert seen == ["epoch 0", "a", "b", "epoch 1", "a", "b"]
    assert positions == [(0, 0, False, (0, 1)), (0, 1, True, (1, 0)), (1, 0, False, (1, 1)), (1, 1, True, (2, 0))]


@pytest.mark.parametrize("model_fixture", ["tiny_bert_dir", "tiny_distilbert_dir"])
def test_head_on_cached_features_matches_the_full_model(request, model_fixture):
    model = tiny_classifier(request.getfixturevalue(model_fixture)).eval()
    batch = a_batch()
    batch.pop("labels")
    with torch.no_grad():
        full = model(**batch).logits
        cls = model.base_model(**batch)[0][:, 0]
        assert torch.allclose(head_logits(model, cls), full, atol=1e-5)


def test_freezing_and_parameter_groups(tiny_bert_dir):
    model = tiny_classifier(tiny_bert_dir)
    cfg = TrainConfig(lr=1e-4, head_lr=1e-3, freeze_embeddings=True, freeze_layers=1, weight_decay=0.01)
    apply_freezing(model, cfg)
    assert not model.bert.embeddings.word_embeddings.weight.requires_grad
    assert not any(p.requires_grad for p in model.bert.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in model.bert.encoder.layer[1].parameters())
    groups = parameter_groups(model, cfg)
    by_lr = {g["lr"] for g in groups}
    assert by_lr == {1e-4, 1e-3}
    for group in groups:
        if group["weight_decay"] == 0.0:
            assert all(p.ndim < 2 for p in group["params"])  # biases and LayerNorm only
    head_only = tiny_classifier(tiny_bert_dir)
    apply_freezing(head_only, TrainConfig(freeze_encoder=True))
    trainable = {n for n, p in head_only.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("classifier", "bert.pooler")) for n in trainable)


def test_out_of_memory_halves_the_batch_and_training_continues(tiny_bert_dir, small_csv, tmp_path, monkeypatch):
    from bertstudio.config import config_from_preset
    from bertstudio.train.pipeline import train

    real = feeds.full_forward
    seen = []

    def forward_with_small_memory(model, batch):
        if model.training:
            seen.append(len(batch["input_ids"]))
        if model.training and len(batch["input_ids"]) > 4:  # training needs the memory, evaluation fits
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, batch)

    monkeypatch.setattr(feeds, "full_forward", forward_with_small_memory)
    cfg = config_from_preset(data=str(small_csv), model=str(tiny_bert_dir), output_dir=str(tmp_path / "run"),
                             batch_size=16, max_steps=4, max_length=32, precision="fp32")
    summary = train(cfg)
    assert summary["steps"] == 4
    assert max(seen[-3:]) <= 4  # later batches run in pieces that fit


def test_background_data_workers_give_the_same_run(tiny_bert_dir, small_csv, tmp_path):
    """Batches collated in worker processes (the default on a GPU) are the same batches, in the same order,
    across epochs: the run is identical to one with every batch prepared in the training process."""
    from bertstudio.config import config_from_preset
    from bertstudio.events import Step
    from bertstudio.train.pipeline import load_inputs, run_training

    def losses(workers: int) -> list[float]:
        cfg = config_from_preset(data=str(small_csv), model=str(tiny_bert_dir),
                                 output_dir=str(tmp_path / f"w{workers}"), batch_size=8, epochs=2, max_length=32,
                                 precision="fp32", data_workers=workers)
        seen: list[float] = []
        run_training(load_inputs(cfg), emit=lambda e: seen.append(e.loss) if isinstance(e, Step) else None)
        return seen

    in_process, in_workers = losses(0), losses(2)
    assert len(in_process) >= 4  # two epochs of several batches: set_epoch must reach the sampler
    assert in_workers == pytest.approx(in_process, abs=1e-6)


def test_data_workers_default_to_background_on_gpu_only():
    from bertstudio.train.feeds import data_workers

    assert data_workers(TrainConfig(), "cuda") == 2
    assert data_workers(TrainConfig(), "cpu") == 0
    assert data_workers(TrainConfig(data_workers=3), "cpu") == 3
