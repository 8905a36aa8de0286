"""The benchmark as a background job (for the app): progress events while the grid is timed, and a
:class:`JobSnapshot` folded from them for the page to draw.

The page polls :meth:`BenchmarkJob.snapshot` and may call ``stop``: the runner asks ``should_stop``
between calls and keeps the cells measured so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from bertstudio.benchmark.records import BenchmarkResult, BenchRecord
from bertstudio.benchmark.plan import BenchmarkPlan, validate_plan
from bertstudio.benchmark.runner import BenchProgress, run_benchmark
from bertstudio.events import Event, Failed
from bertstudio.jobs import BENCHMARK, BackgroundJob, Completed, Emit, ShouldStop, Stopped

STOPPED = "Stopped; the cells measured so far are shown."


@dataclass
class Measured(Event):
    """The runner moved on: a cell measured or skipped, or a step such as loading a model began."""

    kind: ClassVar[str] = "benchmark-progress"
    progress: BenchProgress


@dataclass
class JobSnapshot:
    """What the app shows: progress, the records so far, and how it ended."""

    done: int = 0
    total: int = 0
    message: str = "Not started."
    records: list[BenchRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    running: bool = False
    finished: bool = False
    cancelled: bool = False
    error: str | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


def fold_snapshot(total: int, events: Sequence[Event], *, running: bool) -> JobSnapshot:
    """The snapshot after ``events`` (pure): the page redraws from it on every tick."""
    snap = JobSnapshot(total=total, running=running, message="Starting…" if running else "Not started.")
    for event in events:
        if isinstance(event, Measured):
            snap.done, snap.message = event.progress.done, event.progress.message
            if event.progress.record is not None:
                snap.records.append(event.progress.record)
        elif isinstance(event, Completed):
            result: BenchmarkResult = event.value
            snap.finished, snap.message = True, "Done."
            snap.records, snap.skipped = list(result.records), list(result.skipped)
        elif isinstance(event, Stopped):
            snap.finished, snap.cancelled, snap.message = True, True, event.message
        elif isinstance(event, Failed):
            snap.finished, snap.error = True, event.text()
            # No traceback means a problem the person can fix (a model name, a setting), not a bug.
            snap.message = "Could not run the benchmark." if event.details is None else "The benchmark failed."
    snap.running = running and not snap.finished
    return snap


class BenchmarkJob(BackgroundJob):
    """``run_benchmark`` for one plan on a daemon thread; the plan is checked when the job is made."""

    kind = BENCHMARK
    what = "The benchmark"

    def __init__(self, plan: BenchmarkPlan):
        super().__init__()
        self.plan = validate_plan(plan)

    def work(self, emit: Emit, should_stop: ShouldStop) -> BenchmarkResult:
        return run_benchmark(self.plan, on_progress=lambda progress: emit(Measured(progress=progress)),
                             should_stop=should_stop)

    def completed_event(self, result: BenchmarkResult) -> Event:
        # A stop ends the runner's loop quietly, with the cells measured so far: still an ending by request.
        return self.cancelled_event() if result.cancelled else Completed(value=result)

    def cancelled_event(self) -> Stopped:
        return Stopped(message=STOPPED)

    def snapshot(self) -> JobSnapshot:
        running = self.running  # read before the events: an ending that comes in between is still seen
        return fold_snapshot(self.plan.total_cells, self.events_since(0), running=running)
