""""Train 3 times": :func:`bertstudio.evaluation.seeds.train_with_seeds` as a background job for the app.

It is a training job (``kind`` = training), so the one-training-at-a-time limit holds for it too and the Train
tab shows each seed's run live.  Each seed's own ``finished`` becomes a :class:`SeedDone` (a job has exactly
one ending); the job ends with the last seed's ``finished``, and ``report`` holds the mean and spread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bertstudio.config import TrainConfig
from bertstudio.evaluation.seeds import SeedReport, SeedRun, seed_values, train_with_seeds
from bertstudio.events import Cancelled, Event, Finished
from bertstudio.jobs import TRAINING, BackgroundJob, Emit, JobStopped, ShouldStop
from bertstudio.results import Summary
from bertstudio.runs import RunFolder
from bertstudio.train.loop import StopRequested


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

    def __init__(self, config: TrainConfig, n_seeds: int, *, runs_root: Path | str) -> None:
        super().__init__()
        seed_values(config.seed, n_seeds)  # a wrong count is refused before the job starts
        self.config, self.n_seeds, self.runs_root = config, n_seeds, Path(runs_root)
        self.report: SeedReport | None = None
        self.done_runs: list[SeedRun] = []

    def work(self, emit: Emit, should_stop: ShouldStop) -> SeedReport:
        def forward(event: Event) -> None:
            if not isinstance(event, Finished):
                emit(event)

        def seed_done(run: SeedRun) -> None:
            self.done_runs.append(run)
            emit(SeedDone(seed=run.seed, index=len(self.done_runs), of=self.n_seeds, run_dir=run.run_dir,
                          accuracy=run.accuracy, macro_f1=run.macro_f1))

        self.report = train_with_seeds(self.config, self.n_seeds, runs_root=self.runs_root, emit=forward,
                                       on_run=seed_done, should_stop=should_stop)
        last = self.report.runs[-1].run_dir
        emit(Finished(run_dir=last, summary=Summary.read(RunFolder(last).summary)))
        return self.report

    def cancelled_event(self) -> Cancelled:
        return Cancelled(step=0, run_dir=self.done_runs[-1].run_dir if self.done_runs else "",
                         message=f"Stopped after {len(self.done_runs)} of {self.n_seeds} runs.")
