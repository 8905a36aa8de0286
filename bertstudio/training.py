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

from bertstudio.allocator import keep_freed_memory, release_freed_memory
from bertstudio.batching import EpochBatchSampler, FixedBatchSampler, PaddingCollator, sorted_batches
from bertstudio.cls_only import compute_last_layer_for_cls_only, restore_last_layer
from bertstudio.config import TrainConfig
from bertstudio.dropout import use_fast_dropout
from bertstudio.events import Evaluated, Step
from bertstudio.metrics import classification_metrics, softmax
from bertstudio.schedule import lr_multiplier, warmup_steps_for

EVAL_BATCH_SIZE = 64
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


# --- tokenization -----------------------------------------------------------------------


def tokenize_split(dataset, tokenizer, max_length: int):
    """Token ids without padding (padding happens per batch), plus length and original row index."""
    has_pair = "text_pair" in dataset.column_names

    def encode(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        pairs = batch["text_pair"] if has_pair else None
        enc = tokenizer(batch["text"], pairs, truncation=True, max_length=max_length, padding=False)
        out = {"input_ids": enc["input_ids"], "length": [len(ids) for ids in enc["input_ids"]], "row": indices}
        if "token_type_ids" in enc:
            out["token_type_ids"] = enc["token_type_ids"]
        return out

    keep = {"label"}
    remove = [c for c in dataset.column_names if c not in keep]
    return dataset.map(encode, batched=True, batch_size=2000, with_indices=True, remove_columns=remove,
                       desc="Tokenizing")


def tokenized_subset(tokenized, size: int, seed: int):
    """A random subset of a tokenized split, its rows renumbered so predictions line up with it."""
    n = min(size, len(tokenized))
    picked = tokenized.shuffle(seed=seed).select(range(n))
    return picked.remove_columns("row").add_column("row", list(range(n)))


# --- model surgery -------------------------------------------------------------------------


def encoder_layers(model) -> list[torch.nn.Module]:
    base = model.base_model
    if hasattr(base, "encoder"):
        return list(base.encoder.layer)  # BERT-style
    if hasattr(base, "transformer"):
        return list(base.transformer.layer)  # DistilBERT
    raise ValueError(f"Unsupported architecture {type(model).__name__}: no encoder layers found.")


def is_head_parameter(name: str, model) -> bool:
    """The new classifier (and BERT's pooler, which feeds only the classifier) versus the pre-trained encoder."""
    prefix = model.base_model_prefix + "."
    return not name.startswith(prefix) or name.startswith(prefix + "pooler.")


def apply_freezing(model, cfg: TrainConfig) -> None:
    """Turn off gradients for the frozen parts; frozen weights cost no backward or optimizer work."""
    for name, param in model.named_parameters():
        param.requires_grad = is_head_parameter(name, model) or not cfg.freeze_encoder
    if cfg.freeze_encoder:
        return
    if cfg.freeze_embeddings:
        model.base_model.embeddings.word_embeddings.weight.requires_grad = False
    frozen = cfg.freeze_layers or 0  # None: not resolved from the model, so nothing beyond the embeddings
    if frozen:
        layers = encoder_layers(model)
        if frozen >= len(layers):
            from bertstudio.errors import ConfigError

            raise ConfigError(f"freeze_layers is {frozen} but the model has only {len(layers)} layers.",
                              f"Use a value below {len(layers)}, or the head-only preset.")
        for layer in layers[:frozen]:
            for param in layer.parameters():
                param.requires_grad = False
        for param in model.base_model.embeddings.parameters():
            param.requires_grad = False


def prepare_model(model, cfg: TrainConfig, device_type: str) -> None:
    """Freezing as configured, the last layer computed for [CLS] alone (see ``cls_only``; undone when
    training ends) and, on a CPU, the cheap dropout mask (see ``dropout``) and a malloc that keeps freed
    memory for the next step (see ``allocator``)."""
    apply_freezing(model, cfg)
    compute_last_layer_for_cls_only(model)
    if device_type == "cpu":
        use_fast_dropout(model)
        keep_freed_memory()


def parameter_groups(model, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: encoder and head at their own learning rates; no weight decay on biases and LayerNorm,
    where decay would only pull normalisation and offsets towards zero."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        groups.setdefault((is_head_parameter(name, model), no_decay), []).append(param)
    result = []
    for (is_head, no_decay), params in groups.items():
        lr = cfg.head_lr if is_head else cfg.lr
        result.append({"params": params, "lr": lr, "initial_lr": lr,
                       "weight_decay": 0.0 if no_decay else cfg.weight_decay})
    return result


def make_optimizer(model, cfg: TrainConfig, device_type: str) -> torch.optim.Optimizer:
    # The fused kernel updates all parameters in one pass: several times cheaper per step than the
    # default per-tensor loop, which matters most on short texts where the step itself is fast.
    fused = device_type in ("cpu", "cuda")
    return torch.optim.AdamW(parameter_groups(model, cfg), fused=fused)


def class_weights(labels: np.ndarray, num_classes: int, mode: str) -> torch.Tensor | None:
    if mode != "balanced":
        return None
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = len(labels) / (num_classes * np.maximum(counts, 1))
    return torch.tensor(weights, dtype=torch.float32)


# --- what a batch is: tokens through the whole model, or cached features through the head ------------


def full_forward(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**batch).logits


def head_logits(model, features: torch.Tensor) -> torch.Tensor:
    """The classifier on top of the encoder's [CLS] vector, exactly as the full model computes it."""
    if model.config.model_type == "distilbert":
        return model.classifier(model.dropout(torch.relu(model.pre_classifier(features))))
    pooler = getattr(model.base_model, "pooler", None)
    pooled = pooler(features.unsqueeze(1)) if pooler is not None else features
    return model.classifier(model.dropout(pooled))


def head_forward(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return head_logits(model, batch["features"])


@dataclass
class Feed:
    """What the loop iterates and how one batch becomes logits."""

    train: Any
    val: Any
    forward: Callable[[Any, dict], torch.Tensor]
    set_epoch: Callable[[int], None]


def data_workers(cfg: TrainConfig, device_type: str) -> int:
    """Processes preparing batches in the background. On a GPU the loop waits for the GPU every step (the loss
    is read back), so a batch collated in the main process is time the GPU sits idle: ~8% of a BERT-base step
    at batch 256 on an H200. On a CPU the cores are busy computing; a worker would only take them away."""
    if cfg.data_workers is not None:
        return cfg.data_workers
    return 2 if device_type == "cuda" else 0


def token_feed(train_ds, val_ds, tokenizer, cfg: TrainConfig, device_type: str) -> Feed:
    collator = PaddingCollator(tokenizer.pad_token_id or 0, 8 if device_type == "cuda" else None,
                               "token_type_ids" in train_ds.column_names)
    sampler = EpochBatchSampler(train_ds["length"], cfg.batch_size, seed=cfg.seed, group_by_length=cfg.length_grouping)
    workers = data_workers(cfg, device_type)
    # The batch sampler stays in this process (workers only collate), so set_epoch reaches it between epochs.
    background = {"num_workers": workers, "persistent_workers": True, "prefetch_factor": 4} if workers else {}
    # The loader draws its workers' seeds from its own generator, not the global one that dropout uses:
    # otherwise how many workers there are would change every dropout mask of the run.
    train = torch.utils.data.DataLoader(train_ds, batch_sampler=sampler, collate_fn=collator,
                                        pin_memory=device_type == "cuda",
                                        generator=torch.Generator().manual_seed(cfg.seed), **background)
    return Feed(train, make_eval_loader(val_ds, collator), full_forward, sampler.set_epoch)


@torch.no_grad()
def encode_cls_features(model, dataset, tokenizer, device) -> torch.Tensor:
    """The frozen encoder's [CLS] vectors for every row, computed once (dropout off) in row order."""
    collator = PaddingCollator(tokenizer.pad_token_id or 0, None, "token_type_ids" in dataset.column_names)
    features = torch.zeros(len(dataset), model.config.hidden_size if hasattr(model.config, "hidden_size")
                           else model.config.dim)
    was_training = model.training
    model.eval()
    for batch in make_eval_loader(dataset, collator):
        rows = batch.pop("row")
        batch.pop("labels", None)
        batch = {k: v.to(device) for k, v in batch.items()}
        features[rows] = model.base_model(**batch)[0][:, 0].float().cpu()
    model.train(was_training)
    return features


class _FeatureRows(torch.utils.data.Dataset):
    def __init__(self, features: torch.Tensor, labels: list[int]):
        self.features = features
        self.labels = torch.as_tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"features": self.features[i], "labels": self.labels[i], "row": torch.tensor(i)}


def cached_feature_feed(model, train_ds, val_ds, tokenizer, cfg: TrainConfig, device) -> Feed:
    """Head-only training: the encoder never changes, so its output is computed once instead of every epoch.

    Every epoch after this one pass costs only the small head: tens of times faster than a full pass.
    """
    train_rows = _FeatureRows(encode_cls_features(model, train_ds, tokenizer, device), train_ds["label"])
    val_rows = _FeatureRows(encode_cls_features(model, val_ds, tokenizer, device), val_ds["label"])
    generator = torch.Generator().manual_seed(cfg.seed)
    train = torch.utils.data.DataLoader(train_rows, batch_size=cfg.batch_size, shuffle=True, generator=generator)
    val = torch.utils.data.DataLoader(val_rows, batch_size=EVAL_BATCH_SIZE)
    return Feed(train, val, head_forward, lambda epoch: generator.manual_seed(cfg.seed + epoch))


# --- evaluation --------------------------------------------------------------------------------


def make_eval_loader(tokenized, collator: PaddingCollator):
    batches = sorted_batches(tokenized["length"], EVAL_BATCH_SIZE)
    return torch.utils.data.DataLoader(tokenized, batch_sampler=FixedBatchSampler(batches), collate_fn=collator)


@torch.no_grad()
def predict_logits(model, loader, accelerator, forward=full_forward) -> np.ndarray:
    """Logits for every row of the loader's dataset, in the dataset's own order."""
    model.eval()
    rows, outputs = [], []
    for batch in loader:
        row = batch.pop("row")
        batch.pop("labels", None)
        logits = forward(model, batch).float()
        row, logits = accelerator.gather_for_metrics((row, logits))
        rows.append(row.cpu())
        outputs.append(logits.cpu())
    model.train()
    if not outputs:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    order = torch.cat(rows).numpy()
    logits = torch.cat(outputs).numpy()
    result = np.zeros_like(logits)
    result[order] = logits
    return result


def evaluate_split(model, loader, labels: np.ndarray, label_names: list[str], accelerator,
                   forward=full_forward) -> dict[str, Any]:
    probs = softmax(predict_logits(model, loader, accelerator, forward))
    return classification_metrics(labels, probs, label_names)


def score_for(metrics: dict[str, Any], metric: str) -> float:
    """Higher is better for every metric the early stopper compares."""
    return -metrics["loss"] if metric == "val_loss" else metrics[metric]


# --- one optimizer step ----------------------------------------------------------------------------


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


# --- the loop ------------------------------------------------------------------------------------------


def total_optimizer_steps(cfg: TrainConfig, batches_per_epoch: int) -> tuple[int, int]:
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / cfg.grad_accum))
    total = max(1, math.ceil(steps_per_epoch * cfg.epochs))
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    return total, steps_per_epoch


def uses_cached_features(cfg: TrainConfig, accelerator) -> bool:
    # Across several processes the head must train through the DDP wrapper to keep replicas in sync;
    # the full forward does that, and the head is small enough that caching matters little there.
    return cfg.freeze_encoder and accelerator.num_processes == 1


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


def _encoder_lr(optimizer, cfg: TrainConfig) -> float:
    """The learning rate shown to users: the encoder's (the head's is a fixed multiple of it)."""
    target = cfg.head_lr if cfg.freeze_encoder else cfg.lr
    for group in optimizer.param_groups:
        if group["initial_lr"] == target:
            return group["lr"]
    return optimizer.param_groups[0]["lr"]
