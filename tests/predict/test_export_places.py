"""Prediction finds a run's exports wherever ``bertstudio export RUN --out DIR`` put them, and says where it
looked (and the command to make them again) when they were moved or deleted."""

from __future__ import annotations

import shutil

import pytest
from helpers import make_tiny_run

from bertstudio.cli import main
from bertstudio.errors import ModelError
from bertstudio.export.core import export_run
from bertstudio.predict.locate import locate_model
from bertstudio.predict.predictor import load_predictor
from bertstudio.results import read_export_places


@pytest.fixture(scope="module")
def run_exported_elsewhere(tmp_path_factory):
    root = tmp_path_factory.mktemp("places")
    run = make_tiny_run(root / "run", test_rows=6)
    out = root / "somewhere" / "else"
    assert main(["export", str(run), "--format", "onnx,torchscript", "--out", str(out), "--rows", "4"]) == 0
    return run, out


def test_the_run_records_where_each_export_went(run_exported_elsewhere):
    run, out = run_exported_elsewhere
    places = read_export_places(run).folders
    assert places == {"onnx": str((out / "onnx").resolve()), "torchscript": str((out / "torchscript").resolve())}
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # written atomically, nothing left over
    assert locate_model(run).available_backends() == ["torch", "torch-bf16", "onnx", "torchscript"]


def test_python_api_predicts_with_an_export_made_elsewhere(run_exported_elsewhere):
    run, out = run_exported_elsewhere
    predictor = load_predictor(run, backend="onnx")
    assert predictor.location.backend_file("onnx") == (out / "onnx" / "model.onnx").resolve()
    torch_labels = load_predictor(run).predict(["good film", "bad film"]).labels
    assert predictor.predict(["good film", "bad film"]).labels == torch_labels


def test_cli_predicts_with_an_export_made_elsewhere(run_exported_elsewhere, tmp_path):
    run, _ = run_exported_elsewhere
    data = tmp_path / "texts.csv"
    data.write_text("text\ngood film\nbad film\n")
    assert main(["predict", str(run), "--data", str(data), "--out", str(tmp_path / "p.csv"),
                 "--backend", "onnx"]) == 0
    assert len((tmp_path / "p.csv").read_text().strip().splitlines()) == 3


def test_a_moved_export_names_where_it_looked_and_how_to_export_again(tmp_path, capsys):
    run = make_tiny_run(tmp_path / "run", test_rows=6)
    out = tmp_path / "out"
    export_run(run, "onnx", out, max_rows=4)
    shutil.move(out / "onnx", tmp_path / "moved")
    with pytest.raises(ModelError) as err:
        load_predictor(run, backend="onnx")
    message = str(err.value)
    assert str((out / "onnx").resolve()) in message and "no longer there" in message
    assert str(run / "exports" / "onnx") in message  # the default place was tried too
    assert f"bertstudio export {run} --format onnx --out {out.resolve()}" in err.value.hint

    data = tmp_path / "texts.csv"
    data.write_text("text\ngood film\n")
    assert main(["predict", str(run), "--data", str(data), "--out", str(tmp_path / "p.csv"),
                 "--backend", "onnx"]) == 2
    printed = capsys.readouterr().err
    assert "no longer there" in printed and "--out" in printed


def test_a_never_exported_format_says_export_it(tmp_path):
    run = make_tiny_run(tmp_path / "run", test_rows=6)
    with pytest.raises(ModelError) as err:
        load_predictor(run, backend="onnx-int8")
    assert "no longer there" not in str(err.value)
    assert err.value.hint == f"Export it (again): bertstudio export {run} --format onnx-int8"
