"""The README's Python examples do what it says, run against stand-ins so no model trains."""

from __future__ import annotations

import re
from pathlib import Path

import bertstudio.job

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    return next(block for block in blocks if containing in block)


class Event:
    def __init__(self, kind: str):
        self.kind = kind

    def to_dict(self) -> dict:
        return {"kind": self.kind}


class EndsBetweenTwoWaits:
    """A job whose last events arrive after a wait said it was still going, and whose end the next wait sees: a
    loop that stops on wait() without draining again never prints them (a tester's run printed no 'finished')."""

    def __init__(self, config):
        self.queued, self.waits = [Event("started")], 0

    def start(self):
        return self

    def wait(self, timeout: float) -> bool:
        self.waits += 1
        if self.waits == 1:
            return False
        self.queued += [Event("step"), Event("finished")]
        return True

    def drain(self) -> list[Event]:
        drained, self.queued = self.queued, []
        return drained


def test_the_background_job_example_prints_every_event_up_to_finished(monkeypatch, capsys):
    monkeypatch.setattr(bertstudio.job, "TrainingJob", EndsBetweenTwoWaits)
    exec(python_block("TrainingJob"), {"config_from_preset": lambda **settings: settings})
    printed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert printed == ["started", "step", "finished"]


def test_the_prediction_example_labels_each_text_in_order(tiny_run, capsys):
    """The README had no Python prediction example though load_predictor -> predict -> PredictionBatch is the API."""
    import ast
    from types import SimpleNamespace

    exec(python_block("load_predictor"), {"summary": SimpleNamespace(run_dir=tiny_run)})
    labels_line, record_line = capsys.readouterr().out.splitlines()
    labels = ast.literal_eval(labels_line.split("] ", 1)[0] + "]")
    assert len(labels) == 2 and all(isinstance(label, str) for label in labels)
    assert record_line.startswith("{'label': ") and "'probabilities': {" in record_line
