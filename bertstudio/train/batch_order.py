"""The order texts are batched in, without torch: the training loop's samplers (``batching``) and the plan's
estimate of how long its batches are padded to (``plan.padded_lengths``) share these functions."""

from __future__ import annotations

import random
from typing import Callable, Iterator, Sequence

GROUP_FACTOR = 50  # texts are sorted by length in groups of this many batches
EVAL_BATCH_SIZE = 64
# An evaluation batch holds at most this many tokens (padded): on the bundled model (bf16, eager attention,
# 2 CPU cores) 64 texts of 256 tokens cost 33 ms a text against 22 ms in batches of 16 (the attention scores of a
# big batch outgrow the caches), while at 64-128 tokens the batch size made no difference (5.2 vs 5.6 ms, 10.6 vs
# 9.4 ms).  16 x 256 keeps 64 texts a batch up to 64 tokens and 16 at 256.
EVAL_MAX_TOKENS = 16 * 256


def length_grouped_batches(lengths: Sequence[int], batch_size: int, *, seed: int, group_factor: int = GROUP_FACTOR,
                           drop_last: bool = False) -> list[list[int]]:
    """Indices in batches of similar length, in a seeded random order.

    Shuffle, cut into groups of ``batch_size * group_factor``, sort each group by
    length and slice it into batches, then shuffle the batches: each epoch sees a
    new order while every batch stays nearly padding-free.
    """
    plan = GroupedBatches(len(lengths), batch_size, seed=seed, group_factor=group_factor, drop_last=drop_last)
    return list(plan.batches(lambda rows: [lengths[i] for i in rows]))


class GroupedBatches:
    """:func:`length_grouped_batches` without knowing any length in advance.

    Where each batch comes from (its group and its place in it) depends only on the number of texts and the seed:
    the lengths only order texts inside a group.  So the batches can be handed out one by one, asking for the
    lengths of a group's texts the first time one of its batches is due: a million texts need their lengths
    (that is, their tokens) one group at a time, not all before the first batch, and the batches are exactly those
    of :func:`length_grouped_batches` on the same lengths (same random draws, same stable sort).
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, group_factor: int = GROUP_FACTOR,
                 drop_last: bool = False):
        rng = random.Random(seed)
        self.order = list(range(n))
        rng.shuffle(self.order)
        self.group = batch_size * group_factor
        self.batch_size = batch_size
        # (group start, batch start inside the group), in the order the groups' batches are listed
        self.slots = [(start, i) for start in range(0, n, self.group)
                      for i in range(0, min(self.group, n - start), batch_size)]
        if drop_last and self.slots and n - sum(self.slots[-1]) < batch_size:  # the last batch is short
            self.slots.pop()
        rng.shuffle(self.slots)

    def __len__(self) -> int:
        return len(self.slots)

    def batches(self, lengths_of: Callable[[list[int]], Sequence[int]]) -> Iterator[list[int]]:
        """The batches in order; ``lengths_of(indices)`` gives those texts' lengths, asked once per group."""
        ordered: dict[int, list[int]] = {}  # group start -> its texts, longest first
        for start, offset in self.slots:
            if start not in ordered:
                members = self.order[start:start + self.group]
                lengths = lengths_of(members)
                # stable, longest first: exactly sorted(members, key=length, reverse=True)
                ranked = sorted(range(len(members)), key=lengths.__getitem__, reverse=True)
                ordered[start] = [members[j] for j in ranked]
            yield ordered[start][offset:offset + self.batch_size]


def random_batches(n: int, batch_size: int, *, seed: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def sorted_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> list[list[int]]:
    """For evaluation: longest first, so batches are padding-free; callers restore row order.  ``max_tokens``:
    a batch also ends before its padded size (texts x its longest, the first) would pass this many tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        full = len(current) == batch_size or (max_tokens is not None and current
                                              and (len(current) + 1) * lengths[current[0]] > max_tokens)
        if full:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
