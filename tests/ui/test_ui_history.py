"""The Runs tab's pure builders: tables and overlaid charts from history records."""

from __future__ import annotations

import json

from helpers import make_tiny_run

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


def test_a_runs_settings_fill_every_form_field():
    shown = settings_of_config({"lr": 3e-5, "epochs": 2, "model": "x"})
    assert set(shown) == set(ADVANCED_FIELDS) and shown["lr"] == 3e-5 and shown["batch_size"] is None
