"""A self-contained HTML report of one run, for a colleague: what the data was, which settings and why, the
curves, the scores, the confusion matrix, calibration, the biggest errors, the exports' checks and latency.

One file, no network: the charts are inline SVG drawn here (no plotting library, no JavaScript), so the report
opens the same in any browser, offline, years later, and in a mail client's preview.
"""

from __future__ import annotations

import csv
import html
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertstudio.benchmark.records import BenchRecord
from bertstudio.errors import DataError, ModelError
from bertstudio.evaluation.multilabel_metrics import EXACT_MATCH, accuracy_name, saved_choice
from bertstudio.history.compare import Curves, latency_for, read_curves
from bertstudio.history.records import STATUS_WORDS, RunRecord, read_run, score_text
from bertstudio.results import Summary, read_export, read_json
from bertstudio.runs import RunFolder, atomic_write_text

# Statuses a run can still leave (resumed, or still training): its report says it is a snapshot.
UNSETTLED_STATUSES = ("running", "interrupted", "failed")
BIGGEST_ERRORS = 10
SVG_WIDTH, SVG_HEIGHT, MARGIN = 560, 260, 44
COLORS = ("#4f46e5", "#ea580c", "#059669", "#db2777", "#0891b2", "#65a30d", "#9333ea", "#ca8a04")

STYLE = """
body {font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #111827; padding: 0 1em;}
h1 {margin-bottom: .2em;} h2 {margin-top: 1.6em; border-bottom: 1px solid #e5e7eb; padding-bottom: .2em;}
table {border-collapse: collapse; margin: .6em 0;} td, th {border: 1px solid #e5e7eb; padding: 4px 8px;}
th {background: #f3f4f6; text-align: left;} .muted {color: #6b7280;} .num {text-align: right;}
.snapshot {background: #fef3c7; border: 1px solid #f59e0b; padding: .6em .8em;}
.headline {font-size: 1.3em;} .charts {display: flex; flex-wrap: wrap; gap: 1em;} svg {background: #fff;}
"""


@dataclass(frozen=True)
class Series:
    name: str
    xs: Sequence[float]
    ys: Sequence[float]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and value and abs(value) < 0.01:
        return f"{value:.3g}"  # learning rates: 0.0001 and 2e-05, not "0.000"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _finite(series: Series) -> list[tuple[float, float]]:
    return [(x, y) for x, y in zip(series.xs, series.ys)
            if isinstance(y, (int, float)) and math.isfinite(y) and math.isfinite(x)]


def line_chart_svg(title: str, series: Sequence[Series], x_label: str = "step", *, scores: bool = False) -> str:
    """A line chart as inline SVG: one polyline per series, axes with their ranges, a legend.  ``scores``: the
    values are shares (F1, accuracy), drawn on their whole scale, 0% to 100%: a flat curve at 0 (a run that never
    found a label) got an axis from -0.5 to 0.5."""
    points = {s.name: _finite(s) for s in series}
    every = [p for pts in points.values() for p in pts]
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" height="{SVG_HEIGHT}" role="img" '
            f'aria-label="{_e(title)}"><text x="{MARGIN}" y="18" font-size="14" font-weight="600">{_e(title)}</text>')
    if not every:
        return head + f'<text x="{MARGIN}" y="{SVG_HEIGHT // 2}" fill="#6b7280">No data recorded</text></svg>'
    x0, x1 = min(x for x, _ in every), max(x for x, _ in every)
    y0, y1 = min(y for _, y in every), max(y for _, y in every)
    x1 = x1 if x1 > x0 else x0 + 1
    if scores:
        y0, y1 = min(y0, 0.0), max(y1, 1.0)
    elif y1 <= y0:  # a flat curve: a narrow band around it (a macro-F1 of 0.71 once got an axis up to 1.71)
        pad = abs(y0) * 0.05 or 0.5
        y0, y1 = y0 - pad, y1 + pad
    width, height = SVG_WIDTH - 2 * MARGIN, SVG_HEIGHT - 2 * MARGIN
    y_text = (lambda y: f"{y:.0%}") if scores else _fmt

    def at(x: float, y: float) -> str:
        return f"{MARGIN + (x - x0) / (x1 - x0) * width:.1f},{SVG_HEIGHT - MARGIN - (y - y0) / (y1 - y0) * height:.1f}"

    parts = [head, f'<rect x="{MARGIN}" y="{MARGIN}" width="{width}" height="{height}" fill="none" stroke="#d1d5db"/>',
             f'<text x="{MARGIN}" y="{SVG_HEIGHT - MARGIN + 16}" font-size="11">{_fmt(x0, 0)}</text>',
             f'<text x="{SVG_WIDTH - MARGIN}" y="{SVG_HEIGHT - MARGIN + 16}" font-size="11" text-anchor="end">'
             f'{_fmt(float(x1), 0)}</text>',
             f'<text x="{SVG_WIDTH // 2}" y="{SVG_HEIGHT - 8}" font-size="11" text-anchor="middle">{_e(x_label)}</text>',
             f'<text x="{MARGIN - 4}" y="{MARGIN + 4}" font-size="11" text-anchor="end">{y_text(y1)}</text>',
             f'<text x="{MARGIN - 4}" y="{SVG_HEIGHT - MARGIN}" font-size="11" text-anchor="end">{y_text(y0)}</text>']
    for i, (name, pts) in enumerate(points.items()):
        color = COLORS[i % len(COLORS)]
        if len(pts) == 1:
            parts.append(f'<circle cx="{at(*pts[0]).split(",")[0]}" cy="{at(*pts[0]).split(",")[1]}" r="3" '
                         f'fill="{color}"/>')
        elif pts:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" '
                         f'points="{" ".join(at(x, y) for x, y in pts)}"/>')
        parts.append(f'<text x="{SVG_WIDTH - MARGIN}" y="{MARGIN + 14 + 14 * i}" font-size="11" text-anchor="end" '
                     f'fill="{color}">{_e(name)}</text>')
    return "".join(parts) + "</svg>"


def curve_charts(names: Sequence[str], curves: Sequence[Curves]) -> str:
    """Training loss and validation macro-F1, one line per run (overlaid when several)."""
    loss = line_chart_svg("Training loss (lower is better)",
                          [Series(n, c.steps, c.losses) for n, c in zip(names, curves)])
    val = line_chart_svg("Validation macro-F1 (higher is better)",
                         [Series(n, c.eval_steps, c.macro_f1s) for n, c in zip(names, curves)], scores=True)
    return f'<div class="charts">{loss}{val}</div>'


def table_html(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def confusion_html(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    """Rows: the true class; columns: what the model said; the shade is the share of the row."""
    head = "<th>true \\ predicted</th>" + "".join(f"<th>{_e(name)}</th>" for name in labels)
    rows = []
    for name, row in zip(labels, matrix):
        total = sum(row) or 1
        cells = "".join(f'<td class="num" style="background: rgba(79,70,229,{0.08 + 0.8 * n / total:.2f})">{n}</td>'
                        for n in row)
        rows.append(f"<tr><th>{_e(name)}</th>{cells}</tr>")
    return f'<table class="confusion">{"<tr>" + head + "</tr>"}{"".join(rows)}</table>'


def biggest_errors(run: RunFolder, limit: int = BIGGEST_ERRORS) -> list[dict[str, str]]:
    """The wrong predictions the model was surest of (highest loss first), from test_predictions.csv."""
    if not run.predictions.is_file():
        return []
    with run.predictions.open(encoding="utf-8", newline="") as handle:
        wrong = [row for row in csv.DictReader(handle) if row.get("predicted") and row.get("predicted") != row.get("label")]

    def loss(row: dict[str, str]) -> float:
        try:
            return float(row.get("loss") or 0)
        except ValueError:
            return 0.0

    return sorted(wrong, key=loss, reverse=True)[:limit]


def _section(title: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2>{body}</section>"


def _data_section(run: RunFolder, record: RunRecord) -> str:
    report = _json_or_empty(run.data_report)
    lines = [f"<p>{_e(report.get('table', record.data_name))}</p>"]
    if record.fingerprint:
        lines.append(f'<p class="muted">File {_e(record.fingerprint.name)}, {record.fingerprint.bytes:,} bytes, '
                     f'SHA-256 {_e(record.fingerprint.sha256)}</p>')
    counts = (report.get("report") or {}).get("class_counts") or {}
    if counts:
        lines.append(table_html(["class", "rows"], sorted(counts.items(), key=lambda kv: -kv[1])))
    split = report.get("split") or {}
    if split:
        lines.append(f"<p>Split: {_e(', '.join(f'{k} {v:,}' for k, v in split.items()))} rows.</p>")
    return _section("The data", "".join(lines))


def _settings_section(record: RunRecord) -> str:
    decisions = record.config.get("decisions") or []
    chosen = table_html(["setting", "value", "why"], [(d.get("field"), d.get("value"), d.get("reason"))
                                                       for d in decisions if isinstance(d, dict)])
    given = {k: v for k, v in record.config.items()
             if k not in ("decisions", "label_names", "data_sizes", "data_fingerprint", "output_dir")}
    all_settings = table_html(["setting", "value"], sorted(given.items()))
    return _section("Settings, and why", f"<p>Preset: <b>{_e(record.preset)}</b>. The settings chosen "
                    f"automatically, with the reason for each:</p>{chosen}<details><summary>Every setting"
                    f"</summary>{all_settings}</details>")


def _metrics_section(run: RunFolder, record: RunRecord) -> str:
    summary = record.summary
    if summary is None:
        return _section("Scores", f"<p>No scores: the run is {_e(record.status)}. {_e(record.message)}</p>")
    per_class = summary.metrics.get("per_class") or {}
    rows = [(name, f.get("precision"), f.get("recall"), f.get("f1"), f.get("support")) for name, f in per_class.items()]
    # Scores in sentences are percentages, as the app and the simple model's verdict write them.
    body = (f'<p class="headline">{accuracy_name(record.multi_label).capitalize()} '
            f'<b>{score_text(summary.accuracy)}</b> · macro-F1 <b>{score_text(summary.macro_f1)}</b> on the '
            f'{_e(summary.evaluated_on)} rows</p>')
    if record.multi_label:
        body += _thresholds_html(run, summary, rows)
    else:
        body += table_html(["class", "precision", "recall", "F1", "rows"], rows)
    simple = summary.simple_model
    if simple is not None:
        body += (f"<p>The simple word-count model scored macro-F1 {score_text(simple.macro_f1)} on the same rows "
                 f"(the fine-tuned model alone: {score_text(simple.fine_tuned_macro_f1)}). {_e(simple.verdict)}</p>")
    matrix = summary.metrics.get("confusion_matrix")
    if matrix:
        body += "<h3>Confusion matrix</h3>" + confusion_html(matrix, summary.label_names or list(per_class))
    return _section("Scores", body)


def _thresholds_html(run: RunFolder, summary: Summary, rows: list[tuple]) -> str:
    """A multi-label run's scores per label, each with the decision threshold it was given, and what exact match
    and the thresholds are, in words."""
    thresholds = dict(zip(summary.metrics.get("labels") or [], summary.metrics.get("thresholds") or []))
    prep = _json_or_empty(run.preprocessing)
    note = summary.metrics.get("threshold_note") or saved_choice(
        list(thresholds), prep.get("thresholds") or {}, prep.get("threshold", 0.5), prep.get("threshold_note", ""),
        prep.get("threshold_fallback", ())).note
    return (f'<p>{_e(EXACT_MATCH.capitalize())}: the share of texts whose labels are all right (several labels per '
            f"text). A label is given when its probability reaches its decision threshold. {_e(note)}</p>"
            + table_html(["label", "precision", "recall", "F1", "rows", "threshold"],
                         [(*row, thresholds.get(row[0])) for row in rows]))


def _calibration_section(run: RunFolder, record: RunRecord) -> str:
    figures = record.summary.calibration if record.summary else None
    if figures is None:
        return ""
    body = (f"<p>How far the model's confidence is from how often it is right (expected calibration error): "
            f"{_fmt(figures.ece)} before and {_fmt(figures.ece_calibrated)} after temperature scaling "
            f"(T = {_fmt(figures.temperature)}, fitted on the validation rows; predictions use it)."
            f"{_blend_note(record.summary)}</p>")
    bins = ((_json_or_empty(run.eval).get("reliability_calibrated") or {}).get("bins")) or []
    filled = [b for b in bins if b.get("count")]
    if filled:
        body += line_chart_svg("Confidence against accuracy (calibrated)",
                               [Series("accuracy", [b["confidence"] for b in filled], [b["accuracy"] for b in filled]),
                                Series("perfect", [0.0, 1.0], [0.0, 1.0])], x_label="confidence")
    return _section("Calibration", body)


def _blend_note(summary: Summary) -> str:
    """Which model the calibration figures are of, when the run ships a blend: the blend, as predict gives it."""
    blend = summary.simple_model.blend if summary.simple_model is not None else None
    if blend is None or not blend.used:
        return ""
    return (f" These are the figures of the blend the run ships: {blend.weight:.0%} the fine-tuned model "
            f"(temperature-scaled) and {1 - blend.weight:.0%} the simple word-count model.")


def _errors_section(run: RunFolder) -> str:
    rows = biggest_errors(run)
    if not rows:
        return _section("Biggest errors", "<p>No wrong predictions among the evaluated rows.</p>"
                        if run.predictions.is_file() else "<p>No evaluated rows were saved.</p>")
    table = table_html(["text", "given label", "model said", "confidence"],
                       [(r.get("text", "")[:300], r.get("label"), r.get("predicted"),
                         _fmt(float(r.get("confidence") or 0), 2)) for r in rows])
    return _section("Biggest errors", f"<p>The wrong answers the model was surest of: often a wrong label in "
                    f"the data, or a case the data lacks.</p>{table}")


def _exports_section(run: RunFolder) -> str:
    found = [read_export(folder) for folder in sorted(run.exports.iterdir())] if run.exports.is_dir() else []
    rows = [(e.format, f"{e.size_bytes / 1e6:.1f} MB", e.parity.describe(), "; ".join(e.warnings) or "none")
            for e in found if e is not None]
    if not rows:
        return _section("Exports", "<p>Not exported yet.</p>")
    return _section("Exports", table_html(["format", "size", "check against the trained model", "warnings"], rows))


def _latency_section(record: RunRecord, bench: Sequence[BenchRecord]) -> str:
    timed = latency_for(record, bench)
    if timed is None:
        model = record.model_key or "MODEL"
        return _section("Speed", "<p>Not measured. The Benchmark tab (or <code>bertstudio bench --models "
                        f"{_e(model)} --out bench.json</code>, then <code>bertstudio report RUN --benchmark "
                        "bench.json</code>) times this model.</p>")
    return _section("Speed", f"<p>{_e(timed.model_label)} predicts a batch of {timed.batch_size} "
                    f"({timed.seq_len} tokens) in {timed.p50_ms:.1f} ms (median), {timed.throughput:,.0f} texts/s, "
                    f"with {_e(timed.backend)} on {_e(timed.device)}.</p>")


def _json_or_empty(path: Path) -> dict[str, Any]:
    try:
        raw = read_json(path, "")
    except ModelError:
        return {}
    return raw if isinstance(raw, dict) else {}


def check_run_to_report(run_dir: str | os.PathLike[str]) -> None:
    """Refuse anything but a run folder: a missing folder got a report of an empty run (and was created), a run's
    model/ folder a report written into it, a data file a FileExistsError.  A run is a folder with config.json and
    any of the files a training writes as it goes (an unfinished run is reported too, with its status)."""
    folder = Path(run_dir)
    run = RunFolder(folder)
    if run.config.is_file() and any(p.is_file() for p in (run.status, run.metrics, run.summary)):
        return
    hint = "Pass a run folder made by `bertstudio train`; `bertstudio runs list` shows the runs."
    if not folder.exists():
        raise DataError(f"There is no folder {folder}.", hint)
    if not folder.is_dir():
        raise DataError(f"{folder} is a file, not a run folder.", hint)
    parent = RunFolder(folder.resolve().parent)
    if parent.config.is_file() and parent.model.resolve() == folder.resolve():
        raise DataError(f"{folder} is the model folder of a run, not the run.",
                        f"Pass the run folder itself: bertstudio report {Path(run_dir).parent}")
    raise DataError(f"{folder} is not a run folder (a run holds config.json and metrics.jsonl, status.json or "
                    "summary.json).", hint)


def render_report(run_dir: str | os.PathLike[str], bench: Sequence[BenchRecord] = ()) -> str:
    """The report of ``run_dir`` as one HTML document."""
    check_run_to_report(run_dir)
    record = read_run(run_dir)
    run = RunFolder(run_dir)
    title = f"{record.model} on {record.data_name or 'the data'}"
    header = (f"<h1>{_e(title)}</h1><p class=\"muted\">Run {_e(record.path.name)} · {_e(record.when)}"
              f" · {_e(STATUS_WORDS.get(record.status, record.status))}"
              + (f" · {_e(record.summary.device)}" if record.summary and record.summary.device else "")
              + (f" · trained in {record.train_seconds:.0f} s" if record.train_seconds else "") + "</p>")
    header += _snapshot_note(record, time.strftime("%Y-%m-%d %H:%M"))
    if record.message:
        header += f"<p>{_e(record.message)}</p>"
    curves = _section("Training curves", curve_charts([record.path.name], [read_curves(run_dir)]))
    body = "".join([header, _metrics_section(run, record), curves, _data_section(run, record),
                    _settings_section(record), _calibration_section(run, record), _errors_section(run),
                    _exports_section(run), _latency_section(record, bench)])
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)} · BERT Studio report'
            f"</title><style>{STYLE}</style></head><body>{body}<p class=\"muted\">Made with BERT Studio.</p>"
            "</body></html>\n")


def _snapshot_note(record: RunRecord, made: str) -> str:
    """When the report was made; for a run that may still go on (resumed, or still training), a banner saying the
    report shows it as it was then.  A report of an interrupted run, kept after the run was resumed and finished,
    still said "interrupted" with nothing to tell it from a report of the run as it is."""
    if record.status not in UNSETTLED_STATUSES:
        return f'<p class="muted">Report made {_e(made)}.</p>'
    return (f'<p class="snapshot"><b>Report made {_e(made)}, while the run was {_e(STATUS_WORDS[record.status])}.</b> '
            f"It shows the run as it was then; once the run has gone on (resumed, or finished), make the report "
            f"again (bertstudio report {_e(record.path)}, or the Runs tab's Make the report).</p>")


def write_report(run_dir: str | os.PathLike[str], target: str | os.PathLike[str] | None = None,
                 bench: Sequence[BenchRecord] = ()) -> Path:
    """Write the report (default: ``RUN/report.html``); returns its path."""
    path = Path(target) if target else RunFolder(run_dir).report
    atomic_write_text(path, render_report(run_dir, bench))
    return path
