"""Settings chosen from the data: every "auto" value in a config, with a one-sentence reason.

These are pure functions of a few statistics so they can be tested exhaustively
and explained to people who will never tune a learning rate.  The CLI prints the
reasons and ``config.json`` stores them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bertstudio.config import TrainConfig
from bertstudio.train.long_texts import choose_long_texts
from bertstudio.train.multilabel import weighting_decision
from bertstudio.train.lora import lora_targets

LENGTH_LADDER = (32, 64, 128, 256, 384, 512)


@dataclass(frozen=True)
class DataStats:
    """What the rules look at: sizes, classes and lengths of the training split."""

    train_rows: int
    class_counts: dict[str, int]
    suggested_max_length: int = 128
    length_p95: int = 128
    is_pair: bool = False
    # --- long texts ---
    length_grid: tuple[int, ...] = ()  # token lengths at percentiles 0..100 (LengthStats.percentile_grid)
    multi_label: bool = False  # class_counts are then positives per label

    @property
    def num_classes(self) -> int:
        return len(self.class_counts)

    @property
    def rows_per_class(self) -> float:
        return self.train_rows / max(1, self.num_classes)

    @property
    def imbalance_ratio(self) -> float:
        counts = [c for c in self.class_counts.values() if c > 0]
        return max(counts) / min(counts) if counts else 1.0


@dataclass(frozen=True)
class Hardware:
    device: str = "cpu"  # "cpu" | "cuda" | "mps"
    bf16: bool = False
    memory_gb: float | None = None
    processes: int = 1  # training the run together (accelerate launch); batch_size is per process

    @classmethod
    def of(cls, device: Any, processes: int = 1) -> "Hardware":
        """From a detected device (``bertstudio.hardware.DeviceInfo``): its type and whether it runs bf16 fast."""
        return cls(device.type, device.bf16, processes=processes)


@dataclass(frozen=True)
class ModelShape:
    """The sizes of the chosen model that the rules (and ``flops``) look at; BERT-base's by default."""

    hidden: int = 768
    layers: int = 12
    ffn: int = 3072  # width of each layer's feed-forward block
    # --- fine-tuning strategies (issue 20) ---
    # Not part of the shape (compare=False): two models of the same sizes time and count the same.
    model_type: str = field(default="bert", compare=False)
    trained_pooling: str | None = field(default=None, compare=False)  # how a sentence-transformers model pools

    @classmethod
    def of(cls, config: Any, trained_pooling: str | None = None) -> "ModelShape":
        """From a transformers config: BERT-style names, or DistilBERT's ``dim``/``n_layers``/``hidden_dim``."""
        def first(*names: str, default: int) -> int:
            return int(next((v for v in (getattr(config, n, None) for n in names) if v), default))

        return cls(first("hidden_size", "dim", default=cls.hidden), first("num_hidden_layers", "n_layers",
                                                                         default=cls.layers),
                   first("intermediate_size", "hidden_dim", default=cls.ffn),
                   str(getattr(config, "model_type", "bert")), trained_pooling)


@dataclass(frozen=True)
class Decision:
    field: str
    value: Any
    reason: str


@dataclass
class Resolved:
    config: TrainConfig
    decisions: list[Decision] = field(default_factory=list)

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(d) for d in self.decisions]


def explanations(decisions: Sequence[Decision]) -> list[str]:
    """The reasons a list shows, each once: a strategy's later fields only name the strategy ("Strategy: full
    fine-tuning.") that its first field explained (config.json keeps a reason per field)."""
    said: list[str] = []
    for decision in decisions:
        if not any(earlier.startswith(decision.reason) for earlier in said):
            said.append(decision.reason)
    return said


# --- individual rules (pure) ---------------------------------------------------------


def choose_max_length(stats: DataStats) -> Decision:
    value = stats.suggested_max_length
    return Decision("max_length", value, f"95% of your texts are at most {stats.length_p95} tokens long, "
                                         f"so texts are cut at {value} tokens.")


SMALL_DATA_ROWS = 5_000  # below this, more (smaller) updates beat hardware efficiency


GPU_BATCH = 128
GPU_BATCH_ROWS = 20_000  # from here batches of GPU_BATCH still give over 150 updates per pass over the data
BASE_BATCH = 32  # the batch the automatic learning rates were chosen for (bench/DEFAULTS.md)


def choose_batch_size(stats: DataStats, hw: Hardware) -> Decision:
    # bench/DEFAULTS.md: on 1,500-row subsets, batches of 32 left the sentence-pair task (MRPC) stuck on the
    # majority class for two epochs (macro-F1 0.66-0.69), batches of 16 reached 0.71-0.74.
    if stats.train_rows < SMALL_DATA_ROWS:
        each = " per process" if hw.processes > 1 else ""  # the update is larger: processes_decision says by how much
        return Decision("batch_size", 16, f"With {stats.train_rows:,} training rows, batches of 16{each} give the "
                                          f"model twice as many updates per pass over the data as batches of 32{each}.")
    # bench/RESULTS.md "Training speed: GPU" (BERT-base, 128 tokens, bf16, one H200): 986 samples/s at batch 32,
    # where the GPU mostly waits for Python to launch kernels, 3,283 at 128 (3.3x), 3,865 at 256 (+18% more for
    # half the updates).  That the accuracy holds (3 seeds, 128 vs 32, learning rate scaled) is what
    # bench/gpu_session.sh checks on a GPU; it has not been measured yet.
    if hw.device == "cuda" and stats.train_rows >= GPU_BATCH_ROWS:
        return Decision("batch_size", GPU_BATCH,
                        f"On a GPU, batches of {GPU_BATCH} texts train about 3x faster than batches of 32 (which leave "
                        f"the GPU waiting); with {stats.train_rows:,} training rows that still gives "
                        f"{stats.train_rows // GPU_BATCH:,} updates per pass, and the learning rate is raised with "
                        "the batch.")
    return Decision("batch_size", 32, "Batches of 32 texts use the hardware well and keep training stable.")


def processes_decision(processes: int, batch_size: int, grad_accum: int) -> Decision:
    """Several processes (accelerate launch): what an update averages, said where the batch is explained.  The
    batch is per process, so with 2 processes the reason "batches of 16" stood beside updates of 32 texts."""
    accumulated = f" x {grad_accum} accumulated" if grad_accum > 1 else ""
    return Decision("processes", processes,
                    f"{processes} processes train together: each takes batches of {batch_size}, so every update "
                    f"averages {batch_size * processes * grad_accum} texts ({batch_size} x {processes} processes"
                    f"{accumulated}).")


def scaled_for_batch(decision: Decision, batch_size: int) -> Decision:
    """The automatic learning rate for a batch larger than the one it was chosen for: times the square root of
    the ratio (the rule that keeps Adam's updates alike across batch sizes, Malladi et al. 2022), after the same
    warm-up share of the steps."""
    if batch_size <= BASE_BATCH:
        return decision
    factor = math.sqrt(batch_size / BASE_BATCH)
    lr = float(f"{decision.value * factor:.3g}")
    return Decision("lr", lr, f"{decision.reason.rstrip('.')}, raised {factor:g}x to {lr:g} for batches of "
                              f"{batch_size} (larger batches take fewer, surer steps).")


# Steps that win back compiling (tens of seconds for BERT-base) on a GPU. An estimate until bench/gpu_session.sh
# measures the compile time and the per-step saving on one; its report prints the measured payback.
COMPILE_PAYBACK_STEPS = 2_000


def planned_steps(config: TrainConfig, stats: DataStats, batch_size: int, epochs: float, processes: int) -> int:
    if config.max_steps:
        return config.max_steps
    per_epoch = math.ceil(stats.train_rows / (batch_size * config.grad_accum * processes))
    return math.ceil(per_epoch * epochs)


def choose_compile(hw: Hardware, steps: int, *, head_only: bool = False) -> Decision:
    if hw.device != "cuda":
        return Decision("compile", "off", "On a CPU the model is not compiled: each step is already busy computing, "
                                          "and compiling would cost more time than it saves.")
    if head_only:
        return Decision("compile", "off", "Only the classifier head trains, which is too small to gain from "
                                          "compiling.")
    if steps < COMPILE_PAYBACK_STEPS:
        return Decision("compile", "off", f"{steps:,} training steps are too few to win back the minute or so that "
                                          f"compiling the model takes (it pays from about "
                                          f"{COMPILE_PAYBACK_STEPS:,} steps).")
    return Decision("compile", "on", f"{steps:,} training steps: compiling the model first (about a minute) makes "
                                     "each step faster on the GPU, which wins that time back several times over.")


def choose_epochs(stats: DataStats, max_steps: int | None = None) -> Decision:
    """``max_steps``: the step limit the person set, said beside the passes (the reason read 'up to 10 passes' for
    a run limited to 2 steps)."""
    n = stats.train_rows
    # Fewer passes as data grows.  The schedule matters, not only the best checkpoint: on 1,500-row subsets
    # 4 epochs beat 8 even with the best checkpoint restored (bench/DEFAULTS.md), because a longer schedule
    # keeps the learning rate high for longer and the model overfits before it decays.
    if n < 1_000:
        epochs = 10
    elif n < 20_000:
        epochs = 4
    elif n < 50_000:
        epochs = 2
    else:
        epochs = 1
    limit = f" The maximum of {max_steps:,} steps ends training sooner if it comes first." if max_steps else ""
    return Decision("epochs", epochs, f"{n:,} training rows: up to {epochs} pass{'es' if epochs > 1 else ''} over the "
                                      f"data, with early stopping so extra passes never hurt.{limit}")


def choose_lr(stats: DataStats, model_hidden: int) -> Decision:
    # Smaller encoders tolerate (and need) larger steps; BERT-large diverges above ~3e-5.
    if model_hidden <= 512:
        lr = 1e-4
    elif model_hidden <= 768:
        lr = 5e-5
    else:
        lr = 2e-5
    return Decision("lr", lr, f"A model with hidden size {model_hidden} fine-tunes well at a learning rate of {lr:g}.")


MANY_CLASSES = 10


def choose_head_lr(stats: DataStats, encoder_lr: float, *, head_only: bool = False) -> Decision:
    # The head starts from random weights; with many classes, at the encoder's small rate it would still
    # be catching up when training ends, which is what sinks the textbook recipe on many classes.  With a
    # few classes it catches up within the first epoch, and a 10x head rate made training unstable
    # (MRPC: the model fell back to the majority class, bench/DEFAULTS.md), so it shares the encoder's rate.
    if head_only:
        head_lr = min(3e-3, encoder_lr * 10)
        return Decision("head_lr", head_lr, f"Only the classifier head trains (the encoder stays fixed), so it learns "
                                            f"at {head_lr:g}: fast, with nothing pre-trained to disturb.")
    if stats.num_classes < MANY_CLASSES:
        return Decision("head_lr", encoder_lr, f"{stats.num_classes} classes: the new classifier head learns at the "
                                               f"encoder's rate ({encoder_lr:g}); with few classes it catches up "
                                               "within the first pass.")
    head_lr = min(3e-3, encoder_lr * 10)
    return Decision("head_lr", head_lr, f"{stats.num_classes} classes with about {stats.rows_per_class:,.0f} rows each: "
                                        f"the new classifier head learns at {head_lr:g} so it catches up with the "
                                        "pre-trained encoder.")


def choose_class_weighting(stats: DataStats) -> Decision:
    if stats.multi_label:
        return Decision("class_weighting", *weighting_decision(stats.class_counts, stats.train_rows))
    ratio = stats.imbalance_ratio
    if ratio >= 3:
        return Decision("class_weighting", "balanced", f"The largest class is {ratio:.1f}x the smallest, so rare "
                                                       "classes count more in the loss.")
    return Decision("class_weighting", "none", "Classes are roughly balanced, so every example counts the same.")


def choose_freeze_embeddings(stats: DataStats) -> Decision:
    return Decision("freeze_embeddings", True, "The word-embedding table barely changes during fine-tuning, so it "
                                               "stays fixed: each step is faster and accuracy is unchanged.")


def choose_freeze_layers(model_layers: int, *, head_only: bool = False) -> Decision:
    if head_only:
        return Decision("freeze_layers", 0, "Only the classifier head trains, so the whole pre-trained model stays "
                                            "fixed anyway.")
    # The bottom layers learn general word features that fine-tuning barely changes. Keeping the bottom sixth
    # fixed skips their whole backward pass and optimizer update: on the bundled 6-layer model a short-text
    # step is ~14% faster, and test macro-F1 over 3 seeds on four datasets moved by -0.55 to +0.49 points,
    # 0.00 on average (bench/RESULTS.md, "Freezing the bottom layer"). Models with fewer than 6 layers keep
    # every layer trainable.
    frozen = model_layers // 6
    if frozen == 0:
        return Decision("freeze_layers", 0, f"The model has only {model_layers} layers, so every layer keeps learning.")
    which = "bottom layer" if frozen == 1 else f"bottom {frozen} of its {model_layers} layers"
    return Decision("freeze_layers", frozen, f"The model's {which} and its embeddings stay fixed: they hold general "
                                             "word knowledge that fine-tuning barely changes, and not training them "
                                             "makes each step faster.")


def choose_attention_dropout(hw: Hardware) -> Decision:
    if hw.device == "cpu":
        # Measured on a 2-core AVX512-BF16 CPU: with attention dropout, PyTorch picks a slow attention
        # path; without it a training step at 128 tokens is about 1.6x faster. The other dropouts stay.
        return Decision("attention_dropout", 0.0, "On a CPU, attention runs about 1.6x faster without dropout on "
                                                  "attention weights; the model's other dropout still regularises.")
    return Decision("attention_dropout", 0.1, "On a GPU the fast attention kernels support dropout, so the "
                                              "standard 0.1 is kept.")


def choose_precision(precision: str, hw: Hardware) -> Decision | None:
    """The number format to train in, when ``precision`` is auto, or fp16 on a CPU (None: as given).

    accelerate runs no fp16 on a CPU: ``--precision fp16`` trained in fp32 there while the run recorded fp16 beside
    its CPU device.  It gets what runs, as auto would choose it, and says so."""
    if precision == "fp16" and hw.device == "cpu":
        chosen = "bf16" if hw.bf16 else "fp32"
        return Decision("precision", chosen, "fp16 runs only on a GPU; on this CPU training uses "
                        + ("bfloat16, which it computes natively." if hw.bf16 else "full precision (fp32)."))
    if precision != "auto":
        return None
    reason = ("This hardware computes in bfloat16 natively: about twice as fast, same accuracy."
              if hw.bf16 else "This hardware has no fast bfloat16, so training uses full precision.")
    return Decision("precision", "bf16" if hw.bf16 else "fp32", reason)


def choose_eval_every(stats: DataStats, batch_size: int, grad_accum: int, processes: int = 1) -> Decision:
    # Each update averages batch_size texts from every process, grad_accum times over.
    steps_per_epoch = math.ceil(stats.train_rows / (batch_size * grad_accum * processes))
    if steps_per_epoch > 1_000:
        every = math.ceil(steps_per_epoch / 4)
        return Decision("eval_every", every, f"Long epochs ({steps_per_epoch:,} steps): the model is checked every "
                                             f"{every:,} steps so the best version is kept.")
    return Decision("eval_every", steps_per_epoch, "The model is checked on the validation set after every epoch.")


def decide_long_texts(config: TrainConfig, stats: DataStats, hw: Hardware, model: ModelShape,
                      decisions: list[Decision], updates: dict[str, Any]) -> None:
    """What to keep of long texts (may lower an automatic maximum length on a CPU): replaces earlier decisions
    of the same fields; a choice without a reason (nothing is cut) shows none."""
    for choice in choose_long_texts(config.model_copy(update=updates), stats.length_grid, is_pair=stats.is_pair,
                                    device=hw.device, hidden=model.hidden, ffn=model.ffn,
                                    max_length_auto=config.max_length is None, texts=stats.train_rows):
        updates[choice.field] = choice.value
        decisions[:] = [d for d in decisions if d.field != choice.field]
        if choice.reason:
            decisions.append(Decision(choice.field, choice.value, choice.reason))
# --- fine-tuning strategy (issue 20; measured in bench/STRATEGIES.md) ---------------------------------


@dataclass(frozen=True)
class Strategy:
    """How much of the pre-trained model changes, and how gently: one recommendation, with its reason."""

    name: str
    layer_lr_decay: float
    unfreezing: str
    lora_rank: int
    reason: str


# From this many training rows up to GENTLE_UP_TO_ROWS the recommendation is layer-wise learning-rate decay.
GENTLE_FROM_ROWS = 1_000
GENTLE_UP_TO_ROWS = 3_000
GENTLE_DECAY = 0.9


def choose_strategy(stats: DataStats, model: ModelShape, *, head_only: bool = False) -> Strategy:
    # bench/STRATEGIES.md, the bundled model with its mean pooling, 3 seeds each:
    # * 2,000 training rows (automatic epochs): layer-wise decay 0.9 had the best mean macro-F1 on both sets
    #   (SST-2 +0.25 points over full fine-tuning, AG News +0.45; ahead on 4 of 6 same-sample pairs, behind on 1),
    #   gradual unfreezing and LoRA at or below full fine-tuning, the head alone 4-5 points lower.
    # * 500 rows (2 epochs): full fine-tuning had the best mean; layer-wise decay within noise of it (-0.5, 0.0),
    #   LoRA (-1.1, -2.7) and gradual unfreezing (-1.9, -1.0) lower. Again with automatic epochs: full fine-tuning
    #   best on SST-2 (layer-wise decay -0.7), level with it on AG News (-0.1, 2 seeds).
    # * 4,500 rows (AG News's whole training set, automatic epochs): full fine-tuning best again (0.9096); layer-wise
    #   decay 0.42 points lower (behind on 2 of 3 same-sample seeds), gradual unfreezing -0.54, LoRA -0.74.
    # * 67,349 rows (SST-2's whole training set, one automatic epoch): full fine-tuning and layer-wise decay level
    #   (0.8949 against 0.8953: one to three test texts either way by seed); gradual unfreezing -0.46, LoRA -0.66.
    # So the seeds' rule of thumb (1k-10k rows: a gentler strategy) holds only in the lower part of its band: below
    # it a frozen encoder or LoRA lost at 500 rows, and the decay's lead at 2,000 rows had turned at 4,500. The band's
    # edges lie between the sizes measured (1,000 between 500 and 2,000; 3,000 between 2,000 and 4,500). The gaps
    # are small next to the seeds' spread: the other strategies stay one preset away (gentle, gradual, lora) for
    # data unlike these.
    n, classes = stats.train_rows, stats.num_classes
    if head_only:
        return Strategy("head only", 1.0, "none", 0, "Only the classifier head trains, so no other strategy applies.")
    if GENTLE_FROM_ROWS <= n < GENTLE_UP_TO_ROWS:
        return Strategy("layer-wise learning-rate decay", GENTLE_DECAY, "none", 0,
                        f"{n:,} training rows for {classes} classes: each layer learns a little more slowly than "
                        f"the one above it ({GENTLE_DECAY:g}x), so the lower layers keep more of their general "
                        "knowledge of language; this beat full fine-tuning, gradual unfreezing and LoRA on 2,000-row "
                        "samples of two public data sets (bench/STRATEGIES.md).")
    why = ("which beat slower lower layers, gradual unfreezing and LoRA on 500-row samples of two public data sets"
           if n < GENTLE_FROM_ROWS else "which beat slower lower layers, gradual unfreezing and LoRA on a public data "
           "set's 4,500 training rows and matched or beat them on another's 67,349: with this much data, gentler "
           "strategies have little to guard against")
    return Strategy("full fine-tuning", 1.0, "none", 0,
                    f"{n:,} training rows for {classes} classes: every layer learns at one rate, {why} "
                    "(bench/STRATEGIES.md).")


def chosen_strategy(config: TrainConfig) -> Strategy | None:
    """The person's own strategy when they set one of its settings (the others then stay plain: strategies are
    not mixed behind their back, and the plan names what they chose rather than the recommendation)."""
    named = [label for label, on in (("gradual unfreezing", config.unfreezing == "gradual"),
                                     ("LoRA", bool(config.lora_rank)),
                                     ("layer-wise learning-rate decay",
                                      config.layer_lr_decay is not None and config.layer_lr_decay < 1))
             if on]
    if not named:
        return None
    return Strategy(" and ".join(named) + " (your choice)", 1.0, "none", 0,
                    "The settings of other strategies stay off.")


def choose_pooling(model: ModelShape) -> Decision:
    if model.trained_pooling:
        return Decision("pooling", model.trained_pooling, f"The model was trained to read a text as the "
                                                          f"{'mean of its token vectors' if model.trained_pooling == 'mean' else 'first token'}"
                                                          ", so the classifier reads it the same way.")
    # "cls" is each family's own head: BERT's pooler, DistilBERT's pre-classifier (it has no pooler).
    return Decision("pooling", "cls", "The classifier reads the text the way the model was pre-trained to: "
                                      "through its first ([CLS]) token.")


def lora_lr(decision: Decision, lora_rank: int | None) -> Decision:
    """LoRA's adapters start at zero and are small, so they need larger steps than full fine-tuning (5x, up to
    5e-4, the rate the LoRA paper used for RoBERTa-base classifiers)."""
    if not lora_rank:
        return decision
    lr = min(5e-4, decision.value * 5)
    return Decision("lr", lr, f"LoRA's small add-on matrices start at zero, so they learn at a larger learning rate "
                              f"({lr:g}) than full fine-tuning uses.")


def strategy_decisions(config: TrainConfig, stats: DataStats, model: ModelShape, decide) -> None:
    """Fill the strategy fields left on auto with one recommendation (each field names the strategy and why)."""
    if config.lora_rank:
        lora_targets(model.model_type, model.hidden)  # refuses a model LoRA cannot target before any work starts
    strategy = chosen_strategy(config) or choose_strategy(stats, model, head_only=config.freeze_encoder)
    decide("pooling", lambda: choose_pooling(model))
    explained = False  # the reason is given once, with the first setting it fills; the others name the strategy
    for name, value in (("layer_lr_decay", strategy.layer_lr_decay), ("unfreezing", strategy.unfreezing),
                        ("lora_rank", strategy.lora_rank)):
        if getattr(config, name) is None:
            reason = f"Strategy: {strategy.name}." + ("" if explained else f" {strategy.reason}")
            decide(name, lambda name=name, value=value, reason=reason: Decision(name, value, reason))
            explained = True


# --- putting them together --------------------------------------------------------------


def resolve(config: TrainConfig, stats: DataStats, hw: Hardware, *, model: ModelShape = ModelShape()) -> Resolved:
    """Fill every ``None``/"auto" field of ``config``; values the user set are kept as they are."""
    decisions: list[Decision] = []
    updates: dict[str, Any] = {}

    def decide(name: str, make) -> Any:
        current = getattr(config, name)
        if current is None or current == "auto":
            decision = make()
            decisions.append(decision)
            updates[name] = decision.value
            return decision.value
        return current

    strategy_decisions(config, stats, model, decide)
    decide("max_length", lambda: choose_max_length(stats))
    decide_long_texts(config, stats, hw, model, decisions, updates)
    batch_size = decide("batch_size", lambda: choose_batch_size(stats, hw))
    if hw.processes > 1:  # whoever chose the batch: it is per process, and the update is what trains
        decisions.append(processes_decision(hw.processes, batch_size, config.grad_accum))
    epochs = decide("epochs", lambda: choose_epochs(stats, config.max_steps))
    # Scaled only when the batch is the GPU's automatic one: a batch a person chose keeps the rate they know.
    lr_batch = batch_size if updates.get("batch_size") == GPU_BATCH else BASE_BATCH
    lr = decide("lr", lambda: scaled_for_batch(
        lora_lr(choose_lr(stats, model.hidden), updates.get("lora_rank", config.lora_rank)), lr_batch))
    decide("head_lr", lambda: choose_head_lr(stats, lr, head_only=config.freeze_encoder))
    decide("class_weighting", lambda: choose_class_weighting(stats))
    decide("freeze_embeddings", lambda: choose_freeze_embeddings(stats))
    decide("freeze_layers", lambda: choose_freeze_layers(model.layers, head_only=config.freeze_encoder))
    decide("attention_dropout", lambda: choose_attention_dropout(hw))
    decide("eval_every", lambda: choose_eval_every(stats, batch_size, config.grad_accum, hw.processes))
    decide("compile", lambda: choose_compile(hw, planned_steps(config, stats, batch_size, epochs, hw.processes),
                                             head_only=config.freeze_encoder))
    precision = choose_precision(config.precision, hw)
    if precision is not None:
        decisions.append(precision)
        updates["precision"] = precision.value
    return Resolved(config.model_copy(update=updates), decisions)
