"""Ctrl-C and SIGTERM of a training command: at once outside the steps, at the next step boundary during them."""

from __future__ import annotations

import os
import signal
import time

import pytest

from bertstudio.train.interrupts import SAVE_BUDGET_S, Interrupt, Terminated


def _signal(signum: int, wait: float = 0.2) -> None:
    """Send ``signum`` to this process; a handler that raises cuts the wait short."""
    os.kill(os.getpid(), signum)
    time.sleep(wait)


def test_outside_the_steps_a_signal_stops_at_once_and_the_handlers_come_back():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(Terminated), Interrupt().handled():
        _signal(signal.SIGTERM, wait=5)
    assert {s: signal.getsignal(s) for s in before} == before


def test_during_the_steps_a_first_signal_waits_and_a_second_stops_at_once():
    interrupt = Interrupt()
    with interrupt.handled():
        with pytest.raises(KeyboardInterrupt) as raised, interrupt.deferred():
            _signal(signal.SIGINT)
            assert interrupt.pending and interrupt.name == "Ctrl-C", "noted for the step boundary, not raised"
            _signal(signal.SIGINT, wait=5)
        assert not isinstance(raised.value, Terminated) and not interrupt.pending
        _signal(signal.SIGTERM)  # the stop is being recorded: a repeated signal does not cut those writes short
        with pytest.raises(Terminated):  # but one more does: an ending that hangs never needs kill -9
            _signal(signal.SIGTERM, wait=5)


def test_a_signal_still_waiting_when_the_steps_end_is_raised_then():
    interrupt = Interrupt()
    with interrupt.handled(), pytest.raises(Terminated), interrupt.deferred():
        _signal(signal.SIGTERM)
        assert interrupt.name == "SIGTERM"


def test_a_save_is_begun_only_if_it_ends_within_the_budget_after_the_signal():
    interrupt = Interrupt()
    interrupt.signum, interrupt.at = signal.SIGTERM, time.monotonic() - (SAVE_BUDGET_S - 3)
    assert interrupt.in_time(2.0) and not interrupt.in_time(4.0)
