"""Batches without wasted padding.

Texts are tokenized once without padding.  Each batch is padded only to its
own longest text, and training batches are built from texts of similar length
(shuffled in large groups first, so the order still changes every epoch).  On
short texts this removes most of the work that padding to max_length costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

import numpy as np
import torch

from bertstudio.train.batch_order import GroupedBatches, length_grouped_batches, padded_length, padding_buckets, \
    random_batches, sorted_batches

__all__ = ["EpochBatchSampler", "FixedBatchSampler", "PaddingCollator", "length_grouped_batches", "random_batches",
           "sorted_batches"]


class LengthsOf(Protocol):
    """Texts whose token lengths are found when asked (a lazily tokenized split)."""

    def __len__(self) -> int: ...

    def lengths_of(self, indices: list[int]) -> Sequence[int]: ...


class KnownLengths:
    """:class:`LengthsOf` over lengths all known in advance (a split tokenized up front)."""

    def __init__(self, lengths: Sequence[int]):
        self.lengths = list(lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def lengths_of(self, indices: list[int]) -> list[int]:
        return [self.lengths[i] for i in indices]


class EpochBatchSampler(torch.utils.data.Sampler):
    """A batch sampler whose order depends on the epoch, set by the loop before each epoch.

    ``lengths``: every text's length, or a :class:`LengthsOf` that finds them a group of texts at a time as the
    batches are drawn (the same batches either way: :class:`GroupedBatches`).
    """

    def __init__(self, lengths: Sequence[int] | LengthsOf, batch_size: int, *, seed: int, group_by_length: bool):
        self.lengths = lengths if hasattr(lengths, "lengths_of") else KnownLengths(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        seed = self.seed + self.epoch
        if self.group_by_length:
            return GroupedBatches(len(self.lengths), self.batch_size, seed=seed).batches(self.lengths.lengths_of)
        return iter(random_batches(len(self.lengths), self.batch_size, seed=seed))

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


class FixedBatchSampler(torch.utils.data.Sampler):
    def __init__(self, batches: list[list[int]]):
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


@dataclass
class PaddingCollator:
    """Pads a list of tokenized rows to the longest one (optionally to a multiple of 8 for GPU tensor cores, or to
    the first of ``buckets`` that holds it: a compiled model, or a CPU; see ``make_collator``)."""

    pad_token_id: int = 0
    pad_to_multiple_of: int | None = None
    with_token_type_ids: bool = True
    buckets: tuple[int, ...] = ()

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        longest = padded_length(max(len(r["input_ids"]) for r in rows), self.pad_to_multiple_of, self.buckets)
        n = len(rows)
        input_ids = np.full((n, longest), self.pad_token_id, dtype=np.int64)
        attention = np.zeros((n, longest), dtype=np.int64)
        token_types = np.zeros((n, longest), dtype=np.int64) if self.with_token_type_ids else None
        for i, row in enumerate(rows):
            ids = row["input_ids"]
            input_ids[i, :len(ids)] = ids
            attention[i, :len(ids)] = 1
            if token_types is not None and "token_type_ids" in row:
                token_types[i, :len(ids)] = row["token_type_ids"]
        batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention)}
        if token_types is not None:
            batch["token_type_ids"] = torch.from_numpy(token_types)
        if "label" in rows[0]:
            multi = isinstance(rows[0]["label"], (list, tuple, np.ndarray))  # multi-label: a 0/1 vector
            batch["labels"] = torch.tensor(np.asarray([r["label"] for r in rows]),
                                           dtype=torch.float32 if multi else torch.long)
        if "row" in rows[0]:
            batch["row"] = torch.tensor([r["row"] for r in rows], dtype=torch.long)
        return batch


def make_collator(tokenizer, with_token_type_ids: bool, device_type: str, max_length: int | None,
                  compiled: bool = False) -> PaddingCollator:
    """The collator for ``device_type``: a GPU pads to multiples of 8 (tensor cores) and to ``padding_buckets``
    (a compiled model's, a CPU's). ``max_length``: the longest row the data can hold (no bucket goes beyond it);
    None keeps every batch at its own longest row."""
    return PaddingCollator(tokenizer.pad_token_id or 0, 8 if device_type == "cuda" else None, with_token_type_ids,
                           padding_buckets(device_type, max_length, compiled))
