"""When a checkpoint is saved at a step boundary, and when the run stops there (Ctrl-C, SIGTERM)."""

from __future__ import annotations

import signal
import time

from bertstudio.runs import RunFolder
from bertstudio.train.checkpoints import Checkpointer, StepEnd
from bertstudio.train.interrupts import SAVE_BUDGET_S, Interrupt


class OneProcess:
    num_processes = 1
    is_main_process = True


def _asked(seconds_ago: float = 0.0) -> Interrupt:
    interrupt = Interrupt()
    interrupt.signum, interrupt.at = signal.SIGINT, time.monotonic() - seconds_ago
    return interrupt


def test_a_stop_asked_during_the_steps_is_saved_at_the_step_boundary_even_between_due_checkpoints(tmp_path):
    """Tester: Ctrl-C 52 s into a run with checkpoints every 5 minutes resumed from zero."""
    checkpoints = Checkpointer(RunFolder(tmp_path), every_seconds=300)
    assert checkpoints.at_step_end(OneProcess(), epoch_ended=True, interrupt=Interrupt()) == StepEnd(False, False)
    assert checkpoints.at_step_end(OneProcess(), epoch_ended=False, interrupt=_asked()) == StepEnd(True, True)


def test_a_save_that_would_end_past_the_budget_is_not_begun(tmp_path):
    checkpoints = Checkpointer(RunFolder(tmp_path), every_seconds=300)
    checkpoints.save_seconds = 4.0  # the last save's time
    assert checkpoints.at_step_end(OneProcess(), False, _asked(SAVE_BUDGET_S - 5)) == StepEnd(True, True)
    assert checkpoints.at_step_end(OneProcess(), False, _asked(SAVE_BUDGET_S - 3)) == StepEnd(False, True)


def test_without_a_stop_checkpoints_come_at_their_interval(tmp_path):
    checkpoints = Checkpointer(RunFolder(tmp_path), every_seconds=0.0)
    assert checkpoints.at_step_end(OneProcess(), False, None) == StepEnd(True, False)
