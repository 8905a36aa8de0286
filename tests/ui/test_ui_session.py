"""Per-browser workspaces: each visitor sees only their own uploads, runs and exports."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from bertstudio.errors import UserError
from bertstudio.ui import session as S


def _fake_run(workspace: S.Workspace, name: str, macro_f1: float = 0.8) -> Path:
    """A finished run folder as the engine writes it (summary last, model inside)."""
    run = workspace.runs / name
    (run / "model").mkdir(parents=True)
    (run / "model" / "model.safetensors").write_bytes(b"weights")
    (run / "model" / "config.json").write_text("{}")
    (run / "summary.json").write_text(json.dumps({"model": "Tiny", "macro_f1": macro_f1, "accuracy": 0.9,
                                                  "finished_at": name}))
    return run


@pytest.fixture
def store(tmp_path) -> S.SessionStore:
    return S.SessionStore(tmp_path / "data")


def test_new_and_reopened_workspaces(store):
    first = store.open(None)
    assert S.SESSION_ID_PATTERN.match(first.id)
    assert first.uploads.is_dir() and first.runs.is_dir() and first.exports.is_dir()
    assert store.open(first.id) == first  # the id kept in the browser reopens the same folder
    assert store.open(None).id != first.id


@pytest.mark.parametrize("bad", ["../../etc", "short", "a/b/c/d/e/f/g/h/i", "x" * 100, "", "..%2f..%2fsecrets!!"])
def test_malformed_ids_never_reach_the_file_system(store, bad):
    workspace = store.open(bad)
    assert workspace.id != bad
    assert workspace.root.parent == store.root


def test_sessions_are_isolated(store, tmp_path):
    alice, bob = store.open(None), store.open(None)
    source = tmp_path / "data.csv"
    source.write_text("text,label\nhi,a\n")
    uploaded = S.save_upload(alice, source)
    run = _fake_run(alice, "20260101-000000-tiny")

    assert uploaded.parent.parent == alice.uploads and not list(bob.uploads.iterdir())
    assert [r.path for r in S.list_workspace_runs(alice)] == [run]
    assert S.list_workspace_runs(bob) == []
    assert alice.owns(run) and not bob.owns(run)
    with pytest.raises(UserError, match="does not belong"):
        S.checked_run_dir(bob, run)
    with pytest.raises(UserError, match="does not belong"):
        S.checked_run_dir(bob, bob.runs / ".." / ".." / alice.id / "runs" / run.name)
    with pytest.raises(UserError, match="does not belong"):
        S.export_zip(bob, run)


def test_save_upload_keeps_a_safe_name(store, tmp_path):
    workspace = store.open(None)
    source = tmp_path / "weird name (1).CSV"
    source.write_text("text,label\n")
    saved = S.save_upload(workspace, source, original_name="../../My Data (1).CSV")
    again = S.save_upload(workspace, source, original_name="../../My Data (1).CSV")
    assert saved.name == again.name == "My-Data-1.csv"  # the name people know, used in every message
    assert saved.parent.parent == again.parent.parent == workspace.uploads and saved != again
    with pytest.raises(UserError):
        S.save_upload(workspace, tmp_path / "missing.csv")


def test_runs_are_listed_newest_first_and_unfinished_ones_are_skipped(store):
    workspace = store.open(None)
    _fake_run(workspace, "20260101-000000-a", 0.5)
    _fake_run(workspace, "20260102-000000-b", 0.7)
    (workspace.runs / "20260103-000000-crashed").mkdir()  # no summary.json: not finished
    runs = S.list_workspace_runs(workspace)
    assert [r.path.name for r in runs] == ["20260102-000000-b", "20260101-000000-a"]
    assert runs[0].label.endswith(" · Tiny · macro-F1 70.0%")  # named as the Runs tab names it: start, model, data
    (runs[0].path / "config.json").write_text(json.dumps({"data": "/data/shop.csv"}))
    assert S.list_workspace_runs(workspace)[0].label.endswith(" · Tiny · shop.csv · macro-F1 70.0%")
    with pytest.raises(UserError, match="did not finish"):
        S.checked_run_dir(workspace, workspace.runs / "20260103-000000-crashed")
    with pytest.raises(UserError, match="No trained model"):
        S.checked_run_dir(workspace, None)
    with pytest.raises(UserError, match="That run has been deleted"):  # not "did not finish", as it said
        S.checked_run_dir(workspace, workspace.runs / "20260104-000000-deleted")


def test_a_run_whose_summary_is_damaged_is_left_out_of_the_pickers(store):
    """It was left out as "failed"; the history now lists such a run as damaged."""
    workspace = store.open(None)
    _fake_run(workspace, "20260101-000000-a", 0.5)
    (_fake_run(workspace, "20260102-000000-b") / "summary.json").write_text("{broken")
    assert [r.path.name for r in S.list_workspace_runs(workspace)] == ["20260101-000000-a"]


def test_export_zip_holds_the_model_folder_and_a_readme_and_is_reused(store):
    from helpers import make_tiny_run

    workspace = store.open(None)
    run = make_tiny_run(workspace.runs / "20260101-000000-tiny", test_rows=6)
    archive = S.export_zip(workspace, run)
    assert archive.parent == workspace.exports
    with zipfile.ZipFile(archive) as zipped:
        assert {"model.safetensors", "config.json", "preprocessing.json", "README.md"} <= set(zipped.namelist())
        readme = zipped.read("README.md").decode()
    assert 'pipeline("text-classification"' in readme and "## Results" in readme
    mtime = archive.stat().st_mtime_ns
    assert S.export_zip(workspace, run) == archive and archive.stat().st_mtime_ns == mtime
    assert not [p for p in workspace.exports.iterdir() if p.name.startswith(".")]  # no partial files left


def test_run_picker_prefers_the_apps_run_then_the_shown_one_then_the_newest(store):
    from bertstudio.ui.common import list_runs

    workspace = store.open(None)
    older = str(_fake_run(workspace, "20260101-000000-a", 0.5))
    newer = str(_fake_run(workspace, "20260102-000000-b", 0.7))
    assert list_runs(workspace, older, newer).value == older  # the run the app just trained or opened
    assert list_runs(workspace, "/elsewhere/not-ours", older).value == older  # else keep what is shown
    assert list_runs(workspace, None, None).value == newer
    assert [value for _, value in list_runs(workspace, None, None).choices] == [newer, older]
    assert list_runs(store.open(None), None, None).value is None  # nothing trained yet


def test_the_data_tabs_file_and_columns_survive_a_reload_within_the_workspace(store, sample_csv):
    """A reloaded page keeps its workspace (the cookie): the Data tab's file and choices are read back from it,
    measured again exactly as they were; a record pointing anywhere else, or a damaged one, is ignored."""
    from dataclasses import replace

    from bertstudio.ui.common import TokenizerCache
    from bertstudio.ui.data_tab import analyse, restored
    from bertstudio.ui.state import DataChoice

    mine, theirs = store.open(None), store.open(None)
    assert S.recall_data(mine) is None  # nothing loaded yet: the tab stays empty
    upload = S.save_upload(mine, sample_csv)
    tokenizers = TokenizerCache()
    shown = replace(analyse(tokenizers, str(upload), "bundled-minilm", casefold=True), max_length=64,
                    max_length_set=True)
    S.remember_data(mine, upload, shown)

    path, choice = S.recall_data(store.open(mine.id))  # the same cookie after a reload
    assert path == upload.resolve() and (choice.text_column, choice.label_column, choice.casefold_labels,
                                         choice.max_length) == ("text", "label", True, 64)
    again = restored(tokenizers, path, choice, "bundled-minilm")
    assert (again.rows, again.class_counts, again.max_length, again.max_length_set) == (shown.rows,
                                                                                      shown.class_counts, 64, True)
    assert S.recall_data(theirs) is None  # another visitor's workspace knows nothing of it

    S.remember_data(mine, sample_csv, shown)  # a file outside the uploads is never recorded
    assert S.recall_data(mine)[0] == upload.resolve()
    their_upload = S.save_upload(theirs, sample_csv)
    climbing_out = f"../../{theirs.id}/uploads/{their_upload.parent.name}/{their_upload.name}"
    for pointing_elsewhere in (str(their_upload), climbing_out):
        mine.data_choice.write_text(json.dumps({"file": pointing_elsewhere}))
        assert S.recall_data(mine) is None
    for damaged in ("{not json", "[1, 2]", json.dumps({"file": "x.csv", "unknown": 1})):
        mine.data_choice.write_text(damaged)
        assert S.recall_data(mine) is None
    S.remember_data(mine, upload, None)  # loaded, columns not understood: the file alone, asked again on reload
    assert S.recall_data(mine) == (upload.resolve(), DataChoice(upload.resolve().relative_to(
        mine.uploads.resolve()).as_posix()))
    upload.unlink()
    assert S.recall_data(mine) is None  # the file is gone: nothing to restore


def test_the_model_tabs_choice_survives_a_reload_with_the_file_it_was_made_for(store, tmp_path):
    """The Model tab's model, preset and typed settings are kept in the workspace; a reloaded page shows them again,
    and they count as made for the file that was loaded then (a new file gets its recommended preset instead)."""
    from bertstudio.ui.state import ModelChoice

    mine, theirs = store.open(None), store.open(None)
    assert S.recall_model_choice(mine) is None  # nothing chosen yet: the page shows the default preset
    upload = S.save_upload(mine, _write(tmp_path / "data.csv"))
    choice = ModelChoice(model="distilbert-base-uncased", preset="fast",
                         settings={"max_steps": 7, "learning_rate": 3e-5, "pooling": None})
    S.remember_model_choice(mine, choice, str(upload))

    remembered = S.recall_model_choice(store.open(mine.id))  # the same cookie after a reload
    assert (remembered.model, remembered.preset, remembered.settings) == (choice.model, choice.preset,
                                                                          choice.settings)
    assert remembered.made_for(upload) and remembered.made_for(str(upload.parent / ".." / upload.parent.name /
                                                                   upload.name))
    other = S.save_upload(mine, _write(tmp_path / "data.csv"))  # the same file uploaded again: a new file
    assert not remembered.made_for(other) and not remembered.made_for("") and not remembered.made_for(None)
    assert S.recall_model_choice(theirs) is None  # another visitor's workspace knows nothing of it

    S.remember_model_choice(mine, choice, "")  # chosen before any file: shown again, made for none
    assert not S.recall_model_choice(mine).made_for(upload)
    for damaged in ("{not json", "[1, 2]", json.dumps({"model": "x"}),
                    json.dumps({"model": 1, "preset": "fast", "settings": {}, "data_file": ""}),
                    json.dumps({"model": "x", "preset": "fast", "settings": [], "data_file": ""})):
        mine.model_choice.write_text(damaged)
        assert S.recall_model_choice(mine) is None


def _write(path: Path) -> Path:
    path.write_text("text,label\ngood,pos\nbad,neg\n")
    return path
