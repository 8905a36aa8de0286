"""TrainingJob: one training run on a background thread, observed through typed events.

The thread never raises into the host: every outcome, including a bug, ends in
exactly one terminal event (finished, failed or cancelled).  Consumers either
drain the queue (the CLI) or read ``history`` from any index (the app's timer,
which can re-attach after a page reload and replay what it missed).
"""

from __future__ import annotations

import queue
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from bertstudio.config import TrainConfig
from bertstudio.errors import UserError
from bertstudio.events import TERMINAL_EVENTS, Cancelled, Failed, TrainingEvent
from bertstudio.runs import METRICS_FILE, MetricsLog
from bertstudio.train.loop import StopRequested
from bertstudio.train.pipeline import load_inputs, run_training


def describe_exception(exc: BaseException) -> Failed:
    """A message a person can act on; the traceback goes to ``details`` only for real bugs."""
    if isinstance(exc, UserError):
        return Failed(message=exc.message, hint=exc.hint)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return Failed(message="Training ran out of memory.",
                      hint="Lower the batch size or the maximum length, or pick a smaller model.",
                      details=traceback.format_exc())
    return Failed(message=f"Training stopped because of an unexpected error: {type(exc).__name__}: {exc}",
                  hint="This is likely a bug in BERT Studio; the details are saved in the run's metrics.jsonl.",
                  details=traceback.format_exc())


class TrainingJob:
    """Runs ``pipeline.run_training`` for one config on a daemon thread.

    ``inputs`` may be given when the caller already loaded the data (the app did
    it in the Data tab); otherwise the job reads it from ``config.data`` itself.
    """

    def __init__(self, config: TrainConfig, *, inputs: Any = None, runs_root: Path | str = "runs",
                 on_event: Callable[[TrainingEvent], None] | None = None):
        self.config = config
        self.inputs = inputs
        self.runs_root = Path(runs_root)
        self.on_event = on_event
        self.events: queue.Queue[TrainingEvent] = queue.Queue()
        self.history: list[TrainingEvent] = []
        self.summary: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # --- control -----------------------------------------------------------------------
    def start(self) -> "TrainingJob":
        if self._thread is not None:
            raise RuntimeError("This job was already started; create a new TrainingJob for another run.")
        self._thread = threading.Thread(target=self._run, name="bertstudio-training", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to stop; it checks before every step, so it ends within one step."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # --- state -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def outcome(self) -> TrainingEvent | None:
        """The terminal event, once there is one."""
        with self._lock:
            last = self.history[-1] if self.history else None
        return last if isinstance(last, TERMINAL_EVENTS) else None

    def events_since(self, index: int) -> list[TrainingEvent]:
        with self._lock:
            return list(self.history[index:])

    def drain(self) -> list[TrainingEvent]:
        items = []
        while True:
            try:
                items.append(self.events.get_nowait())
            except queue.Empty:
                return items

    # --- the thread ----------------------------------------------------------------------
    def _emit(self, event: TrainingEvent) -> None:
        with self._lock:
            self.history.append(event)
        self.events.put(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a broken listener must not kill training
                pass

    def _run(self) -> None:
        try:
            inputs = self.inputs or load_inputs(self.config)
            if self._stop.is_set():
                raise StopRequested()
            self.summary = run_training(inputs, emit=self._emit, should_stop=self._stop.is_set,
                                        runs_root=self.runs_root)
        except StopRequested:
            self._finish_with(Cancelled(step=self._last_step(), run_dir=self._run_dir()))
        except BaseException as exc:  # noqa: BLE001 - the whole point: nothing escapes the thread
            self._finish_with(describe_exception(exc))
        finally:
            self._done.set()

    def _run_dir(self) -> str:
        for event in self.events_since(0):
            if hasattr(event, "run_dir"):
                return event.run_dir
        return ""

    def _last_step(self) -> int:
        steps = [e.step for e in self.events_since(0) if hasattr(e, "step")]
        return steps[-1] if steps else 0

    def _finish_with(self, event: TrainingEvent) -> None:
        """Emit a terminal event; once the run folder exists it is recorded in its metrics.jsonl too."""
        self._emit(event)
        run_dir = self._run_dir()
        if run_dir:
            log = MetricsLog(Path(run_dir) / METRICS_FILE)
            log.write(event.to_dict())
            log.close()
