"""The training loop, built on accelerate (same code on one CPU, one GPU or many under `accelerate launch`).

Shaped like accelerate's ``examples/nlp_example.py``: prepare model, optimizer and
loaders, loop over epochs, step inside ``accelerator.accumulate``.  What this adds
is what makes fine-tuning work for people who never tune it: separate learning
rates for the pre-trained encoder and the new head, freezing, class weights,
padding-free batches, evaluation with early stopping and a restored best model, a stop that keeps the best
model so far, and checkpoints (``checkpoints.py``) that a killed run resumes from exactly where it was.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bertstudio.config import TrainConfig
from bertstudio.data.long_texts import labels_per_text, per_text, text_rows_of
from bertstudio.evaluation.metrics import classification_metrics, softmax
from bertstudio.evaluation.multilabel_metrics import is_multi_label, multilabel_metrics, sigmoid
from bertstudio.events import Evaluated, Working
from bertstudio.hardware import is_out_of_memory
from bertstudio.train.checkpoints import Checkpointer, LoopState, load_checkpoint
from bertstudio.train.feeds import (
    cached_feature_feed,
    full_forward,
    no_progress,
    predict_logits,
    token_feed,
    uses_cached_features,
)
from bertstudio.train.interrupts import Interrupt
from bertstudio.train.long_texts import window_aggregation
from bertstudio.train.model_setup import _encoder_lr, make_optimizer, prepare_model, training_class_weights
from bertstudio.train.multilabel import summed_bce
from bertstudio.train.readings import StepReadings, defers_readbacks
from bertstudio.train.schedule import lr_multiplier, total_optimizer_steps, warmup_steps_for
from bertstudio.train.speedups.allocator import release_freed_memory
from bertstudio.train.speedups.cls_only import restore_last_layer
from bertstudio.train.speedups.compile import compiled_or_plain, run_step
from bertstudio.train.unfreezing import gradual_unfreezer

logger = logging.getLogger(__name__)


class StopRequested(Exception):
    """Raised inside the loop when the user pressed stop before there was a model worth keeping (no evaluation
    yet); caught by the job.  After the first evaluation a stop ends the loop with the best model instead."""


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
    stopped: bool = False  # stopped on request before the end: ``model`` is the best checkpoint so far
    early_stopped: bool = False  # ended before its planned steps: the validation score had stopped improving

    @property
    def tokens_per_second(self) -> float | None:
        """None when no step read tokens (head-only: the steps read features computed once before training),
        so the summary says "not measured" rather than a speed of 0."""
        if not self.tokens_seen:
            return None
        return self.tokens_seen / self.train_seconds if self.train_seconds else 0.0


def evaluate_split(model, loader, labels: np.ndarray, label_names: list[str], accelerator,
                   forward=full_forward, aggregation: str = "mean",
                   on_batch: Callable[[int, int], None] = no_progress) -> dict[str, Any]:
    """Metrics of ``loader``'s texts; windows of one text count once, their logits combined by ``aggregation``."""
    logits = predict_logits(model, loader, accelerator, forward, on_batch)
    return metrics_of(labels, per_text(logits, text_rows_of(loader.dataset), aggregation), label_names)


def metrics_of(labels: np.ndarray, logits: np.ndarray, label_names: list[str]) -> dict[str, Any]:
    """Single-label figures from softmax, or multi-label ones from sigmoids at threshold 0.5 (the best checkpoint
    is picked on those; the thresholds are tuned once, after training)."""
    if is_multi_label(labels):
        return multilabel_metrics(labels, sigmoid(logits), label_names)
    return classification_metrics(labels, softmax(logits), label_names)


# Ties in the chosen score are broken by the validation loss. A small validation set reaches the same macro-F1 at
# several evaluations (100% from the first on an easy file; exactly 0 for the first epochs of a multi-label run
# with many rare labels), and a flat score kept the first checkpoint and stopped early while the loss still fell
# from 0.62 to 0.04: a model right on every validation text at 57% confidence. A weight this small never reorders
# two macro-F1 values a validation row apart (one row moves macro-F1 by far more than 1e-4).
LOSS_TIE_BREAK = 1e-4


def score_for(metrics: dict[str, Any], metric: str) -> float:
    """Higher is better for every metric the early stopper compares: the validation loss, or macro-F1 (accuracy,
    subset accuracy) with ties broken by the loss."""
    if metric == "val_loss":
        return -metrics["loss"]
    return metrics[metric] - LOSS_TIE_BREAK * metrics["loss"]


def split_batch(batch: dict[str, torch.Tensor], parts: int) -> list[dict[str, torch.Tensor]]:
    size = -(-len(batch["labels"]) // parts)
    return [{k: v[i:i + size] for k, v in batch.items()} for i in range(0, len(batch["labels"]), size)]


def accumulate_gradients(model, batch, forward, weights, accelerator, micro_batches: int, *,
                         on_device: bool = False) -> float | torch.Tensor:
    """Forward and backward over ``batch`` in ``micro_batches`` pieces; returns the batch's mean loss.

    Each piece's summed loss is divided by the whole batch's weight, so the gradient is exactly that of
    one big batch: splitting only trades speed for memory.  ``on_device``: the loss as a 0-dim float64
    tensor where it was computed, not read back (see ``readings``).
    """
    labels = batch["labels"]
    multi = labels.is_floating_point()  # 0/1 vectors: several labels per text
    denominator = (weights[labels].sum() if weights is not None and not multi
                   else torch.tensor(float(len(labels))))
    pieces = split_batch(batch, micro_batches)
    total: float | torch.Tensor = 0.0
    for i, piece in enumerate(pieces):
        piece_labels = piece.pop("labels")
        sync = contextlib.nullcontext() if i == len(pieces) - 1 else accelerator.no_sync(model)
        with sync:
            logits = forward(model, piece)
            loss = (summed_bce(logits, piece_labels, weights) if multi else
                    F.cross_entropy(logits.float(), piece_labels, weight=weights, reduction="sum")) / denominator
            accelerator.backward(loss)
        total += loss.detach().double() if on_device else float(loss.detach())
    return total


def mean_over_processes(value: float | torch.Tensor, accelerator) -> float | torch.Tensor:
    """The mean of a per-process figure (the step's loss) over every process: each saw its own batch.  One small
    collective per update, only when there are several processes (they synchronise every step anyway).  A tensor
    stays a tensor on the device (the collective is queued, not waited for)."""
    if accelerator.num_processes == 1:
        return value
    if isinstance(value, torch.Tensor):
        return accelerator.reduce(value.reshape(1), "mean").reshape(())
    return float(accelerator.reduce(torch.tensor([value], device=accelerator.device), "mean"))


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


def backward_within_memory(model, batch, forward, weights, accelerator, optimizer,
                           micro_batches: int, *, on_device: bool = False) -> tuple[float | torch.Tensor, int]:
    """:func:`accumulate_gradients` over ``batch`` in ``micro_batches`` pieces; when the GPU runs out of memory,
    twice as many pieces (half the size) and the batch again.  Returns the loss and the pieces that fit, which
    the caller keeps for the next batches: a batch that did not fit once will not fit next step either.
    """
    n_rows = len(batch["labels"])
    while True:
        try:
            return accumulate_gradients(model, batch, forward, weights, accelerator, micro_batches,
                                        on_device=on_device), micro_batches
        except RuntimeError as exc:
            if not is_out_of_memory(exc) or micro_batches >= n_rows:
                raise
        # Outside the except block, so the failed attempt's tensors (held by the traceback) are freed first.
        optimizer.zero_grad(set_to_none=True)  # the half-done batch's gradients would be counted twice
        if accelerator.device.type == "cuda":
            torch.cuda.empty_cache()
        micro_batches *= 2
        logger.warning("Out of GPU memory: each batch now goes through in %d pieces of up to %d texts. "
                       "Training continues and learns the same way, only a little more slowly.",
                       micro_batches, -(-n_rows // micro_batches))


@dataclass
class BestSoFar:
    """The best evaluation so far and the weights that scored it, restored when training ends."""

    metrics: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    epoch: float = 0.0
    state: dict[str, torch.Tensor] | None = None  # on the CPU, so a GPU keeps its memory for training
    score: float = -math.inf
    evaluations_without_gain: int = 0

    def offer(self, metrics: dict[str, Any], score: float, step: int, epoch: float, model) -> bool:
        """Keep ``model``'s weights when ``score`` beats the best so far (a NaN never does); True when it did."""
        if not score > self.score:
            self.evaluations_without_gain += 1
            return False
        self.metrics, self.score, self.step, self.epoch = metrics, score, step, epoch
        self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        self.evaluations_without_gain = 0
        return True

    def patience_spent(self, patience: int) -> bool:
        """Early stopping: ``patience`` evaluations in a row without a better score (0: never stop early)."""
        return patience > 0 and self.evaluations_without_gain >= patience

    def restore(self, model) -> None:
        if self.state is not None:
            model.load_state_dict(self.state)

    def to_loop_state(self, **counters: Any) -> LoopState:
        """The checkpointed form: these figures with the loop's ``counters`` (the weights are saved apart)."""
        score = self.score if self.state is not None else None
        return LoopState(best_metrics=self.metrics, best_step=self.step, best_epoch=self.epoch, best_score=score,
                         evaluations_without_gain=self.evaluations_without_gain, **counters)

    @classmethod
    def from_loop_state(cls, state: LoopState, weights: dict[str, torch.Tensor] | None) -> BestSoFar:
        return cls(metrics=state.best_metrics, step=state.best_step, epoch=state.best_epoch, state=weights,
                   score=-math.inf if state.best_score is None else state.best_score,
                   evaluations_without_gain=state.evaluations_without_gain)


@dataclass
class Validation:
    """What every evaluation needs: the validation batches, their labels, and the metric that picks the best."""

    loader: Any
    labels: np.ndarray
    label_names: list[str]
    forward: Callable[[Any, dict], torch.Tensor]
    metric: str
    on_batch: Callable[[int, int], None] = no_progress  # progress between batches; may raise StopRequested
    aggregation: str = "mean"  # long texts read in windows: how a text's windows are combined


def evaluate_and_keep_best(model, validation: Validation, accelerator, best: BestSoFar, step: int,
                           steps_per_epoch: int, start: float) -> Evaluated:
    """Score the model on the validation split and let ``best`` keep its weights if they are the best yet."""
    if accelerator.device.type == "cpu":
        # The free heap kept for the training steps (speedups.allocator) goes back first: blocks of the steps'
        # sizes served the scoring's other sizes poorly, and the pass added its own memory on top (a million-row
        # run: 1,699 MB over its steps, 1,975 MB in its first check). The next steps fault theirs in once.
        release_freed_memory()
    metrics = evaluate_split(model, validation.loader, validation.labels, validation.label_names, accelerator,
                             validation.forward, validation.aggregation, validation.on_batch)
    improved = best.offer(metrics, score_for(metrics, validation.metric), step, step / steps_per_epoch,
                          accelerator.unwrap_model(model))
    return Evaluated(step=step, epoch=round(step / steps_per_epoch, 3), val_loss=metrics["loss"],
                     accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"], is_best=improved,
                     elapsed=time.perf_counter() - start)


@dataclass(frozen=True)
class Position:
    """Where a batch sits in the data: its epoch, its index in that epoch and how many batches the epoch has."""

    epoch: int
    index: int
    batches: int

    @property
    def last_of_epoch(self) -> bool:
        return self.index == self.batches - 1

    def following(self) -> tuple[int, int]:
        """(epoch, batches of it done) once this batch is trained on: where a resumed run goes on from."""
        return (self.epoch + 1, 0) if self.last_of_epoch else (self.epoch, self.index + 1)


def epochs_of(feed, loader, accelerator=None, epoch: int = 0, skip: int = 0
              ) -> Iterator[tuple[Position, dict[str, torch.Tensor]]]:
    """The training batches with their position, epoch after epoch without end; each epoch's order is set before
    it starts.  A resumed run starts at ``epoch`` past its first ``skip`` batches, without loading them."""
    for epoch in itertools.count(epoch):
        feed.set_epoch(epoch)
        batches = loader if not skip else accelerator.skip_first_batches(loader, skip)
        if hasattr(batches, "set_epoch"):
            # accelerate's loader hands its sampler its own count of passes over it, which a resumed run's
            # loader starts again from 0: without this, a resumed run's later epochs repeat the first one's order.
            batches.set_epoch(epoch)
        for index, batch in enumerate(batches, start=skip):
            yield Position(epoch, index, len(loader)), batch
        skip = 0


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
    checkpoints: Checkpointer | None = None,
    resume_from: Path | None = None,
    interrupt: Interrupt | None = None,
) -> TrainOutcome:
    """Fine-tune ``model`` on tokenized ``train_ds``; returns it with the best validation weights loaded.

    A stop after the first evaluation ends training there with the best model so far (``outcome.stopped``);
    before it, there is nothing worth keeping and :class:`StopRequested` is raised.  ``checkpoints`` writes
    resumable checkpoints; ``resume_from`` (one of them) goes on from where it was written.  ``interrupt`` (Ctrl-C or
    SIGTERM of the command) stops the steps at a step boundary with a checkpoint there, raising KeyboardInterrupt.

    On a CPU, memory freed by one step is kept for the next (``prepare_model``) and handed back at the end;
    the last layer computes every position again once training is over.
    """
    try:
        return _fit(model, tokenizer, cfg, train_ds, val_ds, label_names, accelerator, emit=emit,
                    should_stop=should_stop, checkpoints=checkpoints, resume_from=resume_from, interrupt=interrupt)
    finally:
        restore_last_layer(model)
        if accelerator.device.type == "cpu":
            release_freed_memory()


def stopping_phase(interrupt: Interrupt | None, step: int) -> str:
    """What the console says between Ctrl-C (or SIGTERM) and the stop: the checkpoint it waits for, and the way out."""
    name = interrupt.name if interrupt is not None else "Another process's stop"
    again = " (Ctrl-C again stops without it)" if name == "Ctrl-C" else ""
    return f"{name}: saving a checkpoint of step {step:,} before stopping{again}"


FEATURES_PHASE = "Reading every text once with the frozen model"
VALIDATION_PHASE = "Checking the model on the validation texts"


def reporting(phase: str, emit: Callable[[Any], None], should_stop: Callable[[], bool]) -> Callable[[int, int], None]:
    """An ``on_batch`` for a phase of batches: a Working event before each batch, and Stop honoured between two
    (a batch takes about a second at most, so neither progress nor Stop waits longer)."""

    def on_batch(done: int, total: int) -> None:
        emit(Working(phase=phase, done=done, total=total))
        if should_stop():
            raise StopRequested()

    return on_batch


def _make_feed(model, tokenizer, cfg: TrainConfig, train_ds, val_ds, accelerator, emit: Callable[[Any], None],
               should_stop: Callable[[], bool]):
    if not uses_cached_features(cfg, accelerator):
        return token_feed(train_ds, val_ds, tokenizer, cfg, accelerator.device.type)

    with accelerator.autocast():  # the one-off encoder pass over every text, in the run's precision
        return cached_feature_feed(model.to(accelerator.device), train_ds, val_ds, tokenizer, cfg, accelerator.device,
                                   reporting(FEATURES_PHASE, emit, should_stop))


def _fit(model, tokenizer, cfg: TrainConfig, train_ds, val_ds, label_names: list[str], accelerator, *,
         emit: Callable[[Any], None], should_stop: Callable[[], bool], checkpoints: Checkpointer | None,
         resume_from: Path | None, interrupt: Interrupt | None) -> TrainOutcome:
    torch.manual_seed(cfg.seed)
    start = time.perf_counter()  # includes the one-off feature pass of head-only training
    prepare_model(model, cfg, accelerator.device.type)
    feed = _make_feed(model, tokenizer, cfg, train_ds, val_ds, accelerator, emit, should_stop)
    optimizer = make_optimizer(model, cfg, accelerator.device.type)
    weights = training_class_weights(train_ds, len(label_names), cfg.class_weighting)
    model, optimizer, train_loader, val_loader = accelerator.prepare(model, optimizer, feed.train, feed.val)
    if weights is not None:
        weights = weights.to(accelerator.device)
    # Training steps only: validation is a small share of the batches, and compiling it too (no gradients,
    # dropout off: other graphs) would double the wait before training for little gain.
    forward = compiled_or_plain(feed.forward, cfg.compile, accelerator.device.type)
    validation = Validation(val_loader, labels_per_text(val_ds), label_names, feed.forward, cfg.metric_for_best,
                            reporting(VALIDATION_PHASE, emit, should_stop), window_aggregation(cfg))

    total_steps, steps_per_epoch = total_optimizer_steps(cfg, len(train_loader))
    warmup = warmup_steps_for(total_steps, cfg.warmup_ratio)
    unfreezer = gradual_unfreezer(accelerator.unwrap_model(model), cfg, total_steps)  # None unless gradual
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, unfreezer.lr_multiplier if unfreezer else
                                                  lambda s: lr_multiplier(s, total_steps, warmup))
    # Not through prepare(): accelerate would step it once per process. Registered, so checkpoints carry it.
    accelerator.register_for_checkpointing(scheduler)
    eval_every = min(cfg.eval_every or steps_per_epoch, total_steps)

    state, best_weights = LoopState(), None
    if resume_from is not None:  # model, optimizer, scheduler and random generators as they were
        state, best_weights = load_checkpoint(accelerator, resume_from)
        start -= state.train_seconds  # times and speeds count the training before the interruption too
        if checkpoints is not None:
            checkpoints.resumed_from(resume_from, state)
    best = BestSoFar.from_loop_state(state, best_weights)
    history = list(state.history)
    step, micro_batches = state.step, state.micro_batches
    readings = StepReadings(deferred=defers_readbacks(accelerator.device.type), emit=emit, total_steps=total_steps,
                            steps_per_epoch=steps_per_epoch, start=start, processes=accelerator.num_processes,
                            samples=state.samples, tokens=state.tokens)
    stopped = False
    early_stopped = False

    def checkpoint_state(position: Position) -> LoopState:
        """Where the run is once the batch at ``position`` is trained on, for a checkpoint to go on from."""
        epoch, done = position.following()
        return best.to_loop_state(
            step=step, epoch=epoch, batch_in_epoch=done, samples=readings.samples, tokens=readings.tokens,
            micro_batches=micro_batches, train_seconds=time.perf_counter() - start, history=history,
            processes=accelerator.num_processes, batch_size=cfg.batch_size, grad_accum=cfg.grad_accum)

    model.train()
    # Ctrl-C or SIGTERM during the steps waits for the next step boundary and its checkpoint (interrupts).
    with interrupt.deferred() if interrupt is not None and checkpoints is not None else contextlib.nullcontext():
        for position, batch in epochs_of(feed, train_loader, accelerator, state.epoch, state.batch_in_epoch):
            if should_stop():
                readings.flush()
                if best.state is None:
                    raise StopRequested()
                stopped = True
                break
            batch.pop("row", None)
            if unfreezer is not None:
                unfreezer.enter(step)
            with accelerator.accumulate(model):
                loss, micro_batches = run_step(
                    forward,
                    lambda: backward_within_memory(model, batch, forward, weights, accelerator, optimizer,
                                                   micro_batches, on_device=readings.deferred),
                    lambda: optimizer.zero_grad(set_to_none=True))
                grad_norm = clipped_step(model, optimizer, accelerator, cfg.max_grad_norm)
                optimizer.zero_grad(set_to_none=True)
            readings.count_batch(batch)
            if not accelerator.sync_gradients:
                continue  # between accumulated micro-steps: no update happened
            lr_used = _encoder_lr(optimizer, cfg)  # the rate this update used, before the schedule moves on
            loss = mean_over_processes(loss, accelerator)
            scheduler.step()
            step += 1
            readings.record(step, loss, lr_used, grad_norm, time.perf_counter() - start)
            if step % eval_every == 0 or step == total_steps:
                readings.flush()  # every step's point before the check's
                try:
                    evaluated = evaluate_and_keep_best(model, validation, accelerator, best, step, steps_per_epoch,
                                                       start)
                except StopRequested:  # Stop during a check: as before a step (keep the best so far, if any)
                    if best.state is None:
                        raise
                    stopped = True
                    break
                history.append(evaluated.to_dict())
                emit(evaluated)
                if best.patience_spent(cfg.early_stopping_patience):
                    early_stopped = step < total_steps
                    break
            if step >= total_steps:
                break
            if checkpoints is None:
                continue
            end = checkpoints.at_step_end(accelerator, position.last_of_epoch, interrupt)
            if end.save:
                if end.stop:
                    emit(Working(phase=stopping_phase(interrupt, step), done=0, total=0))
                checkpoints.save(accelerator, checkpoint_state(position), best.state)
            if end.stop:
                readings.flush()  # the steps trained so far are in the run's record
                raise interrupt.exception() if interrupt is not None else KeyboardInterrupt()

    readings.flush()
    train_seconds = time.perf_counter() - start
    # The optimizer's moments (8 bytes per trainable weight: by that count ~70 MB for the bundled model, ~700 MB for
    # BERT-base) are no use once training ends; the accelerator and the schedule would keep them through scoring
    # and saving.
    optimizer.state.clear()
    unwrapped = accelerator.unwrap_model(model)
    best.restore(unwrapped)
    return TrainOutcome(model=unwrapped, best_metrics=best.metrics, best_step=best.step,
                        best_epoch=round(best.epoch, 3), steps_done=step, train_seconds=train_seconds,
                        tokens_seen=readings.tokens, samples_seen=readings.samples, history=history, stopped=stopped,
                        early_stopped=early_stopped)
