"""The tiny run of ``helpers.make_tiny_run`` looks like a run to the engine, and a folder without a model does not."""

from __future__ import annotations

import json
import shutil

import pytest

from bertstudio import hardware
from bertstudio.cli import main
from bertstudio.errors import ModelError
from bertstudio.predict import locate
from bertstudio.predict.locate import locate_model
from bertstudio.predict.predictor import load_predictor
from bertstudio.results import RunStatus
from bertstudio.runs import RunFolder


def test_tiny_run_is_found_as_a_run(tiny_run):
    for given in (tiny_run, tiny_run / "model", tiny_run / "model" / "model.safetensors"):
        location = locate_model(given)
        assert location.folder == tiny_run / "model"
        assert location.run_dir == tiny_run
        assert location.available_backends() == ["torch", "torch-bf16"]  # the same weights, two ways


@pytest.mark.parametrize("precision, fast_bf16, expected", [
    ("bf16", True, "torch-bf16"),  # trained and scored in bf16, on hardware that computes it: about 3x faster
    ("bf16", False, "torch"),  # bf16 would be emulated, and slower
    ("fp32", True, "torch"),  # trained in full precision: runs as trained
    (None, True, "torch"),  # a summary from before precision was recorded
])
def test_auto_runs_the_weights_in_the_precision_they_were_trained_in(tmp_path, tiny_run, monkeypatch, precision,
                                                                     fast_bf16, expected):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    summary = json.loads((run / "summary.json").read_text())
    if precision is not None:
        summary["precision"] = precision
    (run / "summary.json").write_text(json.dumps(summary))
    monkeypatch.setattr(hardware, "fast_bf16_here", lambda: fast_bf16)
    assert locate.choose_backend(locate_model(run), "auto")[0] == expected
    assert locate.choose_backend(locate_model(run / "model"), "torch")[0] == "torch"  # asked for: as asked
    (run / "summary.json").write_text("{broken")  # choosing a backend is not where a damaged summary is refused
    assert locate.choose_backend(locate_model(run), "auto")[0] == "torch"


def test_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(ModelError, match="No trained model"):
        load_predictor(tmp_path)
    with pytest.raises(ModelError, match="does not exist"):
        load_predictor(tmp_path / "nowhere")


# --------------------------------------------------------------------------- unfinished runs


@pytest.fixture
def failed_run(tmp_path, tiny_run):
    run = RunFolder(tmp_path / "run")
    shutil.copytree(tiny_run, run.path)
    run.summary.unlink()
    RunStatus(state="failed", message="a test").write(run.status)
    return run.path


@pytest.mark.parametrize("command", [["export", "--format", "onnx"], ["serve"]])
def test_export_and_serve_refuse_an_unfinished_run_without_naming_a_flag_they_lack(failed_run, capsys, command):
    """Both said "--allow-unfinished uses the model it holds anyway", then refused that flag as unknown."""
    assert main([command[0], str(failed_run), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert "No finished model to use: The run in" in err and "--resume" in err
    assert "--allow-unfinished" not in err


def test_predict_names_its_flag_and_its_json_summary_says_unfinished(failed_run, tmp_path, capsys):
    data = tmp_path / "texts.csv"
    data.write_text("text\ngood film\n")
    args = ["predict", str(failed_run), "--data", str(data), "--out", str(tmp_path / "p.csv")]
    assert main(args) == 2
    assert "--allow-unfinished uses the model it holds anyway" in capsys.readouterr().err

    assert main([*args, "--allow-unfinished"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])  # what a script reads
    assert summary["notes"][0].startswith("UNFINISHED: the run in") and "failed" in summary["notes"][0]


def test_allow_unfinished_says_why_it_cannot_help_a_run_that_saved_no_model(failed_run, tmp_path, capsys):
    """A tester's run, interrupted before its first save: the flag was refused with no word on why."""
    shutil.rmtree(failed_run / "model")
    RunStatus(state="interrupted", message="a test").write(RunFolder(failed_run).status)
    data = tmp_path / "texts.csv"
    data.write_text("text\ngood film\n")
    args = ["predict", str(failed_run), "--data", str(data), "--out", str(tmp_path / "p.csv"), "--allow-unfinished"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "No trained model yet: The run in" in err and "interrupted" in err
    assert "--allow-unfinished uses a model the run saved before it stopped; this run saved none yet" in err
    assert main(args[:-1]) == 2 and "saved none yet" not in capsys.readouterr().err  # not asked: not said


@pytest.mark.parametrize("lost", ["model/model.safetensors", "model"])
def test_a_finished_run_whose_model_is_gone_gets_one_message_from_every_command(tiny_run, tmp_path, capsys, lost):
    """dmg/d (weights deleted) and dmg/h (model/ deleted): predict and export said "has no model/ folder. Resume it",
    evaluate spoke of an incomplete model folder, and resume refused a run that had ended."""
    run = RunFolder(tmp_path / "run")
    shutil.copytree(tiny_run, run.path)
    RunStatus(state="done", message="Done after 9 steps.").write(run.status)
    gone = run.path / lost
    shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    data = tmp_path / "texts.csv"
    data.write_text("text\ngood film\n")
    said = set()
    for command in (["predict", str(run.path), "--data", str(data), "--out", str(tmp_path / "p.csv"),
                     "--allow-unfinished"], ["export", str(run.path), "--format", "onnx"], ["evaluate", str(run.path)],
                    ["label-noise", str(run.path)]):
        assert main(command) == 2, command
        said.add(capsys.readouterr().err.strip())
    assert len(said) == 1, said
    err = said.pop()
    shown = f"{lost}{'/' if lost == 'model' else ''}"
    assert err.startswith(f"error: The run in {run.path} finished, but its model") and f"missing ({shown})" in err
    assert f"Put {shown} back from a copy of the run" in err
    assert f"bertstudio train --config {run.config}" in err and "--resume" not in err and "saved none yet" not in err
    assert not run.exports.exists()
