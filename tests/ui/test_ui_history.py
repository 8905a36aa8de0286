"""The Runs tab's pure builders: tables and overlaid charts from history records."""

from __future__ import annotations

import json

import pytest

from helpers import make_tiny_run, tab_page

from bertstudio.history.compare import compare_runs, model_comparison
from bertstudio.history.records import list_runs
from bertstudio.ui.views import history as views
from bertstudio.ui.views.settings import ADVANCED_FIELDS, settings_of_config


def _two_runs(tmp_path):
    fingerprint = {"name": "d.csv", "bytes": 3, "sha256": "ef" * 32}
    for name, lr in (("20260101-a", 5e-5), ("20260101-b", 2e-5)):
        run = make_tiny_run(tmp_path / name)
        (run / "config.json").write_text(json.dumps({"model": "bundled-minilm", "lr": lr, "preset": "balanced",
                                                     "data_fingerprint": fingerprint}))
        (run / "metrics.jsonl").write_text("\n".join(json.dumps({"event": "step", "step": s, "loss": 1 / s})
                                                     for s in range(1, 4)) + "\n")
    return list_runs(tmp_path)


def test_runs_table_and_comparison_frames(tmp_path):
    records = _two_runs(tmp_path)
    frame = views.runs_frame(records)
    assert list(frame["Run"]) == ["20260101-b", "20260101-a"] or set(frame["Run"]) == {"20260101-a", "20260101-b"}
    assert set(frame["Status"]) == {"done"} and frame["Data"].iloc[0] == "d.csv"  # one file: no fingerprint needed
    comparison = compare_runs(records)
    loss, validation = views.compare_charts(comparison)
    assert len(loss.data) == 2 and list(loss.data[0].x) == [1, 2, 3]
    settings = views.settings_frame(comparison)
    assert list(settings["Setting"]) == ["lr"]
    assert list(views.per_class_frame(comparison)["Class (F1)"]) == ["negative", "neutral", "positive"]
    assert "same data file" in views.compare_note(comparison)
    rows = model_comparison(records)
    assert views.models_frame(rows)["Latency"].iloc[0] == "not measured"
    assert "Only one model" in views.models_markdown(rows)
    # Only models the app allows are suggested (a demo that trains no BERT-base does not say to train it).
    assert "(say DistilBERT-base)" in views.models_markdown(rows, ["DistilBERT-base"])
    assert "BERT-base" not in views.models_markdown(rows, [])


def test_a_runs_settings_fill_every_form_field():
    shown = settings_of_config({"lr": 3e-5, "epochs": 2, "model": "x"})
    assert set(shown) == set(ADVANCED_FIELDS) and shown["lr"] == 3e-5 and shown["batch_size"] is None


def test_a_saved_preset_is_offered_in_the_model_tab_and_trains_as_saved(tmp_path):
    """Saved in the Runs tab, a preset is in the Model tab's list (from the engine's list_presets, read from the
    workspace's folder: so after a restart too), fills the form with its settings, and build_config trains it."""
    from bertstudio.config import config_from_preset, list_presets, save_preset
    from bertstudio.train import plan as train_plan
    from bertstudio.ui.state import DataSelection, ModelChoice, build_config
    from bertstudio.ui.views.settings import SAVED_MARK, preset_choices, preset_settings

    folder = tmp_path / "workspace" / "presets"
    builtin = preset_choices()
    assert [name for _, name in builtin] == list(list_presets())  # nothing saved: the built-in ones
    saved = save_preset(folder, "Fast small data", config_from_preset("balanced", epochs=2, lr=3e-5))

    offered = preset_choices(folder)  # a fresh read of the folder, as after a restart of the app
    assert offered[:len(builtin)] == builtin and offered[len(builtin):] == [("Fast small data" + SAVED_MARK,
                                                                             saved.name)]
    values, model = preset_settings(saved.name, folder)
    assert (values["epochs"], values["lr"], model) == (2, 3e-5, "bundled-minilm")

    selection = DataSelection(path="/tmp/data.csv", file_name="data.csv", columns=["text", "label"],
                              text_column="text", label_column="label", text_pair_column=None, casefold_labels=False,
                              max_length=32, rows=400, class_counts={"a": 200, "b": 200}, has_errors=False)
    choice = ModelChoice(preset=saved.name, settings=values, saved_presets=str(folder))
    config = build_config(selection, choice)
    assert (config.preset, config.epochs, config.lr) == (saved.name, 2, 3e-5)
    assert choice.preset_title() == "Fast small data"
    # A new file never replaces the person's own preset with a recommended built-in one.
    assert train_plan.preset_for_new_file(600, {"a": 500, "b": 100}, current=saved.name) is None


def test_delete_asks_first_naming_the_runs_and_deletes_only_those(tmp_path):
    """One click on Delete removed ticked runs for good; it now asks, naming them, and "Yes" deletes the runs the
    question named (not whatever is ticked by then)."""
    from bertstudio.ui import runs_tab

    ctx, handlers, components, workspace = tab_page(tmp_path / "data", runs_tab.build, settings_request=True)
    _two_runs(workspace.runs)
    first, second = sorted(str(p) for p in workspace.runs.iterdir())

    asked = handlers["on_delete_asked"](workspace, [first])
    question = asked[components["runs-delete-question"]]
    assert "**Delete 1 run for good?**" in question and "cannot be undone" in question
    assert asked[components["runs-confirm-delete"]].visible is True
    assert sorted(str(p) for p in workspace.runs.iterdir()) == [first, second]  # asking deletes nothing

    named = next(value for value in asked.values() if isinstance(value, list))
    done = handlers["on_delete"](workspace, named)
    assert [str(p) for p in workspace.runs.iterdir()] == [second]
    assert done[components["runs-confirm-delete"]].visible is False
    assert "Delete 2 runs for good?" in views.delete_question(list_runs(tmp_path / "x") + _two_runs(tmp_path / "y"))


def _stopped_best(tmp_path):
    """The tester's Runs tab: finished runs at 81.4% and, newest, one stopped early at 83.6% (its best model kept),
    plus a run that failed."""
    from bertstudio.results import RunStatus
    from bertstudio.runs import RunFolder

    records = _two_runs(tmp_path)
    stopped = records[0].path
    summary = json.loads((stopped / "summary.json").read_text())
    summary.update(macro_f1=0.836, accuracy=0.825, stopped_early=True,
                   model="MiniLM-L6 (bundled, all-MiniLM-L6-v2)")
    (stopped / "summary.json").write_text(json.dumps(summary))
    RunStatus.now("stopped", step=20, message="Stopped early.").write(RunFolder(stopped).status)
    failed = tmp_path / "20260101-c"
    failed.mkdir()
    (failed / "config.json").write_text((records[1].path / "config.json").read_text())
    (failed / "metrics.jsonl").write_text(json.dumps({"event": "failed", "message": "Out of memory."}) + "\n")
    return list_runs(tmp_path)


def test_the_models_table_counts_what_the_runs_table_lists(tmp_path):
    """"Runs 4" under five listed runs, a worse run named best and the stopped-early one left out without a word:
    the stopped run counts, the best run is named by its start time as the Runs table lists it, and the note
    says which listed run is not counted and why."""
    from bertstudio.history.compare import left_out_of_models

    records = _stopped_best(tmp_path)
    rows = model_comparison(records)
    frame = views.models_frame(rows)
    stopped = next(r for r in records if r.status == "stopped" and r.summary is not None)
    assert frame["Runs"].iloc[0] == 2 and frame["Macro-F1"].iloc[0] == "83.6%"
    assert frame["Best run"].iloc[0] == f"{stopped.created} (stopped early)"
    note = views.models_markdown(rows, [], left_out_of_models(records))
    assert "not counted: 1 run failed, so it has no test score." in note and "stopped early" in note
    assert len(records) == 3 and frame["Runs"].sum() + 1 == len(records)


def test_runs_tables_fit_a_laptop_screen(tmp_path):
    """Heads broke mid-word ("Accura cy") and the last columns were off-screen while Model and Data took most of
    the width: short heads, short model and file names (the full ones are in the run picker), a width per column,
    and scores on the app's one scale (a percentage)."""
    records = _stopped_best(tmp_path)
    frame = views.runs_frame(records)
    assert list(frame.columns) == list(views.RUN_COLUMNS) and len(views.RUN_COLUMN_WIDTHS) == len(views.RUN_COLUMNS)
    assert len(views.MODEL_COLUMN_WIDTHS) == len(views.MODEL_COLUMNS)
    assert all(len(head) <= 12 for head in (*views.RUN_COLUMNS, *views.MODEL_COLUMNS))
    assert sum(int(w.removesuffix("px")) for w in views.RUN_COLUMN_WIDTHS) <= 1240  # the page's width at 1,400 px
    stopped = frame[frame["Status"] == "stopped"].iloc[0]
    assert stopped["Model"] == "MiniLM-L6" and stopped["Accuracy"] == "82.5%" and stopped["Macro-F1"] == "83.6%"
    assert any("MiniLM-L6 (bundled, all-MiniLM-L6-v2)" in label for label, _ in views.run_choices(records))
    assert views.short_model("BERT-base (cased)") == "BERT-base (cased)"  # a short parenthesis tells variants apart
    assert views.short_file("customer_support_tickets_2024_final.xlsx") == "customer_support….xlsx"
    assert len(views.short_file("customer_support_tickets_2024_final.xlsx")) == views.SHORT_DATA_CHARS


def test_the_status_column_fits_every_status_word():
    """The Runs tab read "interrupt": 80px held 9 characters of the table's monospace font."""
    from bertstudio.history.records import STATUS_WORDS

    width = int(views.RUN_COLUMN_WIDTHS[views.RUN_COLUMNS.index("Status")].removesuffix("px"))
    longest = max(STATUS_WORDS.values(), key=len)
    assert longest == "interrupted" and width >= len(longest) * views.TABLE_CHAR_PX + views.CELL_PADDING_PX


def test_damaged_runs_are_named_under_the_table_with_what_is_wrong(tmp_path):
    """A damaged run showed only its status: what is wrong with it was said nowhere in the app."""
    records = _two_runs(tmp_path)
    assert views.damaged_markdown(records) == ""
    (tmp_path / "20260101-a" / "config.json").write_text("[1,2]")
    records = list_runs(tmp_path)
    text = views.damaged_markdown(records)
    assert text.startswith("**1 damaged run**") and "- **20260101-a**: " in text
    assert "config.json holds a JSON list, not settings." in text and "20260101-b" not in text
    assert set(views.runs_frame(records)["Status"]) == {"done", "damaged"}


def test_compared_runs_are_named_short_in_legends_and_heads(tmp_path):
    """Legends and heads read "20261206-143427-MiniLM-L6-bundled-all-MiniLM-L6-v2" and epochs "4.0"."""
    records = _two_runs(tmp_path)
    for record, epochs in zip(records, (4.0, 1.0)):
        config = json.loads((record.path / "config.json").read_text())
        (record.path / "config.json").write_text(json.dumps({**config, "epochs": epochs}))
    comparison = compare_runs(list_runs(tmp_path))
    loss, validation = views.compare_charts(comparison)
    assert [trace.name for trace in loss.data] == comparison.names == [trace.name for trace in validation.data]
    assert all(len(name) <= 30 and "·" in name for name in comparison.names)
    settings = views.settings_frame(comparison)
    assert list(settings.columns) == ["Setting", *comparison.names]
    epochs = settings[settings["Setting"] == "epochs"].iloc[0].tolist()[1:]
    assert sorted(epochs) == ["1", "4"]
    metrics = views.metrics_frame(comparison)
    assert list(metrics["Run"]) == comparison.names and set(metrics["Folder"]) == {r.name for r in comparison.runs}
    assert list(views.per_class_frame(comparison).columns)[1:] == comparison.names


def test_a_run_stopped_early_opens_in_evaluate_like_a_finished_one(tmp_path):
    """A run stopped early kept its best model and its scores: "Open in Evaluate" refused it as unfinished."""
    from bertstudio.ui import runs_tab

    ctx, handlers, components, workspace = tab_page(tmp_path / "data", runs_tab.build, settings_request=True)
    records = _stopped_best(workspace.runs)
    stopped = next(r for r in records if r.status == "stopped")
    opened = handlers["on_open"](workspace, [str(stopped.path)])
    assert str(stopped.path) in opened.values()
    failed = next(r for r in records if r.status == "failed")
    with pytest.warns(UserWarning, match="no finished model"):  # a warning that leaves the page, no Error badge
        handlers["on_open"](workspace, [str(failed.path)])


def test_a_multilabel_runs_accuracy_reads_exact_match_in_the_runs_tab(tmp_path):
    """Its accuracy is the share of texts whose every label is right: "0.0%" beside a macro-F1 of 77% read as a
    broken model."""
    records = _two_runs(tmp_path)
    summary = json.loads((records[0].path / "summary.json").read_text())
    (records[0].path / "summary.json").write_text(json.dumps({**summary, "accuracy": 0.0,
                                                               "metrics": {**summary["metrics"], "task": "multi_label"}}))
    records = list_runs(tmp_path)
    multi = {r.name: r.multi_label for r in records}
    cells = dict(zip(views.runs_frame(records)["Run"], views.runs_frame(records)["Accuracy"]))
    assert {cells[name] for name, is_multi in multi.items() if is_multi} == {"0.0% (exact match)"}
    assert {cells[name] for name, is_multi in multi.items() if not is_multi} == {"50.0%"}
    compared = views.metrics_frame(compare_runs(records))
    assert "0.0% (exact match)" in set(compared["Accuracy"]) and "50.0%" in set(compared["Accuracy"])


def test_train_n_times_keeps_to_the_demo_limits(tmp_path):
    """"Train N times" was made without the limits: a model the demo refuses, a step too big for its memory and the
    time cap all passed."""
    from bertstudio.limits import DEMO_LIMITS
    from bertstudio.ui import runs_tab
    from bertstudio.ui.state import DataSelection, ModelChoice

    ctx, handlers, components, workspace = tab_page(tmp_path / "data", runs_tab.build, limits=DEMO_LIMITS,
                                                    settings_request=True)
    selection = DataSelection(path=str(tmp_path / "data.csv"), file_name="data.csv", columns=["text", "label"],
                              text_column="text", label_column="label", text_pair_column=None, casefold_labels=False,
                              max_length=512, max_length_set=True, rows=400, class_counts={"a": 200, "b": 200},
                              has_errors=False)
    with pytest.warns(UserWarning, match=r"BERT-large.*\(model limit"):
        handlers["on_seeds"](workspace, selection, ModelChoice(model="bert-large-uncased"), 3)
    with pytest.warns(UserWarning, match=r"1,048,576 tokens per training step.*\(memory limit\)"):
        handlers["on_seeds"](workspace, selection, ModelChoice(settings={"batch_size": 2048}), 3)
    assert ctx.jobs.latest(workspace.id, "training") is None
    assert "the runs together stop after **10 minutes**" in components["seeds-intro"].value
