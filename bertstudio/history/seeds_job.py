""""Train 3 times": :func:`bertstudio.evaluation.seeds.train_with_seeds` as a background job for the app.

It is a training job (``kind`` = training), so the one-training-at-a-time limit holds for it too and the Train
tab shows each seed's run live.  Each seed's own ``finished`` becomes a :class:`SeedDone` (a job has exactly
one ending); the job ends with the last seed's ``finished``, and ``report`` holds the mean and spread.

On a shared app the usage limits hold as for one training: the model and the tokens of a step are checked when the
job is made, the rows before the first run, and the runs together are one training for the time limit (they stop
at ``max_train_minutes`` in all, so five runs hold the machine no longer than one).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bertstudio.config import TrainConfig
from bertstudio.evaluation.seeds import SeedReport, SeedRun, seed_values, train_with_seeds
from bertstudio.events import Cancelled, Event, Finished, Stopping
from bertstudio.jobs import TRAINING, BackgroundJob, Emit, JobStopped, ShouldStop
from bertstudio.limits import NO_LIMITS, UsageLimits, capped_stop
from bertstudio.results import Summary
from bertstudio.runs import RunFolder
from bertstudio.train.loop import StopRequested
from bertstudio.train.pipeline import load_inputs


@dataclass
class SeedDone(Event):
    """One seed's run finished (not the end of the job)."""

    kind: ClassVar[str] = "seed_done"
    seed: int
    index: int
    of: int
    run_dir: str
    accuracy: float
    macro_f1: float


class SeedsJob(BackgroundJob):
    kind = TRAINING
    what = "Training"
    details_in = "the server's log"
    stop_exceptions = (StopRequested, JobStopped)

    def __init__(self, config: TrainConfig, n_seeds: int, *, runs_root: Path | str,
                 limits: UsageLimits = NO_LIMITS) -> None:
        super().__init__()
        seed_values(config.seed, n_seeds)  # a wrong count is refused before the job starts
        # Refused by their names and numbers before the job waits in line, and before a model folder is read.
        limits.check_model(config.model)
        limits.check_batch(config.batch_size, config.max_length)
        self.config, self.n_seeds, self.runs_root, self.limits = config, n_seeds, Path(runs_root), limits
        self.stop_reason = ""  # why the job stopped itself (the time limit), shown with its Cancelled event
        self.report: SeedReport | None = None
        self.done_runs: list[SeedRun] = []

    def work(self, emit: Emit, should_stop: ShouldStop) -> SeedReport:
        # One clock for all the runs, started when the job leaves the line.
        should_stop = capped_stop(should_stop, self.limits.deadline(), functools.partial(self._hit_time_cap, emit))
        self._check_data()

        def forward(event: Event) -> None:
            if not isinstance(event, Finished):
                emit(event)

        def seed_done(run: SeedRun) -> None:
            self.done_runs.append(run)
            emit(SeedDone(seed=run.seed, index=len(self.done_runs), of=self.n_seeds, run_dir=run.run_dir,
                          accuracy=run.accuracy, macro_f1=run.macro_f1))
            if len(self.done_runs) < self.n_seeds and should_stop():
                raise JobStopped()  # the next seed would only make a run folder and stop at once

        self.report = train_with_seeds(self.config, self.n_seeds, runs_root=self.runs_root, emit=forward,
                                       on_run=seed_done, should_stop=should_stop)
        last = self.report.runs[-1].run_dir
        emit(Finished(run_dir=last, summary=Summary.read(RunFolder(last).summary)))
        return self.report

    def _check_data(self) -> None:
        """The row limit, and the tokens of a step once the automatic settings are decided from the data: read once
        here, before the first run (each run reads the data again, for its own split)."""
        if self.limits.max_rows is None and self.limits.max_batch_tokens is None:
            return
        inputs = load_inputs(self.config)
        self.limits.check_rows(inputs.report.n_rows_kept)
        self.limits.check_batch(inputs.config.batch_size, inputs.config.max_length)

    def _hit_time_cap(self, emit: Emit) -> None:
        self.stop_reason = self.limits.time_cap_message(f"The {self.n_seeds} runs together")
        emit(Stopping(reason=self.stop_reason))

    def cancelled_event(self) -> Cancelled:
        reason = f" {self.stop_reason}" if self.stop_reason else ""
        return Cancelled(step=0, run_dir=self.done_runs[-1].run_dir if self.done_runs else "",
                         message=f"Stopped after {len(self.done_runs)} of {self.n_seeds} runs.{reason}")
