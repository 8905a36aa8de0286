"""Prediction finds a run's exports wherever ``bertstudio export RUN --out DIR`` put them, and says where it
looked (and the command to make them again) when they were moved or deleted."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import make_tiny_run

from bertstudio.cli import main
from bertstudio.errors import ModelError
from bertstudio.export.core import export_run
from bertstudio.predict.locate import locate_model
from bertstudio.predict.predictor import load_predictor
from bertstudio.results import read_export_places, record_export_place


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


# --------------------------------------------------------------------------- another run's export in the same place


@pytest.fixture(scope="module")
def out_taken_over(tmp_path_factory):
    """Run A exported to OUT; then OUT/onnx came to hold run B's export (another model: DistilBERT weights), as a
    second `export B --out OUT` left it before that was refused (and as copying a folder there still does)."""
    root = tmp_path_factory.mktemp("taken")
    run_a = make_tiny_run(root / "a", test_rows=6)
    run_b = make_tiny_run(root / "b", family="distilbert", test_rows=6)
    out = root / "shared"
    export_run(run_a, "onnx", out, max_rows=4)
    export_run(run_b, "onnx", root / "b-out", max_rows=4)
    shutil.rmtree(out / "onnx")
    shutil.copytree(root / "b-out" / "onnx", out / "onnx")
    return run_a, run_b, out


def test_an_export_folder_now_holding_another_runs_export_is_refused(out_taken_over):
    run_a, run_b, out = out_taken_over
    with pytest.raises(ModelError) as err:
        load_predictor(run_a, backend="onnx")
    message = str(err.value)
    assert f"'{(out / 'onnx').resolve()}', where the onnx export of '{run_a}' was written, now holds" in message
    assert f"from the run '{run_b.resolve()}'" in message and "this run's own model" in message
    assert f"bertstudio export {run_a} --format onnx" in err.value.hint
    assert "onnx" not in locate_model(run_a).available_backends()  # not offered either (the app's backend list)


def test_the_runs_own_export_is_used_instead_and_the_output_says_so(out_taken_over, tmp_path, capsys):
    run_a, _, out = out_taken_over
    run = tmp_path / "a"
    shutil.copytree(run_a, run)  # its export_places.json still names the taken-over folder
    export_run(run, "onnx", max_rows=4)  # into RUN/exports/onnx, then recorded as the last place...
    record_export_place(run, "onnx", out / "onnx")  # ...and pointed back at the taken-over one
    predictor = load_predictor(run, backend="onnx")
    assert predictor.backend.file == run / "exports" / "onnx" / "model.onnx"
    assert "now holds the export of another model" in predictor.model_notes[0]
    assert f"the run's own onnx export in '{run / 'exports' / 'onnx'}' was used instead" in predictor.model_notes[0]

    data = tmp_path / "texts.csv"
    data.write_text("text\ngood film\n")
    assert main(["predict", str(run), "--data", str(data), "--out", str(tmp_path / "p.csv"),
                 "--backend", "onnx"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "was used instead" in summary["notes"][0]


def test_an_export_from_before_the_model_was_recorded_is_trusted_only_in_the_runs_own_folder(tmp_path):
    """Exports written before export.json recorded the model's weights cannot be told apart from another run's."""
    run = make_tiny_run(tmp_path / "run", test_rows=6)
    own = export_run(run, "onnx", max_rows=4)[0].folder
    forget_the_model(own)
    assert load_predictor(run, backend="onnx").backend.file == own / "model.onnx"

    elsewhere = export_run(run, "torchscript", tmp_path / "out", max_rows=4)[0].folder
    forget_the_model(elsewhere)
    with pytest.raises(ModelError, match="earlier version of BERT Studio, which did not record the model"):
        load_predictor(run, backend="torchscript")


def forget_the_model(export_folder):
    """Make ``export_folder``'s export.json look as an earlier version wrote it (no weights' SHA-256)."""
    info = export_folder / "export.json"
    record = json.loads(info.read_text())
    del record["source_sha256"]
    info.write_text(json.dumps(record))
