"""What the Train tab says about a run that was stopped early, resumed, or can be resumed; and its Resume button."""

from __future__ import annotations

from helpers import tab_page

from bertstudio.events import Cancelled, Finished, Started, Step, Stopping
from bertstudio.results import RunStatus, Summary, ValidationScores
from bertstudio.runs import RunFolder
from bertstudio.train.checkpoints import LOOP_STATE_FILE, latest_resumable_run
from bertstudio.ui.views.progress import (
    TrainProgress,
    fold_events,
    outcome_markdown,
    progress_fraction,
    progress_markdown,
    resume_markdown,
)


def _started(**changes) -> Started:
    values = dict(run_dir="runs/x", model="Tiny", device="CPU (test)", precision="fp32", total_steps=400,
                  steps_per_epoch=100, epochs=4, train_rows=800, val_rows=100, test_rows=100, label_names=["a", "b"])
    return Started(**{**values, **changes})


def _step(n: int) -> Step:
    return Step(step=n, total_steps=400, epoch=n / 100, loss=0.5, lr=1e-4, grad_norm=0.5, samples_per_second=10,
                tokens_per_second=1000, elapsed=n, eta=400 - n)


def test_a_run_stopped_early_says_what_was_kept_and_what_to_do():
    summary = Summary(validation=ValidationScores(macro_f1=0.8123), best_step=100, steps=120, stopped_early=True,
                      macro_f1=0.79, accuracy=0.83, evaluated_on="test")
    progress = fold_events(TrainProgress(), [_started(), _step(120), Finished(run_dir="runs/x", summary=summary)])
    text = outcome_markdown(progress)
    assert ("Stopped early at step 120: the best model so far (validation macro-F1 81.2% at step 100) was kept; "
            "evaluate or export it.") in text
    assert "83.0%" in text and "79.0%" in text
    assert progress_fraction(progress) == 0.3, "the bar shows how far it got, not 100%"
    assert "Evaluate tab" in text and "Export tab" in text and "press Start to train again" in text
    assert "Why it stopped" not in text  # the person pressed Stop: no reason to give


def _stopped_summary() -> Summary:
    return Summary(validation=ValidationScores(macro_f1=0.8123), best_step=100, steps=120, stopped_early=True,
                   macro_f1=0.79, accuracy=0.83, evaluated_on="test")


def test_a_run_the_time_limit_stopped_says_so():
    reason = "It reached this demo's limit of 10 minutes per training (time limit)."
    progress = fold_events(TrainProgress(), [_started(), _step(120), Stopping(reason=reason),
                                             Finished(run_dir="runs/x", summary=_stopped_summary())])
    text = outcome_markdown(progress)
    assert f"Why it stopped: {reason}" in text and "was kept" in text


def _choice_and_data():
    from bertstudio.ui.state import DataSelection, ModelChoice

    data = DataSelection(path="/w/shop.csv", file_name="shop.csv", columns=["text", "label"], text_column="text",
                         label_column="label", text_pair_column=None, casefold_labels=False, max_length=64,
                         has_errors=False, rows=400, class_counts={"a": 200, "b": 200})
    return data, ModelChoice()


def test_the_ready_text_never_says_press_start_under_a_running_or_finished_run():
    from bertstudio.ui.train_tab import ready_markdown, ready_update

    data, choice = _choice_and_data()
    assert ready_markdown(data, choice).startswith("Ready to train")
    running = fold_events(TrainProgress(token="job-1"), [_started(), _step(10)])
    assert ready_update(data, choice, running).visible is False
    done = fold_events(running, [Finished(run_dir="runs/x", summary=_stopped_summary())])
    update = ready_update(data, choice, done)
    assert update.visible is True and update.value.startswith("To train again, press Start: a new run")
    assert "Ready to train" not in update.value
    stopped = fold_events(TrainProgress(token="job-2"), [_started(), Cancelled(step=3, run_dir="runs/y")])
    assert ready_markdown(data, choice, stopped).startswith("To train again")
    assert ready_update(None, choice, None).value == "First load your data in the **Data** tab."


def test_a_resumed_run_says_where_it_goes_on_from():
    progress = fold_events(TrainProgress(), [_started(resumed_from_step=120)])
    assert progress_markdown(progress).startswith("Resuming from the checkpoint at step 120 of 400")
    fold_events(progress, [_step(121)])
    assert "Step 121 of 400" in progress_markdown(progress)


def test_the_resume_offer_names_the_run_and_the_checkpoint():
    interrupted = RunStatus(state="interrupted", step=130, checkpoint_step=120)
    text = resume_markdown("20260101-120000-tiny", interrupted)
    assert "**20260101-120000-tiny**, was interrupted before it finished" in text and "step 120" in text
    failed = RunStatus(state="failed", checkpoint_step=40, message="Training ran out of memory.")
    assert "failed (Training ran out of memory.)" in resume_markdown("r", failed)
    assert resume_markdown("r", None) == ""


def _fake_run(root, name: str, status: RunStatus, checkpoint: bool = True) -> RunFolder:
    run = RunFolder(root / name)
    run.path.mkdir(parents=True)
    run.config.write_text("{}", encoding="utf-8")
    status.write(run.status)
    if checkpoint:
        (run.checkpoints / "step-0000012").mkdir(parents=True)
        (run.checkpoints / "step-0000012" / LOOP_STATE_FILE).write_text("{}", encoding="utf-8")
    return run


def test_only_the_newest_run_is_offered_and_only_when_it_can_go_on(tmp_path):
    gone = {"state": "running", "pid": 999_999_999, "host": __import__("socket").gethostname()}
    assert latest_resumable_run(tmp_path / "none") is None
    _fake_run(tmp_path, "20260101-100000-old", RunStatus(**gone, checkpoint_step=12))
    newest = _fake_run(tmp_path, "20260101-110000-new", RunStatus(**gone, checkpoint_step=12))
    found = latest_resumable_run(tmp_path)
    assert found.run == newest and found.status.state == "interrupted"
    _fake_run(tmp_path, "20260101-120000-done", RunStatus(state="done"), checkpoint=False)
    assert latest_resumable_run(tmp_path) is None, "a newer run followed: the person moved on"
    early = _fake_run(tmp_path, "20260101-130000-early", RunStatus(**gone), checkpoint=False)
    found = latest_resumable_run(tmp_path)  # killed before its first checkpoint: offered, to train again
    assert found.run == early and found.status.checkpoint_step is None
    assert "trains it again from the start" in resume_markdown(early.path.name, found.status)
    _fake_run(tmp_path, "20260101-140000-failed", RunStatus(state="failed", message="Out of memory."),
              checkpoint=False)
    assert latest_resumable_run(tmp_path) is None, "a failed run without a checkpoint would only fail again"


def test_the_train_tab_has_a_resume_button(tmp_path):
    from bertstudio.ui import train_tab

    _, _, components, _ = tab_page(tmp_path, train_tab.build)
    ids = set(components)
    assert {"resume-training", "train-resume-note", "start-training", "stop-training"} <= ids
