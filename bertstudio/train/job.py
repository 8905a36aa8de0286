"""TrainingJob: one training run on a background thread, observed through typed events.

It is a :class:`~bertstudio.jobs.BackgroundJob`: the thread never raises into the host, and every
outcome, including a bug, ends in exactly one terminal event (finished, failed or cancelled).
Consumers either drain the queue (the CLI) or read ``history`` from any index (the app's timer, which
can re-attach after a page reload and replay what it missed).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

from bertstudio.config import TrainConfig
from bertstudio.events import Cancelled, Event, Started, Stopping, Working, curve_event
from bertstudio.jobs import TRAINING, BackgroundJob, Emit, JobStopped, ShouldStop
from bertstudio.limits import NO_LIMITS, UsageLimits, capped_stop
from bertstudio.runs import CONFIG_FILE, METRICS_FILE, MetricsLog, RunFolderBusy, one_history, readable_metrics
from bertstudio.train.loop import StopRequested
from bertstudio.train.pipeline import load_inputs, resume_training, run_training


READING_PHASE = "Reading and checking the data"


class TrainingJob(BackgroundJob):
    """Runs ``pipeline.run_training`` for one config on a daemon thread.

    ``inputs`` may be given when the caller already loaded the data (the app did
    it in the Data tab); otherwise the job reads it from ``config.data`` itself.
    ``limits`` are the app's usage limits: the tokens of a step (batch size x maximum length) are checked when the
    job is made, before it waits in line, and again once the automatic ones are decided; the model and the rows are
    checked before anything is trained, and the run is stopped (as if Stop were pressed) when it reaches its minutes;
    the clock starts when the job leaves the queue, not when it joins it. :meth:`resuming` makes the job that goes
    on with an interrupted run instead.
    """

    kind = TRAINING
    what = "Training"
    details_in = "the run's metrics.jsonl"
    stop_exceptions = (StopRequested, JobStopped)

    def __init__(self, config: TrainConfig, *, inputs: Any = None, runs_root: Path | str = "runs",
                 on_event: Callable[[Event], None] | None = None, limits: UsageLimits = NO_LIMITS):
        super().__init__(on_event=on_event)
        limits.check_batch(config.batch_size, config.max_length)
        self.config = config
        self.limits = limits
        self.stop_reason = ""  # why the job stopped itself (a limit), shown with its Cancelled event
        self.inputs = inputs
        self.runs_root = Path(runs_root)
        self.summary: dict[str, Any] | None = None
        self.resume: Path | None = None
        self.refused_folder = False  # another process trains in the run folder: it is not this job's to record in

    @classmethod
    def resuming(cls, run_dir: Path | str, *, on_event: Callable[[Event], None] | None = None,
                 limits: UsageLimits = NO_LIMITS) -> TrainingJob:
        """A job that resumes the interrupted run in ``run_dir`` from its latest checkpoint."""
        job = cls(TrainConfig.load(Path(run_dir) / CONFIG_FILE), runs_root=Path(run_dir).parent, on_event=on_event,
                  limits=limits)
        job.resume = Path(run_dir)
        return job

    def work(self, emit: Emit, should_stop: ShouldStop) -> dict[str, Any]:
        try:
            return self._train(emit, should_stop)
        except RunFolderBusy:
            self.refused_folder = True
            raise

    def _train(self, emit: Emit, should_stop: ShouldStop) -> dict[str, Any]:
        self.limits.check_model(self.config.model)
        should_stop = capped_stop(should_stop, self.limits.deadline(), functools.partial(self._hit_time_cap, emit))
        if self.resume is not None:
            self.summary = resume_training(self.resume, emit=self._with_earlier_steps(emit), should_stop=should_stop)
            return self.summary
        if self.inputs is None:
            emit(Working(phase=READING_PHASE, done=0, total=0))
        inputs = self.inputs or load_inputs(self.config)
        self.limits.check_rows(inputs.report.n_rows_kept)
        self.limits.check_batch(inputs.config.batch_size, inputs.config.max_length)  # automatic ones decided now
        if should_stop():
            raise StopRequested()
        # run_training emits the Finished event itself, once the run folder is complete.
        self.summary = run_training(inputs, emit=emit, should_stop=should_stop, runs_root=self.runs_root)
        return self.summary

    def _with_earlier_steps(self, emit: Emit) -> Emit:
        """``emit``, followed after the resumed run's ``started`` by the steps and checks it did before its
        checkpoint (read back from metrics.jsonl, not written again): the live charts show the whole run, not
        only what this process trains."""
        def emit_with_earlier_steps(event: Event) -> None:
            emit(event)
            if isinstance(event, Started) and event.resumed_from_step:
                for record in one_history(readable_metrics(self.resume)):
                    earlier = curve_event(record)
                    if earlier is not None and earlier.step <= event.resumed_from_step:
                        emit(earlier)
        return emit_with_earlier_steps

    def cancelled_event(self) -> Cancelled:
        if self.stop_reason:
            return Cancelled(step=self._last_step(), run_dir=self._run_dir(),
                             message=f"Training was stopped: {self.stop_reason}")
        if not self.history:  # stopped while waiting for its turn
            return Cancelled(step=0, run_dir="", message="You left the line before it was your turn; nothing "
                                                         "was trained.")
        return Cancelled(step=self._last_step(), run_dir=self._run_dir())

    def _hit_time_cap(self, emit: Emit) -> None:
        """Say why before the run ends: a run that kept its best model ends "stopped early", and the person
        should read that the time limit did it, not wonder whether someone pressed Stop."""
        self.stop_reason = self.limits.time_cap_message()
        emit(Stopping(reason=self.stop_reason))

    def ended(self, event: Event) -> None:
        """A cancelled or failed run says so in its metrics.jsonl too, once the run folder exists
        (``run_training`` logs its own Finished).  A job refused because another process trains there writes
        nothing into that run's record: the Resume button pressed while a CLI resume ran added a "failed" to it."""
        run_dir = self._run_dir()
        if run_dir and not self.refused_folder:
            log = MetricsLog(Path(run_dir) / METRICS_FILE)
            log.write(event.to_dict())
            log.close()

    def _run_dir(self) -> str:
        for event in self.events_since(0):
            if hasattr(event, "run_dir"):
                return event.run_dir
        return str(self.resume or "")

    def _last_step(self) -> int:
        steps = [e.step for e in self.events_since(0) if hasattr(e, "step")]
        return steps[-1] if steps else 0
