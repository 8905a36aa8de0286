"""Where a run's time went, phase by phase, from the events it emitted: the measurement the time estimate is
judged against (``bench/estimates.py`` prints both side by side).

The events carry their wall-clock ``time``. A working event is emitted *before* each batch of its phase (and once
after the last), so the time between two events is the work of whatever the later event closes: a step event
closes its step, a working event of a phase closes that phase's previous batch, "started" closes the tokenizing and
model loading, the simple model's event closes its fit. The phases have the names of ``plan.TimeEstimate``'s
fields, so estimate and measurement compare field by field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bertstudio.events import Evaluated, Event, SimpleModelScored, Started, Step, Tuning, Working
from bertstudio.train.loop import FEATURES_PHASE, VALIDATION_PHASE
from bertstudio.train.pipeline import SAVING_PHASE, TOKENIZING_PHASE, scoring_phase
from bertstudio.train.plan import RunPhases


@dataclass
class PhaseTimes(RunPhases):
    """Seconds per phase of one run as it went, and the number of optimizer steps it took."""

    step_count: int = 0

    @property
    def seconds_per_step(self) -> float | None:
        return self.steps / self.step_count if self.step_count else None


def run_working_phases() -> dict[str, str]:
    """The phase (a field of PhaseTimes) of each working event's text a training run emits."""
    return {TOKENIZING_PHASE: "tokenizing", FEATURES_PHASE: "features", VALIDATION_PHASE: "validation",
            scoring_phase("test"): "final_scoring", scoring_phase("validation"): "final_scoring",
            SAVING_PHASE: "saving"}


def phase_of(event: Event, working_phases: dict[str, str]) -> str | None:
    """The phase whose work ends at ``event`` (None for events that close nothing measurable)."""
    if isinstance(event, Working):
        return working_phases.get(event.phase)
    if isinstance(event, Started):
        return "tokenizing"
    if isinstance(event, Tuning):
        return "tuning"
    if isinstance(event, SimpleModelScored):
        return "simple_model"
    if isinstance(event, Step):
        return "steps"
    if isinstance(event, Evaluated):
        return "validation"
    return None


def phase_times(events: Iterable[Event], *, start: float, end: float,
                working_phases: dict[str, str] | None = None, after_last: str = "saving") -> PhaseTimes:
    """Fold a run's events (emitted between wall-clock ``start`` and ``end``) into seconds per phase.

    ``working_phases`` names the phase of each working event's text (by default the run's own phase texts); the time after the last event (to ``end``) is ``after_last``'s. An event of no known phase gives its
    interval to the phase before it.
    """
    working_phases = run_working_phases() if working_phases is None else working_phases
    times = PhaseTimes()
    previous_time, previous_phase = start, "reading"
    ordered: Sequence[Event] = sorted(events, key=lambda e: e.time)
    for event in ordered:
        phase = phase_of(event, working_phases) or previous_phase
        if isinstance(event, Working) and event.done == 0 and phase != previous_phase:
            # The first event of a phase closes the glue after the previous one (its last batch was closed by
            # its own event), e.g. the model's last layer restored after training: counted where it was.
            phase = previous_phase
        setattr(times, phase, getattr(times, phase) + max(0.0, event.time - previous_time))
        if isinstance(event, Step):
            times.step_count += 1
        previous_time = event.time
        previous_phase = phase_of(event, working_phases) or previous_phase
    setattr(times, after_last, getattr(times, after_last) + max(0.0, end - previous_time))
    return times
