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
# A run with a model scored on the test texts: finished, or stopped early after a validation check (it keeps its
# best model and is evaluated like a finished run; a stop before the first check leaves no summary).
SCORED_STATUSES = ("done", "stopped")
SHORT_NAME_SETTINGS = 2  # settings that differ named in a run's short name; the table below lists them all


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
    multi_label: bool = False  # several labels per text: ``accuracy`` is the exact match


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
    names: list[str] = field(default_factory=list)  # a short, distinct name per run (see short_names)


def metrics_row(record: RunRecord) -> MetricsRow:
    validation = record.summary.validation.macro_f1 if record.summary else None
    return MetricsRow(run=record.name, model=record.model, status=record.status, accuracy=record.accuracy,
                      macro_f1=record.macro_f1, validation_macro_f1=validation,
                      simple_model_macro_f1=record.simple_model_macro_f1, train_seconds=record.train_seconds,
                      multi_label=record.multi_label)


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


def setting_text(value: Any) -> str:
    """A setting as a person writes it: 4 (not the 4.0 config.json holds), 5e-05, auto (for None)."""
    if value is None:
        return "auto"
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _when(record: RunRecord, with_date: bool) -> str:
    """The run's start time as the Runs table shows it ("2026-12-06 14:34"), the date left out when every run
    compared started on the same day."""
    return record.created if with_date else record.created.split(" ")[-1]


def _difference_words(diff: SettingDiff, index: int) -> str:
    value = diff.values[index]
    return setting_text(value) if diff.name in ("model", "data") else f"{diff.name} {setting_text(value)}"


def short_names(records: Sequence[RunRecord], settings: Sequence[SettingDiff] = ()) -> list[str]:
    """A short name per run for legends and column heads: its start time and up to two settings that differ
    ("14:34 · epochs 4"), made distinct with the folder's name when that is not enough."""
    days = {r.created.split(" ")[0] for r in records}
    first = ("data", "model")  # what tells runs apart most, then the other settings by name
    shown = sorted(settings, key=lambda d: first.index(d.name) if d.name in first else len(first))
    shown = shown[:SHORT_NAME_SETTINGS]
    names = [" · ".join([_when(r, len(days) > 1), *(_difference_words(d, i) for d in shown)])
             for i, r in enumerate(records)]
    return [name if names.count(name) == 1 else f"{name} ({r.path.name})" for name, r in zip(names, records)]


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
    settings = settings_diff(records)
    return Comparison(runs=list(records), curves=[read_curves(r.path) for r in records],
                      metrics=[metrics_row(r) for r in records], settings=settings,
                      per_class=per_class_f1(records), same_data=len(fingerprints) == 1 and None not in fingerprints,
                      names=short_names(records, settings))


# --------------------------------------------------------------------------- models: accuracy and latency


@dataclass
class ModelRow:
    """The best scored run of one model on the data, with the latency the benchmark measured for it."""

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
    best_stopped_early: bool = False  # the best run was stopped before its planned steps (its best model is kept)
    best_started: str = ""  # the best run's start, "YYYY-MM-DD HH:MM", as the Runs table lists it
    multi_label: bool = False  # several labels per text: ``accuracy`` is the exact match


@dataclass
class LeftOut:
    """A listed run that the models table does not count, and why (in words a person reads)."""

    run: str
    reason: str


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


def has_test_score(record: RunRecord) -> bool:
    """Whether a run ended with a model evaluated on the test texts: a finished run, or one stopped after its first
    validation check (stopped early, it keeps its best model and is evaluated like a finished one)."""
    return record.status in SCORED_STATUSES and record.summary is not None


def _scored(records: Sequence[RunRecord]) -> list[RunRecord]:
    return [r for r in records if has_test_score(r) and r.fingerprint is not None]


def compared_fingerprint(records: Sequence[RunRecord], fingerprint: str | None = None) -> str | None:
    """The data file the models table is about: ``fingerprint`` when given, else the newest scored run's file."""
    scored = _scored(records)
    if fingerprint or not scored:
        return fingerprint
    return max(scored, key=lambda r: r.started_ts).fingerprint.sha256


def _why_left_out(record: RunRecord, wanted: str) -> str | None:
    """Why ``record`` is not counted on the data ``wanted`` (None: it is counted)."""
    if record.fingerprint is None:
        return "with no record of its data file"
    if record.fingerprint.sha256 != wanted:
        return f"trained on another data file ({record.data_name or record.fingerprint.short})"
    if has_test_score(record):
        return None
    if record.status == "stopped":
        return "stopped before its first validation check, so it kept no model"
    if record.status == "running":
        return "still training"
    if record.status == "damaged":  # it may have scores, but a file it needs is gone: not a run to pick as best
        return "damaged (a file it needs is missing or unreadable)"
    return f"{record.status}, so it has no test score"


def left_out_of_models(records: Sequence[RunRecord], fingerprint: str | None = None) -> list[LeftOut]:
    """The runs of ``records`` that :func:`model_comparison` does not count, with the reason for each: every listed
    run is either counted in a model's row or named here."""
    wanted = compared_fingerprint(records, fingerprint)
    if wanted is None:
        return []
    reasons = [(r.name, _why_left_out(r, wanted)) for r in records]
    return [LeftOut(name, reason) for name, reason in reasons if reason is not None]


def model_comparison(records: Sequence[RunRecord], bench: Sequence[BenchRecord] = (),
                     fingerprint: str | None = None) -> list[ModelRow]:
    """One row per model: its best scored run (finished, or stopped early with its best model) on the same data
    (the newest scored run's file unless ``fingerprint`` is given), with the measured latency when the benchmark
    timed that model.  Best macro-F1 first; :func:`left_out_of_models` names the runs not counted."""
    wanted = compared_fingerprint(records, fingerprint)
    by_model: dict[str, list[RunRecord]] = {}
    for record in _scored(records):
        if record.fingerprint.sha256 == wanted:
            by_model.setdefault(record.model_key or record.model, []).append(record)
    rows = []
    for key, runs in by_model.items():
        best = max(runs, key=lambda r: r.macro_f1 if not math.isnan(r.macro_f1) else -1)
        row = ModelRow(model=best.model, model_key=key, runs=len(runs), best_run=best.name, accuracy=best.accuracy,
                       macro_f1=best.macro_f1, train_seconds=best.train_seconds,
                       best_stopped_early=bool(best.summary.stopped_early), best_started=best.created,
                       multi_label=best.multi_label)
        timed = latency_for(best, bench)
        if timed is not None:
            row.latency_ms, row.throughput = timed.p50_ms, timed.throughput
            row.latency_setting = f"{timed.backend}, batch {timed.batch_size}, {timed.seq_len} tokens, {timed.device}"
        rows.append(row)
    return sorted(rows, key=lambda row: -row.macro_f1)
