"""Learning-rate schedule as a pure function of the step (nanoGPT style): easy to test, plot and reason about,
and the number of optimizer steps it spans (the loop, the Started event and the Model tab's plan share it)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bertstudio.config import TrainConfig


def total_optimizer_steps(cfg: TrainConfig, batches_per_epoch: int) -> tuple[int, int]:
    """(optimizer steps of the whole run, optimizer steps per epoch) for ``batches_per_epoch`` batches."""
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / cfg.grad_accum))
    total = max(1, math.ceil(steps_per_epoch * cfg.epochs))
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    return total, steps_per_epoch


def lr_multiplier(step: int, total_steps: int, warmup_steps: int) -> float:
    """Factor applied to the peak learning rate at optimizer step ``step`` (0-based).

    Linear warm-up first: the new classifier head starts random, and large early
    updates would push its noisy gradients deep into the pre-trained encoder.
    Then linear decay to zero, the schedule BERT was fine-tuned with, so the
    last steps make small, stable refinements.
    """
    if total_steps <= 0:
        return 1.0
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    remaining = total_steps - step
    decay_span = max(1, total_steps - warmup_steps)
    return max(0.0, remaining / decay_span)


def warmup_steps_for(total_steps: int, warmup_ratio: float) -> int:
    return int(round(total_steps * warmup_ratio))


def phased_lr_multiplier(step: int, phase_starts: Sequence[int], total_steps: int, warmup_ratio: float) -> float:
    """The learning-rate factor when training runs in phases (gradual unfreezing): each phase gets its own warm-up
    and decay, as if it were a run of its own.

    Why it restarts: a phase opens layers that have not trained yet. With one schedule over the whole run, the
    layers opened last would only ever see the tail of the decay (close to zero) and barely move, and the layers
    that opened first would take their largest steps while the head above them was still random.  Howard &
    Ruder (2018, ULMFiT) warn about exactly this and use a fresh (slanted triangular) schedule per phase.
    ``phase_starts``: the optimizer step each phase starts at, ascending, the first 0.
    """
    index = max(i for i, start in enumerate(phase_starts) if start <= step) if phase_starts else 0
    start = phase_starts[index] if phase_starts else 0
    end = phase_starts[index + 1] if index + 1 < len(phase_starts) else total_steps
    length = max(1, end - start)
    return lr_multiplier(step - start, length, warmup_steps_for(length, warmup_ratio))
