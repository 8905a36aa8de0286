"""A big training split tokenized batch by batch, as the loop draws its batches, instead of all before the first.

Tokenizing every training text up front (``feeds.tokenize_split``, one ``Dataset.map`` into the Arrow cache) is
what held a million rows back from their first step (issue 22: most of 1,123 s "data ready" on the shared
machine). The length-grouped batches needed every text's length first; :class:`~bertstudio.train.batch_order.
GroupedBatches` needs the lengths of one group of texts (50 batches) at a time, and this split gives them when
asked: it tokenizes a group to learn its lengths, then each batch's texts again when the batch is loaded (32 texts:
about a millisecond, against a training step of tenths of a second on a CPU). The batches and their tokens are
exactly those of the split tokenized up front (tests/train/test_lazy_tokens.py).

Smaller splits keep the up-front path: it is cached on disk, so a second run over the same file tokenizes nothing,
and it is what every other stage (cached features of head-only runs, windows of long texts) reads.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from bertstudio.config import TrainConfig
from bertstudio.data.arrow_batches import column_values
from bertstudio.data.long_texts import LongTexts

# Training texts from which the split is tokenized lazily. Up front, 85,000 of the benchmark's texts took 10 s
# of the 96 s to the first step (bench/scale.py's 100k file, a quiet machine); lazily they take a group's worth.
LAZY_FROM_ROWS = 50_000


def tokenizes_lazily(train_rows: int, kept: LongTexts, cfg: TrainConfig) -> bool:
    """Big splits cut by the tokenizer itself. Windows of long texts need every text tokenized to know how many
    rows there are; head-only runs encode every text once anyway (their cached features)."""
    return train_rows >= LAZY_FROM_ROWS and kept.plain_cut and not cfg.freeze_encoder


def encode_texts(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int) -> dict[str, list]:
    """Token ids without padding (padding happens per batch) and each row's length: the one tokenizer call of
    both the up-front and the lazy path."""
    enc = tokenizer(texts, pairs, truncation=True, max_length=max_length, padding=False)
    out = {"input_ids": enc["input_ids"], "length": [len(ids) for ids in enc["input_ids"]]}
    if "token_type_ids" in enc:
        out["token_type_ids"] = enc["token_type_ids"]
    return out


class LazyTokens(torch.utils.data.Dataset):
    """A training split read like the tokenized one (rows with ``input_ids``, ``length``, ``label``, ``row`` and
    maybe ``token_type_ids``), tokenized when its rows are loaded; ``lengths_of`` feeds the batch sampler."""

    def __init__(self, split, tokenizer, max_length: int):
        kept = [c for c in ("text", "text_pair", "label") if c in split.column_names]
        self.texts = split.select_columns(kept)
        self.has_pair = "text_pair" in kept
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.known = np.full(len(split), -1, dtype=np.int32)  # each text's length once tokenized (4 MB a million)
        tokenized = encode_texts(tokenizer, ["a"], ["a"] if self.has_pair else None, max_length)
        self.column_names = ["label", *tokenized, "row"]

    def __len__(self) -> int:
        return len(self.known)

    def _encoded(self, indices: Sequence[int]) -> tuple[dict[str, list], dict[str, list]]:
        rows = self.texts[list(indices)]  # one Arrow query for the batch
        out = encode_texts(self.tokenizer, rows["text"], rows["text_pair"] if self.has_pair else None,
                           self.max_length)
        self.known[list(indices)] = out["length"]
        return rows, out

    def lengths_of(self, indices: list[int]) -> list[int]:
        """The token lengths of these texts, tokenizing those not seen yet."""
        wanted = np.asarray(indices, dtype=np.int64)
        missing = wanted[self.known[wanted] < 0]
        if len(missing):
            self._encoded(missing.tolist())
        return self.known[wanted].tolist()

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        """A batch's rows (the loader asks for a whole batch at once: one query and one tokenizer call)."""
        rows, out = self._encoded(indices)
        names = list(out)
        return [{**{name: out[name][j] for name in names}, "label": rows["label"][j], "row": int(i)}
                for j, i in enumerate(indices)]

    def __getitem__(self, key: int | str):
        if isinstance(key, str):  # a whole column, as a Dataset gives it (the labels, for class weights)
            return column_values(self.texts, key)
        return self.__getitems__([key])[0]
