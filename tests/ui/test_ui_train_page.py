"""The Train tab's page follows the visitor's job: a refused Start leaves it as it was (and attaches a second tab to
the job that is going), and a run deleted in the Runs tab is no longer shown."""

from __future__ import annotations

import shutil
import threading

import gradio as gr
import pytest

from helpers import tab_page

from bertstudio.events import Finished, Started
from bertstudio.jobs import TRAINING, BackgroundJob
from bertstudio.results import Summary, ValidationScores
from bertstudio.ui import train_tab
from bertstudio.ui.state import DataSelection, ModelChoice
from bertstudio.ui.views.progress import TrainProgress


class FakeTraining(BackgroundJob):
    """A training job that writes into ``run_dir`` and ends when ``release`` is set."""

    kind = TRAINING

    def __init__(self, run_dir, release: threading.Event) -> None:
        super().__init__()
        self.run_dir, self.release = str(run_dir), release

    def work(self, emit, should_stop):
        emit(Started(run_dir=self.run_dir, model="Tiny", device="CPU (test)", precision="fp32", total_steps=10,
                     steps_per_epoch=10, epochs=1, train_rows=8, val_rows=2, test_rows=2, label_names=["a", "b"]))
        self.release.wait(30)

    def completed_event(self, value):
        return Finished(run_dir=self.run_dir, summary=Summary(validation=ValidationScores(macro_f1=0.8), best_step=10,
                                                              steps=10, macro_f1=0.75, accuracy=0.8))


@pytest.fixture
def page(tmp_path):
    """The Train tab of a test app, its handlers by name, its components by elem_id, and a visitor's workspace."""
    return tab_page(tmp_path / "data", train_tab.build)


def _data(tmp_path) -> DataSelection:
    path = tmp_path / "shop.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(40)), encoding="utf-8")
    return DataSelection(path=str(path), file_name="shop.csv", columns=["text", "label"], text_column="text",
                         label_column="label", text_pair_column=None, casefold_labels=False, max_length=64,
                         has_errors=False, rows=40, class_counts={"a": 20, "b": 20})


def _timer(shown: dict):
    return next(value for key, value in shown.items() if isinstance(key, gr.Timer))


def _progress(shown: dict) -> TrainProgress:
    return next(value for value in shown.values() if isinstance(value, TrainProgress))


def test_a_refused_start_leaves_the_page_as_it_was_and_attaches_to_the_job_going(page, tmp_path):
    ctx, handlers, components, workspace = page
    release = threading.Event()
    job = ctx.jobs.start(workspace.id, FakeTraining(workspace.runs / "run-1", release))
    try:
        # A second tab of the same visitor presses Start: refused, and nothing but the timer changes (an error would
        # mark every output "Error" and blank the charts).
        with pytest.warns(UserWarning, match="already going"):
            shown = handlers["on_start"](workspace, _data(tmp_path), ModelChoice())
        assert len(shown) == 1 and _timer(shown).active is True
        # The next tick attaches the page to the job that is going.
        attached = handlers["on_tick"](workspace, TrainProgress(token="an-older-job"), None, ModelChoice())
        assert attached[components["train-status"]].startswith("Starting:")
        assert _progress(attached).token == job.token
    finally:
        release.set()
        job.wait(30)

    # Any refusal (here: no data loaded) is a toast too, and leaves the panels alone.
    with pytest.warns(UserWarning, match="No data is loaded yet"):
        shown = handlers["on_start"](workspace, None, ModelChoice())
    assert all(isinstance(key, gr.Timer) for key in shown)


def test_a_run_deleted_in_the_runs_tab_is_no_longer_shown(page):
    ctx, handlers, components, workspace = page
    run_dir = workspace.runs / "run-1"
    run_dir.mkdir(parents=True)
    release = threading.Event()
    release.set()
    job = ctx.jobs.start(workspace.id, FakeTraining(run_dir, release))
    assert job.wait(30)
    shown = handlers["on_tick"](workspace, TrainProgress(), None, ModelChoice())
    progress = _progress(shown)
    assert shown[components["go-evaluate"]].visible is True
    assert handlers["on_reload"](workspace).active is True

    shutil.rmtree(run_dir)  # what Runs -> Delete does to it

    cleared = handlers["on_tick"](workspace, progress, None, ModelChoice())
    assert cleared[components["train-status"]] == train_tab.NOT_STARTED
    assert cleared[components["train-outcome"]] == ""
    assert cleared[components["go-evaluate"]].visible is False
    assert _timer(cleared).active is False
    assert handlers["on_reload"](workspace).active is False, "a reloaded page does not replay it either"
    idle = handlers["on_tick"](workspace, TrainProgress(), None, ModelChoice())
    assert len(idle) == 1 and _timer(idle).active is False, "a page that never showed it just stops polling"
