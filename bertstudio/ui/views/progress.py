"""What the Train tab shows, folded from training events (pure: no gradio, no threads).

The page keeps a :class:`TrainProgress` and, every tick, folds in the events it
has not seen yet (``job.events_since(progress.cursor)``).  A reloaded page starts
from an empty one and replays the whole history, which is how it re-attaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from bertstudio.events import Cancelled, Evaluated, Failed, Finished, SimpleModelScored, Started, Step, Stopping, \
    Tuning, Working
from bertstudio.history.records import score_text
from bertstudio.results import RunStatus
from bertstudio.ui.views.multilabel import is_multilabel, label_set_scores


# Which texts a score is on, said wherever two figures of the simple model can be read side by side (the status
# line's validation score, the outcome's test score). Scores are percentages in prose (history.records.score_text).
ON_VALIDATION = "on the validation texts"


@dataclass
class TrainProgress:
    token: str = ""  # which job these series belong to
    cursor: int = 0  # events folded so far
    tuning: Tuning | None = None  # the learning rate "tune for me" is trying, before training starts
    started: Started | None = None
    simple: SimpleModelScored | None = None  # the simple word-count model's validation score: the line to beat
    working: Working | None = None  # the latest phase outside the steps (head-only feature caching)
    last_step: Step | None = None
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    macro_f1s: list[float] = field(default_factory=list)
    best: Evaluated | None = None
    stop_reason: str = ""  # why the job stopped by itself (the time cap), from its Stopping event
    outcome: Finished | Failed | Cancelled | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not None


def fold_events(progress: TrainProgress, events: Sequence[Any]) -> TrainProgress:
    """Add ``events`` (the ones after ``progress.cursor``) to the series, in place; returns it."""
    for event in events:
        if isinstance(event, (Tuning, Started)):
            progress.working = None  # the phase before (reading, tokenizing) is over
        if isinstance(event, Tuning):
            progress.tuning = event
        elif isinstance(event, Started):
            progress.started = event
        elif isinstance(event, SimpleModelScored):
            progress.simple = event
            progress.working = None  # its fitting phase is over: the score line shows, not "Fitting ..."
        elif isinstance(event, Working):
            progress.working = event
        elif isinstance(event, Stopping):
            progress.stop_reason = event.reason
        elif isinstance(event, Step):
            progress.working = None  # the phase before the steps (or a check between them) is over
            progress.last_step = event
            progress.steps.append(event.step)
            progress.losses.append(event.loss)
            progress.lrs.append(event.lr)
            progress.grad_norms.append(event.grad_norm)
        elif isinstance(event, Evaluated):
            progress.working = None
            progress.eval_steps.append(event.step)
            progress.val_losses.append(event.val_loss)
            progress.macro_f1s.append(event.macro_f1)
            if event.is_best:
                progress.best = event
        elif isinstance(event, (Finished, Failed, Cancelled)):
            progress.outcome = event
    progress.cursor += len(events)
    return progress


def format_duration(seconds: float) -> str:
    """'45 s', '3 min 05 s', '1 h 02 min'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_fraction(progress: TrainProgress) -> float:
    step = progress.last_step
    if isinstance(progress.outcome, Finished) and not progress.outcome.summary.stopped_early:
        return 1.0
    return step.step / step.total_steps if step and step.total_steps else 0.0


def progress_markdown(progress: TrainProgress) -> str:
    """One line: where training is, how fast it goes, how long is left."""
    started, step = progress.started, progress.last_step
    if started is None and progress.tuning is not None:
        t = progress.tuning
        return (f"**Tune for me:** trying learning rate {t.index} of {t.candidates} ({t.lr:g}, {t.steps} steps); "
                "training starts with the best one…")
    if started is None and progress.working is not None:
        return f"{working_text(progress.working)}…"
    if started is None:
        return "Preparing: reading the data and loading the model…"
    if step is None and started.resumed_from_step:
        return (f"Resuming from the checkpoint at step {started.resumed_from_step:,} of {started.total_steps:,} on "
                f"{started.device}…")
    if step is None and progress.working is not None:
        return (f"{working_text(progress.working)}; the training steps follow ({started.total_steps:,} steps on "
                f"{started.device})…")
    if step is None and progress.simple is None:
        return (f"Starting: {started.train_rows:,} training texts, up to {started.total_steps:,} steps on "
                f"{started.device}; first a simple word-count model to compare with…")
    if step is None:
        return (f"Starting: {started.train_rows:,} training texts, up to {started.total_steps:,} steps on "
                f"{started.device}. A simple word-count model scored {score_text(progress.simple.macro_f1)} "
                f"macro-F1 {ON_VALIDATION}: the score to beat.")
    parts = [f"**Step {step.step:,} of {step.total_steps:,}**", f"epoch {step.epoch:.2f}",
             f"{format_duration(step.elapsed)} elapsed"]
    if not progress.done:
        parts.append(f"about {format_duration(step.eta)} left")
    # Head-only steps read cached features, not tokens: texts per second is the speed that means something there.
    speed = (f"{step.tokens_per_second:,.0f} tokens/s" if step.tokens_per_second > 0
             else f"{step.samples_per_second:,.0f} texts/s")
    parts += [speed, started.device]
    if progress.simple is not None:  # the score to beat, drawn as the dashed line on the validation chart
        parts.append(f"simple model to beat: {score_text(progress.simple.macro_f1)} macro-F1 {ON_VALIDATION}")
    line = " · ".join(parts)
    if progress.working is not None and not progress.done:  # a check between steps, or the phases after them
        line += f"\n\n{working_text(progress.working)}…"
    return line


def working_text(working: Working) -> str:
    """'**Checking the model on the validation texts:** 64 of 400 texts' (no count for a phase without units)."""
    if working.total <= 0:
        return f"**{working.phase}**"
    return f"**{working.phase}:** {working.done:,} of {working.total:,} texts"


def bar_html(fraction: float) -> str:
    """The app's progress bar (styled by the app's CSS) filled to ``fraction``; every tab draws this one."""
    percent = round(100 * min(1.0, max(0.0, fraction)))
    return (f'<div class="bs-progress" role="progressbar" aria-valuenow="{percent}" aria-valuemin="0" '
            f'aria-valuemax="100"><div class="bs-progress-fill" style="width:{percent}%"></div>'
            f'<span>{percent}%</span></div>')


def progress_bar_html(progress: TrainProgress) -> str:
    return bar_html(progress_fraction(progress))


def simple_model_markdown(summary) -> str:
    """The verdict against the simple word-count model, and whether the run ships the blend of both."""
    simple = summary.simple_model
    if simple is None:
        return ""
    # The Train tab's status line gives the simple model's validation score; the verdict's figures are on the
    # evaluated (test) texts, so the heading says which.
    text = f"\n\n**Compared with a simple model, on the {summary.evaluated_on} texts:** {simple.verdict}"
    if simple.blend.used:
        text += (f" The saved model blends both ({simple.blend.weight:.0%} fine-tuned): "
                 f"{simple.blend.reason} The figures above are the blend's.")
    return text


def test_scores(summary) -> str:
    """The run's final figures; for several labels per text, what each one counts (they differ in kind from the
    validation figure above, which decides every label at 0.5)."""
    if is_multilabel(summary.metrics):
        return label_set_scores(summary.macro_f1, summary.accuracy)
    return f"macro-F1 is **{score_text(summary.macro_f1)}** and accuracy **{score_text(summary.accuracy)}**."


STOPPED_NEXT = ("It is saved like a finished run: see where it goes wrong in the Evaluate tab, download it in the "
                "Export tab, or press Start to train again from the beginning (a new run; this one is kept).")


def outcome_markdown(progress: TrainProgress) -> str:
    """The end state in plain words (empty while training is still going)."""
    outcome = progress.outcome
    if isinstance(outcome, Finished) and outcome.summary.stopped_early:
        summary = outcome.summary
        why = f" Why it stopped: {progress.stop_reason}" if progress.stop_reason else ""
        return (f"**{summary.ending()}**{why}\n\nOn the {summary.evaluated_on} texts, which the model never saw, "
                f"{test_scores(summary)} {STOPPED_NEXT}")
    if isinstance(outcome, Finished):
        summary = outcome.summary
        best_f1 = summary.validation.macro_f1
        best = f"best validation macro-F1 **{score_text(best_f1)}** at epoch {summary.best_epoch or 0:g}" \
            if best_f1 is not None else "training finished"
        early = (" Training ended before its planned steps: the validation score had stopped improving (early "
                 "stopping)." if summary.early_stopping else "")
        done = (f"**Done: {best}, model saved.**{early} On the {summary.evaluated_on} texts, which the model never "
                f"saw, {test_scores(summary)} Open the Evaluate tab to see where it goes wrong.")
        return done + simple_model_markdown(summary)
    if isinstance(outcome, Failed):
        hint = f" **What to do:** {outcome.hint}" if outcome.hint else ""
        return f"**Training failed:** {outcome.message}{hint}"
    if isinstance(outcome, Cancelled):
        return f"**Stopped at step {outcome.step:,}.** {outcome.message}"
    return ""


def resume_markdown(run_name: str, status: RunStatus | None) -> str:
    """The offer to resume the workspace's interrupted run (empty when there is none)."""
    if status is None:
        return ""
    how = "was interrupted" if status.state == "interrupted" else "failed"
    why = f" ({status.message})" if status.state == "failed" and status.message else ""
    if status.checkpoint_step is None:  # killed before its first checkpoint
        return (f"**Interrupted:** your last run, **{run_name}**, {how} before it saved its first checkpoint. "
                "**Resume** trains it again from the start, with the same settings and data.")
    return (f"**Interrupted:** your last run, **{run_name}**, {how}{why} before it finished. **Resume** goes on from "
            f"its checkpoint at step {status.checkpoint_step:,} with the same settings and data.")
