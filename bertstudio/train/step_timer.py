"""Measure how long one training step takes on this computer, for the time estimate.

The chosen architecture is built with random weights (timing does not depend on
the values, and nothing needs downloading), frozen as the run will freeze it, and
timed on a batch of the run's shape with the run's number precision.  Results are
cached per shape, so changing epochs or the preset does not measure again.
"""

from __future__ import annotations

import functools
import time

from bertstudio.config import TrainConfig
from bertstudio.errors import ModelError
from bertstudio.models.registry import architecture_config, find_variant
from bertstudio.models.sources import resolve_model_source
from bertstudio.train.auto import ModelShape
from bertstudio.train.model_setup import prepare_model

WARMUP_STEPS = 2  # the first steps pay one-off costs (allocation, kernel selection for this shape)
TIMED_STEPS = 3


def model_shape(model: str) -> ModelShape:
    """Hidden size and layers of a registry variant or a local model folder (BERT-base's when unknown)."""

    variant = find_variant(model)
    if variant is not None:
        arch = variant.architecture
        return ModelShape(arch.hidden_size, arch.num_layers, arch.intermediate_size)
    try:
        return ModelShape.of(_architecture(model))
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


def step_seconds(config: TrainConfig, *, seq_len: int, device: str, bf16: bool) -> float:
    """Seconds for one optimizer step of ``config`` (resolved: batch size and precision known)."""
    precision = config.precision if config.precision != "auto" else ("bf16" if bf16 else "fp32")
    return _measure(config.model, int(config.batch_size or 16), int(seq_len), bool(config.freeze_encoder),
                    bool(config.freeze_embeddings), int(config.freeze_layers or 0), precision, device)


@functools.lru_cache(maxsize=32)
def _measure(model: str, batch_size: int, seq_len: int, freeze_encoder: bool, freeze_embeddings: bool,
             freeze_layers: int, precision: str, device: str) -> float:
    import torch
    from transformers import AutoModelForSequenceClassification


    arch = _architecture(model)
    arch.num_labels = 2
    seq_len = max(8, min(seq_len, int(getattr(arch, "max_position_embeddings", 512))))
    net = AutoModelForSequenceClassification.from_config(arch).to(device)
    prepare_model(net, TrainConfig(freeze_encoder=freeze_encoder, freeze_embeddings=freeze_embeddings,
                                   freeze_layers=min(freeze_layers, max(0, ModelShape.of(arch).layers - 1))), device)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, fused=device in ("cpu", "cuda"))  # as the engine's optimizer
    ids = torch.randint(1000, 2000, (batch_size, seq_len), device=device)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    net.train()

    def one_step() -> None:
        with torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
            loss = net(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(WARMUP_STEPS):
        one_step()
    timings = []
    for _ in range(TIMED_STEPS):
        _sync(device)
        start = time.perf_counter()
        one_step()
        _sync(device)
        timings.append(time.perf_counter() - start)
    return min(timings)  # the fastest step: other programs running at the same time only ever slow steps down



def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
