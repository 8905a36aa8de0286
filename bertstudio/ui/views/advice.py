"""The plan and the reasons as the Model tab shows them (pure text builders)."""

from __future__ import annotations

from bertstudio.config import TrainConfig
from bertstudio.data.lengths import percent_text
from bertstudio.data.long_texts import LongTexts
from bertstudio.train.auto import Decision, explanations
from bertstudio.train.plan import LengthInUse, TimeEstimate, TrainingPlan
from bertstudio.train.tuning import MAX_EXTRA_SHARE, plan_probe
from bertstudio.ui.views.progress import format_duration


ESTIMATE_ASSUMES = ("The estimate is for this computer with nothing else running: other programs working at the same "
                    "time make training slower.")
MEASURED_WHILE_BUSY = ("Other programs were busy on this computer while its speed was measured, so this estimate "
                       "is rough: training is slower while they run, and can be several times faster once they stop.")


def plan_markdown(plan: TrainingPlan, estimate: TimeEstimate | None, device: str,
                  step_seconds: float | None = None, note: str = "") -> str:
    cfg = plan.config
    epochs = f"{cfg.epochs:g} pass{'es' if cfg.epochs != 1 else ''}"
    limit = f", stopped at {cfg.max_steps:,} steps" if plan.capped else ""
    lines = [f"**The plan:** {plan.train_rows:,} training texts in batches of {cfg.batch_size} → "
             f"{plan.steps_per_epoch:,} steps per pass over the data; up to {epochs}{limit}: "
             f"**at most {plan.total_steps:,} steps**. The model is checked on {plan.val_rows:,} validation texts "
             f"{_times(plan.evaluations)}{early_stopping_words(cfg, plan.evaluations)}; "
             f"{plan.test_rows:,} test texts are kept aside for the final score."]
    if plan.examples_per_text > 1:
        lines.append(windows_sentence(plan))
    if cfg.tune:
        lines.append(tune_sentence(cfg, plan.total_steps))
    if estimate is not None:
        measured = f" One step measured {step_seconds:.2f} s on {device}." if step_seconds else ""
        tuning = f", of which about {format_duration(estimate.tune_seconds)} tuning" if estimate.tune_seconds else ""
        lines.append(f"**Estimated training time on this computer: about {format_duration(estimate.total_seconds)}"
                     f"{tuning}** (an estimate, not a promise).{measured} {ESTIMATE_ASSUMES}"
                     + (f" {MEASURED_WHILE_BUSY}" if estimate.measured_while_busy else ""))
    elif note:
        lines.append(note)
    return "\n\n".join(lines)


def early_stopping_words(cfg: TrainConfig, evaluations: int) -> str:
    """Whether early stopping can end this plan sooner: it stops after ``patience`` checks without a better score,
    so it needs a first check to beat, that many after it, and one more still to come (a 1-epoch run checked once
    was told it might end sooner)."""
    if not cfg.early_stopping_patience:
        return " (early stopping is off: every planned step is trained)"
    if evaluations <= cfg.early_stopping_patience + 1:
        return ""
    return " and early stopping may end training sooner"


def windows_sentence(plan: TrainingPlan) -> str:
    """Long texts in windows: why there are more steps than texts over the batch size."""
    return (f"**Long texts in windows:** each text is read in about {plan.examples_per_text:.1f} windows on average, "
            f"and every window is a training example: about {round(plan.train_rows * plan.examples_per_text):,} "
            "examples per pass (the steps above count them).")


def tune_sentence(cfg: TrainConfig, total_steps: int) -> str:
    probe = plan_probe(cfg, total_steps)
    if probe.skip_reason:
        return f"**Tune for me:** {probe.skip_reason}"
    rates = ", ".join(f"{lr:g}" for lr in probe.candidates)
    return (f"**Tune for me:** before training, learning rates {rates} each train for {probe.steps:,} steps and "
            f"the best on validation is kept: at most {MAX_EXTRA_SHARE:.0%} more time.")


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n:,} times")


def decisions_markdown(decisions: list[Decision]) -> str:
    if not decisions:
        return "Every setting was chosen by you or the preset."
    reasons = "\n".join(f"- {reason}" for reason in explanations(decisions))
    return "**Chosen automatically from your data:**\n\n" + reasons


def length_in_use_markdown(use: LengthInUse) -> str:
    """What the run will read of each text (the Data tab, under the length box): the engine's plan, which on a
    CPU may lower the suggested length, and what it keeps of longer texts for the strategy it chose."""
    if use.longer_share == 0:
        return f"**Training reads every text whole**: none is longer than {use.used} tokens."
    where = "Training"
    if use.lowered:
        where = f"Suggested {use.suggested}; on this computer training"
    elif use.chosen and use.used != use.suggested:
        where = f"Suggested {use.suggested}, you chose {use.used}: training"
    reads = (f"reads each text in pieces of at most {use.used} tokens" if use.kept.strategy == "windows"
             else f"reads at most {use.used} tokens of each text")
    kept = "the longer text of each pair is trimmed to fit" if use.pair else f"it keeps {use.kept.kept()}"
    longer = percent_text(use.longer_share)  # as the length chart's title says it
    lines = [f"**{where} {reads}**; of the {longer} of texts that are longer, {kept}."]
    lines += list(use.reasons)
    return " ".join(lines)


def length_chart_words(kept: LongTexts) -> tuple[str, str]:
    """What the text-length chart says at the maximum length and of the texts beyond it, for what training keeps
    of them: a plain cut, the end, head + tail, or windows."""
    if kept.strategy == "windows":
        return "windows of", "are read in windows"
    if kept.plain_cut:
        return "cut at", "will be cut"
    return "cut at", f"keep {kept.kept()}"


def length_box_info(use: LengthInUse | None) -> str:
    """The line under the maximum-length box: whose length it shows, and why it is not the suggestion when the
    engine lowered it (on a CPU, for long texts), so the box never disagrees with what training reads."""
    if use is None or use.chosen:
        return "Longest text in tokens that is read in one piece; type another length to change it."
    if use.lowered:
        return (f"Chosen for this computer: your texts suggest {use.suggested}, but training here reads {use.used} "
                "(why: below). Type a length to choose it yourself.")
    return "Chosen from your texts (fits at least 95% of them); type another length to change it."
