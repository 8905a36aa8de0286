"""The zips a person downloads: each has a README.md at its top saying how to load what it holds, and "all
formats" is one zip with a folder per format; the Export tab's one-click path exports only what is missing."""

from __future__ import annotations

import zipfile

import pytest
from helpers import make_tiny_run

from bertstudio.events import Working
from bertstudio.export.bundle import missing_exports, zip_export, zip_exports, zip_model
from bertstudio.export.core import EXPORT_FORMATS, export_run
from bertstudio.export.job import ExportJob
from bertstudio.jobs import JobRegistry
from bertstudio.ui import export_tab as ET
from bertstudio.ui.session import SessionStore


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run = make_tiny_run(tmp_path_factory.mktemp("bundle") / "run", test_rows=6)
    results = {r.format: r for r in export_run(run, "all", max_rows=4)}
    return run, results


def _zip(path):
    with zipfile.ZipFile(path) as archive:
        return set(archive.namelist()), archive.read("README.md").decode()


def test_each_format_zip_has_its_model_card_on_top(exported, tmp_path):
    _, results = exported
    for fmt, result in results.items():
        names, readme = _zip(zip_export(result.folder, tmp_path / f"{fmt}.zip"))
        assert {"README.md", "export.json", "preprocessing.json"} <= names
        if result.record.file:
            assert result.record.file in names and f"/{result.record.file}" in readme  # loads the file it holds


def test_all_formats_zip_has_a_folder_each_and_says_how_to_load_each(exported, tmp_path):
    run, results = exported
    target = zip_exports(run, [results[f] for f in EXPORT_FORMATS], tmp_path / "all.zip")
    names, readme = _zip(target)
    assert {"hf/model.safetensors", "onnx/model.onnx", "onnx-int8/model.int8.onnx", "torchscript/model.pt"} <= names
    assert {f"{fmt}/README.md" for fmt in EXPORT_FORMATS} <= names
    for line in ('pipeline("text-classification", model="hf")', 'InferenceSession("onnx/model.onnx")',
                 'InferenceSession("onnx-int8/model.int8.onnx")', 'torch.jit.load("torchscript/model.pt")'):
        assert line in readme
    for fmt in EXPORT_FORMATS:
        assert f"| `{fmt}/` |" in readme
    assert "path/to/this/folder" not in readme.split("## Intended use")[0].split("## How to load")[1]
    mtime = target.stat().st_mtime_ns
    assert zip_exports(run, [results[f] for f in EXPORT_FORMATS], target).stat().st_mtime_ns == mtime  # reused


def test_model_zip_has_a_readme_that_loads_it_with_transformers(exported, tmp_path):
    run, _ = exported
    names, readme = _zip(zip_model(run, tmp_path / "model.zip"))
    assert {"model.safetensors", "preprocessing.json", "README.md"} <= names
    assert 'pipeline("text-classification"' in readme and "## Results" in readme


def test_one_click_exports_only_what_is_missing_then_hands_over_one_zip(tmp_path):
    ws = SessionStore(tmp_path / "data").open(None)
    run = make_tiny_run(ws.runs / "20260101-000000-tiny", test_rows=6)
    export_run(run, "onnx,hf", ws.runs / run.name / "exports", max_rows=4)
    assert missing_exports(run, EXPORT_FORMATS) == ["onnx-int8", "torchscript"]
    assert ET.ready_download(ws, run, "all") is None and ET.ready_download(ws, run, "onnx") is not None

    jobs = JobRegistry()
    job = ET.start_export(jobs, ws, str(run), "all")
    assert job.formats == ("onnx-int8", "torchscript")
    assert job.wait(timeout=180) and not job.snapshot().error
    assert ET.zip_path_for(ws.exports, run, "all").is_file()  # zipped before the job ended
    assert ET.start_export(jobs, ws, str(run), "all") is None  # nothing left to export: the click downloads
    names, readme = _zip(ET.ready_download(ws, run, "all"))
    assert {f"{fmt}/export.json" for fmt in EXPORT_FORMATS} <= names and "## What is in this zip" in readme


def _every_format_exported(tmp_path, monkeypatch):
    from bertstudio.export import bundle

    monkeypatch.setattr(bundle, "ZIP_CHUNK", 4096)  # several progress reports even for the tiny model
    ws = SessionStore(tmp_path / "data").open(None)
    run = make_tiny_run(ws.runs / "20260101-000000-tiny", test_rows=6)
    export_run(run, "all", ws.runs / run.name / "exports", max_rows=4)
    return ws, run


def test_all_formats_zip_is_made_by_a_job_with_progress_even_when_every_format_exists(tmp_path, monkeypatch):
    """Issue 19: the zip of all four formats is never made inside the click, which would block the page for tens
    of seconds on BERT-base: the click starts a job that reports the bytes zipped, then the download is ready."""
    ws, run = _every_format_exported(tmp_path, monkeypatch)
    assert ET.ready_download(ws, run, "all") is None  # every format exists, the zip of them all does not yet

    job = ET.start_export(JobRegistry(), ws, str(run), "all")
    assert job is not None and job.formats == () and job.wait(timeout=120)
    snap = job.snapshot()
    assert not snap.error and not snap.stopped and snap.fraction == 1.0
    progress = [e for e in job.history if isinstance(e, Working)]
    assert len(progress) > 2 and progress[-1].done == progress[-1].total > 0
    assert [e.done for e in progress] == sorted(e.done for e in progress)
    assert ET.status_markdown(snap, str(run)).startswith("**Zipped all four formats**")
    names, _ = _zip(ET.ready_download(ws, run, "all"))
    assert {f"{fmt}/export.json" for fmt in EXPORT_FORMATS} <= names
    assert ET.start_export(JobRegistry(), ws, str(run), "all") is None  # made once: the next click downloads


def test_stop_while_zipping_every_format_leaves_no_zip(tmp_path, monkeypatch):
    ws, run = _every_format_exported(tmp_path, monkeypatch)
    job = ExportJob(run, [], bundle=ET.zip_path_for(ws.exports, run, "all"))  # what the button starts
    job.on_event = lambda event: job.stop() if isinstance(event, Working) else None  # Stop at the first chunk
    assert job.start().wait(timeout=120)
    snap = job.snapshot()
    assert snap.stopped and not snap.error
    assert ET.status_markdown(snap, str(run)).startswith("**Stopped** as you asked")
    assert ET.ready_download(ws, run, "all") is None
    assert list(ws.exports.glob("*all*")) == []  # neither the zip nor its partial file
