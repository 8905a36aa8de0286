"""``bertstudio train`` and ``train-seeds`` as commands: the flags they share, and SIGTERM ending a training the way
Ctrl-C does (kill, docker stop, SLURM and systemd send SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bertstudio.cli import build_parser
from bertstudio.results import RunStatus, Summary
from bertstudio.runs import read_metrics
from bertstudio.train import cli as train_cli
from bertstudio.train.checkpoints import latest_checkpoint
from bertstudio.train.cli import EXIT_INTERRUPTED, EXIT_TERMINATED

REPO = Path(__file__).resolve().parents[2]


def test_train_seeds_takes_the_output_flags_train_takes():
    """``train-seeds ... --quiet`` was "unrecognized arguments" although ``train ... --quiet`` works."""
    parser = build_parser()
    assert parser.parse_args(["train-seeds", "data.csv", "--quiet"]).quiet
    assert parser.parse_args(["train", "data.csv", "--quiet"]).quiet


@pytest.mark.parametrize("rank, printed", [("0", 1), ("1", 0)])
def test_a_resume_on_several_processes_prints_its_json_line_from_the_main_one_alone(rank, printed, monkeypatch,
                                                                                  capsys, tmp_path):
    """A 2-process resume printed the final JSON line twice: the second process's without its simple-model figures
    (only the main process fits that model) and with its own train_seconds."""
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(train_cli, "resume_training", lambda run, **kwargs: Summary(accuracy=0.9, macro_f1=0.8))
    assert train_cli.run_resume(build_parser().parse_args(["train", "--resume", str(tmp_path), "--quiet"])) == 0
    assert len(capsys.readouterr().out.splitlines()) == printed


def _first_step_of(run: Path, process: subprocess.Popen) -> None:
    """Wait until ``run`` has trained a step (its status and metrics written)."""
    deadline = time.monotonic() + 180
    while not any(r["event"] == "step" for r in read_metrics(run)):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no step was trained"
        time.sleep(0.1)


def _training(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "bertstudio", *argv], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("command", ["train", "train-seeds"])
def test_sigterm_stops_a_training_as_ctrl_c_does(command, small_csv, tmp_path, tiny_bert_dir):
    """SIGTERM killed the process on the spot: status.json still said "running" with a dead process, and nothing
    said how to go on.  Now the run is interrupted in its status.json itself, with a checkpoint of the step it
    stopped at (the default interval, 5 minutes, has not passed), and ``train`` prints the resume line."""
    out = tmp_path / "run"
    argv = [command, str(small_csv), "--model", str(tiny_bert_dir), "--max-length", "16", "--batch-size", "8",
            "--epochs", "100", "--patience", "0", "--simple-model", "no", "--out", str(out)]
    if command == "train-seeds":
        argv += ["--seeds", "2", "--quiet"]
    process = _training(argv)
    run = out / "seed-42" if command == "train-seeds" else out
    _first_step_of(run, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_TERMINATED, err[-3000:]
    status = RunStatus.read(run / "status.json")  # the file itself, not what a reader makes of it
    assert status.state == "interrupted" and status.pid == process.pid
    steps = [r["step"] for r in read_metrics(run) if r["event"] == "step"]
    assert status.checkpoint_step == steps[-1] >= 1, (status, steps)
    assert "Traceback" not in err
    if command == "train":
        assert f"saved as a checkpoint. Go on from there with: bertstudio train --resume {run}" in err
        assert "Stopped." not in err, "one ending line"


def test_ctrl_c_saves_a_checkpoint_of_the_step_it_stops_at_and_the_resume_goes_on_from_it(small_csv, tmp_path,
                                                                                           tiny_bert_dir):
    """Tester: Ctrl-C at step 18 of 30, 52 s into a run (checkpoints every 5 minutes, at epoch ends only after a
    minute) said "Interrupted. Go on with ..." and then "Stopped.", and the resume started from zero.  Now the step
    boundary after Ctrl-C is saved, the run is interrupted with that checkpoint, one line says so, and the resume
    goes on from it."""
    run = tmp_path / "run"
    common = ["--model", str(tiny_bert_dir), "--max-length", "16", "--batch-size", "8", "--epochs", "100",
              "--patience", "0", "--simple-model", "no"]  # the default checkpoint interval: 5 minutes
    process = _training(["train", str(small_csv), *common, "--out", str(run)])
    _first_step_of(run, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_INTERRUPTED, err[-3000:]
    status = RunStatus.read(run / "status.json")
    steps = [r["step"] for r in read_metrics(run) if r["event"] == "step"]
    assert status.state == "interrupted" and status.checkpoint_step == steps[-1] >= 1, (status, steps)
    assert latest_checkpoint(run).name == f"step-{status.checkpoint_step:07d}"
    ending = err.strip().splitlines()[-1]
    assert ending == (f"Interrupted at step {status.checkpoint_step:,}, saved as a checkpoint. Go on from there "
                      f"with: bertstudio train --resume {run}"), err[-2000:]
    assert "Ctrl-C: saving a checkpoint of step" in err and "Stopped." not in err and "Traceback" not in err

    resumed = _training(["train", "--resume", str(run), "--quiet"])
    said = [resumed.stderr.readline() for _ in range(2)]  # the tokenizing phase, then where it goes on from
    assert said[-1].strip() == f"Resuming from the checkpoint at step {status.checkpoint_step:,}", said
    resumed.send_signal(signal.SIGTERM)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == EXIT_TERMINATED and "Traceback" not in err, err[-3000:]
    assert RunStatus.read(run / "status.json").checkpoint_step >= status.checkpoint_step


def test_a_moved_data_file_is_pointed_to_with_data_and_must_be_the_same_file(small_csv, tmp_path, tiny_bert_dir,
                                                                             capsys):
    """--resume refused a data file, so a run whose file was moved could never be resumed (and the error was the
    app's "pick the file again").  Now the refusal says how to point to it, --data (or the file as the first
    argument) does, a file with other contents is refused, and the new place is kept for the next resume."""
    from bertstudio.cli import main
    from bertstudio.config import config_from_preset
    from bertstudio.train import pipeline

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt()

    data, moved, other = tmp_path / "data.csv", tmp_path / "moved" / "data.csv", tmp_path / "other.csv"
    data.write_bytes(small_csv.read_bytes())
    cfg = config_from_preset(data=str(data), model=str(tiny_bert_dir), output_dir=str(tmp_path / "run"),
                             max_length=16, batch_size=8, max_steps=3, precision="fp32", simple_model=False,
                             checkpoint_minutes=1e-5)
    with pytest.MonkeyPatch.context() as patch:  # interrupted once the steps were trained, with a checkpoint
        patch.setattr(pipeline, "evaluate_and_save", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            pipeline.train(cfg)
    run = tmp_path / "run"
    moved.parent.mkdir()
    data.rename(moved)
    other.write_text(small_csv.read_text().replace("late", "early"), encoding="utf-8")
    capsys.readouterr()

    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"is no longer where the run read it ({data})" in err and "pick the file again" not in err
    assert f"bertstudio train --resume {run} --data FILE" in err
    assert main(["train", "--resume", str(run), "--data", str(other)]) == 2
    assert f"The file {other} is not the one run was trained on (data.csv" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), str(moved), "--data", str(other)]) == 2
    assert "Two training files were given" in capsys.readouterr().err

    assert main(["train", "--resume", str(run), "--data", str(moved), "--quiet"]) == 0
    assert RunStatus.read(run / "status.json").state == "done"
    recorded = json.loads((run / "config.json").read_text())
    assert recorded["data"] == str(moved) and recorded["data_fingerprint"]["path"] == str(moved)


def test_freezing_more_layers_than_the_model_has_is_refused_before_the_data_is_read(small_csv, tiny_bert_dir,
                                                                                     tmp_path, capsys, monkeypatch):
    """Tester: --freeze-layers 10 on a 6-layer model was refused after reading the data and fitting the simple
    model, leaving a failed run in `runs list`. The model's config.json gives its depth before anything is read."""
    from bertstudio.cli import main
    from bertstudio.train import pipeline

    def no_reading(*args, **kwargs):
        raise AssertionError("the data was read")

    monkeypatch.setattr(pipeline, "read_and_prepare", no_reading)
    runs = tmp_path / "runs"
    assert main(["train", str(small_csv), "--model", str(tiny_bert_dir), "--freeze-layers", "10",
                 "--runs-dir", str(runs), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "freeze_layers (--freeze-layers) is 10, but the model has only 2 layers" in err and "below 2" in err
    assert not runs.exists() or not any(runs.iterdir())
