"""The training plan and its time estimate in one place: the app's plan, the CLI and bench/estimates.py use these.

The plan (``plan.plan_training``) is the step count the loop will follow; the estimate multiplies it by the speeds
measured on this computer (``step_timer.speed_probe``, cached per model, batch shape and hardware).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bertstudio.config import TrainConfig
from bertstudio.data.lengths import LengthStats
from bertstudio.train.auto import Hardware
from bertstudio.train.plan import SpeedProbe, TimeEstimate, TrainingPlan, estimate_time, plan_training, \
    trainable_layers, typical_lengths
from bertstudio.train.step_timer import model_shape, speed_probe


@dataclass(frozen=True)
class PlannedRun:
    plan: TrainingPlan
    batch_length: int  # the padded length of a typical batch: what the probe times

    def estimate(self, hardware: Hardware) -> tuple[SpeedProbe, TimeEstimate]:
        """Measure (or reuse the cached measurement) and estimate every phase of the run."""
        probe = speed_probe(self.plan.config, seq_len=self.batch_length, device=hardware.device, bf16=hardware.bf16)
        return probe, estimate_time(self.plan, probe)

    def step_seconds(self, probe: SpeedProbe) -> float | None:
        """One training step of the encoder; None for head-only runs (their steps only run the head)."""
        cfg = self.plan.config
        return None if cfg.freeze_encoder else probe.step_seconds(trainable_layers(cfg, probe.layers))


def plan_run(config: TrainConfig, n_rows: int, class_counts: Mapping[str, int], lengths: LengthStats | None,
             max_length: int, hardware: Hardware) -> PlannedRun:
    """The plan of ``config`` on data measured as ``lengths``; ``max_length``: the length the data was shown
    with, which an automatic one (``config.max_length`` None) starts from, as `bertstudio train` does."""
    p95 = typical_lengths(lengths, max_length).p95
    plan = plan_training(config, n_rows, class_counts, length_p95=p95, model=model_shape(config.model),
                         hardware=hardware, length_grid=lengths.percentile_grid if lengths is not None else (),
                         suggested_max_length=lengths.suggested_max_length if lengths is not None else max_length)
    # The batches are as long as the length the plan settled on (on a CPU it may be below the one shown).
    return PlannedRun(plan, typical_lengths(lengths, plan.config.max_length).batch)
