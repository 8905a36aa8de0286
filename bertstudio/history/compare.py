"""Two or more runs side by side: their curves, a metrics table, the settings that differ, per-class F1, and
the question this tool exists to answer: which model, how accurate, how fast (latency from the benchmark).

Pure functions of :class:`~bertstudio.history.records.RunRecord` s (and benchmark records); the app and the
CLI draw what they return.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bertstudio.benchmark.records import BenchRecord
from bertstudio.errors import UserError
from bertstudio.history.records import RunRecord
from bertstudio.runs import one_history, read_metrics, readable_metrics

# config.json keys that are not settings (or differ for every run by construction).
NOT_SETTINGS = frozenset({"output_dir", "decisions", "bertstudio_version", "data_sizes", "label_names",
                          "data_fingerprint", "data"})
# The benchmark backend that matches how a trained run predicts in PyTorch, preferred when several were timed.
REFERENCE_BACKEND = "torch-fp32"


@dataclass
class Curves:
    """A run's training loss per step and its validation figures per evaluation, from metrics.jsonl."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    macro_f1s: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)


def read_curves(run_dir) -> Curves:
    curves = Curves()
    try:
        events = list(read_metrics(run_dir))
    except (OSError, ValueError):  # a torn last line of a killed run: the curves up to it are still worth showing
        events = readable_metrics(run_dir)
    for event in one_history(events):
        if event.get("event") == "step":
            curves.steps.append(event["step"])
            curves.losses.append(event["loss"])
        elif event.get("event") == "evaluated":
            curves.eval_steps.append(event["step"])
            curves.val_losses.append(event["val_loss"])
            curves.macro_f1s.append(event["macro_f1"])
            curves.accuracies.append(event["accuracy"])
    return curves


@dataclass
class MetricsRow:
    run: str
    model: str
    status: str
    accuracy: float | None
    macro_f1: float | None
    validation_macro_f1: float | None
    simple_model_macro_f1: float | None
    train_seconds: float | None


@dataclass
class SettingDiff:
    """One setting whose value is not the same in every compared run (``values`` in the runs' order)."""

    name: str
    values: list[Any]


@dataclass
class PerClassF1:
    labels: list[str]
    f1: dict[str, dict[str, float | None]]  # run name -> label -> F1 (None: the run has no such class)


@dataclass
class Comparison:
    runs: list[RunRecord]
    curves: list[Curves]
    metrics: list[MetricsRow]
    settings: list[SettingDiff]
    per_class: PerClassF1
    same_data: bool  # every run saw the same file (by fingerprint): only then do their scores compare


def metrics_row(record: RunRecord) -> MetricsRow:
    validation = record.summary.validation.macro_f1 if record.summary else None
    return MetricsRow(run=record.name, model=record.model, status=record.status, accuracy=record.accuracy,
                      macro_f1=record.macro_f1, validation_macro_f1=validation,
                      simple_model_macro_f1=record.simple_model_macro_f1, train_seconds=record.train_seconds)


def _comparable(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def settings_diff(records: Sequence[RunRecord]) -> list[SettingDiff]:
    """The settings that differ between the runs (and the data file, when the fingerprints do)."""
    names = sorted({k for r in records for k in r.config} - NOT_SETTINGS)
    diffs = [SettingDiff(name, [r.config.get(name) for r in records]) for name in names]
    diffs = [d for d in diffs if len({_comparable(v) for v in d.values}) > 1]
    data = [f"{r.data_name} ({r.fingerprint.short})" if r.fingerprint else r.data_name or None for r in records]
    if len(set(data)) > 1:
        diffs.insert(0, SettingDiff("data", data))
    return diffs


def per_class_f1(records: Sequence[RunRecord]) -> PerClassF1:
    labels: list[str] = []
    table: dict[str, dict[str, float | None]] = {}
    for record in records:
        per_class = (record.summary.metrics.get("per_class") or {}) if record.summary else {}
        labels += [name for name in per_class if name not in labels]
        table[record.name] = {name: (figures or {}).get("f1") for name, figures in per_class.items()}
    return PerClassF1(labels, {run: {label: row.get(label) for label in labels} for run, row in table.items()})


def compare_runs(records: Sequence[RunRecord]) -> Comparison:
    """Two or more runs side by side."""
    if len(records) < 2:
        raise UserError("Pick at least two runs to compare.", "Tick two or more runs in the list.")
    fingerprints = {r.fingerprint.sha256 if r.fingerprint else None for r in records}
    return Comparison(runs=list(records), curves=[read_curves(r.path) for r in records],
                      metrics=[metrics_row(r) for r in records], settings=settings_diff(records),
                      per_class=per_class_f1(records), same_data=len(fingerprints) == 1 and None not in fingerprints)


# --------------------------------------------------------------------------- models: accuracy and latency


@dataclass
class ModelRow:
    """The best finished run of one model on the data, with the latency the benchmark measured for it."""

    model: str
    model_key: str
    runs: int
    best_run: str
    accuracy: float
    macro_f1: float
    train_seconds: float | None
    latency_ms: float | None = None  # p50 milliseconds per batch
    throughput: float | None = None  # texts per second
    latency_setting: str = ""  # "torch-fp32, batch 1, 128 tokens, cpu"


def _model_matches(record: BenchRecord, run: RunRecord) -> bool:
    return record.model == run.model_key or record.model_label == run.model or record.model_label == run.model_key


def latency_for(run: RunRecord, bench: Sequence[BenchRecord]) -> BenchRecord | None:
    """The measurement closest to how one text is predicted: real weights, the PyTorch fp32 backend when timed,
    the smallest batch, and the sequence length nearest the run's max_length."""
    mine = [b for b in bench if _model_matches(b, run)]
    if not mine:
        return None
    length = run.config.get("max_length") or 128
    return min(mine, key=lambda b: (b.weights != "real", b.backend != REFERENCE_BACKEND, b.batch_size,
                                    abs(b.seq_len - length)))


def model_comparison(records: Sequence[RunRecord], bench: Sequence[BenchRecord] = (),
                     fingerprint: str | None = None) -> list[ModelRow]:
    """One row per model: its best finished run on the same data (the newest run's file unless ``fingerprint``
    is given), with the measured latency when the benchmark timed that model.  Best macro-F1 first."""
    done = [r for r in records if r.status == "done" and r.summary is not None and r.fingerprint is not None]
    if not done:
        return []
    wanted = fingerprint or max(done, key=lambda r: r.started_ts).fingerprint.sha256
    by_model: dict[str, list[RunRecord]] = {}
    for record in done:
        if record.fingerprint.sha256 == wanted:
            by_model.setdefault(record.model_key or record.model, []).append(record)
    rows = []
    for key, runs in by_model.items():
        best = max(runs, key=lambda r: r.macro_f1 if not math.isnan(r.macro_f1) else -1)
        row = ModelRow(model=best.model, model_key=key, runs=len(runs), best_run=best.name, accuracy=best.accuracy,
                       macro_f1=best.macro_f1, train_seconds=best.train_seconds)
        timed = latency_for(best, bench)
        if timed is not None:
            row.latency_ms, row.throughput = timed.p50_ms, timed.throughput
            row.latency_setting = f"{timed.backend}, batch {timed.batch_size}, {timed.seq_len} tokens, {timed.device}"
        rows.append(row)
    return sorted(rows, key=lambda row: -row.macro_f1)
