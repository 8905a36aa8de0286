"""What the ONNX and TorchScript exports share: a logits-only module and a padded example batch.

Both exporters record one run of the model.  Transformers skips the attention
mask when a batch has no padding, so the example batch must contain padding:
otherwise the recorded graph would ignore the mask and mispredict padded batches.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Iterator, Sequence

import numpy as np

from bertstudio.predict.backends import model_input_names
from bertstudio.predict.preprocessing import encode, pad_batch
from bertstudio.results import Preprocessing
from bertstudio.train.speedups.cls_only import last_layer_for_cls_only

EXAMPLE_TEXTS = ("a short text", "a somewhat longer example text, so that the first one needs padding")


def logits_module(model):
    """``model`` as a module taking positional (input_ids, attention_mask[, token_type_ids]) -> logits.

    Its last layer computes the [CLS] position alone, as prediction in PyTorch does (see
    :mod:`bertstudio.train.speedups.cls_only`): an exported file computes the same logits with less work (measured at
    batch 1, 128 tokens: BERT-base 4-5% faster in ONNX Runtime fp32 and INT8, the bundled 6-layer model
    6% in fp32 and 10% in INT8).
    The model itself is left as it was.
    """
    import torch


    names = model_input_names(model)

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            with last_layer_for_cls_only(self.model):
                return self.model(**dict(zip(names, inputs))).logits

    return LogitsOnly().eval(), names


def example_inputs(tokenizer, prep: Preprocessing, names: Sequence[str]) -> tuple:
    """A batch of two texts of different lengths, padded (see the module note)."""
    import torch

    pairs = list(EXAMPLE_TEXTS) if prep.text_pair else None
    encoded = encode(tokenizer, EXAMPLE_TEXTS, pairs, prep)
    batch = pad_batch(encoded, [0, 1], tokenizer.pad_token_id or 0)
    if not (batch["attention_mask"] == 0).any():  # max_length so small that both texts were cut equal
        batch = {k: v.copy() for k, v in batch.items()}
        batch["attention_mask"][0, -1] = 0
    return tuple(torch.from_numpy(batch.get(n, np.zeros_like(batch["input_ids"]))) for n in names)


@contextlib.contextmanager
def quiet_tracing() -> Iterator[None]:
    """The exporters' deprecation and tracer warnings are for library authors, not for users."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.jit", "onnxruntime", "transformers", "root")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
