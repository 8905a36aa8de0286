"""The benchmark as a background job (for the app): progress events while the grid is timed, and a
:class:`JobSnapshot` folded from them for the page to draw.

The page polls :meth:`BenchmarkJob.snapshot` and may call ``stop``: the runner asks ``should_stop``
between calls and keeps the cells measured so far.  On a shared app the usage limits apply: only the
allowed models, and a plan estimated past the benchmark cap is refused; one that runs past it anyway
stops there, as if Stop were pressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from bertstudio.benchmark.records import BenchmarkResult, BenchRecord
from bertstudio.benchmark.plan import BenchmarkPlan, estimate_benchmark, validate_plan
from bertstudio.benchmark.runner import BenchProgress, run_benchmark
from bertstudio.events import Event, Failed
from bertstudio.jobs import BENCHMARK, BackgroundJob, Completed, Emit, ShouldStop, Stopped
from bertstudio.limits import NO_LIMITS, UsageLimits, capped_stop
from bertstudio.models.registry import find_variant

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
    """``run_benchmark`` for one plan on a daemon thread; the plan (and ``limits``) are checked when the job is made.

    Run folders are the caller's to check (the app allows only the visitor's own runs); registry models must be
    allowed by ``limits``.
    """

    kind = BENCHMARK
    what = "The benchmark"

    def __init__(self, plan: BenchmarkPlan, limits: UsageLimits = NO_LIMITS):
        super().__init__()
        self.plan = validate_plan(plan)
        self.limits = limits
        self.stop_reason = STOPPED
        for model in self.plan.models:
            if find_variant(model) is not None:
                limits.check_model(model, use="timed")
        if limits.max_benchmark_minutes is not None:
            self.expected_s = estimate_benchmark(self.plan).seconds
            limits.check_benchmark(self.expected_s)

    def work(self, emit: Emit, should_stop: ShouldStop) -> BenchmarkResult:
        should_stop = capped_stop(should_stop, self.limits.benchmark_deadline(), self._hit_time_cap)
        return run_benchmark(self.plan, on_progress=lambda progress: emit(Measured(progress=progress)),
                             should_stop=should_stop)

    def _hit_time_cap(self) -> None:
        self.stop_reason = self.limits.benchmark_cap_message()

    def completed_event(self, result: BenchmarkResult) -> Event:
        # A stop ends the runner's loop quietly, with the cells measured so far: still an ending by request.
        return self.cancelled_event() if result.cancelled else Completed(value=result)

    def cancelled_event(self) -> Stopped:
        return Stopped(message=self.stop_reason)

    def snapshot(self) -> JobSnapshot:
        running = self.running  # read before the events: an ending that comes in between is still seen
        return fold_snapshot(self.plan.total_cells, self.events_since(0), running=running)
