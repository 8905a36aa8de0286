"""The training loop, built on accelerate (same code on one CPU, one GPU or many under `accelerate launch`).

Shaped like accelerate's ``examples/nlp_example.py``: prepare model, optimizer and
loaders, loop over epochs, step inside ``accelerator.accumulate``.  What this adds
is what makes fine-tuning work for people who never tune it: separate learning
rates for the pre-trained encoder and the new head, freezing, class weights,
padding-free batches, evaluation with early stopping and a restored best model.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from bertstudio.config import TrainConfig
from bertstudio.evaluation.metrics import classification_metrics, softmax
from bertstudio.events import Evaluated, Step
from bertstudio.train.feeds import cached_feature_feed, full_forward, predict_logits, token_feed, uses_cached_features
from bertstudio.train.model_setup import _encoder_lr, class_weights, make_optimizer, prepare_model
from bertstudio.train.schedule import lr_multiplier, total_optimizer_steps, warmup_steps_for
from bertstudio.train.speedups.allocator import release_freed_memory
from bertstudio.train.speedups.cls_only import restore_last_layer

logger = logging.getLogger(__name__)


class StopRequested(Exception):
    """Raised inside the loop when the user pressed stop; caught by the job."""


@dataclass
class TrainOutcome:
    model: Any
    best_metrics: dict[str, Any]
    best_step: int
    best_epoch: float
    steps_done: int
    train_seconds: float
    tokens_seen: int
    samples_seen: int
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_seen / self.train_seconds if self.train_seconds else 0.0


def evaluate_split(model, loader, labels: np.ndarray, label_names: list[str], accelerator,
                   forward=full_forward) -> dict[str, Any]:
    probs = softmax(predict_logits(model, loader, accelerator, forward))
    return classification_metrics(labels, probs, label_names)


def score_for(metrics: dict[str, Any], metric: str) -> float:
    """Higher is better for every metric the early stopper compares."""
    return -metrics["loss"] if metric == "val_loss" else metrics[metric]


def split_batch(batch: dict[str, torch.Tensor], parts: int) -> list[dict[str, torch.Tensor]]:
    size = -(-len(batch["labels"]) // parts)
    return [{k: v[i:i + size] for k, v in batch.items()} for i in range(0, len(batch["labels"]), size)]


def accumulate_gradients(model, batch, forward, weights, accelerator, micro_batches: int) -> float:
    """Forward and backward over ``batch`` in ``micro_batches`` pieces; returns the batch's mean loss.

    Each piece's summed loss is divided by the whole batch's weight, so the gradient is exactly that of
    one big batch: splitting only trades speed for memory.
    """
    labels = batch["labels"]
    denominator = weights[labels].sum() if weights is not None else torch.tensor(float(len(labels)))
    pieces = split_batch(batch, micro_batches)
    total = 0.0
    for i, piece in enumerate(pieces):
        piece_labels = piece.pop("labels")
        sync = contextlib.nullcontext() if i == len(pieces) - 1 else accelerator.no_sync(model)
        with sync:
            logits = forward(model, piece)
            loss = F.cross_entropy(logits.float(), piece_labels, weight=weights, reduction="sum") / denominator
            accelerator.backward(loss)
        total += float(loss.detach())
    return total


def _fused_on_one_cpu(optimizer, accelerator) -> bool:
    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the torch optimizer
    return (accelerator.num_processes == 1 and accelerator.device.type == "cpu"
            and getattr(accelerator, "scaler", None) is None and bool(inner.defaults.get("fused")))


def clipped_step(model, optimizer, accelerator, max_norm: float) -> torch.Tensor | None:
    """Clip the gradient to ``max_norm`` and update; returns the norm before clipping (None between
    accumulated micro-steps, where the optimizer does nothing).

    On one CPU process the clip factor goes to the fused AdamW kernel as its gradient scale instead of
    being multiplied into every gradient first: the same update without an extra read and write of all
    gradients, which was ~3% of a short-text training step of the bundled model on the reference CPU.
    Elsewhere accelerate clips (it knows about GPU gradient scalers and several processes).
    """
    if not accelerator.sync_gradients:
        optimizer.step()
        return None
    if not _fused_on_one_cpu(optimizer, accelerator):
        norm = accelerator.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        return norm
    inner = getattr(optimizer, "optimizer", optimizer)
    grads = [p.grad for group in inner.param_groups for p in group["params"] if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else torch.zeros(())
    # clip_grad_norm_'s factor, max_norm / (norm + 1e-6) capped at 1; the kernel divides by grad_scale.
    inner.grad_scale = torch.clamp((norm + 1e-6) / max_norm, min=1.0).to(torch.float32)
    try:
        optimizer.step()
    finally:
        del inner.grad_scale
    return norm


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def train_model(
    model,
    tokenizer,
    cfg: TrainConfig,
    train_ds,
    val_ds,
    label_names: list[str],
    accelerator,
    *,
    emit: Callable[[Any], None],
    should_stop: Callable[[], bool],
) -> TrainOutcome:
    """Fine-tune ``model`` on tokenized ``train_ds``; returns it with the best validation weights loaded.

    On a CPU, memory freed by one step is kept for the next (``prepare_model``) and handed back at the end;
    the last layer computes every position again once training is over.
    """
    try:
        return _fit(model, tokenizer, cfg, train_ds, val_ds, label_names, accelerator, emit=emit,
                    should_stop=should_stop)
    finally:
        restore_last_layer(model)
        if accelerator.device.type == "cpu":
            release_freed_memory()


def _fit(model, tokenizer, cfg: TrainConfig, train_ds, val_ds, label_names: list[str], accelerator, *,
         emit: Callable[[Any], None], should_stop: Callable[[], bool]) -> TrainOutcome:
    torch.manual_seed(cfg.seed)
    start = time.perf_counter()  # includes the one-off feature pass of head-only training
    device_type = accelerator.device.type
    prepare_model(model, cfg, device_type)
    if uses_cached_features(cfg, accelerator):
        with accelerator.autocast():
            feed = cached_feature_feed(model.to(accelerator.device), train_ds, val_ds, tokenizer, cfg,
                                       accelerator.device)
    else:
        feed = token_feed(train_ds, val_ds, tokenizer, cfg, device_type)
    val_labels = np.asarray(val_ds["label"])
    optimizer = make_optimizer(model, cfg, device_type)
    weights = class_weights(np.asarray(train_ds["label"]), len(label_names), cfg.class_weighting)
    model, optimizer, train_loader, val_loader = accelerator.prepare(model, optimizer, feed.train, feed.val)
    if weights is not None:
        weights = weights.to(accelerator.device)

    total_steps, steps_per_epoch = total_optimizer_steps(cfg, len(train_loader))
    warmup = warmup_steps_for(total_steps, cfg.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_multiplier(s, total_steps, warmup))
    eval_every = min(cfg.eval_every or steps_per_epoch, total_steps)

    best = {"score": -math.inf, "metrics": {}, "step": 0, "epoch": 0.0, "state": None}
    evaluations_without_gain = 0
    step, samples, tokens, micro_batches = 0, 0, 0, 1
    history: list[dict[str, Any]] = []
    model.train()

    def run_evaluation() -> bool:
        """Evaluate, keep the best weights; True when early stopping says enough."""
        nonlocal evaluations_without_gain
        metrics = evaluate_split(model, val_loader, val_labels, label_names, accelerator, feed.forward)
        score = score_for(metrics, cfg.metric_for_best)
        improved = score > best["score"]
        if improved:
            state = accelerator.unwrap_model(model).state_dict()
            best.update(score=score, metrics=metrics, step=step, epoch=step / steps_per_epoch,
                        state={k: v.detach().to("cpu", copy=True) for k, v in state.items()})
            evaluations_without_gain = 0
        else:
            evaluations_without_gain += 1
        event = Evaluated(step=step, epoch=round(step / steps_per_epoch, 3), val_loss=metrics["loss"],
                          accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"], is_best=improved,
                          elapsed=time.perf_counter() - start)
        history.append(event.to_dict())
        emit(event)
        patience = cfg.early_stopping_patience
        return patience > 0 and evaluations_without_gain >= patience

    epoch = 0
    done = False
    while not done:
        feed.set_epoch(epoch)
        for batch in train_loader:
            if should_stop():
                raise StopRequested()
            batch.pop("row", None)
            n_rows = len(batch["labels"])
            with accelerator.accumulate(model):
                while True:
                    try:
                        loss = accumulate_gradients(model, batch, feed.forward, weights, accelerator, micro_batches)
                        break
                    except RuntimeError as exc:
                        # Out of GPU memory: halve the batch (twice the accumulation) and redo this one.
                        if not is_out_of_memory(exc) or micro_batches >= n_rows:
                            raise
                        optimizer.zero_grad(set_to_none=True)
                        if device_type == "cuda":
                            torch.cuda.empty_cache()
                        micro_batches *= 2
                        logger.warning("Out of GPU memory: each batch now goes through in %d pieces of up to %d "
                                       "texts. Training continues and learns the same way, only a little more slowly.",
                                       micro_batches, -(-n_rows // micro_batches))
                grad_norm = clipped_step(model, optimizer, accelerator, cfg.max_grad_norm)
                optimizer.zero_grad(set_to_none=True)
            samples += n_rows * accelerator.num_processes
            if "attention_mask" in batch:
                tokens += int(batch["attention_mask"].sum()) * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            lr_used = _encoder_lr(optimizer, cfg)  # the rate this update used, before the schedule moves on
            scheduler.step()
            step += 1
            elapsed = time.perf_counter() - start
            emit(Step(step=step, total_steps=total_steps, epoch=round(step / steps_per_epoch, 4),
                      loss=loss, lr=lr_used,
                      grad_norm=float(grad_norm) if grad_norm is not None else float("nan"),
                      samples_per_second=samples / elapsed, tokens_per_second=tokens / elapsed,
                      elapsed=elapsed, eta=elapsed / step * (total_steps - step)))
            if step % eval_every == 0 or step == total_steps:
                if run_evaluation():
                    done = True
            if step >= total_steps:
                done = True
            if done:
                break
        epoch += 1

    train_seconds = time.perf_counter() - start
    unwrapped = accelerator.unwrap_model(model)
    if best["state"] is not None:
        unwrapped.load_state_dict(best["state"])
    return TrainOutcome(model=unwrapped, best_metrics=best["metrics"], best_step=best["step"],
                        best_epoch=round(best["epoch"], 3), steps_done=step, train_seconds=train_seconds,
                        tokens_seen=tokens, samples_seen=samples, history=history)
