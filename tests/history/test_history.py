"""Run history, comparison, settings presets and the HTML report, on runs made by hand and two real tiny runs."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from helpers import make_tiny_run

from bertstudio.benchmark.records import BenchRecord
from bertstudio.cli import main
from bertstudio.config import config_from_preset, list_presets, save_preset
from bertstudio.errors import ConfigError, UserError
from bertstudio.history.compare import compare_runs, left_out_of_models, model_comparison, read_curves, setting_text
from bertstudio.history.records import delete_run, find_run, list_runs, read_run
from bertstudio.history.report import render_report, write_report

FINGERPRINT = {"name": "shop.csv", "bytes": 120, "sha256": "ab" * 32}


def _events(run: Path, *events: dict) -> None:
    with (run / "metrics.jsonl").open("a", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")


def _steps(n: int, loss: float = 1.0) -> list[dict]:
    return [{"event": "step", "step": i, "loss": loss / i} for i in range(1, n + 1)] + \
        [{"event": "evaluated", "step": n, "val_loss": 0.5, "accuracy": 0.6, "macro_f1": 0.55, "is_best": True}]


def _config(run: Path, **values) -> None:
    base = {"model": "bundled-minilm", "preset": "balanced", "data": "/data/shop.csv", "lr": 5e-5, "epochs": 3,
            "batch_size": 16, "seed": 42, "max_length": 64, "data_fingerprint": FINGERPRINT,
            "output_dir": str(run)}
    (run / "config.json").write_text(json.dumps({**base, **values}), encoding="utf-8")


def _started(run: Path, seconds_ago: float) -> None:
    stamp = time.time() - seconds_ago
    for path in run.iterdir():
        os.utime(path, (stamp, stamp))


@pytest.fixture
def runs_root(tmp_path) -> Path:
    """Five runs: two done (different models and learning rates), failed, stopped, interrupted."""
    root = tmp_path / "runs"
    done_a = make_tiny_run(root / "20260101-100000-minilm")
    _config(done_a)
    _events(done_a, *_steps(5))
    done_b = make_tiny_run(root / "20260101-110000-distilbert")
    _config(done_b, model="distilbert-base", lr=3e-5)
    summary = json.loads((done_b / "summary.json").read_text())
    summary.update(model="DistilBERT", macro_f1=0.7, accuracy=0.75)
    summary["metrics"]["per_class"]["neutral"]["f1"] = 0.9
    (done_b / "summary.json").write_text(json.dumps(summary))
    _events(done_b, *_steps(5, 2.0))
    for name, ending in (("20260101-120000-failed", {"event": "failed", "message": "Training ran out of memory.",
                                                       "hint": "Lower the batch size."}),
                         ("20260101-130000-stopped", {"event": "cancelled", "step": 3, "run_dir": ""}),
                         ("20260101-140000-interrupted", None)):
        run = root / name
        run.mkdir(parents=True)
        _config(run)
        _events(run, *_steps(3), *([ending] if ending else []))
    for age, name in enumerate(sorted(p.name for p in root.iterdir())[::-1]):
        _started(root / name, 600 + 60 * age)  # older folders started earlier; none written to recently
    return root


def test_history_lists_every_run_with_its_status_newest_first(runs_root):
    records = list_runs(runs_root)
    assert [r.path.name for r in records] == ["20260101-140000-interrupted", "20260101-130000-stopped",
                                              "20260101-120000-failed", "20260101-110000-distilbert",
                                              "20260101-100000-minilm"]
    status = {r.path.name: r.status for r in records}
    assert status == {"20260101-140000-interrupted": "interrupted", "20260101-130000-stopped": "stopped",
                      "20260101-120000-failed": "failed", "20260101-110000-distilbert": "done",
                      "20260101-100000-minilm": "done"}
    failed = next(r for r in records if r.status == "failed")
    assert failed.message == "Training ran out of memory. Lower the batch size."
    done = next(r for r in records if r.path.name.endswith("distilbert"))
    assert (done.model, done.data_name, done.fingerprint.short) == ("DistilBERT", "shop.csv", "ab" * 6)
    assert done.settings["lr"] == 3e-5 and done.macro_f1 == 0.7 and done.train_seconds == 1.0


def test_a_run_held_by_a_job_is_running_and_recent_writes_count_without_an_app(runs_root):
    interrupted = runs_root / "20260101-140000-interrupted"
    assert read_run(interrupted, active=[interrupted]).status == "running"
    assert read_run(interrupted, active=[]).status == "interrupted"
    _events(interrupted, {"event": "step", "step": 4, "loss": 0.1})  # just written to, no app to ask
    assert read_run(interrupted).status == "running"
    assert read_run(interrupted, active=[]).status == "interrupted"


def test_the_status_file_wins_and_a_stopped_run_with_its_model_stays_stopped(runs_root):
    """A stopped run keeps its best model, so it has a summary.json like a finished one: its status.json says it
    was stopped, and every list says so (it read "done" when the list looked for a key status.json never had)."""
    from bertstudio.results import RunStatus
    from bertstudio.runs import RunFolder

    run = runs_root / "20260101-100000-minilm"
    RunStatus.now("stopped", step=3, message="Stopped early at step 3.").write(RunFolder(run).status)
    assert (read_run(run).status, read_run(run).message) == ("stopped", "Stopped early at step 3.")
    crashed = runs_root / "20260101-140000-interrupted"
    RunStatus(state="running", step=2, pid=2 ** 22 + 7, host=socket.gethostname()).write(RunFolder(crashed).status)
    assert read_run(crashed).status == "interrupted" and "without finishing" in read_run(crashed).message
    assert read_run(crashed).model == "MiniLM-L6 (bundled, all-MiniLM-L6-v2)"  # as finished runs name it
    _config(crashed, model=str(runs_root / "20260101-100000-minilm" / "model"))  # a local folder: by its name
    assert read_run(crashed).model == "model"


def test_compare_overlays_curves_and_shows_only_the_settings_that_differ(runs_root):
    records = {r.path.name: r for r in list_runs(runs_root)}
    pair = [records["20260101-100000-minilm"], records["20260101-110000-distilbert"]]
    comparison = compare_runs(pair)
    assert comparison.same_data
    assert {d.name: d.values for d in comparison.settings} == {"lr": [5e-5, 3e-5],
                                                                "model": ["bundled-minilm", "distilbert-base"]}
    assert comparison.curves[0].steps == [1, 2, 3, 4, 5] and comparison.curves[1].losses[0] == 2.0
    assert comparison.curves[0].macro_f1s == [0.55]
    assert comparison.per_class.f1["20260101-110000-distilbert"]["neutral"] == 0.9
    assert comparison.per_class.f1["20260101-100000-minilm"]["neutral"] == 0.5
    assert [row.macro_f1 for row in comparison.metrics] == [0.4, 0.7]
    with pytest.raises(UserError):
        compare_runs(pair[:1])


def test_compare_names_a_different_data_file_and_includes_unfinished_runs(runs_root):
    _config(runs_root / "20260101-120000-failed", data_fingerprint={**FINGERPRINT, "sha256": "cd" * 32})
    records = {r.path.name: r for r in list_runs(runs_root)}
    comparison = compare_runs([records["20260101-100000-minilm"], records["20260101-120000-failed"]])
    assert not comparison.same_data
    assert comparison.settings[0].name == "data"
    assert comparison.metrics[1].status == "failed" and comparison.metrics[1].macro_f1 is None


def _bench(model: str, label: str, backend: str, batch: int, p50: float) -> BenchRecord:
    return BenchRecord(model=model, model_label=label, model_kind="registry", weights="real", backend=backend,
                       device="cpu", threads=2, batch_size=batch, seq_len=64, repeats=10, mean_ms=p50, p50_ms=p50,
                       p95_ms=p50, p99_ms=p50, throughput=batch * 1000 / p50)


def test_models_side_by_side_with_measured_latency(runs_root):
    bench = [_bench("distilbert-base", "DistilBERT", "torch-fp32", 8, 40.0),
             _bench("distilbert-base", "DistilBERT", "torch-fp32", 1, 9.0),
             _bench("distilbert-base", "DistilBERT", "onnx", 1, 5.0)]
    rows = model_comparison(list_runs(runs_root), bench)
    assert [(r.model, r.macro_f1) for r in rows] == [("DistilBERT", 0.7), ("tiny test model", 0.4)]
    assert rows[0].latency_ms == 9.0 and "batch 1" in rows[0].latency_setting
    assert rows[1].latency_ms is None  # the bundled model was not benchmarked


def _stopped_early(run: Path, macro_f1: float, accuracy: float) -> None:
    """Turn a finished run into one stopped early with its best model kept (as the pipeline writes it)."""
    from bertstudio.results import RunStatus
    from bertstudio.runs import RunFolder

    summary = json.loads((run / "summary.json").read_text())
    summary.update(macro_f1=macro_f1, accuracy=accuracy, stopped_early=True)
    (run / "summary.json").write_text(json.dumps(summary))
    RunStatus.now("stopped", step=3, message="Stopped early at step 3.").write(RunFolder(run).status)


def test_a_run_stopped_early_counts_in_the_models_table_and_every_other_run_is_named(runs_root):
    """The tester's Runs tab listed 5 runs, the models table said "Runs 4" and named a worse run as the best: the
    run stopped early (0.836) was left out without a word. Stopped early, a run keeps its best model and is
    evaluated like a finished one, so it counts; the runs that are not counted are named with the reason."""
    minilm = runs_root / "20260101-100000-minilm"
    second = make_tiny_run(runs_root / "20260101-103000-minilm")  # a second, finished MiniLM run: the worse one
    _config(second)
    _stopped_early(minilm, macro_f1=0.836, accuracy=0.825)
    records = list_runs(runs_root)
    rows = {row.model: row for row in model_comparison(records)}
    best = rows["tiny test model"]
    assert (best.runs, best.best_run, best.macro_f1, best.best_stopped_early) == (2, minilm.name, 0.836, True)
    assert best.best_started == read_run(minilm).created
    left_out = {item.run: item.reason for item in left_out_of_models(records)}
    assert left_out == {"20260101-120000-failed": "failed, so it has no test score",
                        "20260101-130000-stopped": "stopped before its first validation check, so it kept no model",
                        "20260101-140000-interrupted": "interrupted, so it has no test score"}
    assert sum(row.runs for row in rows.values()) + len(left_out) == len(records)  # every listed run accounted for


def test_runs_on_another_file_are_named_as_left_out(runs_root):
    _config(runs_root / "20260101-100000-minilm", data_fingerprint={**FINGERPRINT, "name": "old.csv",
                                                                      "sha256": "cd" * 32})
    records = list_runs(runs_root)
    assert [row.model for row in model_comparison(records)] == ["DistilBERT"]
    reasons = {item.run: item.reason for item in left_out_of_models(records)}
    assert reasons["20260101-100000-minilm"] == "trained on another data file (old.csv)"


def test_a_run_is_named_by_one_start_time_everywhere(runs_root):
    """The Export tab said "the run of 14:23:26" (the summary's finish) while every list said 14:22 (the start):
    a run's start is the time its folder's name records, and its finish is said to be the finish."""
    run = runs_root / "20260101-100000-minilm"
    summary = json.loads((run / "summary.json").read_text())
    summary["finished_at"] = "2026-01-01 10:01:37"
    (run / "summary.json").write_text(json.dumps(summary))
    record = read_run(run)
    assert record.created == "2026-01-01 10:00"  # the folder's stamp, whatever the files' times (set an hour ago)
    assert record.when == "started 2026-01-01 10:00, finished 10:01"
    summary["finished_at"] = "2026-01-02 09:00:00"
    (run / "summary.json").write_text(json.dumps(summary))
    assert read_run(run).when == "started 2026-01-01 10:00, finished 2026-01-02 09:00"
    assert read_run(runs_root / "20260101-140000-interrupted").when == "started 2026-01-01 14:00"
    assert "macro-F1 40.0%" in record.label  # the app's scale for scores: a percentage
    page = render_report(run)
    assert "started 2026-01-01 10:00, finished 2026-01-02 09:00" in page
    assert "Accuracy <b>50.0%</b> · macro-F1 <b>40.0%</b>" in page  # one scale, as the verdict writes it


def test_compared_runs_get_short_distinct_names_and_settings_read_as_written(runs_root):
    """Legends and column heads named runs "20261206-143427-MiniLM-L6-bundled-all-MiniLM-L6-v2", and epochs read
    "4.0" and "1.0"."""
    _config(runs_root / "20260101-100000-minilm", epochs=4.0)
    _config(runs_root / "20260101-110000-distilbert", model="distilbert-base", epochs=1.0)
    records = {r.path.name: r for r in list_runs(runs_root)}
    comparison = compare_runs([records["20260101-100000-minilm"], records["20260101-110000-distilbert"]])
    assert comparison.names == ["10:00 · bundled-minilm · epochs 4", "11:00 · distilbert-base · epochs 1"]
    assert [setting_text(v) for v in (4.0, 1.0, 5e-5, None, True, "auto")] == ["4", "1", "5e-05", "auto", "True",
                                                                               "auto"]
    twin = make_tiny_run(runs_root / "20260101-100000-minilm-2")  # made in the same second, same settings
    _config(twin, epochs=4.0)
    same_minute = compare_runs([records["20260101-100000-minilm"], read_run(twin)])
    assert same_minute.names == ["10:00 (20260101-100000-minilm)", "10:00 (20260101-100000-minilm-2)"]


def test_delete_removes_a_run_but_never_a_running_one(runs_root):
    record = find_run(runs_root, "20260101-130000-stopped")
    delete_run(record, runs_root)
    assert not record.path.exists()
    running = read_run(runs_root / "20260101-140000-interrupted", active=[runs_root / "20260101-140000-interrupted"])
    with pytest.raises(UserError, match="still training"):
        delete_run(running, runs_root)
    assert running.path.exists()


def test_seed_runs_are_listed_under_their_folder(tmp_path):
    group = tmp_path / "runs" / "20260101-150000-seeds-minilm"
    for seed in (42, 43):
        make_tiny_run(group / f"seed-{seed}")
    (group / "seeds.json").write_text("{}")
    names = [r.name for r in list_runs(tmp_path / "runs")]
    assert sorted(names) == ["20260101-150000-seeds-minilm/seed-42", "20260101-150000-seeds-minilm/seed-43"]


def test_cli_lists_compares_and_deletes(runs_root, capsys):
    assert main(["runs", "--root", str(runs_root), "list"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["status"] for r in listed] == ["interrupted", "stopped", "failed", "done", "done"]
    assert main(["runs", "--root", str(runs_root), "compare", "20260101-100000-minilm",
                 "20260101-110000-distilbert"]) == 0
    out = capsys.readouterr().out
    assert "lr: 5e-05 | 3e-05" in out and json.loads(out.splitlines()[-1])["same_data"] is True
    assert main(["runs", "--root", str(runs_root), "delete", "20260101-120000-failed"]) == 2  # asks for --yes
    assert "--yes" in capsys.readouterr().err
    assert main(["runs", "--root", str(runs_root), "delete", "20260101-120000-failed", "--yes"]) == 0
    assert not (runs_root / "20260101-120000-failed").exists()
    assert main(["runs", "--root", str(runs_root), "show", "nope"]) == 2


def test_report_is_one_self_contained_file_with_charts_and_errors(runs_root, tmp_path):
    run = runs_root / "20260101-100000-minilm"
    path = write_report(run)
    page = path.read_text(encoding="utf-8")
    assert path == run / "report.html"
    assert page.count("<svg") >= 2 and "polyline" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for section in ("The data", "Settings, and why", "Scores", "Biggest errors", "Exports", "Speed"):
        assert f"<h2>{section}</h2>" in page
    assert "tiny.csv" in page and "negative" in page
    failed = render_report(runs_root / "20260101-120000-failed")
    assert "Training ran out of memory." in failed and "No scores" in failed
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_escapes_the_data(tmp_path):
    run = make_tiny_run(tmp_path / "run")
    (run / "test_predictions.csv").write_text("text,label,predicted,confidence,loss\n"
                                              "\"<script>alert(1)</script>\",a,b,0.9,2.3\n", encoding="utf-8")
    page = render_report(run)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page


def test_curves_survive_a_torn_last_line(runs_root):
    run = runs_root / "20260101-140000-interrupted"
    with (run / "metrics.jsonl").open("a") as handle:
        handle.write('{"event": "step", "st')
    assert read_curves(run).steps == [1, 2, 3]
    assert read_run(run, active=[]).status == "interrupted"


def test_saved_settings_load_back_as_the_same_config(tmp_path):
    original = config_from_preset("balanced", model="distilbert-base", epochs=2, lr=3e-5, tune=True,
                                  data="x.csv", output_dir="somewhere")
    preset = save_preset(tmp_path, "Fast DistilBERT", original)
    assert preset.name == "fast-distilbert" and (tmp_path / "fast-distilbert.json").is_file()
    assert "fast-distilbert" in list_presets(workspace=tmp_path) and "fast-distilbert" not in list_presets()
    loaded = config_from_preset("fast-distilbert", workspace_presets=tmp_path, data="y.csv")
    expected = original.model_copy(update={"preset": "fast-distilbert", "data": "y.csv", "output_dir": None})
    assert loaded == expected
    with pytest.raises(ConfigError, match="built-in"):
        save_preset(tmp_path, "Balanced", original)
    with pytest.raises(ConfigError):
        save_preset(tmp_path, "!!!", original)


def test_training_records_the_data_fingerprint_and_two_real_runs_compare(small_csv, tmp_path, tiny_bert_dir,
                                                                          tiny_distilbert_dir):
    from bertstudio.fingerprint import file_fingerprint
    from bertstudio.train.pipeline import train

    for name, model in (("a", tiny_bert_dir), ("b", tiny_distilbert_dir)):
        train(config_from_preset(data=str(small_csv), model=str(model), output_dir=str(tmp_path / "runs" / name),
                                 max_steps=3, max_length=32, precision="fp32"))
    expected = file_fingerprint(small_csv)
    for name in ("a", "b"):
        run = tmp_path / "runs" / name
        assert json.loads((run / "config.json").read_text())["data_fingerprint"]["sha256"] == expected.sha256
        assert json.loads((run / "data_report.json").read_text())["fingerprint"]["sha256"] == expected.sha256
    records = list_runs(tmp_path / "runs")
    assert {r.status for r in records} == {"done"}
    comparison = compare_runs(records)
    assert comparison.same_data and [d.name for d in comparison.settings] == ["model"]
    assert all(len(c.steps) == 3 for c in comparison.curves)
    assert len(model_comparison(records)) == 2
    assert "Calibration" in render_report(records[0].path)


def test_old_run_folders_with_progress_lines_in_metrics_still_read(runs_root):
    """Runs made before progress ticks left metrics.jsonl hold "working" lines between (and after) the events:
    the curves, the status and the report read past them."""
    working = {"event": "working", "phase": "Checking on the validation texts", "done": 1, "total": 4}
    old = runs_root / "20260101-150000-old"
    old.mkdir()
    _config(old)
    _events(old, working, *_steps(2), working, working, {"event": "failed", "message": "Disk full.", "hint": ""})
    assert read_curves(old).steps == [1, 2] and read_curves(old).macro_f1s == [0.55]
    assert read_run(old, active=[]).status == "failed"
    assert "Disk full." in render_report(old)
    interrupted = runs_root / "20260101-140000-interrupted"
    _events(interrupted, working)  # killed during a validation check
    _started(interrupted, 600)
    assert read_run(interrupted, active=[]).status == "interrupted"
    assert read_curves(interrupted).eval_steps == [3]


def test_the_report_shows_learning_rates_and_flat_curves_as_they_are():
    """Learning rates read "0.000" and a flat macro-F1 of 0.711 got an axis up to 1.711."""
    import re

    from bertstudio.history.report import Series, line_chart_svg, table_html

    row = table_html(["setting", "value"], [("lr", 0.0001), ("head_lr", 2e-05), ("dropout", 0.1)])
    assert ">0.0001<" in row and ">2e-05<" in row and ">0.100<" in row
    svg = line_chart_svg("Validation macro-F1", [Series("run", [10, 20, 30], [0.711, 0.711, 0.711])])
    axis = [float(v) for v in re.findall(r'text-anchor="end">([0-9.]+)</text>', svg)][1:]  # after the last step
    assert len(axis) == 2 and max(axis) < 1.0 and min(axis) < 0.711 < max(axis)


# --------------------------------------------------------------------------- damaged run folders


def _done(runs_root: Path) -> Path:
    """The finished MiniLM run, with the status.json a run of this version writes."""
    from bertstudio.results import RunStatus
    from bertstudio.runs import RunFolder

    run = runs_root / "20260101-100000-minilm"
    RunStatus(state="done", step=9, message="Done after 9 steps: the best model was kept.").write(RunFolder(run).status)
    return run


@pytest.mark.parametrize("content, words", [
    ('{"accuracy": "high", ', "summary.json is not valid JSON (line 1"),
    ("", "summary.json is not valid JSON"),
    ('{"macro_f1": null}', 'summary.json cannot be used: "accuracy" is missing; "macro_f1" is None'),
])
def test_a_damaged_summary_makes_a_damaged_run_not_a_failed_one(runs_root, capsys, content, words):
    """dmg/a, i, j were listed "failed", with "The run did not finish cleanly; train it again": it had finished."""
    run = _done(runs_root)
    (run / "summary.json").write_text(content)
    record = read_run(run)
    assert record.status == "damaged" and words in record.message and record.summary is None
    assert "did not finish cleanly" not in record.message and "back from a copy of the run" in record.message
    assert main(["runs", "--root", str(runs_root), "show", run.name]) == 0
    out = capsys.readouterr().out
    assert "damaged" in out.splitlines()[1] and words in out


@pytest.mark.parametrize("content, words", [(None, "config.json is missing."),
                                            ("[1,2]", "config.json holds a JSON list, not settings.")])
def test_a_run_without_its_settings_is_damaged_and_says_so(runs_root, content, words):
    """dmg/b (no config.json) and dmg/e (a list) were "done" with only "Done after 30 steps" to say."""
    run = _done(runs_root)
    (run / "config.json").unlink() if content is None else (run / "config.json").write_text(content)
    record = read_run(run)
    assert record.status == "damaged" and record.message.startswith(f"{run / 'config.json'}")
    assert words in record.message and "Done after" not in record.message
    assert record.macro_f1 == 0.4  # its scores are still its own


@pytest.mark.parametrize("lost, words", [("model/model.safetensors", "its model's weights are missing (model/model"),
                                         ("model", "its model is missing (model/)")])
def test_a_finished_run_whose_model_is_gone_is_damaged(runs_root, lost, words):
    """dmg/d and dmg/h were listed "done" with no hint; predict then told them to resume, and resume refused."""
    import shutil

    run = _done(runs_root)
    gone = run / lost
    shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    record = read_run(run)
    assert record.status == "damaged" and f"The run in {run} finished, but {words}" in record.message
    assert "bertstudio train --config" in record.message and "--resume" not in record.message
    left_out = {item.run: item.reason for item in left_out_of_models(list_runs(runs_root))}
    assert left_out[run.name] == "damaged (a file it needs is missing or unreadable)"


def test_an_interrupted_run_says_the_step_it_resumes_from(runs_root):
    from bertstudio.results import RunStatus
    from bertstudio.runs import RunFolder

    run = runs_root / "20260101-140000-interrupted"
    RunStatus(state="interrupted", step=12, checkpoint_step=12).write(RunFolder(run).status)
    message = read_run(run).message
    assert "without finishing" in message and f"Resume it from step 12: bertstudio train --resume {run}" in message


def test_a_damaged_status_file_is_named_and_the_status_read_from_the_other_files(runs_root):
    run = runs_root / "20260101-100000-minilm"
    (run / "status.json").write_text('{"state": "weird"}')
    record = read_run(run)
    assert record.status == "done"
    assert record.message.startswith(f"{run / 'status.json'} cannot be used: \"state\" is 'weird'")
    assert record.message.endswith("The status shown is read from the run's other files.")


def test_the_report_of_a_run_that_may_go_on_says_when_it_was_made_and_that_it_shows_the_run_then(runs_root):
    """A report of an interrupted run stayed in the folder after the run was resumed and finished, saying
    "interrupted" with nothing to tell it from a report of the run as it is."""
    from bertstudio.results import RunStatus
    from bertstudio.runs import RunFolder

    run = runs_root / "20260101-140000-interrupted"
    RunStatus(state="interrupted", step=12, checkpoint_step=12).write(RunFolder(run).status)
    page = render_report(run)
    assert 'class="snapshot"' in page and ", while the run was interrupted.</b> It shows the run as it was then" in page
    assert f"bertstudio report {run}" in page
    done = render_report(_done(runs_root))
    assert 'class="snapshot"' not in done and "Report made " in done
