"""Faults: killed processes, a full disk, untrusted model files (issue 17).

The kill test runs ``python -m bertstudio`` in subprocesses and kills them with SIGKILL after a random delay
(a fixed seed, so a failure can be repeated), then checks what a person would see afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bertstudio.errors import DiskFullError, ModelError, UserError
from bertstudio.leftovers import claim_out_folder, remove_leftovers
from bertstudio.predict.predictor import load_predictor
from bertstudio.results import RunStatus, read_export, read_run_status
from bertstudio.runs import TEMP_NAME, RunFolder, temp_prefix

REPO = Path(__file__).resolve().parents[1]
KILLS = 12  # per command
PARALLEL = 3


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _bertstudio(*argv) -> list[str]:
    return [sys.executable, "-m", "bertstudio", *map(str, argv)]


def _train_argv(data: Path, model: Path, out: Path, runs: Path) -> list[str]:
    return _bertstudio("train", data, "--model", model, "--max-steps", 6, "--max-length", 16, "--batch-size", 8,
                       "--checkpoint-minutes", 0, "--runs-dir", runs, "--quiet", "--out", out)


def _kill_after(argv: list[str], delay: float) -> int | None:
    """Run ``argv`` and SIGKILL it after ``delay`` seconds; its exit status when it ended first."""
    process = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return None


def _orphans(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if TEMP_NAME.match(p.name)]


def _check_run_is_what_it_says(run: RunFolder) -> None:
    """No run looks done unless it is: done means a summary and a model that predicts."""
    status = read_run_status(run.path)
    assert status.state != "running"  # its process is gone
    if status.state == "done":
        assert run.summary.is_file()
        assert len(load_predictor(run.path).predict(["late parcel"])) == 1
    elif run.model.exists():
        with pytest.raises(ModelError, match="interrupted|failed"):
            load_predictor(run.path)


def test_killed_trainings_and_exports_leave_nothing_that_looks_done(tmp_path, small_csv, tiny_bert_dir):
    rng = random.Random(17)
    runs = tmp_path / "runs"
    # Delays cover the whole of a run here (about 7 s, most of it imports): reading, training, saving.
    train_jobs = [(_train_argv(small_csv, tiny_bert_dir, runs / f"killed-{i}", runs), rng.uniform(2.0, 8.0))
                  for i in range(KILLS)]
    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(lambda job: _kill_after(*job), train_jobs))
    for i in range(KILLS):
        run = RunFolder(runs / f"killed-{i}")
        if run.path.exists():
            _check_run_is_what_it_says(run)

    # The next start cleans up what the killed ones left, and a new run works.
    finished = runs / "after"
    done = subprocess.run(_train_argv(small_csv, tiny_bert_dir, finished, runs), env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert read_run_status(finished).state == "done" and RunFolder(finished).summary.is_file()
    assert _orphans(runs) == []

    # Exports of the finished run, killed the same way, each into its own folder.
    export_jobs = [(_bertstudio("export", finished, "--format", "torchscript,hf", "--rows", 20, "--out",
                                tmp_path / f"export-{i}"), rng.uniform(2.0, 9.0)) for i in range(KILLS)]
    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(lambda job: _kill_after(*job), export_jobs))
    for i in range(KILLS):
        out = tmp_path / f"export-{i}"
        for folder in (out.iterdir() if out.exists() else ()):
            if not folder.name.startswith("."):  # every visible export folder is a finished, loadable export
                assert read_export(folder) is not None, folder
                assert len(load_predictor(folder).predict(["great thanks"])) == 1
    again = subprocess.run(_bertstudio("export", finished, "--format", "torchscript", "--rows", 20, "--out",
                                       tmp_path / "export-0"), env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert _orphans(tmp_path / "export-0") == []
    assert load_predictor(tmp_path / "export-0" / "torchscript", backend="torchscript").backend.name == "torchscript"


# --------------------------------------------------------------------------- leftovers


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_leftovers_of_dead_processes_go_and_live_work_stays(tmp_path):
    runs = tmp_path / "runs"
    ended, training = RunFolder(runs / "ended"), RunFolder(runs / "training")
    for run in (ended, training):
        run.model.mkdir(parents=True)
    RunStatus.now("running").write(training.status)  # this process: alive
    dead = _dead_pid()
    dead_model = ended.path / f".model.tmp-{dead}-abc123"
    dead_file = ended.path / f".summary.json.tmp-{dead}-x1y2"
    old_model = ended.path / f".model.old-{dead}-1234"
    dead_export = ended.exports / f".onnx.tmp-{dead}-q"
    live_model = ended.path / f"{temp_prefix(ended.model)}mine"
    in_training = training.path / f".model.tmp-{dead}-zz"
    user_file = ended.path / ".notes.txt"
    for folder in (dead_model, old_model, dead_export, live_model, in_training):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"half")
    for file in (dead_file, user_file):
        file.write_text("x")

    removed = remove_leftovers([runs])

    assert sorted(removed) == sorted([dead_model, dead_file, old_model, dead_export])
    assert live_model.exists() and in_training.exists() and user_file.exists()
    assert ended.model.is_dir() and training.model.is_dir()


KILLED_WRITER = """
import os, sys
from bertstudio.data.arrow_batches import DatasetWriter
from bertstudio.data.io import read_table
table, _ = read_table(sys.argv[1])
writer = DatasetWriter(table, table.features, {"test": "killed"})
writer.write(table.to_dict())
print(writer._tmp, flush=True)
os._exit(9)  # killed mid-write: no finish(), no abandon()
"""


def test_half_written_cleaned_tables_of_killed_processes_are_swept(tmp_path, small_csv):
    """The data cache's temporary files (data/arrow_batches.py) go at the next start like the runs' do: those of a
    killed process, and old-style names (no process id) nobody has written for an hour; never a live writer's."""
    from bertstudio.data.arrow_batches import DatasetWriter
    from bertstudio.data.io import read_table, table_cache_root
    from bertstudio.leftovers import LEGACY_TMP_STALE_S

    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(small_csv)], env=_env(), capture_output=True,
                            text=True, timeout=300)
    half_written = Path(killed.stdout.strip())
    assert killed.returncode == 9 and half_written.is_file(), killed.stderr
    assert half_written.is_relative_to(table_cache_root()) and TEMP_NAME.match(half_written.name)

    table, _ = read_table(str(small_csv))
    live = DatasetWriter(table, table.features, {"test": "live"})  # this process is still writing it
    live.write(table.to_dict())
    prepared = half_written.parent
    legacy_old, legacy_new = prepared / f".{'a' * 24}-{'b' * 32}.tmp", prepared / f".{'c' * 24}-{'d' * 32}.tmp"
    for legacy in (legacy_old, legacy_new):
        legacy.write_bytes(b"half")
    stale = legacy_old.stat().st_mtime - LEGACY_TMP_STALE_S - 60
    os.utime(legacy_old, (stale, stale))

    removed = remove_leftovers([table_cache_root()])

    assert sorted(removed) == sorted([half_written, legacy_old])
    assert live._tmp.is_file() and legacy_new.is_file()
    finished = live.finish()  # the live writer is untouched and ends as usual
    assert finished.num_rows == table.num_rows and not live._tmp.exists()


# --------------------------------------------------------------------------- --out


def test_out_folder_holding_a_run_is_refused_unless_overwrite(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.metrics.write_text('{"kind": "step"}\n')
    (run.path / "my notes.txt").write_text("keep")
    RunStatus(state="running", pid=_dead_pid(), host=os.uname().nodename).write(run.status)  # killed

    with pytest.raises(UserError, match="interrupted run") as refused:
        claim_out_folder(run.path, overwrite=False)
    assert "--resume" in refused.value.hint and "--overwrite" in refused.value.hint and "--out" in refused.value.hint
    assert run.metrics.exists()

    claim_out_folder(run.path, overwrite=True)
    assert not run.metrics.exists() and not run.status.exists()
    assert (run.path / "my notes.txt").read_text() == "keep"

    RunStatus.now("running").write(run.status)  # a live one is never taken over
    with pytest.raises(UserError, match="still training"):
        claim_out_folder(run.path, overwrite=True)


# --------------------------------------------------------------------------- a full disk


def _small_disk(folder: Path, size: str) -> bool:
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def _disk_full_config(small_csv, tiny_bert_dir, out: Path):
    from bertstudio.config import config_from_preset

    return config_from_preset(data=str(small_csv), model=str(tiny_bert_dir), output_dir=str(out), max_length=16,
                              batch_size=8, max_steps=2, precision="fp32", checkpoint_minutes=0,
                              report_to="none", simple_model=False)


def _check_failed_cleanly(out: Path, error: DiskFullError) -> None:
    assert "disk is full" in str(error) and "MB is needed" in str(error)
    status = read_run_status(out)
    assert status.state == "failed" and "disk is full" in status.message
    run = RunFolder(out)
    assert not run.model.exists() and not run.summary.exists() and _orphans(out) == []


def test_disk_full_on_a_small_filesystem_fails_the_run_clearly(tmp_path, small_csv, tiny_bert_dir):
    from bertstudio.train.pipeline import train

    disk = tmp_path / "disk"
    if not _small_disk(disk, "3m"):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount); the patched test covers it")
    try:
        out = disk / "run"  # the tiny model's weights are ~4 MB: the metrics and config fit, the model does not
        with pytest.raises(DiskFullError) as failed:
            train(_disk_full_config(small_csv, tiny_bert_dir, out))
        _check_failed_cleanly(out, failed.value)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_disk_full_while_saving_the_model_fails_the_run_clearly(tmp_path, small_csv, tiny_bert_dir, monkeypatch):
    from transformers import PreTrainedModel

    from bertstudio.train.pipeline import train

    def full_disk(self, folder, **kwargs):
        (Path(folder) / "model.safetensors").write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", full_disk)
    out = tmp_path / "run"
    with pytest.raises(DiskFullError) as failed:
        train(_disk_full_config(small_csv, tiny_bert_dir, out))
    _check_failed_cleanly(out, failed.value)


def _checkpointing_config(small_csv, tiny_bert_dir, out: Path):
    """A checkpoint after the first step (any interval under a step's time)."""
    return _disk_full_config(small_csv, tiny_bert_dir, out).model_copy(update={"checkpoint_minutes": 1e-5,
                                                                               "max_steps": 3})


def _check_checkpoint_not_kept(out: Path, error: DiskFullError) -> None:
    """The checkpoint is named with its size; nothing of it is left; status.json says the same as the error."""
    assert "the checkpoint step-0000001 could not be written" in str(error) and "MB is needed" in str(error)
    assert "checkpoint_minutes 0" in error.hint
    run = RunFolder(out)
    assert not run.checkpoints.exists() or list(run.checkpoints.iterdir()) == []
    status = RunStatus.read(run.status)  # the file itself: it said "running" when its own write hit the full disk
    assert status.state == "failed" and "the checkpoint step-0000001" in status.message, status


def test_a_full_disk_while_checkpointing_leaves_no_partial_checkpoint(tmp_path, small_csv, tiny_bert_dir,
                                                                      monkeypatch):
    """Tester (a 120 MB tmpfs, a 250 MB checkpoint): ".step-0000001.partial/" was left filling the disk, status.json
    still said running, and the error named status.json "(about 0.0 MB is needed, 0.0 MB free)".  torch.save says
    a full disk as "unexpected pos": a failed write on a disk without room for the checkpoint is a full disk."""
    from accelerate import Accelerator

    from bertstudio.train import checkpoints
    from bertstudio.train.pipeline import train

    def fills_the_disk(self, output_dir, **kwargs):
        (Path(output_dir) / "optimizer.bin").write_bytes(b"half an optimizer")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    monkeypatch.setattr(Accelerator, "save_state", fills_the_disk)
    monkeypatch.setattr(checkpoints, "_free_bytes", lambda folder: 1000)
    out = tmp_path / "run"
    with pytest.raises(DiskFullError) as failed:
        train(_checkpointing_config(small_csv, tiny_bert_dir, out))
    _check_checkpoint_not_kept(out, failed.value)


def test_a_full_disk_while_checkpointing_on_a_small_filesystem(tmp_path, small_csv, tiny_bert_dir):
    from bertstudio.train.pipeline import train

    disk = tmp_path / "disk"
    if not _small_disk(disk, "3m"):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount); the patched test covers it")
    try:
        out = disk / "run"  # the config and metrics fit; a checkpoint (weights, optimizer, best weights) does not
        with pytest.raises(DiskFullError) as failed:
            train(_checkpointing_config(small_csv, tiny_bert_dir, out))
        _check_checkpoint_not_kept(out, failed.value)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_the_ending_keeps_its_error_when_status_json_cannot_be_written(tmp_path, small_csv, tiny_bert_dir,
                                                                       monkeypatch):
    """Writing the failed status on a full disk raised its own disk-full error, which replaced the one that ended
    the run."""
    from bertstudio.train import pipeline

    def breaks(*args, **kwargs):
        raise ValueError("the real cause")

    def full_for_endings(self, path):
        if self.state != "running":
            raise DiskFullError("The disk is full: status.json could not be written.")
        original_write(self, path)

    original_write = RunStatus.write
    monkeypatch.setattr(pipeline, "train_model", breaks)
    monkeypatch.setattr(RunStatus, "write", full_for_endings)
    with pytest.raises(ValueError, match="the real cause"):
        pipeline.train(_disk_full_config(small_csv, tiny_bert_dir, tmp_path / "run"))


def test_a_full_disk_under_the_data_cache_is_not_blamed_on_the_file(tmp_path):
    from bertstudio.data.io import unreadable_table

    try:
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError as low:
        try:
            raise RuntimeError("An error occurred while generating the dataset") from low
        except RuntimeError as high:
            error = unreadable_table(tmp_path / "data.csv", ",", high)
    assert isinstance(error, DiskFullError)
    assert "save it again" not in str(error) and "BERTSTUDIO_CACHE" in error.hint


# --------------------------------------------------------------------------- untrusted model files


def test_a_model_folder_with_only_a_pickle_is_refused_by_name(tmp_path, tiny_bert_dir, small_csv):
    from bertstudio.cli import main

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_bert_dir, folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04cos\nsystem\n(S'touch /tmp/pwned'\ntR.")
    runs = tmp_path / "runs"
    assert main(["train", str(small_csv), "--model", str(folder), "--max-steps", "1", "--runs-dir", str(runs)]) == 2
    assert not runs.exists() or not any(runs.iterdir())  # nothing half-written
    with pytest.raises(ModelError, match="pytorch_model.bin.*pickle"):
        load_predictor(folder)


def test_a_model_folder_without_tokenizer_files_is_refused(tmp_path, tiny_run):
    folder = tmp_path / "model"
    shutil.copytree(RunFolder(tiny_run).model, folder)
    for name in ("tokenizer.json", "vocab.txt"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(ModelError, match="no tokenizer files"):
        load_predictor(folder)


def _exported_torchscript(tmp_path, tiny_run) -> Path:
    from bertstudio.export.core import export_run

    # From a copy: an export is recorded in its run, and the session's shared tiny run must not gain a TorchScript
    # backend for the tests after this one (test_locate saw one when run after it in the same process).
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    return export_run(run, "torchscript", tmp_path / "exports", max_rows=8)[0].folder


def test_torchscript_loads_only_when_its_recorded_sha256_matches(tmp_path, tiny_run):
    folder = _exported_torchscript(tmp_path, tiny_run)
    record = json.loads((folder / "export.json").read_text())
    assert len(record["sha256"]) == 64
    assert load_predictor(folder, backend="torchscript").backend.name == "torchscript"

    with (folder / "model.pt").open("ab") as handle:  # changed after export
        handle.write(b"\0")
    with pytest.raises(ModelError, match="not trusted.*changed"):
        load_predictor(folder, backend="torchscript")

    del record["sha256"]  # an export.json that vouches for nothing
    (folder / "export.json").write_text(json.dumps(record))
    with pytest.raises(ModelError, match="not trusted.*not exported by BERT Studio"):
        load_predictor(folder, backend="torchscript")


def test_a_model_pt_dropped_into_a_model_folder_is_never_loaded(tmp_path, tiny_run):
    folder = tmp_path / "model"
    shutil.copytree(RunFolder(tiny_run).model, folder)
    (folder / "model.pt").write_bytes(b"not written by BERT Studio")
    with pytest.raises(ModelError, match="not trusted"):
        load_predictor(folder, backend="torchscript")


# --------------------------------------------------------------------------- unfinished runs


@pytest.mark.parametrize("state, words", [("failed", "failed"), ("running", "interrupted")])
def test_predict_refuses_an_unfinished_run_unless_forced(tmp_path, tiny_run, state, words):
    run = RunFolder(tmp_path / "run")
    shutil.copytree(tiny_run, run.path)
    run.summary.unlink()
    pid = _dead_pid()
    RunStatus(state=state, pid=pid, host=os.uname().nodename, message="a test").write(run.status)
    with pytest.raises(ModelError, match=words) as refused:
        load_predictor(run.path)
    assert "--resume" in refused.value.hint and "--allow-unfinished" not in refused.value.hint  # predict's own
    forced = load_predictor(run.path, allow_unfinished=True)
    assert words in forced.unfinished and forced.describe().startswith("UNFINISHED")
    assert forced.info()["unfinished"]


def test_a_finished_run_predicts_without_a_label(tiny_run):
    assert load_predictor(tiny_run).unfinished is None


def test_a_run_killed_before_it_saved_a_model_is_named_as_such_everywhere(tmp_path, tiny_run, capsys):
    """It is a run folder, not a wrong path: predict, export, evaluate and label-noise say it was interrupted and
    how to resume it (they said "No trained model was found" and "Point to a run folder")."""
    from bertstudio.cli import main

    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    shutil.copy(RunFolder(tiny_run).config, run.config)
    RunStatus(state="running", pid=_dead_pid(), host=os.uname().nodename, checkpoint_step=4).write(run.status)
    with pytest.raises(ModelError, match="No trained model yet: The run in .* was interrupted") as refused:
        load_predictor(run.path, allow_unfinished=True)
    assert f"--resume {run.path}" in refused.value.hint
    for command in (["export", str(run.path), "--format", "onnx"], ["evaluate", str(run.path)],
                    ["label-noise", str(run.path)]):
        assert main(command) == 2
        assert "was interrupted before it finished" in capsys.readouterr().err, command
