""""Tune for me": a short, bounded learning-rate probe before the real training run.

The automatic learning rate (``auto.choose_lr``) is a rule of thumb by model size.  When a user
asks, a few candidates around it (half, same, double; the head's rate keeps its ratio) each train the
model from the same starting weights for the same few steps on the same batches, and the one with the
lowest validation loss is kept.  Measured on four datasets (bench/DEFAULTS.md) it picked the largest
candidate every time and moved macro-F1 by less than a point: short probes favour large rates, so the
rule's rate stays the default and this is an option.  Validation *loss* rather than macro-F1: after a few dozen steps F1 is
still coarse (many classes not yet predicted at all) while the loss already ranks the rates.

The probe is bounded by construction: all candidates together get ``PROBE_SHARE`` of the planned
optimizer steps, and each is scored on at most ``PROBE_VAL_ROWS`` validation rows, so with its
scoring it adds at most about a quarter to the planned training time.  It trains the run's own model
(reset between candidates), so it costs no second model load.  Too little data for a
meaningful probe (fewer than ``MIN_PROBE_STEPS`` steps per candidate) skips it and says so.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from bertstudio.config import TrainConfig
from bertstudio.train.auto import Decision

LR_FACTORS = (0.5, 1.0, 2.0)  # around the rule's rate: the rule is right within a factor of 2 on our benchmarks
# Of the planned steps, for all candidates together.  Measured on 1,500-2,500-row sets (bench/DEFAULTS.md), the
# probe's scoring and set-up cost about as much again as its steps (scoring 300 rows three times is not small
# next to a few dozen steps), so 0.12 keeps the whole probe under 25% of the run.
PROBE_SHARE = 0.12
MIN_PROBE_STEPS = 8  # fewer steps than this and the validation losses mostly measure noise
MAX_PROBE_STEPS = 300  # enough to rank rates on large data; more would only cost time
PROBE_VAL_ROWS = 300
MAX_EXTRA_SHARE = 0.25  # what the app and the CLI promise


@dataclass(frozen=True)
class ProbePlan:
    candidates: tuple[float, ...]  # encoder learning rates to try
    steps: int  # optimizer steps each
    planned_steps: int  # of the real run, for the "adds at most" sentence
    skip_reason: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    lr: float
    head_lr: float
    val_loss: float
    macro_f1: float


def candidate_lrs(lr: float) -> tuple[float, ...]:
    return tuple(float(f"{lr * f:.3g}") for f in LR_FACTORS)


def plan_probe(cfg: TrainConfig, planned_steps: int) -> ProbePlan:
    """How many steps each candidate gets; a skip reason when the run is too short to probe."""
    candidates = candidate_lrs(cfg.lr)
    steps = min(MAX_PROBE_STEPS, math.floor(PROBE_SHARE * planned_steps / len(candidates)))
    if steps < MIN_PROBE_STEPS:
        return ProbePlan(candidates, 0, planned_steps,
                         f"Training is only {planned_steps} steps, too short for a learning-rate probe to tell "
                         f"rates apart; the automatic learning rate {cfg.lr:g} is used.")
    return ProbePlan(candidates, steps, planned_steps)


def choose(results: Sequence[ProbeResult], default_lr: float) -> ProbeResult:
    """Lowest validation loss; a non-finite loss (a diverged rate) never wins; ties go to the rule's rate."""
    finite = [r for r in results if math.isfinite(r.val_loss)]
    if not finite:
        return min(results, key=lambda r: abs(math.log(r.lr / default_lr)))
    return min(finite, key=lambda r: (round(r.val_loss, 4), abs(math.log(r.lr / default_lr))))


def tuned_decision(results: Sequence[ProbeResult], chosen: ProbeResult, plan: ProbePlan, seconds: float) -> Decision:
    tried = ", ".join(f"{r.lr:g} (loss {r.val_loss:.3f})" for r in results)
    return Decision("lr", chosen.lr, f"Tune for me: tried learning rates {tried} for {plan.steps} steps each "
                                      f"({seconds:.0f} s); training uses {chosen.lr:g}, head {chosen.head_lr:g}.")


def probe_config(cfg: TrainConfig, lr: float, steps: int) -> TrainConfig:
    """The run's settings, shortened to ``steps`` and scored once, at the end, by validation loss."""
    ratio = (cfg.head_lr or cfg.lr) / cfg.lr
    return cfg.model_copy(update={"lr": lr, "head_lr": float(f"{lr * ratio:.3g}"), "max_steps": steps,
                                  "eval_every": steps, "early_stopping_patience": 0, "metric_for_best": "val_loss"})


def probe_learning_rates(cfg: TrainConfig, plan: ProbePlan, train_one: Callable[[TrainConfig], dict[str, Any]],
                         *, on_candidate: Callable[[int, float], None] = lambda i, lr: None
                         ) -> tuple[TrainConfig, Decision]:
    """Try each candidate with ``train_one`` (a fresh model, ``plan.steps`` steps; returns validation metrics)
    and return the run's settings with the best rate, and the decision that explains it."""
    start = time.perf_counter()
    results = []
    for i, lr in enumerate(plan.candidates):
        on_candidate(i, lr)
        probe = probe_config(cfg, lr, plan.steps)
        metrics = train_one(probe)
        results.append(ProbeResult(lr, probe.head_lr, float(metrics.get("loss", math.inf)),
                                   float(metrics.get("macro_f1", 0.0))))
    chosen = choose(results, cfg.lr)
    decision = tuned_decision(results, chosen, plan, time.perf_counter() - start)
    return cfg.model_copy(update={"lr": chosen.lr, "head_lr": chosen.head_lr}), decision
