"""Runs you keep: a stop keeps the best model so far, a killed run resumes to the same result, every run has
TensorBoard curves and a status.json that says where it stands."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bertstudio.config import config_from_preset
from bertstudio.errors import ConfigError, DataError
from bertstudio.events import Cancelled, Evaluated, Finished, Started, Step
from bertstudio.results import RunStatus, Summary, read_run_status
from bertstudio.runs import RunFolder, read_metrics
from bertstudio.train import pipeline, tracking
from bertstudio.train.checkpoints import LOOP_STATE_FILE, latest_checkpoint
from bertstudio.train.tracking import RunTracker
from bertstudio.train.job import TrainingJob

REPO = Path(__file__).resolve().parents[2]


def tiny_config(data, model_dir, out, **extra):
    settings = dict(data=str(data), model=str(model_dir), output_dir=str(out), max_length=32, batch_size=8,
                    epochs=2, precision="fp32", simple_model=False)
    return config_from_preset(**{**settings, **extra})


# --------------------------------------------------------------------------- stop keeps the best model


def test_stop_keeps_the_best_checkpoint_and_the_run_is_stopped_early_and_usable(small_csv, tmp_path, tiny_bert_dir):
    """Stopped after the second evaluation: the kept model is the best evaluation's, and the folder is a run."""
    evaluations = []
    second = threading.Event()

    def on_event(event):
        if isinstance(event, Evaluated):
            evaluations.append(event)
            if len(evaluations) == 2:
                second.set()

    # lr high enough that validation moves between checks; patience 0 so only the stop ends it.
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", epochs=50, eval_every=2,
                      early_stopping_patience=0, lr=2e-2, head_lr=2e-2, metric_for_best="val_loss")
    job = TrainingJob(cfg, on_event=on_event)
    original_stop = job.should_stop
    job.should_stop = lambda: second.is_set() or original_stop()  # stop right after the second check
    job.start()
    assert job.wait(120)
    assert isinstance(job.outcome, Finished), job.outcome
    summary = job.outcome.summary
    assert summary.stopped_early and summary.steps == 4, "stopped at the step after the second check"
    best = min(evaluations, key=lambda e: e.val_loss)
    assert evaluations[0].val_loss != evaluations[1].val_loss, "the two checks differ, so which was kept matters"
    assert summary.best_step == best.step
    assert summary.validation.macro_f1 == pytest.approx(best.macro_f1)
    assert summary.validation.loss == pytest.approx(best.val_loss)
    run = RunFolder(tmp_path / "run")
    assert run.is_complete and Summary.read(run.summary).stopped_early
    status = read_run_status(run.path)
    assert status.state == "stopped" and status.step == 4
    assert status.message == summary.ending()
    assert f"Stopped early at step 4: the best model so far (validation macro-F1 {best.macro_f1:.1%} at step " \
           f"{best.step}) was kept; evaluate or export it." == status.message
    assert not run.checkpoints.exists(), "an ended run keeps no checkpoints"

    # The kept model is the best step's: its validation logits (saved from the model in model/) score exactly that.
    from bertstudio.evaluation.metrics import classification_metrics, softmax
    from bertstudio.evaluation.report import load_validation_logits

    logits, labels = load_validation_logits(run.path, summary.label_names)
    kept = classification_metrics(labels, softmax(logits), summary.label_names)
    assert kept["macro_f1"] == pytest.approx(best.macro_f1) and kept["loss"] == pytest.approx(best.val_loss, rel=1e-5)


def test_stop_before_the_first_check_keeps_nothing_and_says_so(small_csv, tmp_path, tiny_bert_dir):
    first_step = threading.Event()
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", epochs=50, eval_every=10_000,
                      early_stopping_patience=0)
    job = TrainingJob(cfg, on_event=lambda e: isinstance(e, Step) and first_step.set())
    job.start()
    assert first_step.wait(60)
    job.stop()
    assert job.wait(30)
    assert isinstance(job.outcome, Cancelled)
    assert "no model worth keeping" in job.outcome.message
    status = read_run_status(tmp_path / "run")
    assert status.state == "stopped" and "no model worth keeping" in status.message
    assert not RunFolder(tmp_path / "run").is_complete


# --------------------------------------------------------------------------- status.json


def test_status_says_interrupted_when_the_process_that_wrote_running_is_gone(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    assert read_run_status(run.path).state == "interrupted", "no status and no summary: it never finished"
    RunStatus.now("running", step=3, checkpoint_step=3).write(run.status)
    assert read_run_status(run.path).state == "running", "this process wrote it and is alive"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = RunStatus.read(run.status).model_copy(update={"pid": int(dead.stdout), "process_started": 1.0})
    gone.write(run.status)
    status = read_run_status(run.path)
    assert status.state == "interrupted" and status.resumable and status.checkpoint_step == 3
    reused = gone.model_copy(update={"pid": os.getpid()})  # a pid re-used by another process is not the writer
    reused.write(run.status)
    assert read_run_status(run.path).state == "interrupted"
    run.status.write_text("{broken", encoding="utf-8")
    assert read_run_status(run.path).state == "interrupted"


def test_a_failed_run_says_so_in_its_status(small_csv, tmp_path, tiny_bert_dir, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "train_model", explode)
    job = TrainingJob(tiny_config(small_csv, tiny_bert_dir, tmp_path / "run")).start()
    assert job.wait(60)
    status = read_run_status(tmp_path / "run")
    assert status.state == "failed" and "boom" in status.message and not status.resumable


# --------------------------------------------------------------------------- tracking


def test_every_run_writes_tensorboard_event_files_that_tensorboard_reads(small_csv, tmp_path, tiny_bert_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    job = TrainingJob(tiny_config(small_csv, tiny_bert_dir, tmp_path / "run")).start()
    assert job.wait(120) and isinstance(job.outcome, Finished)
    steps = [e for e in job.history if isinstance(e, Step)]
    evaluations = [e for e in job.history if isinstance(e, Evaluated)]
    logs = RunFolder(tmp_path / "run").tracking / tracking.PROJECT
    events = EventAccumulator(str(logs))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"train/loss", "train/learning_rate", "train/grad_norm", "validation/macro_f1",
            "validation/loss", "validation/accuracy"} <= set(tags)
    loss = events.Scalars("train/loss")
    by_step = {s.step: s.loss for s in steps}
    logged = [s.step for s in loss]
    assert logged == sorted(set(logged)) and logged[-1] == steps[-1].step, "in order, once each, up to the end"
    assert [s.value for s in loss] == pytest.approx([by_step[n] for n in logged], rel=1e-6)
    f1 = events.Scalars("validation/macro_f1")
    assert [(s.step, round(s.value, 5)) for s in f1] == [(e.step, round(e.macro_f1, 5)) for e in evaluations]


def test_no_tracking_writes_no_logs_and_a_missing_tracker_is_a_clear_error(small_csv, tmp_path, tiny_bert_dir,
                                                                            monkeypatch):
    job = TrainingJob(tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", report_to="none", epochs=1)).start()
    assert job.wait(120) and isinstance(job.outcome, Finished)
    assert not RunFolder(tmp_path / "run").tracking.exists()

    monkeypatch.setattr(tracking, "tracker_installed", lambda name: name == "tensorboard")
    with pytest.raises(ConfigError) as caught:
        pipeline.load_inputs(tiny_config(small_csv, tiny_bert_dir, tmp_path / "other", report_to="wandb"))
    assert "wandb package, which is not installed" in caught.value.message
    assert "pip install wandb" in caught.value.hint and "--report-to" in caught.value.hint


# --------------------------------------------------------------------------- resume after kill -9


def bertstudio_train(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "bertstudio", "train", *args, "--quiet"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen, timeout: float = 240) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def weights_of(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run / "model" / "model.safetensors"))


def visible_checkpoints(run: Path) -> list[str]:
    """The run's checkpoint folders, less one being written (hidden until complete)."""
    folder = run / "checkpoints"
    return [p.name for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []


def test_a_run_killed_at_a_random_step_resumes_to_the_same_result_as_one_never_interrupted(
        small_csv, tmp_path, tiny_bert_dir):
    """Tolerance: none. On a CPU the same seed gives the same floating-point operations in the same order, so the
    resumed run's metrics are equal and its weights equal to 1e-6 (in practice bit for bit)."""
    common = [str(small_csv), "--model", str(tiny_bert_dir), "--max-length", "32", "--batch-size", "8",
              "--epochs", "3", "--precision", "fp32", "--patience", "0", "--eval-every", "3", "--seed", "7",
              "--simple-model", "no", "--lr", "2e-2", "--head-lr", "2e-2", "--metric", "val_loss"]
    reference = bertstudio_train(*common, "--out", str(tmp_path / "reference"), "--checkpoint-minutes", "0")
    ref = finished(reference)

    # A checkpoint after every step (any interval under a step's time), killed once it has passed a random step.
    run = tmp_path / "killed"
    kill_after = random.Random().randint(2, 12)
    print(f"killing after the checkpoint of step {kill_after}")
    victim = bertstudio_train(*common, "--out", str(run), "--checkpoint-minutes", "0.00001")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        # Looked at while paused, and killed then: between writing a checkpoint and pruning the one before, both
        # are complete (either resumes: the newest is taken), but the check below wants the pruning done.
        victim.send_signal(signal.SIGSTOP)
        latest = latest_checkpoint(run)
        if latest is not None and int(latest.name.split("-")[1]) >= kill_after and \
                len(visible_checkpoints(run)) == 1:
            break
        victim.send_signal(signal.SIGCONT)
        assert victim.poll() is None, victim.stderr.read()[-3000:]
        time.sleep(0.05)
    else:
        pytest.fail("no checkpoint was written")
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    status = read_run_status(run)
    assert status.state == "interrupted" and status.resumable, status
    assert not RunFolder(run).summary.exists()
    checkpoint = latest_checkpoint(run)
    assert (checkpoint / LOOP_STATE_FILE).is_file()
    assert visible_checkpoints(run) == [checkpoint.name], "only the newest checkpoint is kept"

    resumed = finished(bertstudio_train("--resume", str(run)))
    # Every step, the ones trained before the kill and the ones after the resume, has the reference's loss.
    reference_losses = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "reference") if r["event"] == "step"}
    losses = [(r["step"], r["loss"]) for r in read_metrics(run) if r["event"] == "step"]
    assert [(step, loss) for step, loss in losses if reference_losses[step] != loss] == []
    assert {step for step, _ in losses} == set(reference_losses)
    for key in ("accuracy", "macro_f1", "best_epoch"):
        assert resumed[key] == ref[key], key
    ref_summary, summary = Summary.read(tmp_path / "reference" / "summary.json"), Summary.read(run / "summary.json")
    assert summary.steps == ref_summary.steps and summary.best_step == ref_summary.best_step
    assert summary.validation == ref_summary.validation
    assert summary.metrics["confusion_matrix"] == ref_summary.metrics["confusion_matrix"]
    ref_weights, weights = weights_of(tmp_path / "reference"), weights_of(run)
    assert ref_weights.keys() == weights.keys()
    for name, tensor in ref_weights.items():
        assert (tensor - weights[name]).abs().max().item() <= 1e-6, name
    assert read_run_status(run).state == "done" and not (run / "checkpoints").exists()
    started = [r for r in read_metrics(run) if r["event"] == "started"]
    assert started[-1]["resumed_from_step"] == int(checkpoint.name.split("-")[1])

    # TensorBoard reads one curve: the steps trained twice are counted once.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "logs" / tracking.PROJECT))
    events.Reload()
    logged = [s.step for s in events.Scalars("train/loss")]
    assert logged == sorted(set(logged)) and logged[-1] == summary.steps


def _curve_events(steps, checks) -> list:
    return ([Step(step=n, total_steps=8, epoch=n / 4, loss=1 / n, lr=1e-4, grad_norm=0.5, samples_per_second=10,
                  tokens_per_second=100, elapsed=n, eta=8 - n) for n in steps]
            + [Evaluated(step=n, epoch=n / 4, val_loss=0.5, accuracy=0.6, macro_f1=0.5, is_best=True, elapsed=n)
               for n in checks])


def test_a_resumed_job_shows_the_whole_run_once(small_csv, tmp_path, tiny_bert_dir):
    """The killed process got to step 6 past its checkpoint at step 4; the resumed job's events give the live charts
    steps 1-4 of before (read back from metrics.jsonl) and then its own, and the curves read steps 5-6 once."""
    from bertstudio.history.compare import read_curves

    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    started = Started(run_dir=str(run.path), model="Tiny", device="CPU", precision="fp32", total_steps=8,
                      steps_per_epoch=4, epochs=2, train_rows=32, val_rows=8, test_rows=8, label_names=["a", "b"])
    resumed = dataclasses.replace(started, resumed_from_step=4)
    killed = [started, *_curve_events(range(1, 7), [4]), resumed]  # metrics.jsonl as the resumed run starts
    lines = [json.dumps(e.to_dict()) + "\n" for e in killed]
    lines.insert(-1, '{"event": "step", "st\n')  # a line the killed process left torn: skipped, never a failure
    run.metrics.write_text("".join(lines), encoding="utf-8")
    job = TrainingJob(tiny_config(small_csv, tiny_bert_dir, run.path))
    job.resume = run.path
    seen: list = []
    job._with_earlier_steps(seen.append)(resumed)
    assert seen[0] is resumed
    assert [(e.kind, e.step) for e in seen[1:]] == [("step", n) for n in range(1, 5)] + [("evaluated", 4)]
    with run.metrics.open("a", encoding="utf-8") as handle:  # the resumed process trains steps 5-8
        handle.writelines(json.dumps(e.to_dict()) + "\n" for e in _curve_events(range(5, 9), [8]))
    curves = read_curves(run.path)
    assert curves.steps == list(range(1, 9)) and curves.eval_steps == [4, 8]


def test_resume_refuses_a_finished_run_and_a_folder_that_is_not_a_run(small_csv, tmp_path, tiny_bert_dir):
    job = TrainingJob(tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", epochs=1)).start()
    assert job.wait(120) and isinstance(job.outcome, Finished)
    with pytest.raises(ConfigError, match="already ended"):
        pipeline.resume_training(tmp_path / "run")
    with pytest.raises(ConfigError, match="not a BERT Studio run folder"):
        pipeline.resume_training(tmp_path)


def test_resume_without_a_checkpoint_trains_from_the_start_in_the_same_folder(small_csv, tmp_path, tiny_bert_dir):
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", epochs=1, checkpoint_minutes=0)
    job = TrainingJob(cfg).start()
    assert job.wait(120)
    run = RunFolder(tmp_path / "run")
    run.summary.unlink()  # as if it had been killed before it finished
    RunStatus.now("running").model_copy(update={"pid": None, "host": "elsewhere"}).write(run.status)
    RunStatus(state="failed", message="killed").write(run.status)
    job = TrainingJob.resuming(run.path).start()
    assert job.wait(120) and isinstance(job.outcome, Finished), job.outcome
    started = next(e for e in job.history if isinstance(e, Started))
    assert started.resumed_from_step == 0 and read_run_status(run.path).state == "done"


def test_resume_refuses_a_data_file_changed_in_place(small_csv, tmp_path, tiny_bert_dir):
    """Same rows and classes, labels moved: the sizes match, the contents do not."""
    data = tmp_path / "data.csv"
    data.write_bytes(small_csv.read_bytes())
    job = TrainingJob(tiny_config(data, tiny_bert_dir, tmp_path / "run", epochs=1, checkpoint_minutes=0)).start()
    assert job.wait(120)
    run = RunFolder(tmp_path / "run")
    run.summary.unlink()  # as if it had been killed before it finished
    RunStatus(state="failed", message="killed").write(run.status)
    header, *rows = data.read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join([header, *rows[1:], rows[0]]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="changed since run started") as caught:
        pipeline.resume_training(run.path)
    assert "put it back" in caught.value.hint


def _interrupted_with_a_checkpoint(small_csv, tiny_bert_dir, out: Path) -> RunFolder:
    """A run stopped by Ctrl-C once its steps were trained: interrupted, with the checkpoint of its step 2."""
    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "evaluate_and_save", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            pipeline.train(tiny_config(small_csv, tiny_bert_dir, out, max_steps=3, checkpoint_minutes=1e-5))
    run = RunFolder(out)
    assert read_run_status(run.path).checkpoint_step == 2
    return run


def test_resume_on_another_number_of_processes_is_refused_with_the_command_it_trained_with(
        small_csv, tmp_path, tiny_bert_dir, monkeypatch):
    """Tester: a 1-process run resumed under accelerate launch on 2 processes went on without a word: 15 steps an
    epoch became 8, the epoch jumped 1.53 -> 3.0, the batch per update went 16 -> 32, and the checkpoint's place in
    the data was read against the new batches."""
    run = _interrupted_with_a_checkpoint(small_csv, tiny_bert_dir, tmp_path / "run")
    saved = json.loads((latest_checkpoint(run.path) / LOOP_STATE_FILE).read_text())
    assert (saved["processes"], saved["batch_size"], saved["grad_accum"]) == (1, 8, 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(pipeline, "load_inputs", lambda cfg: pytest.fail("refused after reading the data"))
    with pytest.raises(ConfigError) as refused:
        pipeline.resume_training(run.path)
    assert "trained on 1 process and this resume runs on 2 processes" in refused.value.message
    assert "batches of 8 per process (8 texts per update)" in refused.value.message
    assert "an update would average 16 texts" in refused.value.message
    assert refused.value.hint == f"Resume it as it was trained: bertstudio train --resume {run.path} (without " \
                                 "accelerate launch)."
    assert read_run_status(run.path).state == "interrupted", "a refused resume leaves the run as it was"

    # The other way: a checkpoint of 2 processes resumed on one names the launch command.
    saved.update(processes=2)
    (latest_checkpoint(run.path) / LOOP_STATE_FILE).write_text(json.dumps(saved))
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(ConfigError) as refused:
        pipeline.resume_training(run.path)
    assert refused.value.hint == ("Resume it as it was trained: accelerate launch --multi_gpu --num_processes 2 -m "
                                  f"bertstudio train --resume {run.path}.")


def test_a_checkpoint_from_before_the_process_count_was_recorded_resumes_as_before(small_csv, tmp_path,
                                                                                   tiny_bert_dir):
    run = _interrupted_with_a_checkpoint(small_csv, tiny_bert_dir, tmp_path / "run")
    state = latest_checkpoint(run.path) / LOOP_STATE_FILE
    state.write_text(json.dumps({k: v for k, v in json.loads(state.read_text()).items()
                                 if k not in ("processes", "batch_size", "grad_accum")}))
    pipeline.check_same_processes(run)  # nothing recorded: nothing refused
    summary = pipeline.resume_training(run.path)
    assert summary.steps == 3 and read_run_status(run.path).state == "done"


def test_a_run_started_with_a_relative_path_resumes_from_another_folder(small_csv, tmp_path, tiny_bert_dir,
                                                                         monkeypatch):
    """Tester: config.json holds "data": "sst300.csv", relative to the folder the run started in; resumed from
    another folder, "The file 'sst300.csv' was not found ... pick the file again".  The fingerprint records the
    absolute path, and the resume reads the file there."""
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir()
    elsewhere.mkdir()
    (start / "data.csv").write_bytes(small_csv.read_bytes())
    monkeypatch.chdir(start)
    run = _interrupted_with_a_checkpoint("data.csv", tiny_bert_dir, tmp_path / "run")
    saved = json.loads(run.config.read_text())
    assert saved["data"] == "data.csv" and saved["data_fingerprint"]["path"] == str(start / "data.csv")
    monkeypatch.chdir(elsewhere)
    summary = pipeline.resume_training(run.path)
    assert summary.steps == 3 and read_run_status(run.path).state == "done"


class FakeAccelerator:
    trackers = ["tensorboard"]

    def __init__(self):
        self.logged = []

    def log(self, values, step):
        self.logged.append((step, sorted(values)))


def test_fast_steps_are_logged_at_most_every_interval_but_the_last_step_and_evaluations_always():
    accelerator = FakeAccelerator()
    tracker = RunTracker(accelerator, min_interval_s=3600)
    for n in range(1, 11):
        tracker.track(Step(step=n, total_steps=10, epoch=0, loss=1, lr=1, grad_norm=1, samples_per_second=1,
                           tokens_per_second=1, elapsed=1, eta=1))
        if n == 5:
            tracker.track(Evaluated(step=5, epoch=0.5, val_loss=1, accuracy=0.5, macro_f1=0.5, is_best=True, elapsed=1))
    assert [step for step, _ in accelerator.logged] == [1, 5, 10]
    assert accelerator.logged[1][1] == ["validation/accuracy", "validation/loss", "validation/macro_f1"]
    every = RunTracker(FakeAccelerator(), min_interval_s=0)
    for n in range(1, 4):
        every.track(Step(step=n, total_steps=10, epoch=0, loss=1, lr=1, grad_norm=1, samples_per_second=1,
                         tokens_per_second=1, elapsed=1, eta=1))
    assert [step for step, _ in every.accelerator.logged] == [1, 2, 3]


# --------------------------------------------------------------------------- one training per run folder


def paused_train(step: str, signals: Path, *args: str) -> subprocess.Popen:
    """``bertstudio train ARGS`` in another process, paused when it reaches ``pipeline.STEP`` (tests/train/
    paused_cli.py): past its checks, before it writes anything; ``reached`` in ``signals`` says it is there."""
    signals.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    script = str(Path(__file__).with_name("paused_cli.py"))
    process = subprocess.Popen([sys.executable, script, step, str(signals), "train", *args, "--quiet"], cwd=REPO,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not (signals / "reached").exists():
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the first training never reached the point it pauses at"
        time.sleep(0.05)
    return process


def events_of(run: Path) -> list[str]:
    return [r["event"] for r in read_metrics(run)]


def test_two_resumes_at_once_train_once_and_the_second_is_refused(small_csv, tmp_path, tiny_bert_dir, capsys):
    """The tester's race: two resumes in the same second both read "interrupted" and both trained into the folder
    (3 started, 2 finished in metrics.jsonl).  The first is held just past its status check; the second (this
    process, then the app's Resume button) comes then, and is refused naming the first."""
    from bertstudio.cli import main

    job = TrainingJob(tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", epochs=1, checkpoint_minutes=0))
    assert job.start().wait(120)
    run = RunFolder(tmp_path / "run")
    run.summary.unlink()  # as if it had been killed before it finished
    RunStatus(state="failed", message="killed").write(run.status)
    before = events_of(run.path)

    first = paused_train("load_inputs", tmp_path / "signals", "--resume", str(run.path))
    assert main(["train", "--resume", str(run.path), "--quiet"]) == 2
    assert f"is still training (process {first.pid})" in capsys.readouterr().err
    app = TrainingJob.resuming(run.path).start()
    assert app.wait(60) and "is still training" in app.outcome.message, app.outcome
    assert events_of(run.path) == before, "a refused resume writes nothing into the run it was refused"

    (tmp_path / "signals" / "go").touch()
    finished(first)
    resumed = events_of(run.path)[len(before):]
    assert resumed.count("started") == 1 and resumed.count("finished") == 1, resumed
    assert read_run_status(run.path).state == "done" and read_run_status(run.path).pid == first.pid


def test_two_trainings_into_one_out_folder_at_once_train_once(small_csv, tmp_path, tiny_bert_dir, capsys):
    """The same race for ``--out``: the first is held past its checks, before it writes its config; the second is
    refused instead of finding the folder empty and training into it too."""
    from bertstudio.cli import main

    out = tmp_path / "run"
    common = [str(small_csv), "--model", str(tiny_bert_dir), "--max-length", "16", "--batch-size", "8",
              "--max-steps", "2", "--simple-model", "no", "--out", str(out)]
    first = paused_train("save_config", tmp_path / "signals", *common)
    assert main(["train", *common, "--quiet"]) == 2
    assert f"is still training (process {first.pid})" in capsys.readouterr().err
    (tmp_path / "signals" / "go").touch()
    finished(first)
    assert events_of(out).count("started") == 1 and read_run_status(out).pid == first.pid
