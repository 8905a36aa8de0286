"""The training plan and its time estimate in one place: the app's plan, the CLI and bench/estimates.py use these.

The plan (``plan.plan_training``) is the step count the loop will follow and the lengths its batches are padded to;
the estimate (``estimate_time``) goes through the run's phases in order (``plan.RunPhases``) with the speeds
measured on this computer (``step_timer.speed_probe``, cached per model, batch shape and hardware).
``bench/estimates.py`` compares each phase with what a run took, from its events (``phase_times``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bertstudio.config import TrainConfig
from bertstudio.data.lengths import LENGTH_SAMPLE_TEXTS, LengthStats
from bertstudio.hardware import detect_device
from bertstudio.train.auto import Hardware
from bertstudio.train.plan import LengthInUse, SpeedProbe, TimeEstimate, TrainingPlan, length_in_use, plan_training, \
    trainable_layers
from bertstudio.train.simple_model import fitted_rows
from bertstudio.train.step_timer import model_shape, speed_probe
from bertstudio.train.tuning import PROBE_VAL_ROWS, plan_probe
from bertstudio.train.unfreezing import plan_phases

# Costs that do not depend on the model, from bench/estimates.py's per-phase breakdown on a quiet machine (bundled
# model, 2 CPU cores, load average ~2; sample data, SST-2 and AG News at 400 to 5,000 rows): measured under load
# first, they had been 2-7x too high, which made every head-only estimate 30-100% too long.  Each is a small part
# of a run; the model's own work (steps, checks, scoring) comes from the probe, timed in its quietest round: the
# whole estimate is for this computer with nothing else running.
READ_FIXED_S = 0.1  # reading a small file, splitting it, loading the tokenizer: 0.1 s measured at 400 rows
READ_PER_TEXT_S = 3e-5  # parsing and checking rows: SST-2 8,000 rows read in 0.5 s, AG News 2,000 in 0.3 s
TOKENIZE_PER_TOKEN_S = 1.5e-6  # a fast tokenizer, batched: ~100,000 SST-2 tokens in 0.1-0.15 s
TOKENIZE_FIXED_S = 0.05  # datasets.map writes an Arrow cache for each of the three splits
SIMPLE_MODEL_FIXED_S = 0.1
SIMPLE_MODEL_PER_TOKEN_S = 1.2e-5  # word and character n-grams + logistic regression: AG News 5,000 texts (train
#                                    and validation, ~250,000 tokens) 2.9-3.0 s, SST-2 8,000 texts 1.0-1.4 s
HEAD_STEP_S = 0.002  # one step of the classifier head on cached features: 60 head-only steps took 0.06-0.12 s on
#                      a quiet machine (0.8-1.8 s on one at load 5-10: the loop around the head, not the head)
SAVE_FIXED_S = 0.1  # calibration, the blend with the simple model, the predictions file, the report
LORA_BACKWARD_SHARE = 0.5  # LoRA: the frozen weights need no gradient of their own, about half of the backward
#                            pass (an assumption, not measured: the gradient still flows through every layer)


@dataclass(frozen=True)
class PlannedRun:
    plan: TrainingPlan

    @property
    def batch_length(self) -> int:
        """The padded length of a typical training batch: what the probe times."""
        return self.plan.padded.train

    def estimate(self, hardware: Hardware) -> tuple[SpeedProbe, TimeEstimate]:
        """Measure (or reuse the cached measurement) and estimate every phase of the run."""
        probe = speed_probe(self.plan.config, seq_len=self.batch_length, device=hardware.device, bf16=hardware.bf16)
        return probe, estimate_time(self.plan, probe)

    def step_seconds(self, probe: SpeedProbe) -> float | None:
        """One training step of the encoder; None for head-only runs (their steps only run the head)."""
        return None if self.plan.config.freeze_encoder else step_seconds(self.plan, probe)


def plan_run(config: TrainConfig, n_rows: int, class_counts: Mapping[str, int], lengths: LengthStats | None,
             max_length: int, hardware: Hardware) -> PlannedRun:
    """The plan of ``config`` on data measured as ``lengths``; ``max_length``: the length the data was shown
    with, which an automatic one (``config.max_length`` None) starts from, as `bertstudio train` does. The batches
    are padded within the length the plan settled on (on a CPU it may be below the one shown)."""
    plan = plan_training(config, n_rows, class_counts, length_p95=lengths.percentiles[95] if lengths else max_length,
                         model=model_shape(config.model), hardware=hardware,
                         length_grid=lengths.percentile_grid if lengths is not None else (),
                         suggested_max_length=lengths.suggested_max_length if lengths is not None else max_length)
    return PlannedRun(plan)


def detected_hardware(device_setting: str) -> tuple[Hardware, str]:
    """The hardware a run with ``device_setting`` ("auto", "cpu", "cuda", ...) trains on, and its name in words."""
    device = detect_device(device_setting)
    return Hardware.of(device), device.describe()


def planned_length(config: TrainConfig, n_rows: int, class_counts: Mapping[str, int], lengths: LengthStats,
                   max_length: int) -> LengthInUse:
    """The maximum length ``config`` will train with on this computer and what it keeps of longer texts (the
    plan's own decisions), beside the data's suggestion."""
    hardware, _ = detected_hardware(config.device)
    plan = plan_run(config, n_rows, class_counts, lengths, max_length, hardware).plan
    return length_in_use(plan, lengths)


def mean_trainable_layers(plan: TrainingPlan, layers: int) -> float:
    """The encoder layers that learn, averaged over the run's steps: gradual unfreezing opens them phase by phase
    (the first phase trains the head alone), so its early steps cost little more than a forward pass."""
    cfg = plan.config
    trainable = trainable_layers(cfg, layers)
    if cfg.unfreezing != "gradual" or cfg.freeze_encoder:
        return trainable
    phases = plan_phases(plan.total_steps, layers, layers - trainable)
    ends = [phase.start for phase in phases[1:]] + [plan.total_steps]
    weighted = sum((end - phase.start) * (layers - phase.lowest_layer) for phase, end in zip(phases, ends))
    return weighted / max(1, plan.total_steps)


def step_seconds(plan: TrainingPlan, probe: SpeedProbe) -> float:
    """One optimizer step of this run: the head alone on cached features (head-only), LoRA (every layer runs
    forward and backward, only the small add-on matrices learn) or the top layers learning; the word embeddings'
    gradient and update when they train; ``grad_accum`` batches per step."""
    cfg = plan.config
    if cfg.freeze_encoder:
        return HEAD_STEP_S * cfg.grad_accum
    if cfg.lora_rank:
        batch = probe.forward_batch + (probe.train_step - probe.forward_batch) * (1 - LORA_BACKWARD_SHARE)
        return batch * cfg.grad_accum
    layers = mean_trainable_layers(plan, probe.layers)
    trainable = max(0.0, min(probe.layers, layers))
    batch = (trainable * probe.train_step + (probe.layers - trainable) * probe.forward_batch) / probe.layers
    if embeddings_train(cfg):
        batch += probe.embedding_update
    return batch * cfg.grad_accum


def embeddings_train(cfg: TrainConfig) -> bool:
    """As ``model_setup.apply_freezing`` decides: frozen with the encoder, with LoRA, on request, or below frozen
    layers."""
    return not (cfg.freeze_encoder or cfg.lora_rank or cfg.freeze_embeddings or cfg.freeze_layers)


def estimate_time(plan: TrainingPlan, probe: SpeedProbe) -> TimeEstimate:
    """The run's phases, in order, from the measured speeds and the plan the run will follow.

    Full fine-tuning: steps x the measured step, each validation check a forward pass over the validation texts.
    Head only: the encoder runs once over the training and validation texts (their pooled vectors are cached); the
    steps and checks then only run the small head. Either way the kept model then scores the test texts and the
    validation texts once more (calibration and the blend read its validation probabilities).
    """
    cfg = plan.config
    head_only = bool(cfg.freeze_encoder)
    per_text = probe.forward_per_text(plan.padded.evaluation)  # evaluation batches: sorted by length, 64 texts
    windows = plan.examples_per_text  # long texts read in windows: every split is read window by window
    train_texts, val_texts, test_texts = (rows * windows for rows in (plan.train_rows, plan.val_rows, plan.test_rows))
    rows = plan.train_rows + plan.val_rows + plan.test_rows
    step = step_seconds(plan, probe)
    # Each check that improves copies every weight of the model (the best so far, restored at the end): 1.3 s of
    # 3 head-only checks on the bundled model went there, the head itself is close to free.
    check = (0.0 if head_only else val_texts * per_text) + probe.weights_copy
    tune = 0.0
    if cfg.tune:
        tuning = plan_probe(cfg, plan.total_steps)
        scored = len(tuning.candidates) * min(PROBE_VAL_ROWS, plan.val_rows) if tuning.steps else 0
        tune = len(tuning.candidates) * tuning.steps * step + scored * per_text
    words = SIMPLE_MODEL_PER_TOKEN_S * plan.padded.mean_text
    return TimeEstimate(
        reading=(READ_FIXED_S + rows * READ_PER_TEXT_S
                 + min(rows, LENGTH_SAMPLE_TEXTS) * plan.padded.mean_text * TOKENIZE_PER_TOKEN_S),
        tokenizing=(TOKENIZE_FIXED_S + rows * plan.padded.mean_text * TOKENIZE_PER_TOKEN_S + probe.model_build
                    + probe.weights_save),
        tuning=tune,
        # It fits on at most a sample of the training rows (before the first step; beside the first steps for big
        # splits on a GPU, still time spent).
        simple_model=((SIMPLE_MODEL_FIXED_S + (fitted_rows(plan.train_rows) + plan.val_rows) * words)
                      if cfg.simple_model else 0.0),
        features=(train_texts + val_texts) * per_text if head_only else 0.0,
        steps=plan.total_steps * step,
        validation=plan.evaluations * check,
        final_scoring=(test_texts + val_texts) * per_text,
        saving=SAVE_FIXED_S + probe.weights_save + (plan.test_rows * words if cfg.simple_model else 0.0),
        measured_while_busy=probe.measured_while_busy)
