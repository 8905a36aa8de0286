"""The same training on two processes (accelerate launch, gloo on the CPU) as on one.

Two processes at batch B make exactly the updates of one process at batch B with grad_accum 2 (the batch rule in
``bertstudio/train/processes.py``): step k averages the gradients of batches 2k and 2k+1 either way.  With
dropout off and fp32 the two runs differ only in the order floating-point sums are taken (gloo's all-reduce
against accumulation), so the tolerance is that of float32 rounding carried through a few dozen updates:
validation loss within 1e-4 at every evaluation (measured: at most 2e-8 over 42 updates), and the same
accuracy at every evaluation.

Note: ``accelerate launch --cpu --num_processes 2`` starts ONE process in accelerate 1.x (CPU processes go
through mpirun); on a machine without a GPU, ``--multi_gpu`` starts them through torchrun and the run trains
on the CPU with gloo.  The test hides any GPU so it runs the same everywhere.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import write_topic_csv

from bertstudio.runs import RunFolder, read_metrics
from bertstudio.train.processes import ProcessLost, lost_process, process_lost

LOSS_TOLERANCE = 1e-4
BATCH = 6  # 84 training rows: 14 batches an epoch, an even number, so neither run has a lone last batch
EPOCHS = 6


@pytest.fixture(scope="module")
def no_dropout_bert_dir(tmp_path_factory) -> Path:
    """The tiny BERT without dropout: both runs then compute the same function, not the same in distribution."""
    from conftest import _save_tiny
    from transformers import BertConfig

    import torch

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    # Its own seed: the random weights were whatever the tests before it left of the global generator, so the
    # "it learns" guard below passed alone and failed in the whole suite (same weights, lr 0.01, 3 epochs).
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return _save_tiny(config, tmp_path_factory.mktemp("no-dropout-bert"))


@pytest.fixture(scope="module")
def three_class_csv(tmp_path_factory) -> Path:
    return write_topic_csv(tmp_path_factory.mktemp("data") / "tickets.csv", 40)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    return env


def _train_args(data: Path, model: Path, runs: Path) -> list[str]:
    return ["train", str(data), "--model", str(model), "--runs-dir", str(runs), "--batch-size", str(BATCH),
            "--epochs", str(EPOCHS), "--lr", "0.01", "--precision", "fp32", "--head-dropout", "0", "--quiet",
            "--patience", "0",
            # a checkpoint at every epoch end: accelerate's save_state is collective, so both processes take part
            "--checkpoint-minutes", "0.001"]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(cmd)}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-6000:]}"
    return done


def _two_and_one(base: Path, data: Path, model: Path, extra: tuple[str, ...] = ()):
    """(two processes, one process with grad_accum 2): each its completed process and its run folder."""
    two = _run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", str(_free_port()), "-m", "bertstudio",
                *_train_args(data, model, base / "two"), *extra], base)
    one = _run([sys.executable, "-m", "bertstudio", *_train_args(data, model, base / "one"), *extra,
                "--grad-accum", "2"], base)
    return (two, _only_run(base / "two")), (one, _only_run(base / "one"))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, no_dropout_bert_dir, three_class_csv):
    return _two_and_one(tmp_path_factory.mktemp("multiprocess"), three_class_csv, no_dropout_bert_dir)


@pytest.fixture(scope="module")
def two_lazy(tmp_path_factory, no_dropout_bert_dir, three_class_csv) -> RunFolder:
    """The two-process run again, its training split tokenized as the batches are drawn (``lazy_tokens``)."""
    base = tmp_path_factory.mktemp("multiprocess-lazy")
    _run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
          "--main_process_port", str(_free_port()), str(Path(__file__).with_name("lazy_cli.py")),
          *_train_args(three_class_csv, no_dropout_bert_dir, base / "two")], base)
    return _only_run(base / "two")


def test_two_processes_train_the_same_on_a_lazily_tokenized_split(two_runs, two_lazy):
    """Each process draws the batch order itself, tokenizing its groups as they come: the same batches, so the same
    run as on the split tokenized up front."""
    (_, upfront), _ = two_runs
    evals = [[(e["step"], e["val_loss"], e["accuracy"]) for e in read_metrics(run.path) if e["event"] == "evaluated"]
             for run in (upfront, two_lazy)]
    assert len(evals[0]) == EPOCHS and evals[1] == evals[0]


def _only_run(runs: Path) -> RunFolder:
    folders = [p for p in runs.iterdir()]
    assert len(folders) == 1, f"expected one run folder, found {folders}"
    return RunFolder(folders[0])


def _json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_two_processes_write_one_complete_run_folder(two_runs):
    (done, run), _ = two_runs
    for path in (run.config, run.data_report, run.metrics, run.status, run.summary, run.predictions,
                 run.model / "model.safetensors", run.simple_model):
        assert path.exists(), path
    assert not run.checkpoints.exists(), "checkpoints are removed once the run has ended"
    leftovers = [p.name for p in run.path.rglob(".*")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"
    assert json.loads(run.status.read_text())["state"] == "done"
    # TensorBoard names each event file events.out.tfevents.<time>.<host>.<pid>.<n> (the settings go in a second
    # file of the same writer): every one of them written by the same, single process.
    files = list((run.path / "logs").rglob("events.out.tfevents*"))
    assert files and len({f.name.split(".")[-2] for f in files}) == 1, files


def test_two_processes_report_once(two_runs):
    (done, run), _ = two_runs
    assert len(_json_lines(done.stdout)) == 1, done.stdout
    assert done.stderr.count("Training ") == 1
    events = list(read_metrics(run.path))
    kinds = [e["event"] for e in events]
    assert kinds.count("started") == 1 and kinds.count("finished") == 1 and kinds.count("simple_model") == 1
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps == list(range(1, len(steps) + 1)), "every step written once, in order"
    assert len(steps) == EPOCHS * 7  # 14 batches an epoch, two a step
    assert events[0]["total_steps"] == len(steps)
    assert [e["epoch"] for e in events if e["event"] == "evaluated"] == [float(e) for e in range(1, EPOCHS + 1)]


def test_the_processes_and_the_update_they_make_are_recorded_and_said(two_runs):
    """Tester: with 2 processes neither the console nor config.json said so, and the batch explained was 6 while
    every update averaged 12 texts."""
    (done, two), (_, one) = two_runs
    assert json.loads(two.config.read_text())["processes"] == 2 and json.loads(one.config.read_text())["processes"] == 1
    started = next(iter(read_metrics(two.path)))
    assert (started["processes"], started["texts_per_update"]) == (2, 2 * BATCH)
    assert f"x 2 processes ({2 * BATCH} texts per update)" in done.stderr
    reasons = {d["field"]: d["reason"] for d in json.loads(two.config.read_text())["decisions"]}
    assert f"every update averages {2 * BATCH} texts ({BATCH} x 2 processes)" in reasons["processes"]


def test_two_processes_evaluate_every_row_once(two_runs):
    (_, run), _ = two_runs
    import pandas as pd

    summary = json.loads(run.summary.read_text())
    predictions = pd.read_csv(run.predictions)
    sizes = json.loads(run.config.read_text())["data_sizes"]
    assert len(predictions) == sizes["test"]
    assert sorted(predictions["text"]) == sorted(set(predictions["text"])), "no row scored twice"
    assert summary["accuracy"] == pytest.approx((predictions["label"] == predictions["predicted"]).mean())
    with np.load(run.validation_logits) as saved:
        assert len(saved["logits"]) == sizes["validation"]


def test_two_processes_learn_what_one_process_learns(two_runs):
    assert_same_learning(two_runs)


# Strategies that change what trains during the run, or which parameters train at all: gradual unfreezing turns
# layers' gradients on after the model is wrapped for several processes (DDP then has to look for the frozen ones:
# without it both processes failed at the second step), and LoRA trains adapters beside frozen weights.
def test_two_processes_train_with_gradual_unfreezing_as_one_process(tmp_path, no_dropout_bert_dir, three_class_csv):
    # Gradual unfreezing trains only the head in its first phase: in 3 epochs of 7 steps it learns less than full
    # fine-tuning (the last loss 0.86-0.91 of the first, by the tiny model's random weights).
    assert_same_learning(_two_and_one(tmp_path, three_class_csv, no_dropout_bert_dir, ("--unfreezing", "gradual")),
                         learns_by=0.95)


def test_two_processes_train_lora_adapters_like_one_process(tmp_path, no_dropout_bert_dir, three_class_csv):
    """LoRA's adapters keep their own dropout (0.1), drawn differently on two processes than on one, so the runs
    match in distribution only (measured: validation loss 7% apart at one evaluation): the same steps and
    evaluations, both learn, and they end close."""
    (_, two), (_, one) = _two_and_one(tmp_path, three_class_csv, no_dropout_bert_dir, ("--lora-rank", "4"))
    evals = [[e["val_loss"] for e in read_metrics(run.path) if e["event"] == "evaluated"] for run in (two, one)]
    assert len(evals[0]) == len(evals[1]) == EPOCHS
    for losses in evals:
        assert losses[-1] < 0.85 * losses[0], losses
    assert evals[0][-1] == pytest.approx(evals[1][-1], rel=0.2), evals
    assert (two.model / "model.safetensors").exists() and json.loads(two.status.read_text())["state"] == "done"


def assert_same_learning(runs, learns_by: float = 0.8) -> None:
    """Two processes make one process's updates; ``learns_by``: the last validation loss is below this share of the
    first, so the comparison is of a model that learns."""
    (_, two), (_, one) = runs
    evals = {name: [e for e in read_metrics(run.path) if e["event"] == "evaluated"]
             for name, run in (("two", two), ("one", one))}
    assert len(evals["two"]) == len(evals["one"]) == EPOCHS
    for a, b in zip(evals["two"], evals["one"]):
        assert a["step"] == b["step"]
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=LOSS_TOLERANCE)
        assert a["accuracy"] == b["accuracy"]
    assert evals["one"][-1]["val_loss"] < learns_by * evals["one"][0]["val_loss"], \
        "the comparison is only worth something if the model learns"
    s2, s1 = (json.loads(r.summary.read_text()) for r in (two, one))
    assert s2["accuracy"] == s1["accuracy"]
    assert s2["macro_f1"] == pytest.approx(s1["macro_f1"], abs=1e-9)
    assert s2["validation"]["loss"] == pytest.approx(s1["validation"]["loss"], abs=LOSS_TOLERANCE)


def _launch_two(argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                             "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                             "--main_process_port", str(_free_port()), "-m", "bertstudio", *argv],
                            cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _trained_a_step(runs: Path, process: subprocess.Popen) -> RunFolder:
    deadline = time.monotonic() + 300
    while True:
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no step was trained"
        folders = list(runs.iterdir()) if runs.is_dir() else []
        if folders and any(r["event"] == "step" for r in read_metrics(folders[0])):
            return RunFolder(folders[0])
        time.sleep(0.1)


def test_sigterm_to_the_launcher_saves_a_checkpoint_on_both_processes_and_says_how_to_go_on(
        tmp_path, no_dropout_bert_dir, three_class_csv, capsys):
    """SIGTERM to accelerate launch (passed on to both processes) ended the run where it was, and the line that
    said how to go on lacked the launch command.  Now both processes save the step boundary together, and the one
    ending line gives the command with its launch prefix; resumed on one process, it is refused."""
    from bertstudio.cli import main
    from bertstudio.results import RunStatus

    runs = tmp_path / "runs"
    process = _launch_two([*_train_args(three_class_csv, no_dropout_bert_dir, runs), "--epochs", "100",
                           "--checkpoint-minutes", "5"], tmp_path)
    run = _trained_a_step(runs, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    status = RunStatus.read(run.status)
    steps = [r["step"] for r in read_metrics(run.path) if r["event"] == "step"]
    assert status.state == "interrupted" and status.checkpoint_step == steps[-1], (status, err[-3000:])
    assert err.count("Interrupted at step") == 1 and "Stopped." not in err, err[-3000:]
    assert (f"Interrupted at step {steps[-1]:,}, saved as a checkpoint. Go on from there with: accelerate launch "
            f"--multi_gpu --num_processes 2 -m bertstudio train --resume {run.path}") in err
    capsys.readouterr()
    assert main(["train", "--resume", str(run.path), "--quiet"]) == 2
    assert "trained on 2 processes and this resume runs on 1 process" in capsys.readouterr().err


def test_rows_gathered_twice_count_once_and_missing_rows_are_an_error():
    from bertstudio.train.feeds import in_row_order

    logits = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    ordered = in_row_order(np.array([2, 0, 2, 1]), logits, 3)
    assert ordered.tolist() == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    with pytest.raises(RuntimeError, match="missing for 1 of 3"):
        in_row_order(np.array([0, 2]), logits[:2], 3)


def test_accelerate_launch_cpu_with_one_process_is_reported(monkeypatch):
    from bertstudio.train.processes import Processes, one_process_launch_warning

    for name in ("WORLD_SIZE", "RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    assert "--multi_gpu" in one_process_launch_warning()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert one_process_launch_warning() is None
    assert Processes.from_environment() == Processes(index=1, count=2)
    assert not Processes.from_environment().is_main


GLOO_PEER_GONE = ("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed by peer "
                  "[127.0.0.1]:52915. This is typically caused by a remote worker crashing.")


@pytest.mark.parametrize("error, lost", [
    (RuntimeError(GLOO_PEER_GONE), True),
    (RuntimeError("NCCL error in: ProcessGroupNCCL.cpp:1970, remote process exited or there was a network error"),
     True),
    (RuntimeError("[gloo] read: Connection reset by peer"), True),
    (RuntimeError("CUDA out of memory"), False),
    (RuntimeError("Connection closed by peer"), False),  # not from a collective: not a training process's loss
    (ValueError("gloo: Connection closed by peer"), False),
])
def test_a_lost_training_process_is_told_from_other_errors(error, lost):
    assert (lost_process(error) is not None) == lost


def test_a_lost_training_process_found_behind_the_error_that_carried_it(tmp_path):
    try:
        try:
            raise RuntimeError(GLOO_PEER_GONE)
        except RuntimeError as inner:
            raise ValueError("the step failed") from inner
    except ValueError as outer:
        found = process_lost(outer, tmp_path / "run")
    assert found is not None and "Another process of this training stopped" in found.message
    assert "connection closed by peer" in found.message
    assert f"bertstudio train --resume {tmp_path / 'run'}" in found.hint


def test_a_training_whose_other_process_is_gone_is_interrupted_not_failed(small_csv, tiny_bert_dir, tmp_path,
                                                                           monkeypatch):
    """kill -9 of one process: the other's next collective fails with gloo's "Connection closed by peer" before its
    launcher's SIGTERM arrives; status.json said "failed ... This is likely a bug in BERT Studio"."""
    from bertstudio.config import config_from_preset
    from bertstudio.results import RunStatus
    from bertstudio.train import pipeline

    def peer_gone(*args, **kwargs):
        raise RuntimeError(GLOO_PEER_GONE)

    monkeypatch.setattr(pipeline, "train_model", peer_gone)
    cfg = config_from_preset(data=str(small_csv), model=str(tiny_bert_dir), output_dir=str(tmp_path / "run"),
                             max_length=32, batch_size=8, max_steps=2, precision="fp32", simple_model=False)
    with pytest.raises(ProcessLost) as raised:
        pipeline.train(cfg)
    assert isinstance(raised.value.__cause__, RuntimeError)
    status = RunStatus.read(RunFolder(tmp_path / "run").status)
    assert status.state == "interrupted" and status.message == raised.value.message
    assert "bug" not in status.message
