"""Learning-rate schedule as a pure function of the step (nanoGPT style): easy to test, plot and reason about."""

from __future__ import annotations


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
