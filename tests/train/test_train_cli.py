"""``bertstudio train`` and ``train-seeds`` as commands: the flags they share, and SIGTERM ending a training the way
Ctrl-C does (kill, docker stop, SLURM and systemd send SIGTERM)."""

from __future__ import annotations

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
from bertstudio.train.cli import EXIT_TERMINATED, Terminated, stop_on_sigterm

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
    monkeypatch.setattr(train_cli, "resume_training", lambda run, emit: Summary(accuracy=0.9, macro_f1=0.8))
    assert train_cli.run_resume(build_parser().parse_args(["train", "--resume", str(tmp_path), "--quiet"])) == 0
    assert len(capsys.readouterr().out.splitlines()) == printed


def test_sigterm_is_raised_as_an_interrupt_once_and_the_old_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as raised, stop_on_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs at the next bytecode: this sleep is cut short
    assert isinstance(raised.value, Terminated)
    assert signal.getsignal(signal.SIGTERM) is before


def _first_step_of(run: Path, process: subprocess.Popen) -> None:
    """Wait until ``run`` has trained a step (its status and metrics written)."""
    deadline = time.monotonic() + 180
    while not any(r["event"] == "step" for r in read_metrics(run)):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no step was trained"
        time.sleep(0.1)


@pytest.mark.parametrize("command", ["train", "train-seeds"])
def test_sigterm_stops_a_training_as_ctrl_c_does(command, small_csv, tmp_path, tiny_bert_dir):
    """SIGTERM killed the process on the spot: status.json still said "running" with a dead process, and nothing
    said how to go on.  Now the run is interrupted in its status.json itself, and ``train`` prints the resume line."""
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "bertstudio", command, str(small_csv), "--model", str(tiny_bert_dir),
            "--max-length", "16", "--batch-size", "8", "--epochs", "100", "--patience", "0",
            "--checkpoint-minutes", "0.00001", "--simple-model", "no", "--out", str(out)]
    if command == "train-seeds":
        argv += ["--seeds", "2", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = out / "seed-42" if command == "train-seeds" else out
    _first_step_of(run, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_TERMINATED, err[-3000:]
    status = RunStatus.read(run / "status.json")  # the file itself, not what a reader makes of it
    assert status.state == "interrupted" and status.pid == process.pid
    assert "Traceback" not in err
    if command == "train":
        assert f"Interrupted. Go on with: bertstudio train --resume {run}" in err


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
