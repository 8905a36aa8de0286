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


def length_buckets(max_length: int) -> tuple[int, ...]:
    """The few lengths a compiled model's batches are padded to, so their shapes repeat and each compiled graph
    (a CUDA graph per shape) is reused: multiples of 16 up to 128 tokens, then of 64, and ``max_length`` itself.
    At most 8 + 6 shapes at 512 tokens; a batch pads at most 15 tokens below 128 (63 above), instead of up to 7
    with multiples of 8: padding is cheap on a GPU next to launching an uncaptured step."""
    small = range(16, min(max_length, 128) + 1, 16)
    large = range(192, max_length + 1, 64)
    return tuple(sorted({*small, *large, max_length}))


# (up to this length, pad to a multiple of this) on a CPU: see cpu_length_buckets.
CPU_LENGTH_STEPS = ((128, 8), (256, 16), (512, 32))
CPU_LONG_STEP = 64


def cpu_length_buckets(max_length: int) -> tuple[int, ...]:
    """The lengths a CPU pads its batches to: multiples of 8 up to 128 tokens, of 16 up to 256, of 32 up to 512,
    then of 64, and ``max_length`` itself (24 shapes at 256 tokens, 32 at 512).

    Why not each batch's own longest row: with bf16 the CPU kernels keep state for every batch shape they have met,
    and length-grouped batches meet hundreds. IMDb's 15,000 reviews at 256 tokens grew the training process to
    9.1 GB. bench/cpu_shapes.py (bundled model, 60 steps of varied lengths): 22 MB a step of growth with each
    batch's own longest row, 8.7 MB with these buckets (still meeting most of their 24 shapes for the first time).
    The steps grow with the length so padding stays a small share of a batch: at most 7 tokens up to 128, at most
    an eighth of the length above.
    """
    lengths, start = {max_length}, 0
    for end, step in CPU_LENGTH_STEPS:
        lengths.update(range(start + step, min(end, max_length) + 1, step))
        start = end
    lengths.update(range(start + CPU_LONG_STEP, max_length + 1, CPU_LONG_STEP))
    return tuple(sorted(lengths))


def padded_length(longest: int, multiple: int | None = None, buckets: Sequence[int] = ()) -> int:
    """The length a batch whose longest row has ``longest`` tokens is padded to: the first bucket that holds it,
    else the next multiple of ``multiple``, else ``longest`` itself."""
    for bucket in buckets:
        if bucket >= longest:
            return bucket
    if multiple:
        return -(-longest // multiple) * multiple
    return longest


def padding_buckets(device_type: str, max_length: int | None, compiled: bool = False) -> tuple[int, ...]:
    """The lengths batches are padded to: a compiled model's ``length_buckets`` (its graphs are reused), a CPU's
    ``cpu_length_buckets``, none otherwise (each batch to its own longest row). ``max_length``: the longest row
    the data can hold; None: no buckets."""
    if not max_length:
        return ()
    if compiled:
        return length_buckets(max_length)
    return cpu_length_buckets(max_length) if device_type == "cpu" else ()

