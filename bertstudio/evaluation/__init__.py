"""Evaluation that tells the truth: full metrics, calibration, error analysis, label-noise
finding, cheap baselines and seed variance.

Everything here is usable without the app: pure functions returning dataclasses,
dicts and DataFrames, plus the run-folder entry points :func:`evaluate_run` and
:func:`finalize_run`.  Heavy libraries (torch, transformers, sklearn, cleanlab)
load inside the functions that need them.
"""
