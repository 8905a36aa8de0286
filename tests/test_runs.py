"""The run folder's layout (RunFolder) and its typed JSON files: each written, then read back the same,
folders of the previous version still read, and a damaged file a ModelError that names it."""

from __future__ import annotations

import errno
import json
import math
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from bertstudio.errors import ConfigError, DiskFullError, ModelError
from bertstudio.events import Finished
from bertstudio.predict.preprocessing import load_preprocessing
from bertstudio.results import (
    CalibrationFigures,
    ExportRecord,
    ExportResult,
    ParityReport,
    Preprocessing,
    Quantization,
    RunStatus,
    Summary,
    ValidationScores,
    no_model,
    read_export,
    read_run_settings,
)
from bertstudio.runs import RunFolder, RunFolderBusy, hold_run_folder, new_run_dir

LABELS = ["negative", "neutral", "positive"]

# summary.json as the first version wrote it: no tune_seconds, no calibration.
OLD_SUMMARY = {
    "accuracy": 0.8, "macro_f1": 0.75, "evaluated_on": "test", "train_seconds": 12.3, "best_epoch": 2.0,
    "best_step": 40, "steps": 60, "run_dir": "runs/20250101-120000-MiniLM", "model": "MiniLM-L6 (bundled)",
    "device": "CPU (2 cores)", "precision": "fp32", "tokens_per_second": 1234.5, "samples_per_second": 20.5,
    "validation": {"accuracy": 0.82, "macro_f1": 0.78, "loss": 0.51},
    "metrics": {"accuracy": 0.8, "macro_f1": 0.75, "rows": 40, "labels": LABELS},
    "label_names": LABELS, "finished_at": "2025-01-01 12:03:00",
}
# preprocessing.json as the previous version's training wrote it.
OLD_PREPROCESSING = {
    "max_length": 64, "truncation": "longest_first", "truncation_side": "right", "lowercase": True,
    "text_pair": False, "text_column": "review", "text_pair_column": None, "label_names": LABELS,
    "casefold_labels": False, "temperature": 1.37, "base_model": "bundled-minilm", "bertstudio_version": "0.1.0",
}
# export.json as the previous version's INT8 export wrote it (change points stored, not computed).
OLD_EXPORT = {
    "format": "onnx-int8", "file": "model.int8.onnx", "opset": 17, "inputs": ["input_ids", "attention_mask"],
    "quantization": {"weights": "QInt8", "per_channel": True, "ops": ["MatMul"], "graph": "fused",
                     "fused_ops": {"Attention": 2}},
    "parity": {"rows": 48, "source": "48 test rows of the run", "max_abs_logit_diff": 0.05, "label_agreement": 0.98,
               "labelled_rows": 48, "reference_accuracy": 0.5, "accuracy": 0.48, "reference_macro_f1": 0.4,
               "macro_f1": 0.41, "accuracy_change_points": -2.0, "macro_f1_change_points": 1.0,
               "fp32_size_bytes": 1000, "size_ratio": 0.3},
    "warnings": ["The INT8 model loses 2.0 points of accuracy on 48 test rows."],
    "source": "/runs/x/model", "created": "2025-01-01 12:10:00", "bertstudio_version": "0.1.0",
}


def _summary() -> Summary:
    return Summary(accuracy=0.9, macro_f1=0.85, evaluated_on="validation", model="Tiny", device="CPU",
                   precision="fp32", run_dir="runs/x", finished_at="2026-01-01 10:00:00", label_names=LABELS,
                   train_seconds=3.5, tune_seconds=1.25, best_epoch=1.5, best_step=7, steps=9,
                   tokens_per_second=100.0, samples_per_second=8.0,
                   validation=ValidationScores(accuracy=0.8, macro_f1=0.7, loss=0.6),
                   metrics={"rows": 10, "per_class": {n: {"f1": 0.5} for n in LABELS}},
                   calibration=CalibrationFigures(temperature=1.2, ece=0.1, ece_calibrated=0.05))


# --------------------------------------------------------------------------- RunFolder


def test_run_folder_names_every_file_of_a_run(tmp_path):
    run = RunFolder(str(tmp_path))
    assert run.path == tmp_path
    names = {"config": "config.json", "metrics": "metrics.jsonl", "summary": "summary.json", "model": "model",
             "data_report": "data_report.json", "predictions": "test_predictions.csv", "eval": "eval.json",
             "validation_logits": "validation_logits.npz", "label_issues": "label_issues.csv", "exports": "exports"}
    for prop, name in names.items():
        assert getattr(run, prop) == tmp_path / name, prop
    assert run.preprocessing == tmp_path / "model" / "preprocessing.json"
    assert run.export("onnx") == tmp_path / "exports" / "onnx"
    assert run.eval_on(None) == run.eval and run.eval_on("data/shifted.csv") == tmp_path / "eval-shifted.json"
    assert run.predictions_on("data/shifted.csv") == tmp_path / "predictions-shifted.csv"
    assert Path(run) == tmp_path  # usable wherever a path is


def test_a_run_is_complete_only_with_its_model_and_summary(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.model.mkdir(parents=True)
    assert not run.is_complete, "training still going: no summary yet"
    _summary().write(run.summary)
    assert run.is_complete


def test_finished_runs_are_listed_newest_first(tmp_path):
    for name in ("20260101-000000-a", "20260301-000000-c", "20260201-000000-b"):
        run = RunFolder(tmp_path / name)
        run.model.mkdir(parents=True)
        _summary().write(run.summary)
    (tmp_path / "20260401-000000-unfinished" / "model").mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("not a run")
    listed = RunFolder.finished_under(tmp_path)
    assert [r.path.name for r in listed] == ["20260301-000000-c", "20260201-000000-b", "20260101-000000-a"]
    assert RunFolder.finished_under(tmp_path / "nowhere") == []


def _claim(folder: Path, barrier, results, release) -> None:
    """One of the racing processes: claim ``folder`` the moment every racer is ready, say how it went, and keep
    the claim until the test releases it (so the other racer meets it held)."""
    barrier.wait()
    try:
        hold = hold_run_folder(folder, "Wait for it.")
    except RunFolderBusy as busy:
        results.put(("refused", os.getpid(), busy.pid, busy.message))
        return
    results.put(("holds", os.getpid(), None, ""))
    release.wait(60)
    hold.release()


def _race(folder: Path, racers: int = 2) -> tuple[list, list, list]:
    """``racers`` processes claiming ``folder`` at the same moment: (the processes, what each said, release)."""
    spawn = multiprocessing.get_context("spawn")
    barrier, results, release = spawn.Barrier(racers), spawn.Queue(), spawn.Event()
    processes = [spawn.Process(target=_claim, args=(folder, barrier, results, release)) for _ in range(racers)]
    for process in processes:
        process.start()
    said = sorted(results.get(timeout=120) for _ in processes)
    return processes, said, release


def test_of_two_processes_claiming_a_run_folder_at_once_exactly_one_trains(tmp_path):
    """Claiming a run folder is one atomic step (a lock held while training), not a check and then a write."""
    processes, said, release = _race(tmp_path / "run")
    (holds, winner, _, _), (refused, loser, named, message) = said
    assert (holds, refused) == ("holds", "refused") and winner != loser
    assert named == winner and f"still training (process {winner})" in message
    release.set()
    for process in processes:
        process.join(60)
    assert not RunFolder(tmp_path / "run").training_lock.exists(), "a run that ended leaves no lock file behind"
    with hold_run_folder(tmp_path / "run", "Wait for it."):  # free again once the holder has let go
        with pytest.raises(RunFolderBusy):
            hold_run_folder(tmp_path / "run", "Wait for it.")  # two holds of one process exclude each other too


def test_a_killed_holder_never_blocks_the_run_folder(tmp_path):
    processes, said, _ = _race(tmp_path / "run")
    winner = next(pid for what, pid, _, _ in said if what == "holds")
    os.kill(winner, signal.SIGKILL)  # no clean-up runs: the kernel drops its lock, the file stays
    for process in processes:
        process.join(60)
    assert RunFolder(tmp_path / "run").training_lock.exists()
    hold_run_folder(tmp_path / "run", "Wait for it.").release()


def test_a_hold_on_a_lock_file_removed_meanwhile_is_taken_again(tmp_path, monkeypatch):
    """A process that opened the lock file just before its holder let go (and removed it) locks a file no longer
    there: it must open the path again, or a third process locking the new file would train beside it."""
    from bertstudio import runs

    first = hold_run_folder(tmp_path / "run", "Wait for it.")
    opened = runs._open_lock_file(RunFolder(tmp_path / "run"))  # the old file, about to be removed
    first.release()
    monkeypatch.setattr(runs, "_open_lock_file", lambda run, calls=[opened]: calls.pop() if calls else
                        os.open(run.training_lock, os.O_RDWR | os.O_CREAT))
    with hold_run_folder(tmp_path / "run", "Wait for it."):
        with pytest.raises(RunFolderBusy):  # the lock that counts is on the file at the path
            hold_run_folder(tmp_path / "run", "Wait for it.")


def test_a_full_disk_while_claiming_a_run_folder_is_said_as_such_and_holds_nothing(tmp_path, monkeypatch):
    """`train --resume RUN` on a full disk: an OSError traceback from writing the holder's id into the lock file."""
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".training.lock"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(DiskFullError, match=r"The disk is full: the training's lock file \.training\.lock could not"):
        hold_run_folder(tmp_path / "run", "Wait for it.")
    assert not RunFolder(tmp_path / "run").training_lock.exists()
    monkeypatch.setattr(os, "write", real_write)
    hold_run_folder(tmp_path / "run", "Wait for it.").release()  # nothing held: the next claim takes it


def test_clearing_a_run_folder_removes_its_report_too(tmp_path):
    """`train --out X --overwrite` kept report.html of the run it replaced."""
    run = RunFolder(tmp_path)
    run.config.write_text("{}")
    run.report.write_text("<html>the old run</html>")
    run.clear()
    assert not run.report.exists() and not run.config.exists()


def test_run_folders_made_in_the_same_second_are_two_folders(tmp_path, monkeypatch):
    """Another process made the folder between the check and the mkdir: the next name, not FileExistsError."""
    monkeypatch.setattr(time, "strftime", lambda fmt: "20260101-000000")
    (tmp_path / "20260101-000000-tiny").mkdir()
    monkeypatch.setattr(Path, "exists", lambda self: False)  # it was not there yet when looked for
    made = new_run_dir(tmp_path, "tiny")
    assert made.name == "20260101-000000-tiny-2" and made.is_dir()


# --------------------------------------------------------------------------- summary.json


def test_summary_round_trip(tmp_path):
    summary = _summary()
    summary.write(tmp_path / "summary.json")
    again = Summary.read(tmp_path / "summary.json")
    assert again == summary
    assert again.calibration.temperature == 1.2 and again.validation.macro_f1 == 0.7


def test_summary_keeps_item_access_of_the_python_api():
    summary = _summary()
    assert summary["macro_f1"] == summary.macro_f1 == 0.85 and summary["run_dir"] == "runs/x"
    assert summary["validation"] == {"accuracy": 0.8, "macro_f1": 0.7, "loss": 0.6}  # nested parts: plain dicts
    with pytest.raises(KeyError):
        summary["no such figure"]
    assert summary.headline() == {"accuracy": 0.9, "macro_f1": 0.85, "train_seconds": 3.5, "tune_seconds": 1.25,
                                  "best_epoch": 1.5, "run_dir": "runs/x", "evaluated_on": "validation",
                                  "tokens_per_second": 100.0}


def test_summary_of_the_previous_version_is_read(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(OLD_SUMMARY))
    summary = Summary.read(path)
    assert summary.macro_f1 == 0.75 and summary.model == "MiniLM-L6 (bundled)" and summary.label_names == LABELS
    assert summary.tune_seconds == 0.0 and summary.calibration is None  # fields added since get defaults
    assert summary.metrics["rows"] == 40 and summary.validation.loss == 0.51
    added_since = {"tune_seconds", "calibration", "simple_model", "stopped_early", "early_stopping"}
    assert summary.to_dict(exclude=added_since) == OLD_SUMMARY, "same keys, same values"


def test_nan_figures_survive_the_round_trip(tmp_path):
    summary = _summary().model_copy(update={"accuracy": float("nan")})
    summary.write(tmp_path / "summary.json")
    assert math.isnan(Summary.read(tmp_path / "summary.json").accuracy)


@pytest.mark.parametrize("content, words", [("{not json", "not valid JSON"), ("[1, 2]", "holds a list, not a JSON object"),
                                            ('{"model": "x"}', '"accuracy" is missing')])
def test_a_damaged_summary_is_a_model_error_naming_the_file(tmp_path, content, words):
    path = tmp_path / "summary.json"
    path.write_text(content)
    with pytest.raises(ModelError, match=words) as caught:
        Summary.read(path)
    assert str(path) in caught.value.message and caught.value.hint


def test_finished_event_carries_the_summary_and_stays_plain_json():
    event = Finished(run_dir="runs/x", summary=_summary())
    assert event.summary.macro_f1 == 0.85
    line = json.loads(json.dumps(event.to_dict()))
    assert line["event"] == "finished" and line["summary"]["calibration"]["temperature"] == 1.2
    assert "metrics" not in line["summary"], "per-class figures stay in summary.json and eval.json"


# --------------------------------------------------------------------------- preprocessing.json


# What a file written before multi-label existed gains when written again: today's single-label behaviour.
SINGLE_LABEL_DEFAULTS = {"problem_type": "single_label_classification", "thresholds": {}, "threshold": 0.5,
                         "label_separator": None, "label_columns": None, "threshold_note": "",
                         "threshold_fallback": []}


def test_preprocessing_round_trip_keeps_unknown_keys(tmp_path):
    path = tmp_path / "preprocessing.json"
    path.write_text(json.dumps({**OLD_PREPROCESSING, "added_by_a_newer_version": [1, 2]}))
    prep = Preprocessing.read(path)
    assert prep.label_names == LABELS and prep.max_length == 64 and prep.temperature == 1.37 and prep.lowercase
    prep.write(tmp_path / "copy.json")
    assert Preprocessing.read(tmp_path / "copy.json") == prep
    written = json.loads((tmp_path / "copy.json").read_text())
    long_texts = {k: written.pop(k) for k in ("long_texts", "head_tokens", "window_stride", "window_aggregation",
                                              "max_windows")}
    assert long_texts == {"long_texts": "head", "head_tokens": None, "window_stride": None,
                          "window_aggregation": "mean", "max_windows": None}  # the head cut, as before
    assert written == {**OLD_PREPROCESSING, "added_by_a_newer_version": [1, 2], "blend_weight": 1.0,
                       **SINGLE_LABEL_DEFAULTS, "pooling": None, "lora_rank": 0}


def test_numeric_label_names_are_read_as_text(tmp_path):
    path = tmp_path / "preprocessing.json"
    path.write_text(json.dumps({"label_names": [0, 1], "max_length": 16}))
    assert Preprocessing.read(path).label_names == ["0", "1"]


@pytest.mark.parametrize("change, field", [({"temperature": "abc"}, "temperature"), ({"temperature": 0}, "temperature"),
                                           ({"label_names": None}, "label_names"), ({"max_length": "long"}, "max_length"),
                                           ({"label_names": []}, "label_names")])
def test_a_field_of_the_wrong_type_is_a_model_error_naming_file_and_field(tmp_path, change, field):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "preprocessing.json").write_text(json.dumps({**OLD_PREPROCESSING, **change}))
    with pytest.raises(ModelError) as caught:
        load_preprocessing(folder)
    assert str(folder / "preprocessing.json") in caught.value.message and f'"{field}"' in caught.value.message
    assert "train the model again" in caught.value.hint


def test_missing_label_names_and_broken_json_are_model_errors(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    path = folder / "preprocessing.json"
    path.write_text(json.dumps({k: v for k, v in OLD_PREPROCESSING.items() if k != "label_names"}))
    with pytest.raises(ModelError, match='"label_names" is missing'):
        load_preprocessing(folder)
    path.write_text('{"label_names": ["a", "b"],')
    with pytest.raises(ModelError, match="is not valid JSON") as caught:
        load_preprocessing(folder)
    assert str(path) in caught.value.message


def test_a_plain_hugging_face_folder_gets_its_labels_from_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"1": "spam", "0": "ham"}}))
    prep = load_preprocessing(tmp_path)
    assert prep.label_names == ["ham", "spam"] and prep.max_length == 512 and prep.temperature == 1.0


# --------------------------------------------------------------------------- export.json


def _export(tmp_path: Path, record: dict | ExportRecord) -> Path:
    folder = tmp_path / "exports" / "onnx-int8"
    folder.mkdir(parents=True)
    (folder / "model.int8.onnx").write_bytes(b"x" * 300)
    if isinstance(record, ExportRecord):
        record.write(folder / "export.json")
    else:
        (folder / "export.json").write_text(json.dumps(record))
    return folder


def test_export_record_round_trip(tmp_path):
    parity = ParityReport(rows=10, source="10 given texts", max_abs_logit_diff=0.01, label_agreement=0.9,
                          fp32_size_bytes=1000, size_ratio=0.3)
    record = ExportRecord(format="onnx-int8", file="model.int8.onnx", inputs=["input_ids"], opset=17,
                          quantization=Quantization(weights="QInt8", per_channel=True, ops=["MatMul"], graph="plain"),
                          parity=parity, warnings=["check it"], source="/m", created="now")
    folder = _export(tmp_path, record)
    assert ExportRecord.read(folder / "export.json") == record
    found = read_export(folder)
    assert isinstance(found, ExportResult) and found.record == record
    assert found.path == folder / "model.int8.onnx" and found.size_bytes == 300 and found.format == "onnx-int8"
    assert found.parity.accuracy_change_points is None and found.warnings == ["check it"]


def test_export_of_the_previous_version_is_read(tmp_path):
    found = read_export(_export(tmp_path, OLD_EXPORT))
    assert found.parity.rows == 48 and found.parity.size_ratio == 0.3 and found.record.quantization.graph == "fused"
    assert found.parity.accuracy_change_points == -2.0 and found.parity.macro_f1_change_points == 1.0
    assert found.parity.to_dict() == OLD_EXPORT["parity"] | {"pipeline_label_agreement": None,
                                                             "max_abs_probability_diff": None}


def test_no_finished_export_reads_as_none(tmp_path):
    assert read_export(tmp_path / "nowhere") is None
    folder = _export(tmp_path, OLD_EXPORT)
    (folder / "model.int8.onnx").unlink()
    assert read_export(folder) is None, "export.json without its model file"
    (folder / "model.int8.onnx").write_bytes(b"x")
    (folder / "export.json").write_text("{broken")
    assert read_export(folder) is None, "a broken export.json: export the format again"


def test_a_folder_export_measures_the_whole_folder(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"w" * 1000)
    ExportRecord(format="hf", parity=ParityReport(rows=1, label_agreement=1.0)).write(folder / "export.json")
    found = read_export(folder)
    assert found.path == folder and found.size_bytes == 1000 + (folder / "export.json").stat().st_size


def test_predicting_with_a_broken_preprocessing_json_says_what_to_fix(tmp_path, capsys):
    from helpers import make_tiny_run

    from bertstudio.cli import EXIT_USER_ERROR, main

    run = RunFolder(make_tiny_run(tmp_path / "run", test_rows=4))
    prep = json.loads(run.preprocessing.read_text())
    run.preprocessing.write_text(json.dumps({**prep, "temperature": "abc"}))
    (tmp_path / "texts.csv").write_text("text\nhello\n")
    code = main(["predict", str(run.path), "--data", str(tmp_path / "texts.csv"), "--out", str(tmp_path / "out.csv")])
    error = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "Traceback" not in error
    assert str(run.preprocessing) in error and '"temperature" is \'abc\'' in error and "train the model again" in error


# --------------------------------------------------------------------------- a run without its model


def _ended_run(folder: Path, state: str = "done") -> RunFolder:
    run = RunFolder(folder)
    run.weights.parent.mkdir(parents=True)
    run.weights.write_bytes(b"weights")
    run.config.write_text("{}")
    _summary().write(run.summary)
    RunStatus(state=state, message="Done after 9 steps.").write(run.status)
    return run


@pytest.mark.parametrize("state", ["done", "stopped"])
def test_a_finished_run_whose_weights_are_gone_is_named_by_the_missing_file_and_never_told_to_resume(tmp_path,
                                                                                                     state):
    """dmg/d (model.safetensors deleted) was told "has no model/ folder. Resume it", which resume then refused."""
    run = _ended_run(tmp_path / "run", state)
    assert no_model(run.path) is None
    run.weights.unlink()
    gone = no_model(run.path)
    assert not gone.unfinished and "its model's weights are missing (model/model.safetensors)" in gone.message
    assert "Put model/model.safetensors back" in gone.hint and f"--config {run.config}" in gone.hint
    assert "--resume" not in gone.hint and "cannot be resumed" in gone.hint
    shutil.rmtree(run.model)
    assert "its model is missing (model/)" in no_model(run.path).message
    run.summary.unlink()
    if state == "done":  # a run stopped before its first check keeps neither: that is no damage
        assert "its model is missing (model/)" in no_model(run.path).message


def test_resuming_an_ended_run_whose_model_is_gone_says_what_is_missing(tmp_path):
    """train --resume on dmg/d said "has already ended (done) ... Evaluate or export it", which then refused too."""
    from bertstudio.train.pipeline import resume_training

    run = _ended_run(tmp_path / "run", "done")
    run.weights.unlink()
    with pytest.raises(ConfigError) as refused:
        resume_training(run.path)
    assert "already ended" in refused.value.message and "model/model.safetensors" in refused.value.hint
    assert "Evaluate or export it" not in refused.value.hint


def test_an_unfinished_run_without_a_model_is_told_the_step_it_resumes_from(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.config.write_text("{}")
    RunStatus(state="interrupted", step=12, checkpoint_step=12).write(run.status)
    waiting = no_model(run.path)
    assert waiting.unfinished and waiting.message.startswith("No trained model yet: The run in")
    assert "Resume it from step 12: bertstudio train --resume" in waiting.hint
    RunStatus(state="failed", message="out of memory").write(run.status)
    assert "it saved no checkpoint, so it starts again from the beginning" in no_model(run.path).hint


@pytest.mark.parametrize("content, words", [("[1, 2]", "holds a JSON list, not settings"),
                                            ("{broken", "is not valid JSON")])
def test_a_damaged_run_config_is_named_as_train_config_load_names_it(tmp_path, content, words):
    RunFolder(tmp_path).config.write_text(content)
    with pytest.raises(ModelError, match=words) as refused:
        read_run_settings(tmp_path)
    assert str(tmp_path / "config.json") in refused.value.message and "back from a copy" in refused.value.hint
