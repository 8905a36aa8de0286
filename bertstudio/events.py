"""Typed events a training run emits, in order: tuning* (only with "tune for me"), started, simple_model
(unless turned off), step*, evaluated*, then one of finished / failed / cancelled; working events report the
phases between them (reading, tokenizing, feature caching, validation checks, final scoring, saving) and a
stopping event says why a job stops by itself.

They are plain dataclasses so the UI, the CLI progress bar and ``metrics.jsonl``
consume the same objects; ``to_dict`` is what gets written to disk, for the events that are ``recorded`` (working
events are progress only: they go to the job's queue, never to ``metrics.jsonl``).  :class:`Event` is also the base of
the other background jobs' events (:mod:`bertstudio.jobs`); ``terminal`` marks the events that end a job.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Union

from bertstudio.results import Summary


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    terminal: ClassVar[bool] = False  # True for the one event that ends a job
    # Whether the event belongs in the run's record (metrics.jsonl: the curves, the report, resume, the Runs
    # tab read it); progress ticks only move the live view and stay on the job's queue.
    recorded: ClassVar[bool] = True
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass
class Started(Event):
    kind: ClassVar[str] = "started"
    run_dir: str
    model: str
    device: str
    precision: str
    total_steps: int
    steps_per_epoch: int
    epochs: float
    train_rows: int
    val_rows: int
    test_rows: int
    label_names: list[str]
    decisions: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_step: int | None = None  # a resumed run: the step of the checkpoint it goes on from (0: none)
    processes: int = 1  # training the run together (accelerate launch): each takes batches of batch_size
    texts_per_update: int | None = None  # batch_size x processes x grad_accum (None: from before it was recorded)


@dataclass
class Tuning(Event):
    """"Tune for me" is trying learning rate ``index`` of ``candidates`` (before ``started``)."""

    kind: ClassVar[str] = "tuning"
    index: int
    candidates: int
    lr: float
    steps: int


@dataclass
class Working(Event):
    """A phase that takes time outside the steps (head-only feature caching, ...): ``done`` of ``total`` units.

    Emitted often enough that no phase goes two seconds without an event, so the app shows movement and Stop is
    honoured between two of them.
    """

    kind: ClassVar[str] = "working"
    recorded: ClassVar[bool] = False  # one per validation or scoring batch: hundreds of lines that record nothing
    phase: str  # what is happening, as a person reads it: "Reading every text once with the frozen model"
    done: int
    total: int


@dataclass
class Stopping(Event):
    """The job decided to stop by itself (a usage limit such as the time cap), before the run's last event: the
    reason a person reads next to "stopped early"."""

    kind: ClassVar[str] = "stopping"
    reason: str


@dataclass
class Step(Event):
    kind: ClassVar[str] = "step"
    step: int
    total_steps: int
    epoch: float
    loss: float
    lr: float
    grad_norm: float
    samples_per_second: float
    tokens_per_second: float
    elapsed: float
    eta: float


@dataclass
class Evaluated(Event):
    kind: ClassVar[str] = "evaluated"
    step: int
    epoch: float
    val_loss: float
    accuracy: float
    macro_f1: float
    is_best: bool
    elapsed: float


@dataclass
class Finished(Event):
    kind: ClassVar[str] = "finished"
    terminal: ClassVar[bool] = True
    run_dir: str
    summary: Summary

    def to_dict(self) -> dict[str, Any]:
        # The per-class figures stay in summary.json and eval.json: metrics.jsonl keeps one short line per event.
        return {"event": self.kind, "time": self.time, "run_dir": self.run_dir,
                "summary": self.summary.to_dict(exclude={"metrics"})}


@dataclass
class Failed(Event):
    kind: ClassVar[str] = "failed"
    terminal: ClassVar[bool] = True
    message: str
    hint: str | None = None
    details: str | None = None  # the traceback, for bug reports; never shown as the message

    def text(self) -> str:
        """The message and the hint in one line, as ``str(UserError)`` gives them."""
        return f"{self.message} {self.hint}" if self.hint else self.message


@dataclass
class Cancelled(Event):
    kind: ClassVar[str] = "cancelled"
    terminal: ClassVar[bool] = True
    step: int
    run_dir: str
    message: str = ("Training was stopped before its first validation check, so there was no model worth keeping. "
                    "Start it again when you are ready.")


@dataclass
class SimpleModelScored(Event):
    """The simple word-count model, fitted on the same training rows before the first step, scored on the same
    validation rows: the line the fine-tuned model has to clear."""

    kind: ClassVar[str] = "simple_model"
    accuracy: float
    macro_f1: float
    seconds: float
    train_rows: int
    val_rows: int


TrainingEvent = Union[Tuning, Started, SimpleModelScored, Working, Stopping, Step, Evaluated, Finished, Failed,
                      Cancelled]
TERMINAL_EVENTS = (Finished, Failed, Cancelled)


def curve_event(record: dict[str, Any]) -> Step | Evaluated | None:
    """A step or a validation check read back from ``metrics.jsonl`` (None for other events, and for a line an
    older version wrote without some field)."""
    cls = {Step.kind: Step, Evaluated.kind: Evaluated}.get(record.get("event"))
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{key: value for key, value in record.items() if key in names})
    except TypeError:
        return None
