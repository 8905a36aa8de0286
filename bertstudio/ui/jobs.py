"""The app's training jobs: at most one runs at a time, and each stays attached to the workspace that started it.

Jobs live in the server process, not in the page: closing or reloading the tab
does not stop training, and the reloaded page finds its job again by workspace id
and replays its events from the start.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bertstudio.config import TrainConfig
from bertstudio.errors import UserError
from bertstudio.train.job import TrainingJob


class JobBusy(UserError):
    """Another training job is still running in this app."""


@dataclass
class ActiveJob:
    session_id: str
    job: TrainingJob
    token: str = field(default_factory=lambda: secrets.token_hex(8))  # tells a page which job its charts show
    started_at: float = field(default_factory=time.time)


class JobRegistry:
    """The latest job of each workspace; starting one is refused while any job is running."""

    def __init__(self, make_job: Callable[[TrainConfig, Path], TrainingJob] | None = None) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, ActiveJob] = {}
        self._make_job = make_job or (lambda config, runs_root: TrainingJob(config, runs_root=runs_root))

    def running(self) -> ActiveJob | None:
        with self._lock:
            return next((a for a in self._latest.values() if a.job.running), None)

    def for_session(self, session_id: str) -> ActiveJob | None:
        with self._lock:
            return self._latest.get(session_id)

    def start(self, session_id: str, config: TrainConfig, runs_root: Path) -> ActiveJob:
        with self._lock:
            busy = next((a for a in self._latest.values() if a.job.running), None)
            if busy is not None:
                raise _busy_error(busy, session_id)
            active = ActiveJob(session_id, self._make_job(config, runs_root))
            self._latest[session_id] = active
            active.job.start()
            return active

    def stop(self, session_id: str) -> bool:
        """Ask this workspace's running job to stop; False when it has none running."""
        active = self.for_session(session_id)
        if active is None or not active.job.running:
            return False
        active.job.stop()
        return True


def _busy_error(busy: ActiveJob, session_id: str) -> JobBusy:
    minutes = max(1, round((time.time() - busy.started_at) / 60))
    if busy.session_id == session_id:
        return JobBusy("A training run is already going.",
                       "Wait for it to finish, or press Stop before starting a new one.")
    return JobBusy(f"Someone else is training a model on this computer (started {minutes} min ago); "
                   "only one training runs at a time so each gets the whole machine.",
                   "Try again when it has finished.")
