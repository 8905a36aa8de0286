"""Ctrl-C and SIGTERM during a training: the run stops at the next step boundary, with a checkpoint of that step.

A stop from outside (Ctrl-C; SIGTERM from ``kill``, ``docker stop``, SLURM, systemd, or ``accelerate launch``
passing either on) used to end the process where it was: everything since the last checkpoint was lost, and with
checkpoints every 5 minutes, a run stopped in its first minutes resumed from zero.  Now, while the steps run, the
first signal is only noted; the loop sees it at the next step boundary, saves a checkpoint there (collectively, on
every process) and then raises it, so the run is recorded "interrupted" with that step.  The stop is raised at once
instead when a second signal comes (a person who does not want to wait), when saving would take too long for the
launchers' grace period (:data:`SAVE_BUDGET_S`), when the steps are not running (reading the data, tokenizing,
scoring at the end: a checkpoint is a place in the steps), or when the run saves no checkpoints at all.

Signal handlers can only be set from the main thread: the app's trainings run on threads and stop with Stop.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# From the signal to a saved checkpoint, at most: the launchers that send SIGTERM follow it with SIGKILL, docker stop
# after 10 s (the shortest of them; torchrun, SLURM: 30 s, systemd: 90 s). A save that would end later is not begun.
SAVE_BUDGET_S = 10.0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so the training ends the same way."""


class Interrupt:
    """The stop asked by Ctrl-C or SIGTERM, for the loop to honour at a step boundary (see the module's docstring)."""

    def __init__(self) -> None:
        self.signum: int | None = None  # the first signal, while it waits for the step boundary
        self.at: float | None = None  # when it came (time.monotonic)
        self.raised = False  # the stop is on its way out: one later signal is ignored, the next one stops at once
        self._after_raised = 0  # signals since the stop was raised
        self._deferring = False  # the steps are running: a first signal waits for the step boundary

    @property
    def pending(self) -> bool:
        """A signal came while the steps ran, and the stop has not been raised yet."""
        return self.signum is not None and not self.raised

    @property
    def name(self) -> str:
        return "SIGTERM" if self.signum == signal.SIGTERM else "Ctrl-C"

    def in_time(self, save_seconds: float) -> bool:
        """Whether a save of ``save_seconds`` begun now ends within :data:`SAVE_BUDGET_S` of the signal."""
        waited = time.monotonic() - self.at if self.at is not None else 0.0
        return waited + save_seconds <= SAVE_BUDGET_S

    def exception(self, signum: int | None = None) -> KeyboardInterrupt:
        """The stop to raise (SIGTERM as :class:`Terminated`); from now on one further signal is ignored, so that a
        repeated key press does not cut short the few writes that record the stop (a third one does)."""
        self.raised = True
        return Terminated() if (signum or self.signum) == signal.SIGTERM else KeyboardInterrupt()

    def _on_signal(self, signum: int, frame) -> None:
        if self.raised:
            # The few writes that record the stop are not cut short by a repeated key press; but a person pressing
            # again and again (the ending hangs on something) must get the terminal back without kill -9.
            self._after_raised += 1
            if self._after_raised >= 2:
                raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
            return
        if self._deferring and self.signum is None:
            self.signum, self.at = signum, time.monotonic()
            return
        raise self.exception(signum)

    @contextlib.contextmanager
    def handled(self) -> Iterator[Interrupt]:
        """Ctrl-C and SIGTERM come here while the command runs (outside the steps they stop it at once, as
        before); the previous handlers come back afterwards."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.signal(signum, self._on_signal) for signum in HANDLED_SIGNALS}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Around the steps: a first signal waits for the loop's next step boundary.  A signal still waiting when
        the steps end (the last step, early stopping) is raised then, without a checkpoint: a checkpoint at the last
        step would resume into a step past the end."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self.pending:
            raise self.exception()
