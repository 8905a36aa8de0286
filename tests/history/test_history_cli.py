"""`bertstudio runs` and `bertstudio report` on the command line: readable tables, and clear refusals."""

from __future__ import annotations

import json

import pytest
from helpers import make_tiny_run

from bertstudio.cli import main
from bertstudio.errors import DataError
from bertstudio.history.report import render_report


@pytest.fixture
def runs_root(tmp_path):
    root = tmp_path / "runs"
    for name, model in (("first", "MiniLM-L6 (bundled, already downloaded)"), ("second", "tiny test model")):
        run = make_tiny_run(root / name)
        summary = json.loads((run / "summary.json").read_text())
        (run / "summary.json").write_text(json.dumps({**summary, "model": model}))
    return root


def _error(capsys, *args) -> str:
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_runs_list_has_a_header_and_never_cuts_a_name(runs_root, capsys):
    """The model column was cut at 22 characters ("MiniLM-L6 (bundled, al") under no header."""
    assert main(["runs", "--root", str(runs_root), "list"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()[:3]
    assert header.split() == ["run", "started", "status", "model", "data", "accuracy", "macro-F1", "simple",
                              "seconds"]
    assert any("MiniLM-L6 (bundled, already downloaded)" in row for row in rows)
    # every column starts where its header does
    assert all(row.index("done") == header.index("status") for row in rows)
    assert all(row[header.index("model"):].startswith(("MiniLM", "tiny test model")) for row in rows)


def test_runs_show_and_compare_print_the_whole_model_name_under_a_header(runs_root, capsys):
    assert main(["runs", "--root", str(runs_root), "show", "first"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("run") and "MiniLM-L6 (bundled, already downloaded)" in lines[1]
    assert main(["runs", "--root", str(runs_root), "compare", "first", "second"]) == 0
    header, first = capsys.readouterr().out.splitlines()[1:3]  # after the note: no data file to compare
    assert header.split()[:4] == ["run", "model", "status", "accuracy"] and "validation" in header
    assert first.startswith("first") and "MiniLM-L6 (bundled, already downloaded)" in first


def test_the_runs_folder_is_named_as_train_names_it_before_or_after_the_action(runs_root, capsys):
    """`runs list --root X` was refused ("unrecognized arguments"), and train's --runs-dir was unknown here."""
    outputs = []
    for args in (["--root", runs_root, "list"], ["list", "--root", runs_root], ["list", "--runs-dir", runs_root],
                 ["--runs-dir", runs_root, "show", "first"]):
        assert main(["runs", *map(str, args)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2] and "first" in outputs[0] and "second" in outputs[0]
    assert "MiniLM-L6 (bundled, already downloaded)" in outputs[3]


def test_scores_read_as_percentages_as_everywhere_else(runs_root, capsys):
    """The list printed 0.812 where the app, the training's lines and the report say 81.2%."""
    assert main(["runs", "--root", str(runs_root), "list"]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    accuracy = row[header.index("status"):].split()[-4]
    assert accuracy.endswith("%") and 0 <= float(accuracy[:-1]) <= 100
    assert main(["runs", "--root", str(runs_root), "compare", "first", "second"]) == 0
    per_class = capsys.readouterr().out.split("F1 per class:\n")[1].splitlines()[0]
    assert per_class.split()[1].endswith("%")


def test_compare_with_one_run_says_to_name_two_on_the_command_line(runs_root, capsys):
    err = _error(capsys, "runs", "--root", runs_root, "compare", "first")
    assert "Only one run was named (first)" in err and "bertstudio runs compare first OTHER_RUN" in err
    assert "Tick" not in err  # the app's wording


def test_report_refuses_what_is_not_a_run_and_writes_nothing(runs_root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data.csv"
    data.write_text("text,label\nhi,a\n")
    assert "There is no folder nosuchrun." in _error(capsys, "report", "nosuchrun")
    assert not (tmp_path / "nosuchrun").exists()  # it was created, with a report of an empty run
    model = runs_root / "first" / "model"
    err = _error(capsys, "report", model)
    assert "is the model folder of a run, not the run" in err and f"bertstudio report {runs_root / 'first'}" in err
    assert not (model / "report.html").exists()
    assert "data.csv is a file, not a run folder" in _error(capsys, "report", "data.csv")  # was FileExistsError
    assert "is not a run folder" in _error(capsys, "report", runs_root)
    with pytest.raises(DataError, match="There is no folder"):
        render_report(tmp_path / "missing")


def test_report_out_must_be_a_file_that_can_be_written(runs_root, tmp_path, capsys):
    run = runs_root / "first"
    err = _error(capsys, "report", run, "--out", tmp_path)
    assert f"names a folder; a file is written there. Name a file inside it, for example --out {tmp_path}/rep" in err
    data = tmp_path / "data.csv"
    data.write_text("x\n")
    assert "is a file, not a folder" in _error(capsys, "report", run, "--out", data / "r.html")
    assert main(["report", str(run), "--out", str(tmp_path / "new" / "r.html")]) == 0
    assert (tmp_path / "new" / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_benchmark_wording_names_the_bench_command_and_its_out_flag(runs_root, capsys):
    err = _error(capsys, "report", runs_root / "first", "--benchmark", "nosuch.json")
    assert "`bertstudio bench --out FILE`" in err and "bertstudio benchmark" not in err
    page = render_report(runs_root / "first")
    assert "<code>bertstudio bench --models bundled-minilm --out bench.json</code>" in page
    assert "bertstudio benchmark" not in page


def _multilabel(run, *, note: str | None = "Thresholds tuned on 40 validation rows: 1 label got a threshold of its "
                                           "own (neutral 0.30); 2 labels kept 0.5.") -> None:
    """``run`` (a tiny run) as a multi-label run that never got a text's labels all right, its macro-F1 flat at 0."""
    labels = ["negative", "neutral", "positive"]
    summary = json.loads((run / "summary.json").read_text())
    metrics = {**summary["metrics"], "task": "multi_label", "labels": labels, "thresholds": [0.5, 0.3, 0.5]}
    if note:
        metrics["threshold_note"] = note
    (run / "summary.json").write_text(json.dumps({**summary, "accuracy": 0.0, "metrics": metrics}))
    prep = json.loads((run / "model" / "preprocessing.json").read_text())
    (run / "model" / "preprocessing.json").write_text(json.dumps({**prep, "thresholds": dict(zip(labels, [0.5, 0.3, 0.5]))}))
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"event": "evaluated", "step": step, "epoch": 1.0, "val_loss": 0.2, "accuracy": 0.0,
                    "macro_f1": 0.0, "is_best": step == 30, "elapsed": 1.0}) + "\n" for step in (30, 40)))


def test_a_multilabel_runs_accuracy_is_named_exact_match(runs_root, capsys):
    """"accuracy 0.0%" beside a macro-F1 of 77% read as a broken model: it is the share of texts whose every
    label is right."""
    _multilabel(runs_root / "first")
    for args in (["list"], ["show", "first"], ["compare", "first", "second"]):
        assert main(["runs", "--root", str(runs_root), *args]) == 0
        out = capsys.readouterr().out
        assert "0.0% (exact match)" in out and "50.0% (exact" not in out  # the single-label run: plain accuracy
        assert "exact match: with several labels per text, the share of texts whose labels are all right." in out


def test_the_report_of_a_multilabel_run_says_exact_match_and_its_thresholds(runs_root):
    import re

    _multilabel(runs_root / "first")
    page = render_report(runs_root / "first")
    assert '<p class="headline">Exact match <b>0.0%</b>' in page
    assert "<th>threshold</th>" in page and "<td>neutral</td><td>0.500</td><td>0.500</td><td>0.500</td><td>16</td>" \
        "<td>0.300</td>" in page
    assert "1 label got a threshold of its own (neutral 0.30)" in page
    # A macro-F1 flat at 0 is drawn on the 0%-100% scale (its axis ran from -0.500 to 0.500).
    chart = page[page.index('aria-label="Validation macro-F1'):]
    chart = chart[:chart.index("</svg>")]
    assert re.findall(r'text-anchor="end">(-?[0-9.]+%?)</text>', chart)[1:3] == ["100%", "0%"]
    # A run saved before the note was kept: the note comes from the thresholds saved with the model.
    _multilabel(runs_root / "second", note=None)
    assert "neutral 0.30; the others 0.50" in render_report(runs_root / "second")


def test_a_root_that_is_not_a_folder_is_said_as_such(tmp_path, capsys):
    """`runs --root nope list` printed 'No runs in nope.' with exit 0, as if the folder held none."""
    assert main(["runs", "--root", str(tmp_path / "nope"), "list"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file.csv").write_text("text,label\n", encoding="utf-8")
    assert main(["runs", "list", "--root", str(tmp_path / "file.csv")]) == 2
    assert "is a file, not a folder of runs" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["runs", "--root", str(tmp_path / "empty"), "list"]) == 0
    assert "No runs in" in capsys.readouterr().out
