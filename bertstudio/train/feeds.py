"""What the loop consumes: tokenized splits, batch loaders, and the cached [CLS] features of head-only runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from bertstudio.config import TrainConfig
from bertstudio.data.arrow_batches import column_array, column_values
from bertstudio.data.long_texts import LongTexts, text_rows_of, tokenize_long_split
from bertstudio.models.pooling import pool_hidden, uses_pooler
from bertstudio.train.batch_order import EVAL_BATCH_SIZE, EVAL_MAX_TOKENS
from bertstudio.train.batching import (
    EpochBatchSampler,
    FixedBatchSampler,
    PaddingCollator,
    make_collator,
    sorted_batches,
)
from bertstudio.train.lazy_tokens import LazyTokens, encode_texts
from bertstudio.train.speedups.allocator import ReleaseOnNewShape

logger = logging.getLogger(__name__)



def tokenize_split(dataset, tokenizer, max_length: int, long_texts: LongTexts | None = None):
    """Token ids without padding (padding happens per batch), plus length and original row index.

    ``long_texts`` other than the plain head cut: one row per kept piece (window), with its text's ``text_row``.
    """
    if long_texts is not None and not long_texts.plain_cut:
        return tokenize_long_split(dataset, tokenizer, long_texts)
    has_pair = "text_pair" in dataset.column_names

    def encode(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        return {**encode_texts(tokenizer, batch["text"], batch["text_pair"] if has_pair else None, max_length),
                "row": indices}

    keep = {"label"}
    remove = [c for c in dataset.column_names if c not in keep]
    return dataset.map(encode, batched=True, batch_size=2000, with_indices=True, remove_columns=remove,
                       desc="Tokenizing")


def tokenized_subset(tokenized, size: int, seed: int):
    """A random subset of a tokenized split, its rows renumbered so predictions line up with it."""
    n = min(size, len(tokenized))
    picked = tokenized.shuffle(seed=seed).select(range(n))
    return picked.remove_columns("row").add_column("row", list(range(n)))


def full_forward(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**batch).logits


def head_logits(model, features: torch.Tensor) -> torch.Tensor:
    """The classifier on top of the encoder's pooled vector ([CLS] or the mean), exactly as the full model computes it."""
    if model.config.model_type == "distilbert":
        return model.classifier(model.dropout(torch.relu(model.pre_classifier(features))))
    pooled = model.base_model.pooler(features.unsqueeze(1)) if uses_pooler(model) else features
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
    collator = make_collator(tokenizer, "token_type_ids" in train_ds.column_names, device_type, cfg.max_length,
                             compiled=cfg.compile == "on")
    lengths = train_ds if isinstance(train_ds, LazyTokens) else column_values(train_ds, "length")
    sampler = EpochBatchSampler(lengths, cfg.batch_size, seed=cfg.seed, group_by_length=cfg.length_grouping)
    workers = data_workers(cfg, device_type)
    # The batch sampler stays in this process (workers only collate), so set_epoch reaches it between epochs.
    background = {"num_workers": workers, "persistent_workers": True, "prefetch_factor": 4} if workers else {}
    # The loader draws its workers' seeds from its own generator, not the global one that dropout uses:
    # otherwise how many workers there are would change every dropout mask of the run.
    train = torch.utils.data.DataLoader(train_ds, batch_sampler=sampler, collate_fn=collator,
                                        pin_memory=device_type == "cuda",
                                        generator=torch.Generator().manual_seed(cfg.seed), **background)
    return Feed(train, make_eval_loader(val_ds, collator), full_forward, sampler.set_epoch)


def no_progress(done: int, total: int) -> None:
    """The default ``on_batch``: nobody watches."""


@torch.no_grad()
def encode_cls_features(model, dataset, tokenizer, device, max_length: int | None,
                        on_batch: Callable[[int, int], None] = no_progress) -> torch.Tensor:
    """The frozen encoder's pooled vectors ([CLS], or the mean of the tokens) for every row, computed once (dropout
    off) in row order.

    ``on_batch(rows_done, rows_total)`` runs before each batch and after the last: the caller reports progress and
    may raise to stop (BERT-base on 10,000 texts: over 100 s on 2 CPU cores, one batch about 1 s).
    """
    collator = make_collator(tokenizer, "token_type_ids" in dataset.column_names, torch.device(device).type,
                             max_length)
    features = torch.zeros(len(dataset), model.config.hidden_size if hasattr(model.config, "hidden_size")
                           else model.config.dim)
    was_training = model.training
    model.eval()
    done = 0
    memory = ReleaseOnNewShape(torch.device(device).type)
    for batch in make_eval_loader(dataset, collator):
        on_batch(done, len(dataset))
        rows = batch.pop("row")
        done += len(rows)
        batch.pop("labels", None)
        memory.before(batch)
        batch = {k: v.to(device) for k, v in batch.items()}
        hidden = model.base_model(**batch)[0]
        features[rows] = pool_hidden(model, hidden, batch.get("attention_mask")).float().cpu()
    on_batch(done, len(dataset))
    model.train(was_training)
    return features


class _FeatureRows(torch.utils.data.Dataset):
    def __init__(self, features: torch.Tensor, labels: list[int]):
        self.features = features
        labels = np.asarray(labels)
        self.labels = torch.as_tensor(labels, dtype=torch.float32 if labels.ndim == 2 else torch.long)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"features": self.features[i], "labels": self.labels[i], "row": torch.tensor(i)}


def cached_feature_feed(model, train_ds, val_ds, tokenizer, cfg: TrainConfig, device,
                        on_batch: Callable[[int, int], None] = no_progress) -> Feed:
    """Head-only training: the encoder never changes, so its output is computed once instead of every epoch.

    Every epoch after this one pass costs only the small head: tens of times faster than a full pass.
    """
    total = len(train_ds) + len(val_ds)  # one count over both splits, as a person sees one phase
    train_rows = _FeatureRows(encode_cls_features(model, train_ds, tokenizer, device, cfg.max_length,
                                                  lambda done, _: on_batch(done, total)),
                              column_array(train_ds, "label"))
    val_rows = _FeatureRows(encode_cls_features(model, val_ds, tokenizer, device, cfg.max_length,
                                                lambda done, _: on_batch(len(train_ds) + done, total)),
                            column_array(val_ds, "label"))
    val_rows.text_rows = text_rows_of(val_ds)  # windows: scored per text
    generator = torch.Generator().manual_seed(cfg.seed)
    train = torch.utils.data.DataLoader(train_rows, batch_size=cfg.batch_size, shuffle=True, generator=generator)
    val = torch.utils.data.DataLoader(val_rows, batch_size=EVAL_BATCH_SIZE)
    return Feed(train, val, head_forward, lambda epoch: generator.manual_seed(cfg.seed + epoch))


def make_eval_loader(tokenized, collator: PaddingCollator):
    batches = sorted_batches(column_values(tokenized, "length"), EVAL_BATCH_SIZE, EVAL_MAX_TOKENS)
    return torch.utils.data.DataLoader(tokenized, batch_sampler=FixedBatchSampler(batches), collate_fn=collator)


@torch.no_grad()
def predict_logits(model, loader, accelerator, forward=full_forward,
                   on_batch: Callable[[int, int], None] = no_progress) -> np.ndarray:
    """Logits for every row of the loader's dataset, in the dataset's own order (gathered from every process).

    ``on_batch(rows_done, rows_total)`` runs before each batch and after the last, like
    :func:`encode_cls_features`: a validation or test split of 10,000 texts is over 100 s of batches with
    BERT-base on 2 CPU cores, which must not pass without a sign of life.
    """
    model.eval()
    rows, outputs = [], []
    done, total = 0, len(loader.dataset)
    memory = ReleaseOnNewShape(accelerator.device.type)
    try:
        for batch in loader:
            on_batch(done, total)
            row = batch.pop("row")
            done += len(row)
            batch.pop("labels", None)
            memory.before(batch)
            logits = forward(model, batch).float()
            row, logits = gather_rows(row, logits, accelerator)
            rows.append(row.cpu())
            outputs.append(logits.cpu())
        on_batch(min(done, total), total)
    finally:  # also when on_batch stops the work: the model goes on training, or is saved, in train mode
        model.train()
    if not outputs:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    return in_row_order(torch.cat(rows).numpy(), torch.cat(outputs).numpy(), len(loader.dataset))


def gather_rows(row: torch.Tensor, logits: torch.Tensor, accelerator) -> tuple[torch.Tensor, torch.Tensor]:
    """Every process's rows and logits of this batch.

    Not ``gather_for_metrics``: its de-duplication assumes equal-sized batches, but evaluation batches are
    sorted by length and the last is smaller, so it kept the padding copies (36 logits for 18 rows on two
    processes).  Instead the batches are padded to one size (rows padded with -1, dropped here) and the rows
    a process repeated to keep up with the others are folded by their row index (:func:`in_row_order`).
    """
    if accelerator.num_processes == 1:
        return row, logits
    row = accelerator.pad_across_processes(row.to(logits.device), dim=0, pad_index=-1)
    logits = accelerator.pad_across_processes(logits, dim=0)
    row, logits = accelerator.gather((row, logits))
    keep = row >= 0
    return row[keep], logits[keep]


def in_row_order(rows: np.ndarray, logits: np.ndarray, n_rows: int) -> np.ndarray:
    """The logits of rows ``0 .. n_rows-1`` in order; a row seen twice (a process's padding copy) counts once."""
    result = np.zeros((n_rows, logits.shape[1]), dtype=logits.dtype)
    seen = np.zeros(n_rows, dtype=bool)
    result[rows] = logits
    seen[rows] = True
    if not seen.all():  # would silently score zeros as predictions
        raise RuntimeError(f"Predictions are missing for {int((~seen).sum())} of {n_rows} rows.")
    return result


def uses_cached_features(cfg: TrainConfig, accelerator) -> bool:
    # Across several processes the head must train through the DDP wrapper to keep replicas in sync;
    # the full forward does that, and the head is small enough that caching matters little there.
    return cfg.freeze_encoder and accelerator.num_processes == 1
