"""Gradual unfreezing (Howard & Ruder 2018): the head trains alone first, then the encoder layers open from the top
down, one group per phase, until every layer that trains at all is training.

The top layers hold the most task-specific features and the bottom ones the most general: opening them top first
lets the random head settle before its gradients reach the general layers, which is what makes small data sets
forget less of the pre-training.  Each phase gets its own warm-up and decay (``schedule.phased_lr_multiplier``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bertstudio.config import TrainConfig
from bertstudio.train.model_setup import encoder_layers
from bertstudio.train.schedule import phased_lr_multiplier

# At most this many phases (the first is the head alone): more would make each phase too short to warm up in
# on a few epochs of a small data set; with fewer trainable layers than that, one layer per phase.
MAX_PHASES = 4


@dataclass(frozen=True)
class Phase:
    start: int  # the optimizer step it starts at
    lowest_layer: int  # encoder layers from this index up train; the number of layers: none (head only)


def plan_phases(total_steps: int, num_layers: int, frozen_bottom: int = 0) -> list[Phase]:
    """The phases of a run of ``total_steps`` steps, of equal length, over layers ``frozen_bottom..num_layers-1``."""
    trainable = max(0, num_layers - frozen_bottom)
    count = min(MAX_PHASES, trainable + 1)
    per_group = math.ceil(trainable / max(1, count - 1)) if trainable else 0
    phases = []
    for index in range(count):
        lowest = max(frozen_bottom, num_layers - index * per_group)
        phases.append(Phase(start=total_steps * index // count, lowest_layer=lowest))
    return phases


def phase_at(phases: list[Phase], step: int) -> int:
    return max(i for i, phase in enumerate(phases) if phase.start <= step)


class Unfreezer:
    """Turns the encoder layers' gradients on phase by phase; only parameters that were trainable at the start
    (not frozen by ``freeze_layers``, ``freeze_embeddings``, or LoRA's frozen weights) are ever turned on."""

    def __init__(self, model, phases: list[Phase], total_steps: int, warmup_ratio: float):
        self.phases, self.total_steps, self.warmup_ratio = phases, total_steps, warmup_ratio
        self.layers = [[p for p in layer.parameters() if p.requires_grad] for layer in encoder_layers(model)]
        self.embeddings = [p for p in model.base_model.embeddings.parameters() if p.requires_grad]
        self.current: int | None = None

    @property
    def phase_starts(self) -> list[int]:
        return [phase.start for phase in self.phases]

    def lr_multiplier(self, step: int) -> float:
        return phased_lr_multiplier(step, self.phase_starts, self.total_steps, self.warmup_ratio)

    def enter(self, step: int) -> bool:
        """Open the layers of the phase ``step`` is in; True when that changed what trains."""
        index = phase_at(self.phases, step)
        if index == self.current:
            return False
        self.current = index
        lowest = self.phases[index].lowest_layer
        for number, params in enumerate(self.layers):
            for param in params:
                param.requires_grad = number >= lowest
        last = index == len(self.phases) - 1
        for param in self.embeddings:
            param.requires_grad = last
        return True


def gradual_unfreezer(model, cfg: TrainConfig, total_steps: int) -> Unfreezer | None:
    """The run's unfreezer when ``cfg`` asks for gradual unfreezing (not with head-only training, where no layer
    ever opens); None otherwise."""
    if cfg.unfreezing != "gradual" or cfg.freeze_encoder:
        return None
    phases = plan_phases(total_steps, len(encoder_layers(model)), cfg.freeze_layers or 0)
    return Unfreezer(model, phases, total_steps, cfg.warmup_ratio)
