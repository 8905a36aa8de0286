"""The order texts are batched in, without torch: the training loop's samplers (``batching``) and the plan's
estimate of how long its batches are padded to (``plan.padded_lengths``) share these functions."""

from __future__ import annotations

import random
from typing import Sequence

GROUP_FACTOR = 50  # texts are sorted by length in groups of this many batches


def length_grouped_batches(lengths: Sequence[int], batch_size: int, *, seed: int, group_factor: int = GROUP_FACTOR,
                           drop_last: bool = False) -> list[list[int]]:
    """Indices in batches of similar length, in a seeded random order.

    Shuffle, cut into groups of ``batch_size * group_factor``, sort each group by
    length and slice it into batches, then shuffle the batches: each epoch sees a
    new order while every batch stays nearly padding-free.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    group = batch_size * group_factor
    batches: list[list[int]] = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start:start + group], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    rng.shuffle(batches)
    return batches


def random_batches(n: int, batch_size: int, *, seed: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """For evaluation: longest first, so batches are padding-free; callers restore row order."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
