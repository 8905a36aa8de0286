"""Measure how long one training step takes on this computer, for the time estimate.

The chosen architecture is built with random weights (timing does not depend on
the values, and nothing needs downloading) and only two of its layers (see ``SpeedProbe``), and
timed on a batch of the run's shape with the run's number precision: a training step and a forward pass
(evaluation, head-only feature caching).  Results are cached per shape, so changing epochs or the preset does
not measure again.
"""

from __future__ import annotations

import functools
import time

from bertstudio.config import TrainConfig
from bertstudio.errors import ModelError
from bertstudio.models.pooling import trained_pooling
from bertstudio.models.registry import architecture_config, find_variant
from bertstudio.models.sources import resolve_model_source
from bertstudio.train.auto import ModelShape
from bertstudio.train.model_setup import prepare_model
from bertstudio.train.plan import SpeedProbe, trainable_layers

WARMUP_STEPS = 2  # the first steps pay one-off costs (allocation, kernel selection for this shape)
TIMED_STEPS = 3


def model_shape(model: str) -> ModelShape:
    """Hidden size and layers of a registry variant or a local model folder (BERT-base's when unknown)."""

    variant = find_variant(model)
    if variant is not None:
        arch = variant.architecture
        return ModelShape(arch.hidden_size, arch.num_layers, arch.intermediate_size, variant.family,
                          trained_pooling(resolve_model_source(model)))
    try:
        return ModelShape.of(_architecture(model), trained_pooling(resolve_model_source(model)))
    except ModelError:
        return ModelShape()


def _architecture(model: str):
    """A transformers config for ``model`` without downloading anything."""

    variant = find_variant(model)
    if variant is not None:
        return architecture_config(variant.key)
    source = resolve_model_source(model)
    if source.kind != "local":
        raise ModelError(f"The size of {source.display_name} is unknown until it is downloaded.",
                         "Pick a built-in model to get an estimate.")
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(source.path_or_id, trust_remote_code=False, local_files_only=True)


def speed_probe(config: TrainConfig, *, seq_len: int, device: str, bf16: bool) -> SpeedProbe:
    """The probe for ``config``'s model, batch size and precision (measured once per shape, then cached).

    Freezing is not part of the key: switching between presets never measures again.
    """
    precision = config.precision if config.precision != "auto" else ("bf16" if bf16 else "fp32")
    return _measure(config.model, int(config.batch_size or 16), int(seq_len), precision, device)


def step_seconds(config: TrainConfig, *, seq_len: int, device: str, bf16: bool) -> float:
    """Seconds for one optimizer step of ``config`` (resolved: batch size and precision known)."""
    probe = speed_probe(config, seq_len=seq_len, device=device, bf16=bf16)
    return probe.step_seconds(trainable_layers(config, probe.layers))


PROBE_DEPTHS = (1, 2)  # the layers the probe builds: the difference is one layer, the rest the fixed part


@functools.lru_cache(maxsize=32)
def _measure(model: str, batch_size: int, seq_len: int, precision: str, device: str) -> SpeedProbe:
    arch = _architecture(model)
    arch.num_labels = 2
    layers = ModelShape.of(arch).layers
    seq_len = max(8, min(seq_len, int(getattr(arch, "max_position_embeddings", 512))))
    (train1, forward1), (train2, forward2) = (_time_depth(arch, depth, batch_size, seq_len, precision, device)
                                              for depth in PROBE_DEPTHS)
    return SpeedProbe(layers=layers, batch_size=batch_size, train_step=_scaled(train1, train2, layers),
                      forward_batch=_scaled(forward1, forward2, layers))


def _scaled(one_layer: float, two_layers: float, layers: int) -> float:
    """Fixed part + ``layers`` x one layer. The fixed part (embeddings, their optimizer update, the head) is
    not small in a training step: BERT-base's word embeddings hold 23M of its 110M parameters, all updated
    every step. A busy machine can time the 2-layer model faster than the 1-layer one; a layer then counts
    as half the 2-layer time."""
    per_layer = two_layers - one_layer if two_layers > one_layer else two_layers / 2
    fixed = max(0.0, two_layers - 2 * per_layer)
    return fixed + layers * per_layer


def _time_depth(arch, depth: int, batch_size: int, seq_len: int, precision: str, device: str) -> tuple[float, float]:
    """(training step, forward pass) seconds of ``arch`` cut to ``depth`` layers."""
    import copy

    import torch
    from transformers import AutoModelForSequenceClassification

    arch = copy.deepcopy(arch)
    for name in ("num_hidden_layers", "n_layers"):
        if hasattr(arch, name):
            setattr(arch, name, depth)
    net = AutoModelForSequenceClassification.from_config(arch).to(device)
    prepare_model(net, TrainConfig(), device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-5, fused=device in ("cpu", "cuda"))  # as the engine's
    ids = torch.randint(1000, 2000, (batch_size, seq_len), device=device)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def one_step() -> None:
        with torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
            loss = net(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def one_forward() -> None:
        with torch.no_grad(), torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
            net(input_ids=ids, attention_mask=torch.ones_like(ids))

    net.train()
    train = _fastest(one_step, device)
    net.eval()
    return train, _fastest(one_forward, device)


def _fastest(work, device: str) -> float:
    for _ in range(WARMUP_STEPS):
        work()
    timings = []
    for _ in range(TIMED_STEPS):
        _sync(device)
        start = time.perf_counter()
        work()
        _sync(device)
        timings.append(time.perf_counter() - start)
    return min(timings)  # the fastest: other programs running at the same time only ever slow steps down


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
