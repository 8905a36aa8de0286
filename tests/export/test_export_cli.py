"""`bertstudio export` on the command line: bad flags are refused before anything is exported."""

from __future__ import annotations

import pytest
from helpers import make_tiny_run

from bertstudio.cli import main


def test_export_refuses_an_out_that_cannot_be_a_folder_before_exporting(tiny_run, tmp_path, capsys, monkeypatch):
    """`export RUN --format onnx --out data.csv/x` ended in a NotADirectoryError traceback."""
    data = tmp_path / "data.csv"
    data.write_text("text,label\nhi,a\n")
    monkeypatch.setattr("bertstudio.export.cli.export_run", lambda *a, **k: pytest.fail("exported"))
    assert main(["export", str(tiny_run), "--format", "onnx", "--out", str(data / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --out {data / 'x'} cannot be used: {data} is a file, not a folder. "
                   "Choose another --out; missing folders are created.")


@pytest.mark.parametrize("rows", ["-1", "many"])
def test_export_rows_must_be_a_whole_number_from_zero(tiny_run, capsys, rows):
    with pytest.raises(SystemExit) as done:
        main(["export", str(tiny_run), "--rows", rows])
    assert done.value.code == 2 and "argument --rows: expected a whole number" in capsys.readouterr().err


def test_export_refuses_to_replace_another_runs_export_and_names_that_run(tmp_path, capsys):
    """A second run exported with the same --out replaced the first run's export without a word, and the first
    run then served the second's model."""
    first = make_tiny_run(tmp_path / "first", test_rows=6)
    second = make_tiny_run(tmp_path / "second", family="distilbert", test_rows=6)
    out = tmp_path / "shared"
    assert main(["export", str(first), "--format", "onnx", "--out", str(out), "--rows", "4"]) == 0
    before = (out / "onnx" / "export.json").read_bytes()
    capsys.readouterr()

    assert main(["export", str(second), "--format", "hf,onnx", "--out", str(out), "--rows", "4"]) == 2
    err = capsys.readouterr().err
    assert f"'{out / 'onnx'}' already holds an export of another model, from the run '{first.resolve()}'" in err
    assert "Choose another --out folder" in err and "delete that folder" in err
    assert (out / "onnx" / "export.json").read_bytes() == before and not (out / "hf").exists()  # nothing written

    assert main(["export", str(first), "--format", "onnx", "--out", str(out), "--rows", "4"]) == 0  # its own: fine


@pytest.mark.parametrize("file, content, words", [
    ("config.json", "[1,2]", "config.json holds a JSON list, not settings."),
    ("summary.json", '{"accuracy": "high", ', "summary.json is not valid JSON"),
    ("data_report.json", "[]", "data_report.json holds a JSON list, not a data report."),
])
def test_export_refuses_a_damaged_run_file_before_any_work(tiny_run, tmp_path, capsys, monkeypatch, file, content,
                                                           words):
    """dmg/e (config.json holding a list): an AttributeError in the model card, after the conversion, and an empty
    exports folder; evaluate said "config.json holds a JSON list, not settings"."""
    import shutil

    from bertstudio.runs import RunFolder

    run = RunFolder(tmp_path / "run")
    shutil.copytree(tiny_run, run.path)
    (run.path / file).write_text(content)
    monkeypatch.setattr("bertstudio.export.core.open_source", lambda *a, **k: pytest.fail("the model was loaded"))
    assert main(["export", str(run.path), "--format", "hf"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run.path / file}") and words in err and "back from a copy" in err
    assert not run.exports.exists()
