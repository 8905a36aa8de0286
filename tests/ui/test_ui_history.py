"""The Runs tab's pure builders: tables and overlaid charts from history records."""

from __future__ import annotations

import json

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
    assert set(frame["Status"]) == {"done"} and frame["Data"].iloc[0] == "d.csv (efefefefefef)"
    comparison = compare_runs(records)
    loss, validation = views.compare_charts(comparison)
    assert len(loss.data) == 2 and list(loss.data[0].x) == [1, 2, 3]
    settings = views.settings_frame(comparison)
    assert list(settings["Setting"]) == ["lr"]
    assert list(views.per_class_frame(comparison)["Class (F1)"]) == ["negative", "neutral", "positive"]
    assert "same data file" in views.compare_note(comparison)
    rows = model_comparison(records)
    assert views.models_frame(rows)["Latency (median)"].iloc[0] == "not measured"
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
