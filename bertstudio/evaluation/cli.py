"""``bertstudio evaluate``, ``bertstudio label-noise`` and ``bertstudio train-seeds``.

Loaded by :func:`bertstudio.cli._load_plugin_commands`.  Like ``train``, each
command prints a few readable lines and ends with one line of JSON holding the
headline figures, for scripts.
"""

from __future__ import annotations

import argparse
import json
import math

from bertstudio.cli_args import Command, add_config_flags, non_negative_int
from bertstudio.evaluation.metrics import left_out_note
from bertstudio.evaluation.multilabel_report import MultiLabelReport
from bertstudio.evaluation.report import EvalReport
from bertstudio.evaluation.run import evaluate_run, evaluation_precision, label_noise_for_run, precision_note
from bertstudio.runs import RunFolder


def _figure(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


# --- evaluate ---------------------------------------------------------------------------------------


def calibration_line(report: EvalReport) -> str:
    """The calibration error, and the temperature only where one was applied: "after temperature scaling (T = 1.000,
    fitted on 4 validation rows)" printed above "temperature kept at 1" said a fit was made that was not."""
    fit = report.calibration
    if not fit.applied:
        return f"Calibration error (ECE): {_figure(report.reliability.ece)}; no temperature scaling (T = 1)."
    return (f"Calibration error (ECE): {_figure(report.reliability.ece)} before, "
            f"{_figure(report.reliability_calibrated.ece)} after temperature scaling (T = {fit.temperature:.3f}, "
            f"fitted on {fit.rows:,} validation rows)")


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="A run folder made by `bertstudio train`.")
    p.add_argument("--data", help="Evaluate on this labeled file instead of the run's test rows (checks how the "
                                  "model holds up on different data); NAME.csv writes eval-NAME.json and "
                                  "predictions-NAME.csv into the run, beside eval.json.")
    p.add_argument("--text", dest="text_column", help="Text column of --data (default: as in training).")
    p.add_argument("--label", dest="label_column", help="Label column of --data (default: as in training).")
    p.add_argument("--text-pair", dest="text_pair_column", help="Second text column of --data, for pair models.")
    add_config_flags(p, ("sheet",))  # train's --sheet: a workbook's sheet is chosen the same way
    p.add_argument("--baselines", action="store_true",
                   help="Also train TF-IDF and frozen-encoder baselines on the same split, for comparison.")
    p.add_argument("--encoder", help="Encoder for the frozen-encoder baseline (default: the run's base model).")


def run_evaluate(args: argparse.Namespace) -> int:
    report = evaluate_run(args.run_dir, data=args.data, text_column=args.text_column, label_column=args.label_column,
                          text_pair_column=args.text_pair_column, baselines=args.baselines, encoder=args.encoder,
                          sheet=args.sheet)
    print(precision_note(evaluation_precision(args.run_dir)))
    for note in report.notes:  # how the file was read, said first: a wrong column makes every figure below wrong
        print(note.to_text())
    if isinstance(report, MultiLabelReport):
        print("\n".join([*report.lines(), f"Saved {report.path}", json.dumps(report.headline())]))
        return 0
    m, fit = report.metrics, report.calibration
    print(f"Evaluated on {report.evaluated_on} ({m['rows']:,} rows): accuracy {_figure(m['accuracy'])}, "
          f"macro-F1 {_figure(m['macro_f1'])}, log loss {_figure(m['log_loss'])} (the probabilities predict gives)")
    print(f"Scored: {report.scored_model}.")
    for finding in report.findings:  # right under the scores they qualify: a model that never predicts a class
        print(finding.to_text())
    alone = report.fine_tuned_alone
    if alone is not None:  # what the blend adds, labelled so it is never read as the run's score
        print(f"The fine-tuned model alone (not what the run ships): accuracy {_figure(alone.accuracy)}, "
              f"macro-F1 {_figure(alone.macro_f1)}, log loss {_figure(alone.log_loss)}, ECE {_figure(alone.ece)}")
    if m.get("left_out"):
        print(f"Note: {left_out_note(m['left_out'], m.get('left_out_predicted'))}")
    print(calibration_line(report))
    if fit.note:
        print(f"Note: {fit.note}")
    if report.confidence is not None:
        print(f"Can its confidence be trusted? {report.confidence.sentence}")
    for baseline in report.baselines:
        print(f"Baseline {baseline.name}: accuracy {_figure(baseline.accuracy)}, "
              f"macro-F1 {_figure(baseline.macro_f1)} ({baseline.seconds:.1f} s)")
    print(f"Saved {report.path}")
    print(json.dumps(report.headline()))
    return 0


# --- label-noise ---------------------------------------------------------------------------------------


def _add_label_noise(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="A run folder made by `bertstudio train`.")
    p.add_argument("--encoder", help="Encoder for the features (default: the run's base model).")
    p.add_argument("--show", type=non_negative_int, default=10,
                   help="How many of the most suspicious rows to print (default: 10; all of them are saved).")


def run_label_noise(args: argparse.Namespace) -> int:
    report = label_noise_for_run(args.run_dir, encoder=args.encoder)
    print(report.summary())
    for row in report.table.head(max(args.show, 0)).itertuples():
        print(f"  #{row.rank}: given '{row.given_label}', looks like '{row.suspected_label}' "
              f"({row.confidence:.0%}): {str(row.text)[:100]}")
    path = str(RunFolder(args.run_dir).label_issues)
    print(f"Saved {path}")
    print(json.dumps({"rows_checked": report.rows_checked, "flagged": report.n_flagged, "file": path}))
    return 0


COMMANDS = (
    Command('evaluate', "Score a trained run: full metrics, calibration (temperature scaling) and optional baselines; "
            "writes eval.json into the run (with --data NAME.csv: eval-NAME.json and predictions-NAME.csv).",
            _add_evaluate, run_evaluate),
    Command('label-noise', 'Find training rows that are probably mislabeled; writes label_issues.csv into the run.',
            _add_label_noise, run_label_noise),
)
