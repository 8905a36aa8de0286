"""Evaluation that tells the truth: full metrics, calibration, error analysis, label-noise
finding, cheap baselines and seed variance.

Everything here is usable without the app: pure functions returning dataclasses,
dicts and DataFrames, plus the run-folder entry points :func:`evaluate_run` and
:func:`finalize_run`.  Heavy libraries (torch, transformers, sklearn, cleanlab)
load inside the functions that need them.
"""

from bertstudio.evaluation.baselines import BaselineResult, baseline_report, encoder_baseline, tfidf_baseline
from bertstudio.evaluation.calibration import (ReliabilityBin, ReliabilityDiagram, TemperatureFit, expected_calibration_error,
                          fit_temperature, reliability_diagram, softmax)
from bertstudio.evaluation.errors_table import TAGS, error_table, filter_errors, sort_errors, tag_counts
from bertstudio.evaluation.metrics import confusion_frame, evaluation_metrics, log_loss, per_class_frame, ranking_scores
from bertstudio.evaluation.noise import LabelNoiseReport, label_noise_report, out_of_fold_probs, rank_label_issues
from bertstudio.evaluation.report import (EVAL_FILE, EvalReport, build_report, evaluate_run, finalize_run, label_noise_for_run,
                     load_run_error_table, read_eval)
from bertstudio.evaluation.seeds import SeedReport, SeedRun, summarize_seeds, train_with_seeds

__all__ = [
    "EVAL_FILE", "TAGS", "BaselineResult", "EvalReport", "LabelNoiseReport", "ReliabilityBin", "ReliabilityDiagram",
    "SeedReport", "SeedRun", "TemperatureFit", "baseline_report", "build_report", "confusion_frame",
    "encoder_baseline", "error_table", "evaluate_run", "evaluation_metrics", "expected_calibration_error",
    "filter_errors", "finalize_run", "fit_temperature", "label_noise_for_run", "label_noise_report",
    "load_run_error_table", "log_loss", "out_of_fold_probs", "per_class_frame", "rank_label_issues", "read_eval",
    "ranking_scores", "reliability_diagram", "softmax", "sort_errors", "summarize_seeds", "tag_counts",
    "tfidf_baseline", "train_with_seeds",
]
