"""What `bertstudio evaluate` prints, from a report built in memory (no model to run)."""

from __future__ import annotations

import numpy as np

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
