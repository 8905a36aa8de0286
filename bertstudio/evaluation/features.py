"""Running a model over many texts without training machinery: logits of a classifier,
mean-pooled features of a frozen encoder.

This deliberately does not go through accelerate: creating an Accelerator resets
process-wide state, which would disturb a training run going on in another thread
of the app.  The batches are the training code's own (length-sorted, padded per
batch), so evaluation sees exactly the inputs training saw.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from bertstudio.data.long_texts import LongTexts, per_text, text_rows_of
from bertstudio.errors import ModelError
from bertstudio.hardware import detect_device
from bertstudio.models.loading import load_model_for_classification, load_tokenizer, quiet_library_progress
from bertstudio.models.sources import resolve_model_source
from bertstudio.train.batching import make_collator
from bertstudio.train.feeds import make_eval_loader, tokenize_split

if TYPE_CHECKING:
    import torch

DEFAULT_ENCODER = "bundled-minilm"
FEATURE_MAX_LENGTH = 128


def inference_device(device: str = "auto", precision: str = "auto") -> tuple[str, bool]:
    """(torch device type, whether to autocast to bf16): bf16 only where the hardware makes it fast."""

    info = detect_device(device)
    use_bf16 = info.bf16 if precision == "auto" else precision == "bf16" and info.bf16
    return info.type, use_bf16


def make_dataset(texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                 labels: Sequence[int] | None = None):
    """A datasets.Dataset with the columns the training code's tokenizer expects."""
    import datasets

    columns: dict[str, list[Any]] = {"text": [str(t) for t in texts]}
    if text_pairs is not None:
        columns["text_pair"] = [str(t) for t in text_pairs]
    if labels is not None:
        # A multi-label row's label is a 0/1 vector.
        columns["label"] = [[int(x) for x in v] if isinstance(v, (list, tuple)) else int(v) for v in labels]
    return datasets.Dataset.from_dict(columns)


def run_batches(model, dataset, tokenizer, max_length: int, forward: Callable[[Any, dict], "torch.Tensor"], *,
                device: str = "auto", precision: str = "auto", long_texts: LongTexts | None = None) -> np.ndarray:
    """``forward(model, batch)`` for every row of ``dataset`` (text[, text_pair]), in the dataset's order
    (long texts kept as ``long_texts`` says; windows combined per text)."""
    import torch


    quiet_library_progress()
    device_type, use_bf16 = inference_device(device, precision)
    # Weights already in bf16 (evaluate casts a run's as predict does) run as they are: autocast would put some
    # operations back in fp32, and its labels differ from predict's on a few texts.
    use_bf16 = use_bf16 and next(model.parameters()).dtype == torch.float32
    tokenized = tokenize_split(dataset, tokenizer, max_length, long_texts)
    collator = make_collator(tokenizer, "token_type_ids" in tokenized.column_names, device_type, max_length)
    model = model.to(device_type).eval()
    outputs: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    with torch.inference_mode(), torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_bf16):
        for batch in make_eval_loader(tokenized, collator):
            rows.append(batch.pop("row").numpy())
            batch.pop("labels", None)
            batch = {k: v.to(device_type) for k, v in batch.items()}
            outputs.append(forward(model, batch).float().cpu().numpy())
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    result = np.empty((len(tokenized), outputs[0].shape[1]), dtype=np.float32)
    result[np.concatenate(rows)] = np.concatenate(outputs)
    return per_text(result, text_rows_of(tokenized), long_texts.aggregation if long_texts else "mean")


def in_precision(model, precision: str):
    """``model`` with its weights in ``precision`` ("bf16" or "fp32"), as predict's PyTorch backends load them."""
    import torch

    return model.to(torch.bfloat16 if precision == "bf16" else torch.float32)


def classifier_forward(model, batch: dict) -> "torch.Tensor":
    return model(**batch).logits


def mean_pooled_forward(model, batch: dict) -> "torch.Tensor":
    """Average of the last hidden states over real (non-padding) tokens: a sentence vector."""
    hidden = model(**batch)[0].float()
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def model_logits(model, tokenizer, dataset, max_length: int, *, device: str = "auto",
                 precision: str = "auto", long_texts: LongTexts | None = None) -> np.ndarray:
    """Raw logits (no temperature) of a sequence classifier for every row of ``dataset``."""
    logits = run_batches(model, dataset, tokenizer, max_length, classifier_forward, device=device, precision=precision,
                         long_texts=long_texts)
    return logits if len(dataset) else np.zeros((0, model.config.num_labels), dtype=np.float32)


@functools.lru_cache(maxsize=2)
def load_encoder(name: str = DEFAULT_ENCODER):
    """(encoder body, tokenizer) of a registry model or folder, loaded once per process.

    Loads through the registry so offline checks, weight verification and plain-language
    errors are the same as for training; the throwaway classification head is dropped.
    """

    source = resolve_model_source(name)
    model = load_model_for_classification(source, num_labels=1, id2label={0: "_"}, label2id={"_": 0})
    return model.base_model.eval(), load_tokenizer(source)


@dataclass(frozen=True)
class EncoderChoice:
    """The frozen encoder a check runs, and why it is not the one expected (None when it is)."""

    name: str
    note: str | None = None


def choose_encoder(named: str | None, base_model: str) -> EncoderChoice:
    """The encoder a person ``named``, refused with the reason when it cannot load; else the run's ``base_model``,
    with the bundled encoder standing in (and saying so) when that cannot load here (a Hub model while offline).

    A named encoder is never replaced: a typo ('bert-basee') ran the bundled one with exit 0, and the scores read
    as the named model's."""
    if named:
        try:
            load_encoder(named)
        except ModelError as err:
            raise ModelError(f"The encoder '{named}' cannot be used: {err.message}",
                             "Check its name, or give a built-in model that works offline (bundled-minilm) or a "
                             "model folder on disk; leave the encoder out to use the run's base model.") from None
        return EncoderChoice(named)
    try:
        load_encoder(base_model)
    except ModelError as err:
        return EncoderChoice(DEFAULT_ENCODER, f"The run's base model {base_model} cannot be loaded here "
                                              f"({err.message.rstrip('.')}), so the bundled encoder "
                                              f"{DEFAULT_ENCODER} stands in for it.")
    return EncoderChoice(base_model)


def encode_texts(texts: Sequence[str], encoder: str = DEFAULT_ENCODER, *, text_pairs: Sequence[str] | None = None,
                 max_length: int = FEATURE_MAX_LENGTH, device: str = "auto") -> np.ndarray:
    """Frozen-encoder sentence vectors (mean-pooled last hidden states), shape (rows, hidden size).

    No gradients, length-sorted batches and bf16 where the hardware is fast at it:
    a few hundred short texts per second on a laptop CPU.
    """
    model, tokenizer = load_encoder(encoder)
    dataset = make_dataset(texts, text_pairs)
    features = run_batches(model, dataset, tokenizer, max_length, mean_pooled_forward, device=device)
    return features if len(dataset) else np.zeros((0, model.config.hidden_size), dtype=np.float32)
