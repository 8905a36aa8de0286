"""Before training: which preset fits the data, how many steps the run will take and how long that may be."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from bertstudio.config import TrainConfig, get_preset, list_presets
from bertstudio.data.lengths import LengthStats
from bertstudio.data.long_texts import LongTexts
from bertstudio.data.split import SplitSizes, split_fractions, split_sizes
from bertstudio.train.auto import DataStats, Decision, Hardware, ModelShape, resolve
from bertstudio.train.batch_order import EVAL_BATCH_SIZE, EVAL_MAX_TOKENS, length_grouped_batches, padded_length, \
    padding_buckets, random_batches, sorted_batches
from bertstudio.train.long_texts import training_examples
from bertstudio.train.schedule import total_optimizer_steps

IMBALANCE_RATIO = 5.0


SMALL_ROWS_PER_CLASS = 50


LARGE_DATA_ROWS = 50_000



MIN_TIMED_LENGTH = 8  # the step timer's shortest sequence


SIMULATED_TEXTS = 20_000  # padded lengths are worked out on at most this many texts drawn from the length grid

# Other programs were busy while the probe timed: its middle round took this much longer than its quietest, or it
# got less than this share of the cores its threads asked for. Bundled model, 2 cores: in quiet moments 1.01-1.04
# and 0.83 (the run then took 0.13 s a step, estimated 0.11 s); busy, 1.5-3.4 and 0.17-0.4, or under an even load
# 1.1-1.3 and 0.25-0.38 (its quietest round put a step at 1.9-2.6 s).
BUSY_SLOWDOWN = 1.5
BUSY_CPU_SHARE = 0.5


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
                                      "the standard settings fit, each chosen for your data.")


def preset_for_new_file(n_rows: int, class_counts: Mapping[str, int], current: str) -> str | None:
    """The preset to switch to when a file is loaded, or None when the current one is already right.

    None leaves every setting as the person has it: re-applying the same preset would overwrite what
    they typed, before the file or, on a slow machine, while its preset was still arriving.  A preset the person
    saved (not a built-in one) is their own choice of every setting, so it stays too.
    """
    if current not in list_presets():
        return None
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
    # --- what a batch costs depends on how long it is padded to ---
    padded: "PaddedLengths" = field(default_factory=lambda: PaddedLengths(MIN_TIMED_LENGTH, MIN_TIMED_LENGTH,
                                                                          MIN_TIMED_LENGTH))

    @property
    def capped(self) -> bool:
        """Whether ``max_steps`` ends the run before its epochs are done."""
        return bool(self.config.max_steps) and self.config.max_steps < self.steps_per_epoch * self.config.epochs


def planned_split(config: TrainConfig, n_rows: int, class_counts: Mapping[str, int]) -> SplitSizes:
    """The parts the run will split the file into: ``data.split``'s own sizes for these class counts (in class-id
    order, as ``ValidationReport.class_counts`` lists them) and the run's seed.

    Counts that do not add up to the rows are a multi-label file's label counts (a text counts once per label): it
    is split by each row's rarest label, which they do not give, so its sizes come from the shares alone and the
    training counts are scaled to the training share."""
    if sum(class_counts.values()) == n_rows:
        return split_sizes(list(class_counts.values()), seed=config.seed)
    val_share, test_share = split_fractions(n_rows)
    val, test = round(n_rows * val_share), round(n_rows * test_share)
    train = n_rows - val - test
    scale = train / max(1, n_rows)
    return SplitSizes(train, val, test, tuple(max(1, round(count * scale)) for count in class_counts.values()))


def batches_per_epoch(examples: int, batch_size: int, processes: int = 1) -> int:
    """Training batches each process draws per epoch, as the loop's sampler deals them (``EpochBatchSampler``: a
    last short batch still counts) and accelerate shares them out (every process takes every N-th batch)."""
    return math.ceil(math.ceil(examples / batch_size) / max(1, processes))


@dataclass(frozen=True)
class PaddedLengths:
    """The token lengths a run's batches are padded to (each batch to its longest text), which is what they cost."""

    train: int  # a training batch, on average: the length the step timer times a step at
    evaluation: float  # an evaluation batch (sorted by length, EVAL_BATCH_SIZE texts, EVAL_MAX_TOKENS), per text
    mean_text: float  # a text, as tokenized (the simple word-count model reads every word)


def texts_from_grid(grid: Sequence[int], n_texts: int, max_length: int) -> list[int]:
    """``n_texts`` token lengths spread as the measured percentiles are, each cut at ``max_length`` as tokenizing
    cuts it (long texts read in windows: each window is at most ``max_length`` long)."""
    last = len(grid) - 1
    lengths = []
    for i in range(n_texts):
        at = (i + 0.5) / n_texts * last
        low = int(at)
        high = min(last, low + 1)
        value = grid[low] + (grid[high] - grid[low]) * (at - low)
        lengths.append(int(min(max_length, max(MIN_TIMED_LENGTH, round(value)))))
    return lengths


def padded_lengths(grid: Sequence[int], n_texts: int, max_length: int, *, batch_size: int, grouped: bool,
                   seed: int, buckets: Sequence[int] = ()) -> PaddedLengths:
    """How long the run's batches are padded to, from the measured length percentiles and the loop's own batching
    (``batch_order``): grouped by length, a batch is barely longer than its texts; shuffled at random, it is as long
    as the longest of ``batch_size`` random texts. Measured on SST-2 (mean 13 tokens): the old guess, 1.2x the mean,
    was right for grouped batches (16 tokens) and half of what random batches of 16 are padded to (30).
    ``buckets``: the lengths the device pads a batch's longest row up to (``batch_order.padding_buckets``)."""
    if not grid:
        return PaddedLengths(max_length, max_length, max_length)
    lengths = texts_from_grid(grid, max(1, min(n_texts, SIMULATED_TEXTS)), max_length)
    batches = (length_grouped_batches(lengths, batch_size, seed=seed) if grouped
               else random_batches(len(lengths), batch_size, seed=seed))
    train = sum(padded_length(max(lengths[i] for i in batch), None, buckets) for batch in batches) / len(batches)
    evaluated = sum(len(batch) * padded_length(lengths[batch[0]], None, buckets)
                    for batch in sorted_batches(lengths, EVAL_BATCH_SIZE, EVAL_MAX_TOKENS))
    return PaddedLengths(round(train), evaluated / len(lengths), sum(lengths) / len(lengths))


def plan_training(config: TrainConfig, n_rows: int, class_counts: Mapping[str, int], *, length_p95: int,
                  model: ModelShape, hardware: Hardware, length_grid: Sequence[int] = (),
                  suggested_max_length: int | None = None) -> TrainingPlan:
    """``suggested_max_length``: the data's suggestion (``LengthStats``), which an automatic maximum length takes."""
    parts = planned_split(config, n_rows, class_counts)
    train_rows, val_rows, test_rows = parts.train, parts.validation, parts.test
    train_counts = dict(zip(class_counts, parts.train_class_counts))
    stats = DataStats(train_rows=train_rows, class_counts=train_counts,
                      suggested_max_length=suggested_max_length or config.max_length or 128, length_p95=length_p95,
                      is_pair=bool(config.text_pair_column), length_grid=tuple(length_grid))
    resolved = resolve(config, stats, hardware, model=model)
    cfg = resolved.config
    examples = training_examples(train_rows, length_grid, cfg)  # windows: each is an example
    total, per_epoch = total_optimizer_steps(cfg, batches_per_epoch(examples, cfg.batch_size, hardware.processes))
    every = min(cfg.eval_every or per_epoch, total)
    padded = padded_lengths(length_grid, examples, cfg.max_length, batch_size=cfg.batch_size,
                            grouped=cfg.length_grouping, seed=cfg.seed,
                            buckets=padding_buckets(hardware.device, cfg.max_length, cfg.compile == "on"))
    return TrainingPlan(cfg, resolved.decisions, train_rows, val_rows, test_rows, per_epoch, total,
                        evaluations=math.ceil(total / every), examples_per_text=examples / max(1, train_rows),
                        padded=padded)


@dataclass(frozen=True)
class LengthInUse:
    """The maximum length a run trains with beside the data's suggestion, and what it keeps of longer texts.

    Read from a plan (the engine's own decisions: on a CPU ``long_texts.choose_long_texts`` may lower an automatic
    512 to 256), so the Data tab says what training will do rather than what the lengths alone suggest."""

    suggested: int  # the data's suggestion (LengthStats.suggested_max_length)
    used: int  # the maximum length the run trains with
    kept: LongTexts  # what it keeps of a longer text
    longer_share: float  # share of the texts longer than ``used``
    reasons: tuple[str, ...] = ()  # the engine's reasons: for a length other than the suggestion, for what is kept
    pair: bool = False  # text pairs: the tokenizer trims the longer text of a pair, whatever ``kept`` says
    chosen: bool = False  # the person set the maximum length (else the engine decided it)

    @property
    def lowered(self) -> bool:
        """The engine trains with less than the suggestion (on a CPU, for long texts)."""
        return self.used < self.suggested and not self.chosen


def length_in_use(plan: TrainingPlan, lengths: LengthStats) -> LengthInUse:
    """What ``plan`` trains with, for data whose token lengths were measured as ``lengths``; the share of longer
    texts is the one the length chart shows (a percentile grid counts in whole percents: 1 text of 400 read
    as 1% under a chart that said 0.2%)."""
    cfg = plan.config
    used = int(cfg.max_length)
    suggested = lengths.suggested_max_length
    why = {d.field: d.reason for d in plan.decisions}
    reasons = [why["max_length"]] if used != suggested and "max_length" in why else []
    reasons += [why[name] for name in ("long_texts", "max_windows") if name in why]  # max_windows: texts read in part
    return LengthInUse(suggested, used, LongTexts.of(cfg), lengths.share_longer_than(used), tuple(reasons),
                       pair=bool(cfg.text_pair_column), chosen="max_length" not in why)


@dataclass(frozen=True)
class SpeedProbe:
    """How fast this computer runs one model on batches of one shape, from a short timed probe.

    The probe builds the model with 1 and then 2 layers (``step_timer``): every layer of a BERT-style encoder
    does the same work, so the full model's forward pass is the fixed part plus its layers x one layer, and a
    training step that forward pass x the 1-layer model's step-to-forward ratio. Building and timing the whole
    BERT-base took 40-90 s on a busy 2-core machine; the two small ones take a few seconds.
    """

    layers: int  # the full model's layers
    batch_size: int
    train_step: float  # seconds for one optimizer step with every layer training (the word embeddings frozen)
    forward_batch: float  # seconds for one forward pass without gradients (evaluation, cached features)
    seq_len: int = 0  # the padded length the batches were timed at (0: unknown, no scaling by length)
    embedding_update: float = 0.0  # added to a step when the word embeddings train: their gradient and update
    weights_copy: float = 0.0  # copying every weight once: each validation check that improves keeps them
    weights_save: float = 0.0  # writing every weight to disk once (loading them back costs about the same)
    model_build: float = 0.0  # building the model (its layers, random starting weights) before the weights load
    slowdown: float = 1.0  # how much other programs slowed the probe's typical round down against its quietest
    cpu_share: float = 1.0  # the share of the cores its threads asked for that the probe got (on a CPU)

    @property
    def measured_while_busy(self) -> bool:
        """Other programs were using the computer while it was measured: the timings hold only while they do."""
        return self.slowdown >= BUSY_SLOWDOWN or self.cpu_share < BUSY_CPU_SHARE

    def step_seconds(self, trainable_layers: int) -> float:
        """One optimizer step when only the top ``trainable_layers`` layers learn: the frozen ones only run forward."""
        trainable = max(0, min(self.layers, trainable_layers))
        return (trainable * self.train_step + (self.layers - trainable) * self.forward_batch) / self.layers

    def at_length(self, seq_len: int) -> SpeedProbe:
        """This probe's timings for batches padded to ``seq_len`` instead: at these short lengths nearly all of a
        step is work per token (the matrix products), so it scales with the length."""
        if not self.seq_len or seq_len == self.seq_len:
            return self
        scale = seq_len / self.seq_len
        return replace(self, train_step=self.train_step * scale, forward_batch=self.forward_batch * scale,
                       seq_len=seq_len)

    def forward_per_text(self, length: float | None = None) -> float:
        """One text's share of a forward pass, for texts padded to ``length`` (the timed length by default): the
        work per token is the same at these lengths, so it scales with the length."""
        scale = length / self.seq_len if length and self.seq_len else 1.0
        return self.forward_batch / self.batch_size * scale


def trainable_layers(config: TrainConfig, layers: int) -> int:
    """How many encoder layers a run of ``config`` trains (the frozen bottom ones only run forward)."""
    if config.freeze_encoder:
        return 0
    return max(0, layers - int(config.freeze_layers or 0))


PHASES = ("reading", "tokenizing", "tuning", "simple_model", "features", "steps", "validation", "final_scoring",
          "saving")  # in the order a run goes through them


@dataclass
class RunPhases:
    """Seconds per phase of a run: what the estimate expects (``TimeEstimate``) and what a run took
    (``phase_times.PhaseTimes``, measured from its events), compared field by field by bench/estimates.py."""

    reading: float = 0.0  # the file, the split, the tokenizer, the token lengths, the settings
    tokenizing: float = 0.0  # tokenizing every split and loading the model's weights
    tuning: float = 0.0  # "tune for me": the learning-rate probe before training
    simple_model: float = 0.0  # the word-count model fitted beside every run, scored on validation
    features: float = 0.0  # head-only: the frozen encoder's one pass over the training and validation texts
    steps: float = 0.0
    validation: float = 0.0  # the validation checks during training
    final_scoring: float = 0.0  # the kept model on the test texts, and once more on validation (calibration)
    saving: float = 0.0  # the model folder, calibration, the blend with the simple model, predictions, report

    @property
    def total_seconds(self) -> float:
        return sum(getattr(self, name) for name in PHASES)

    @property
    def tune_seconds(self) -> float:
        return self.tuning


@dataclass
class TimeEstimate(RunPhases):
    """Every phase of a run that takes time, in seconds; ``total_seconds`` is what the plan shows
    (worked out by ``estimate.estimate_time``). It is this computer's own speed, measured in its quietest moment:
    other programs running beside the run make it take longer."""

    measured_while_busy: bool = False  # other programs were busy while the speed was measured: a rough estimate
