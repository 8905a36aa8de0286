"""Getting a model ready to train: freezing, parameter groups with their learning rates, the optimizer."""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import torch

from bertstudio.config import TrainConfig
from bertstudio.data.long_texts import labels_per_text
from bertstudio.errors import ConfigError
from bertstudio.evaluation.multilabel_metrics import is_multi_label
from bertstudio.train.multilabel import positive_weights
from bertstudio.models.pooling import uses_pooler
from bertstudio.train.lora import has_lora, is_lora_parameter
from bertstudio.train.speedups.allocator import keep_freed_memory
from bertstudio.train.speedups.cls_only import compute_last_layer_for_cls_only
from bertstudio.train.speedups.dropout import use_fast_dropout

logger = logging.getLogger(__name__)


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


def check_freeze_layers(cfg: TrainConfig, layers: int) -> None:
    """Refuse freezing as many layers as the model has or more (the head-only setting keeps it all fixed)."""
    frozen = cfg.freeze_layers or 0
    if frozen >= layers and not cfg.freeze_encoder:
        raise ConfigError(f"freeze_layers (--freeze-layers) is {frozen}, but the model has only {layers} layers.",
                          f"Use a value below {layers} (0 lets every layer learn), or --freeze-encoder (the head-only "
                          "preset) to keep the whole model fixed.")


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
        check_freeze_layers(cfg, len(layers))
        for layer in layers[:frozen]:
            for param in layer.parameters():
                param.requires_grad = False
        for param in model.base_model.embeddings.parameters():
            param.requires_grad = False


def apply_strategy_freezing(model) -> None:
    """What the fine-tuning strategy keeps fixed: with LoRA every pre-trained weight (only the adapters and the
    head train); with a pooling that skips BERT's pooler, the pooler, which then feeds nothing."""
    pooler = getattr(model.base_model, "pooler", None)
    if pooler is not None and not uses_pooler(model):
        pooler.requires_grad_(False)
    if has_lora(model):
        for name, param in model.named_parameters():
            param.requires_grad = is_lora_parameter(name) or (is_head_parameter(name, model) and param.requires_grad)


def prepare_model(model, cfg: TrainConfig, device_type: str) -> None:
    """Freezing as configured, the last layer computed for [CLS] alone (see ``cls_only``; undone when
    training ends) and, on a CPU, the cheap dropout mask (see ``dropout``) and a malloc that keeps freed
    memory for the next step (see ``allocator``)."""
    apply_freezing(model, cfg)
    apply_strategy_freezing(model)
    compute_last_layer_for_cls_only(model)
    if device_type == "cpu":
        use_fast_dropout(model)
        keep_freed_memory()


_LAYER_NUMBER = re.compile(r"\.layer\.(\d+)\.")


def layer_depth(name: str, model, num_layers: int) -> int:
    """How far above the input a pre-trained parameter sits: 0 for the embeddings, i + 1 for encoder layer i."""
    found = _LAYER_NUMBER.search(name)
    if found:
        return int(found.group(1)) + 1
    return 0 if ".embeddings." in name else num_layers


def encoder_lr(name: str, model, cfg: TrainConfig, num_layers: int) -> float:
    """The encoder's learning rate for parameter ``name``: layer-wise decay (Sun et al. 2019, "How to fine-tune BERT")
    gives the top layer the full rate and each layer below ``layer_lr_decay`` times the one above, so the general
    features of the bottom layers change least."""
    decay = cfg.layer_lr_decay or 1.0
    if decay == 1.0:
        return cfg.lr
    return cfg.lr * decay ** (num_layers - layer_depth(name, model, num_layers))


def parameter_groups(model, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: encoder and head at their own learning rates (the encoder's per layer with layer-wise decay);
    no weight decay on biases and LayerNorm, where decay would only pull normalisation and offsets towards zero."""
    num_layers = len(encoder_layers(model))
    groups: dict[tuple[bool, bool, float], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        is_head = is_head_parameter(name, model)
        lr = cfg.head_lr if is_head else encoder_lr(name, model, cfg, num_layers)
        groups.setdefault((is_head, no_decay, lr), []).append(param)
    result = []
    for (is_head, no_decay, lr), params in groups.items():
        result.append({"params": params, "lr": lr, "initial_lr": lr,
                       "weight_decay": 0.0 if no_decay else cfg.weight_decay})
    return result


def make_optimizer(model, cfg: TrainConfig, device_type: str) -> torch.optim.Optimizer:
    # The fused kernel updates all parameters in one pass: several times cheaper per step than the
    # default per-tensor loop, which matters most on short texts where the step itself is fast.
    fused = device_type in ("cpu", "cuda")
    return torch.optim.AdamW(parameter_groups(model, cfg), fused=fused)


def class_weights(labels: np.ndarray, num_classes: int, mode: str) -> torch.Tensor | None:
    """The loss weight of each class ("balanced": rarer classes weigh more), from one label per text."""
    if mode != "balanced":
        return None
    if is_multi_label(labels):
        return positive_weights(labels, mode)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = len(labels) / (num_classes * np.maximum(counts, 1))
    return torch.tensor(weights, dtype=torch.float32)


def training_class_weights(train_ds, num_classes: int, mode: str) -> torch.Tensor | None:
    """:func:`class_weights` of a tokenized training split. Counted over texts, not rows: read in windows, a class
    of long texts has several rows per text and counted by rows it would look common and weigh less than its
    share of the texts says (and less than the automatic choice, which counts texts, assumed)."""
    return class_weights(labels_per_text(train_ds), num_classes, mode)


def _encoder_lr(optimizer, cfg: TrainConfig) -> float:
    """The learning rate shown to users: the encoder's (the head's is a fixed multiple of it)."""
    target = cfg.head_lr if cfg.freeze_encoder else cfg.lr
    for group in optimizer.param_groups:
        if group["initial_lr"] == target:
            return group["lr"]
    return optimizer.param_groups[0]["lr"]
