"""What `bertstudio evaluate` prints, from a report built in memory (no model to run)."""

from __future__ import annotations

from argparse import Namespace

import numpy as np

from bertstudio.evaluation import cli
from bertstudio.evaluation.calibration import TemperatureFit
from bertstudio.evaluation.cli import calibration_line
from bertstudio.evaluation.report import build_report

LABELS = ["a", "b"]
LOGITS = np.array([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0]])


def report_with(temperature: float, note: str = ""):
    fit = TemperatureFit(temperature, 4, 0.5, 0.5, 0.1, 0.1, note=note)
    return build_report(LOGITS, [0, 1, 1], LABELS, fit, evaluated_on="test")


def test_the_calibration_line_names_a_temperature_only_where_one_was_applied():
    """It printed 'after temperature scaling (T = 1.000, fitted on 4 validation rows)' right above 'Note: Only 4
    validation rows (at least 20 needed): temperature kept at 1.'"""
    kept = calibration_line(report_with(1.0, "Only 4 validation rows (at least 20 needed): temperature kept at 1."))
    assert "no temperature scaling (T = 1)" in kept and "fitted" not in kept and "after" not in kept
    applied = calibration_line(report_with(1.5))
    assert "after temperature scaling (T = 1.500, fitted on 4 validation rows)" in applied


def printed_by_evaluate(report, monkeypatch, capsys) -> list[str]:
    """The lines `bertstudio evaluate` prints for ``report`` (the model run and the file read are stubbed out)."""
    monkeypatch.setattr(cli, "evaluate_run", lambda *a, **k: report)
    monkeypatch.setattr(cli, "evaluation_precision", lambda run_dir: "fp32")
    args = Namespace(run_dir="runs/x", data=None, text_column=None, label_column=None, text_pair_column=None,
                     baselines=False, encoder=None, sheet=None)
    assert cli.run_evaluate(args) == 0
    return capsys.readouterr().out.splitlines()


def test_evaluate_prints_what_to_know_before_trusting_the_scores(monkeypatch, capsys):
    """The model labels every test text 'b': said right under the scores, with what to do."""
    report = build_report(np.array([[0.0, 3.0]] * 3), [0, 1, 1], LABELS, TemperatureFit(1.0, 4, 0.5, 0.5, 0.1, 0.1),
                          evaluated_on="test")
    lines = printed_by_evaluate(report, monkeypatch, capsys)
    scored = next(i for i, line in enumerate(lines) if line.startswith("Scored:"))
    assert lines[scored + 1].startswith("WARNING: The model labels every one of the 3 test texts 'b'")
    assert lines[scored + 2].startswith("WARNING: Scores on only 3 test texts are rough")
    assert report.to_dict()["findings"][0]["code"] == "one_class_predicted"


def test_evaluate_answers_whether_its_confidence_can_be_trusted(monkeypatch, capsys):
    report = report_with(1.0)
    lines = printed_by_evaluate(report, monkeypatch, capsys)
    assert any(line.startswith("Can its confidence be trusted? Too few test texts to tell (3): ") for line in lines)
    assert report.to_dict()["confidence_verdict"]["kind"] == "too_few"
