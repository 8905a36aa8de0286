"""Before training: which preset fits the data, how many steps the run will take and how long that may be."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bertstudio.config import TrainConfig, get_preset
from bertstudio.data.lengths import LengthStats
from bertstudio.data.split import split_fractions
from bertstudio.train.auto import DataStats, Decision, Hardware, ModelShape, resolve
from bertstudio.train.long_texts import training_examples
from bertstudio.train.schedule import total_optimizer_steps
from bertstudio.train.tuning import PROBE_VAL_ROWS, plan_probe

IMBALANCE_RATIO = 5.0


SMALL_ROWS_PER_CLASS = 50


LARGE_DATA_ROWS = 50_000


EVAL_BATCH_SIZE = 64


FIXED_OVERHEAD_S = 2.0  # reading the file, building the splits, writing the report (bench/estimates.py)


SAVE_LOAD_PER_LAYER_S = 0.15  # loading and saving the weights grows with the model's depth (bench/estimates.py)


TOKENIZE_PER_TEXT_S = 1e-4  # a fast tokenizer through datasets.map: about 10,000 short texts a second


SIMPLE_MODEL_PER_TEXT_S = 2e-4  # the word-count model fitted beside every run


HEAD_STEP_S = 0.002  # one step of the classifier head on cached features: a few small matrix products


PADDED_SHARE = 1.2  # batches are padded to their longest text: a typical batch is about 1.2x the mean length


MIN_TIMED_LENGTH = 8  # the step timer's shortest sequence


@dataclass(frozen=True)
class Recommendation:
    preset: str
    reason: str

    @property
    def title(self) -> str:
        return get_preset(self.preset).title


def recommend_preset(n_rows: int, class_counts: Mapping[str, int]) -> Recommendation:
    """The preset that suits data of this size and balance, with the reason in one sentence."""
    counts = [c for c in class_counts.values() if c > 0]
    if not counts:
        return Recommendation("balanced", "Load your data to get a recommendation.")
    ratio = max(counts) / min(counts)
    per_class = n_rows / len(counts)
    if ratio >= IMBALANCE_RATIO:
        return Recommendation("imbalanced", f"Your largest class has {ratio:.0f}x as many examples as the smallest, "
                                            "so rare classes need extra weight to be learned at all.")
    if per_class < SMALL_ROWS_PER_CLASS:
        return Recommendation("small-data", f"With about {per_class:.0f} examples per class, keeping the lower "
                                            "layers fixed stops the model from forgetting what it already knows.")
    if n_rows > LARGE_DATA_ROWS:
        return Recommendation("large-data", f"With {n_rows:,} examples, fewer passes over the data with frequent "
                                            "checks give the best model in the least time.")
    return Recommendation("balanced", f"{n_rows:,} examples in {len(counts)} reasonably balanced classes: "
                                      "the standard full fine-tuning fits.")


def preset_for_new_file(n_rows: int, class_counts: Mapping[str, int], current: str) -> str | None:
    """The preset to switch to when a file is loaded, or None when the current one is already right.

    None leaves every setting as the person has it: re-applying the same preset would overwrite what
    they typed, before the file or, on a slow machine, while its preset was still arriving.
    """
    recommended = recommend_preset(n_rows, class_counts).preset
    return None if recommended == current else recommended


@dataclass
class TrainingPlan:
    """The run as the engine will do it: settings with reasons, sizes and step counts."""

    config: TrainConfig
    decisions: list[Decision] = field(default_factory=list)
    train_rows: int = 0
    val_rows: int = 0
    test_rows: int = 0
    steps_per_epoch: int = 1
    total_steps: int = 1
    evaluations: int = 1
    # --- long texts ---
    examples_per_text: float = 1.0  # long texts read in windows: each window is a training example

    @property
    def capped(self) -> bool:
        """Whether ``max_steps`` ends the run before its epochs are done."""
        return bool(self.config.max_steps) and self.config.max_steps < self.steps_per_epoch * self.config.epochs


def split_sizes(n_rows: int) -> tuple[int, int, int]:
    """(train, validation, test) rows the engine will carve from a file of ``n_rows``."""

    val_share, test_share = split_fractions(n_rows)
    val, test = round(n_rows * val_share), round(n_rows * test_share)
    return n_rows - val - test, val, test


@dataclass(frozen=True)
class TypicalLengths:
    """The text lengths (in tokens) the plan and the step timer look at."""

    p95: int  # 95% of the texts are at most this long
    batch: int  # the length a typical training batch is padded to


def typical_lengths(lengths: LengthStats | None, max_length: int) -> TypicalLengths:
    """From the measured lengths; without any (no text survived), ``max_length`` stands in for both."""
    if lengths is None:
        return TypicalLengths(max_length, max_length)
    padded = round(lengths.mean * PADDED_SHARE)
    return TypicalLengths(lengths.percentiles[95], int(min(max_length, max(MIN_TIMED_LENGTH, padded))))


def plan_training(config: TrainConfig, n_rows: int, class_counts: Mapping[str, int], *, length_p95: int,
                  model: ModelShape, hardware: Hardware, length_grid: Sequence[int] = (),
                  suggested_max_length: int | None = None) -> TrainingPlan:
    """``suggested_max_length``: the data's suggestion (``LengthStats``), which an automatic maximum length takes."""
    train_rows, val_rows, test_rows = split_sizes(n_rows)
    scale = train_rows / max(1, n_rows)
    train_counts = {name: max(1, round(count * scale)) for name, count in class_counts.items()}
    stats = DataStats(train_rows=train_rows, class_counts=train_counts,
                      suggested_max_length=suggested_max_length or config.max_length or 128, length_p95=length_p95,
                      is_pair=bool(config.text_pair_column), length_grid=tuple(length_grid))
    resolved = resolve(config, stats, hardware, model=model)
    cfg = resolved.config
    examples = training_examples(train_rows, length_grid, cfg)  # windows: each is an example
    total, per_epoch = total_optimizer_steps(cfg, math.ceil(examples / cfg.batch_size))  # as the loop counts
    every = min(cfg.eval_every or per_epoch, total)
    return TrainingPlan(cfg, resolved.decisions, train_rows, val_rows, test_rows, per_epoch, total,
                        evaluations=math.ceil(total / every), examples_per_text=examples / max(1, train_rows))


@dataclass(frozen=True)
class SpeedProbe:
    """How fast this computer runs one model on batches of one shape, from a short timed probe.

    The probe builds the model with 1 and then 2 layers (``step_timer``): every layer of a BERT-style encoder
    does the same work, so the full model is the fixed part plus its layers x one layer. Building and timing
    the whole BERT-base took 40-90 s on a busy 2-core machine; the two small ones take a few seconds.
    """

    layers: int  # the full model's layers
    batch_size: int
    train_step: float  # seconds for one optimizer step with every layer training
    forward_batch: float  # seconds for one forward pass without gradients (evaluation, cached features)

    def step_seconds(self, trainable_layers: int) -> float:
        """One optimizer step when only the top ``trainable_layers`` layers learn: the frozen ones only run forward."""
        trainable = max(0, min(self.layers, trainable_layers))
        return (trainable * self.train_step + (self.layers - trainable) * self.forward_batch) / self.layers

    @property
    def forward_per_text(self) -> float:
        return self.forward_batch / self.batch_size


def trainable_layers(config: TrainConfig, layers: int) -> int:
    """How many encoder layers a run of ``config`` trains (the frozen bottom ones only run forward)."""
    if config.freeze_encoder:
        return 0
    return max(0, layers - int(config.freeze_layers or 0))


@dataclass(frozen=True)
class TimeEstimate:
    """Every phase of a run that takes time, in seconds; ``total_seconds`` is what the plan shows."""

    train_seconds: float
    eval_seconds: float
    overhead_seconds: float = 0.0  # loading the model and saving it, the simple model, the report
    tune_seconds: float = 0.0  # "tune for me": the learning-rate probe before training
    tokenize_seconds: float = 0.0
    features_seconds: float = 0.0  # head-only: the encoder's one pass over the training and validation texts

    @property
    def total_seconds(self) -> float:
        return (self.train_seconds + self.eval_seconds + self.overhead_seconds + self.tune_seconds
                + self.tokenize_seconds + self.features_seconds)


def estimate_time(plan: TrainingPlan, probe: SpeedProbe) -> TimeEstimate:
    """The run's phases from the measured speeds: the same plan (step count, evaluations) the run will follow.

    Full fine-tuning: steps x the measured step, each evaluation a forward pass over the validation texts.
    Head only: the encoder runs once over the training and validation texts (their [CLS] vectors are cached);
    the steps and evaluations then only run the small head, which is close to free.
    """
    cfg = plan.config
    per_text = probe.forward_per_text
    step = HEAD_STEP_S if cfg.freeze_encoder else probe.step_seconds(trainable_layers(cfg, probe.layers))
    features = (plan.train_rows + plan.val_rows) * per_text if cfg.freeze_encoder else 0.0
    validated = 0 if cfg.freeze_encoder else plan.evaluations * plan.val_rows
    tune = 0.0
    if cfg.tune:
        tuning = plan_probe(cfg, plan.total_steps)
        scored = len(tuning.candidates) * min(PROBE_VAL_ROWS, plan.val_rows) if tuning.steps else 0
        tune = len(tuning.candidates) * tuning.steps * step + scored * per_text
    rows = plan.train_rows + plan.val_rows + plan.test_rows
    return TimeEstimate(train_seconds=plan.total_steps * step, eval_seconds=(validated + plan.test_rows) * per_text,
                        overhead_seconds=FIXED_OVERHEAD_S + probe.layers * SAVE_LOAD_PER_LAYER_S
                        + rows * SIMPLE_MODEL_PER_TEXT_S,
                        tune_seconds=tune, tokenize_seconds=rows * TOKENIZE_PER_TEXT_S, features_seconds=features)
