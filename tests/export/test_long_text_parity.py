"""Parity rows for models that read long texts in windows: every window is compared, with its text's label."""

from __future__ import annotations

import numpy as np

from bertstudio.export.parity import ValidationRows, per_window


def test_rows_are_repeated_once_per_window():
    rows = ValidationRows(["a", "b", "c"], None, np.array([0, 1, 2]), "3 test rows of the run")
    windows = per_window(rows, [0, 1, 1, 1, 2])
    assert windows.texts == ["a", "b", "b", "b", "c"] and windows.labels.tolist() == [0, 1, 1, 1, 2]
    assert windows.source == "3 test rows of the run, per window" and len(windows) == 5
    assert per_window(rows, None) is rows
