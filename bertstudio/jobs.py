"""Background jobs: training, benchmarks, exports and the Evaluate tab's deeper checks all run one way.

A :class:`BackgroundJob` runs its ``work`` on a daemon thread and reports through typed events
(:class:`bertstudio.events.Event`): each is appended to ``history``, which any reader can replay from any
index (the app's timers re-attach that way after a page reload), and put on a queue for ``drain`` (the
CLI, the README's loop).  Stop is cooperative: the work is handed ``should_stop`` and asks it between
steps.  The thread never raises into the host: whatever happens, the job ends with exactly one terminal
event; an exception becomes a ``Failed`` event in plain words, with the traceback only in ``details``.

A :class:`JobRegistry` belongs to the app (it creates one and hands it to every tab): it keeps the
latest job of each (workspace, kind), so a reloaded page finds its job again, and applies each kind's
:class:`JobLimit`. Heavy kinds (training, exports and labelling a file, the Evaluate checks) wait in one
first-come-first-served :class:`SlotQueue` per limit, shared by every visitor: a job past the free slots waits
for its turn, can say its place in line and the expected wait, and can be stopped while it waits (it then never
starts); a visitor holds at most one job of such a kind, running or waiting. A benchmark takes the trainings' line
whole: it starts only when nothing trains or waits, and trainings started meanwhile wait behind it. A job whose
result only the page that started it can show (``ends_with_page``) is stopped when that page closes.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import secrets
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from bertstudio.errors import UserError
from bertstudio.events import Event, Failed

logger = logging.getLogger(__name__)

Emit = Callable[[Event], None]
ShouldStop = Callable[[], bool]
J = TypeVar("J", bound="BackgroundJob")

SLOT_POLL_S = 0.2  # how often a job waiting for a free slot checks whether it was stopped meanwhile

# The kinds of job the app runs (a registry keeps the latest of each per workspace).
TRAINING = "training"
BENCHMARK = "benchmark"
EXPORT = "export"
LABEL_NOISE = "label-noise"
BASELINES = "baselines"
EVALUATE_FILE = "evaluate-file"
PREDICT_FILE = "predict-file"  # the Predict tab labelling every row of a file


class JobStopped(Exception):
    """Raised by work that saw ``should_stop()``: the job ends with its cancelled event."""


class JobBusy(UserError):
    """A job cannot start now because others of its kind are running."""


@dataclass
class Completed(Event):
    """The work returned (for jobs whose work does not emit an ending of its own)."""

    kind: ClassVar[str] = "completed"
    terminal: ClassVar[bool] = True
    value: Any = None


@dataclass
class Stopped(Event):
    """The job was stopped on request before its work was done."""

    kind: ClassVar[str] = "stopped"
    terminal: ClassVar[bool] = True
    message: str = "Stopped before it finished."


def describe_exception(exc: BaseException, what: str = "Training",
                       details_in: str = "the run's metrics.jsonl") -> Failed:
    """A message a person can act on; the traceback goes to ``details`` only for real bugs.

    ``what`` names the job in the message ("Training ran out of memory."), ``details_in`` where the
    traceback can be found.
    """
    if isinstance(exc, UserError):
        return Failed(message=exc.message, hint=exc.hint)
    details = "".join(traceback.format_exception(exc))
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return Failed(message=f"{what} ran out of memory.",
                      hint="Lower the batch size or the maximum length, or pick a smaller model.", details=details)
    return Failed(message=f"{what} stopped because of an unexpected error: {type(exc).__name__}: {exc}",
                  hint=f"This is likely a bug in BERT Studio; the details are saved in {details_in}.",
                  details=details)


class BackgroundJob:
    """One piece of slow work on a daemon thread, observed through typed events.

    A kind of job overrides :meth:`work`, and where its endings need more than the generic
    ``Completed`` / ``Stopped`` events, :meth:`completed_event` and :meth:`cancelled_event`.
    """

    kind: str = "job"  # the registry's key and limit; also names the thread
    what: str = "The job"  # the subject of its failure messages ("The export stopped because ...")
    details_in: str = "the server's log"  # where a bug's traceback can be found
    stop_exceptions: ClassVar[tuple[type[BaseException], ...]] = (JobStopped,)
    # Work that only the page that started it shows, and that a reloaded page cannot find again: it is stopped when
    # that page (``page``, its Gradio session hash) closes, instead of holding the machine for nobody.
    ends_with_page: ClassVar[bool] = False

    def __init__(self, *, on_event: Callable[[Event], None] | None = None) -> None:
        self.on_event = on_event
        self.events: queue.Queue[Event] = queue.Queue()
        self.history: list[Event] = []
        self.token = secrets.token_hex(8)  # tells a page which job its view shows
        self.started_at: float | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._slot: SlotQueue | None = None
        self._outcome_claimed = False
        self.expected_s: float | None = None  # how long the work should take, when the job knows (a queue's wait)
        self.page: str | None = None  # the page that started it (``ends_with_page``)

    # --- what a kind of job does -----------------------------------------------------------------
    def work(self, emit: Emit, should_stop: ShouldStop) -> Any:
        """The slow part, run on the job's thread; ``emit`` reports progress, ``should_stop`` asks for a stop."""
        raise NotImplementedError

    def completed_event(self, value: Any) -> Event:
        """The ending when ``work`` returned ``value`` without emitting an ending itself."""
        return Completed(value=value)

    def cancelled_event(self) -> Event:
        """The ending when the job was stopped (``should_stop`` seen, or one of ``stop_exceptions`` raised)."""
        return Stopped()

    def ended(self, event: Event) -> None:
        """Called after the job emitted an ending of its own making (not one the work emitted)."""

    # --- control ---------------------------------------------------------------------------------
    def start(self: J, slot: SlotQueue | None = None) -> J:
        """Start the thread; with ``slot`` the work first waits for its turn in that queue."""
        if self._thread is not None:
            raise RuntimeError(f"This job was already started; create a new {type(self).__name__} for another run.")
        self._slot = slot
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._run, name=f"bertstudio-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the work to stop; it checks between steps, so it ends within one step."""
        self._stop.set()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the job has ended (its terminal event is in ``history``)."""
        return self._done.wait(timeout)

    # --- state -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def outcome(self) -> Event | None:
        """The terminal event, once there is one."""
        with self._lock:
            return self._ending_locked()

    def events_since(self, index: int) -> list[Event]:
        with self._lock:
            return list(self.history[index:])

    def drain(self) -> list[Event]:
        """The events not drained before (each event is drained once, whoever reads ``history``)."""
        items = []
        while True:
            try:
                items.append(self.events.get_nowait())
            except queue.Empty:
                return items

    def claim_outcome(self) -> bool:
        """True once, to the first caller after the job has ended: the one that tells the person how it went."""
        with self._lock:
            if self._ending_locked() is None or self._outcome_claimed:
                return False
            self._outcome_claimed = True
            return True

    # --- the thread ------------------------------------------------------------------------------
    def _ending_locked(self) -> Event | None:
        last = self.history[-1] if self.history else None
        return last if last is not None and last.terminal else None

    def _emit(self, event: Event) -> None:
        with self._lock:
            if self._ending_locked() is not None:  # one ending only: nothing counts after it
                logger.warning("%s emitted %s after it ended; ignored.", type(self).__name__, event.kind)
                return
            self.history.append(event)
        self.events.put(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a broken listener must not kill the work
                logger.exception("A listener of %s failed", type(self).__name__)

    def _run(self) -> None:
        try:
            try:
                ending = self._ending()
            except BaseException as exc:  # noqa: BLE001 - one of the job's own ending hooks broke
                ending = self._failure(exc)
            if ending is not None and self.outcome is None:
                self._emit(ending)
                self._after(ending)
        finally:
            self._done.set()

    def _ending(self) -> Event | None:
        """Run the work; the ending the job must add (None when the work emitted its own)."""
        try:
            with self._slot_taken() as admitted:
                if not admitted or self._stop.is_set():
                    return self.cancelled_event()
                value = self.work(self._emit, self.should_stop)
            return None if self.outcome is not None else self.completed_event(value)
        except self.stop_exceptions:
            return self.cancelled_event()
        except BaseException as exc:  # noqa: BLE001 - the whole point: nothing escapes the thread
            return self._failure(exc)

    @contextlib.contextmanager
    def _slot_taken(self) -> Iterator[bool]:
        """Hold a slot while the work runs (limits that queue rather than refuse); False: stopped while waiting."""
        if self._slot is None:
            yield True
            return
        if not self._slot.enter(self):
            yield False
            return
        try:
            yield True
        finally:
            self._slot.leave(self)

    def _failure(self, exc: BaseException) -> Failed:
        if not isinstance(exc, UserError):
            logger.error("%s failed", type(self).__name__, exc_info=exc)
        return describe_exception(exc, self.what, self.details_in)

    def _after(self, ending: Event) -> None:
        try:
            self.ended(ending)
        except Exception:  # noqa: BLE001 - the ending is already known; recording it is a bonus
            logger.exception("%s could not record its ending", type(self).__name__)


class TaskJob(BackgroundJob):
    """A function run as a job: its return value ends it as ``Completed(value)``."""

    def __init__(self, kind: str, task: Callable[[], Any], what: str = "The check") -> None:
        super().__init__()
        self.kind, self.what, self.task = kind, what, task

    def work(self, emit: Emit, should_stop: ShouldStop) -> Any:
        return self.task()


# --------------------------------------------------------------------------- the fair queue


@dataclass(frozen=True)
class QueuePlace:
    """Where a waiting job stands: ``place`` 1 starts next; ``expected_wait_s`` is an estimate."""

    place: int
    waiting: int  # jobs in line, this one included
    expected_wait_s: float


class SlotQueue:
    """``slots`` jobs at once; the others wait first come, first served (a semaphore wakes waiters in no order).

    A job can also take every slot at once (:meth:`take_all`), now or never: it never waits, and the jobs
    that come while it runs wait behind it.

    The expected wait is the running jobs' remaining time (their own ``expected_s``, else a typical
    duration) plus one typical duration per job ahead, spread over the slots; the typical duration is the
    mean of the last few jobs that took one slot here, or ``typical_s`` until one has.
    """

    def __init__(self, slots: int, typical_s: float = 300.0) -> None:
        self.slots = slots
        self.typical_s = typical_s
        self._cond = threading.Condition()
        self._waiting: list[BackgroundJob] = []
        self._running: dict[BackgroundJob, float] = {}  # job -> when it took its slot
        self._whole: set[BackgroundJob] = set()  # running jobs that took every slot
        self._recent: deque[float] = deque(maxlen=5)

    def enter(self, job: BackgroundJob) -> bool:
        """Wait for ``job``'s turn and take a slot; False when the job was stopped while waiting."""
        with self._cond:
            if job in self._running:  # it took its slots before its thread started (take_all)
                return True
            self._waiting.append(job)
            try:
                while not (self._waiting[0] is job and self._used() < self.slots):
                    if job.should_stop():
                        return False
                    self._cond.wait(SLOT_POLL_S)
                self._running[job] = time.time()
                return True
            finally:
                self._waiting.remove(job)
                self._cond.notify_all()

    def take_all(self, job: BackgroundJob) -> BackgroundJob | None:
        """Take every slot for ``job`` when nothing runs or waits; else the job in its way (and nothing is taken)."""
        with self._cond:
            in_the_way = next(iter(self._running), None) or next(iter(self._waiting), None)
            if in_the_way is None:
                self._running[job] = time.time()
                self._whole.add(job)
            return in_the_way

    def leave(self, job: BackgroundJob) -> None:
        with self._cond:
            began = self._running.pop(job, None)
            # A whole-line job is another kind of work: its duration says nothing of the typical one.
            if began is not None and job not in self._whole:
                self._recent.append(time.time() - began)
            self._whole.discard(job)
            self._cond.notify_all()

    def _used(self) -> int:
        return sum(self.slots if job in self._whole else 1 for job in self._running)

    def place(self, job: BackgroundJob) -> QueuePlace | None:
        """``job``'s place in line; None once it runs (or if it never queued here)."""
        with self._cond:
            if job not in self._waiting:
                return None
            ahead = self._waiting.index(job)
            typical = sum(self._recent) / len(self._recent) if self._recent else self.typical_s
            now = time.time()
            remaining = sum(max(0.0, (job.expected_s or typical) - (now - began))
                            for job, began in self._running.items())
            wait = (remaining + ahead * typical) / self.slots
            return QueuePlace(place=ahead + 1, waiting=len(self._waiting), expected_wait_s=wait)


# --------------------------------------------------------------------------- the app's registry


def too_many(running: BackgroundJob, same_workspace: bool) -> JobBusy:
    return JobBusy(f"Another {running.kind} job is running.", "Try again when it has finished.")


@dataclass(frozen=True)
class JobLimit:
    """How many jobs may run at once: those of ``kinds`` that are running count against ``at_once``."""

    kinds: tuple[str, ...]
    at_once: int = 1
    per_workspace: bool = False  # count only the jobs of the workspace that starts one
    queue: bool = False  # past the limit a job waits for its turn (a SlotQueue) instead of being refused
    one_per_workspace: bool = False  # with ``queue``: a workspace holds at most one job of the kind, waiting or not
    typical_s: float = 300.0  # with ``queue``: the duration the wait is estimated with until jobs have run
    # A kind whose line this kind takes whole: a job starts only when that line is empty, else it is refused.
    takes_line_of: str | None = None
    busy: Callable[[BackgroundJob, bool], UserError] = too_many  # (a running job, same workspace?) -> refusal


def training_busy(running: BackgroundJob, same_workspace: bool) -> JobBusy:
    """Trainings wait in line for a slot; only a second one of the same visitor is refused."""
    return JobBusy("A training run is already going (or waiting for its turn).",
                   "Wait for it to finish, or press Stop before starting a new one.")


def benchmark_busy(running: BackgroundJob, same_workspace: bool) -> JobBusy:
    """Timings taken while the cores are busy would be worthless: one benchmark at a time, none while training."""
    if running.kind == TRAINING:
        return JobBusy("A model is training (or waiting for its turn) on this computer right now, so timings "
                       "would be wrong.", "Run the benchmark when training has finished.")
    return JobBusy("A benchmark is already running on this computer.",
                   "Wait for it to finish (or press Stop); two at once would slow each other down.")


def heavy_busy(running: BackgroundJob, same_workspace: bool) -> JobBusy:
    """Exports and labelling a file wait in one line; only a second one of the same kind and visitor is refused."""
    if running.kind == PREDICT_FILE:
        return JobBusy("A file is already being labelled (or waiting for its turn).",
                       "Wait for it to finish before labelling another one.")
    return JobBusy("An export is already running.", "Wait for it to finish; it takes up to a minute.")


# The Evaluate tab's checks share two slots in the whole app: one person's slow check never waits for
# another's, and the machine is not flooded; a third waits for a free slot rather than being refused.
EVALUATE_LIMIT = JobLimit(kinds=(LABEL_NOISE, BASELINES, EVALUATE_FILE), at_once=2, queue=True)


def app_limits(training_slots: int = 1, heavy_slots: int = 1,
               training_typical_s: float = 600.0) -> dict[str, JobLimit]:
    """Each kind's limit: trainings wait in one app-wide line, exports and labelling a file in another (a
    2-core machine runs one well; two at once take longer than one after the other). A benchmark is refused
    while anything trains or waits to, because timings taken on busy cores would be wrong; while it runs it
    holds the trainings' line, so trainings wait for it rather than slow it down (and be slowed down)."""
    # One JobLimit for both kinds: the registry keeps one line per limit, so they share it.
    heavy = JobLimit(kinds=(EXPORT, PREDICT_FILE), at_once=heavy_slots, queue=True, one_per_workspace=True,
                     typical_s=60.0, busy=heavy_busy)
    return {
        TRAINING: JobLimit(kinds=(TRAINING,), at_once=training_slots, queue=True, one_per_workspace=True,
                           typical_s=training_typical_s, busy=training_busy),
        BENCHMARK: JobLimit(kinds=(BENCHMARK, TRAINING), at_once=1, busy=benchmark_busy, takes_line_of=TRAINING),
        EXPORT: heavy,
        PREDICT_FILE: heavy,
        **{kind: EVALUATE_LIMIT for kind in EVALUATE_LIMIT.kinds},
    }


LIMITS: dict[str, JobLimit] = app_limits()


class JobRegistry:
    """The app's jobs: the latest of each (workspace id, kind), started within each kind's limit.

    Jobs live in the server process, not in the page: closing or reloading the tab stops nothing, and
    the reloaded page finds its jobs again by workspace id.
    """

    def __init__(self, limits: Mapping[str, JobLimit] | None = None) -> None:
        self._limits = dict(LIMITS if limits is None else limits)
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], BackgroundJob] = {}
        self._slots: dict[JobLimit, SlotQueue] = {}

    def start(self, workspace_id: str, job: J) -> J:
        """Start ``job`` for the workspace (maybe waiting in line), or raise the kind's busy error."""
        limit = self._limits.get(job.kind)
        with self._lock:
            slot = None
            if limit is not None and limit.queue:
                mine = self._latest.get((workspace_id, job.kind))
                if limit.one_per_workspace and mine is not None and mine.running:
                    raise limit.busy(mine, True)
                slot = self._slots.setdefault(limit, SlotQueue(limit.at_once, limit.typical_s))
            elif limit is not None:
                self._check(limit, workspace_id)
                slot = self._take_line(limit, job)
            self._latest[(workspace_id, job.kind)] = job
            return job.start(slot)

    def place(self, job: BackgroundJob) -> QueuePlace | None:
        """Where ``job`` waits in its kind's line; None when it is not waiting."""
        limit = self._limits.get(job.kind)
        with self._lock:
            line = self._slots.get(limit) if limit is not None else None
        return line.place(job) if line is not None else None

    def active_workspaces(self) -> set[str]:
        """Workspaces with a job running or waiting: cleanup must leave their files alone."""
        with self._lock:
            return {ws for (ws, _), job in self._latest.items() if job.running}

    def latest(self, workspace_id: str, kind: str) -> BackgroundJob | None:
        """The workspace's most recent job of ``kind`` (running or ended)."""
        with self._lock:
            return self._latest.get((workspace_id, kind))

    def running(self, kind: str) -> BackgroundJob | None:
        """A running job of ``kind`` in the whole app, whoever started it."""
        with self._lock:
            return next((job for (_, k), job in self._latest.items() if k == kind and job.running), None)

    def stop(self, workspace_id: str, kind: str) -> bool:
        """Ask this workspace's running job of ``kind`` to stop; False when it has none running."""
        job = self.latest(workspace_id, kind)
        if job is None or not job.running:
            return False
        job.stop()
        return True

    def stop_page(self, workspace_id: str, page: str) -> list[BackgroundJob]:
        """Stop the workspace's running jobs that end with their page, started from ``page`` (it was closed or
        reloaded); returns them."""
        with self._lock:
            jobs = [job for (ws, _), job in self._latest.items()
                    if ws == workspace_id and job.ends_with_page and job.page == page and job.running]
        for job in jobs:
            job.stop()
        return jobs

    def _take_line(self, limit: JobLimit, job: BackgroundJob) -> SlotQueue | None:
        """The line ``limit`` takes whole, taken for ``job``; refused while a job runs or waits in it."""
        if limit.takes_line_of is None:
            return None
        owner = self._limits[limit.takes_line_of]
        line = self._slots.setdefault(owner, SlotQueue(owner.at_once, owner.typical_s))
        in_the_way = line.take_all(job)
        if in_the_way is not None:
            raise limit.busy(in_the_way, False)
        return line

    def _check(self, limit: JobLimit, workspace_id: str) -> None:
        # A kind whose limit counts itself never has two running jobs under one key, so the latest
        # job of each key is enough to count.
        running = [(ws, job) for (ws, kind), job in self._latest.items()
                   if kind in limit.kinds and job.running and (not limit.per_workspace or ws == workspace_id)]
        if len(running) >= limit.at_once:
            ws, job = running[0]
            raise limit.busy(job, ws == workspace_id)
