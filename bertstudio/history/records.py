"""Every run under a folder, as a typed :class:`RunRecord`: date, data file and fingerprint, model, preset, key
settings, status, scores, training time and the simple model's score.

A run's status is read from what the folder holds, so a run killed with the machine still shows up:

* ``done``: ``summary.json`` is there (written last, see :mod:`bertstudio.runs`);
* ``failed`` / ``stopped``: ``metrics.jsonl`` ends with a ``failed`` / ``cancelled`` event;
* ``running``: a job of this app is training into the folder (the app passes the folders its jobs hold);
  without an app to ask (the CLI), a run whose ``metrics.jsonl`` changed in the last
  :data:`RECENT_ACTIVITY_S` seconds is taken to be running;
* ``interrupted``: anything else (the process died, or the machine went down, mid-run).

A run's ``status.json`` (written by runs since it existed, see :func:`recorded_status`) wins over all of these,
except ``damaged``: a file the run needs is missing or unreadable (config.json, summary.json, its model's weights),
whatever the run's ending was; the message names the file, and the field, with what to do (see :func:`damage`).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bertstudio.errors import ModelError, UserError
from bertstudio.evaluation.multilabel_metrics import EXACT_MATCH
from bertstudio.fingerprint import Fingerprint
from bertstudio.models.registry import find_variant
from bertstudio.results import (
    RunStatus,
    Summary,
    lost_model,
    read_run_settings,
    read_run_status,
    unfinished_hint,
)
from bertstudio.runs import METRICS_FILE, REPORT_FILE, SUMMARY_FILE, RunFolder, read_metrics

Status = Literal["running", "done", "stopped", "failed", "interrupted", "damaged"]
STATUSES: tuple[Status, ...] = ("running", "done", "stopped", "failed", "interrupted", "damaged")
STATUS_WORDS: dict[str, str] = {"running": "running", "done": "done", "stopped": "stopped",
                                "failed": "failed", "interrupted": "interrupted", "damaged": "damaged"}
# A training run appends to metrics.jsonl at least once per step; a step of BERT-base on a slow CPU at
# batch 32 takes ~20 s, so two quiet minutes mean the process is gone.
RECENT_ACTIVITY_S = 120.0
INTERRUPTED = "The run ended without finishing (the program was closed or the computer stopped)."
# The settings a list shows next to each run (all of them are in config.json; `runs show` prints them).
KEY_SETTINGS = ("epochs", "max_steps", "batch_size", "lr", "max_length", "seed")
SEEDS_REPORT = "seeds.json"  # bertstudio.evaluation.seeds.SEEDS_FILE: a folder with one run per seed
# A run folder's name starts with the local time it was made (runs.new_run_dir): "20261206-142249-MiniLM".
FOLDER_STAMP = re.compile(r"^(\d{8}-\d{6})(?:-|$)")
# A run folder holds one of these (config.json alone is not enough: every model folder has one too).
_RUN_FILES = (METRICS_FILE, SUMMARY_FILE, REPORT_FILE)


@dataclass
class RunRecord:
    """One run folder, as the history lists it."""

    path: Path
    status: Status
    created: str  # "YYYY-MM-DD HH:MM", local time the run began
    model: str  # display name (the summary's), else the config's model
    model_key: str  # what the config asked for: registry key, folder or Hugging Face id
    preset: str
    data_name: str
    fingerprint: Fingerprint | None
    settings: dict[str, Any]  # the key settings (KEY_SETTINGS), as the run used them
    config: dict[str, Any] = field(default_factory=dict)  # the whole config.json
    summary: Summary | None = None
    message: str = ""  # why it failed, or what is wrong with the folder
    group: str = ""  # the multi-seed folder it belongs to, if any
    started_ts: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.group}/{self.path.name}" if self.group else self.path.name

    @property
    def accuracy(self) -> float | None:
        return self.summary.accuracy if self.summary else None

    @property
    def macro_f1(self) -> float | None:
        return self.summary.macro_f1 if self.summary else None

    @property
    def multi_label(self) -> bool:
        """Several labels per text: its ``accuracy`` is the exact match (see ``accuracy_text``)."""
        task = self.summary.metrics.get("task") if self.summary else None
        return (task or self.config.get("task")) == "multi_label"

    @property
    def train_seconds(self) -> float | None:
        return self.summary.train_seconds if self.summary else None

    @property
    def simple_model_macro_f1(self) -> float | None:
        simple = self.summary.simple_model if self.summary else None
        return simple.macro_f1 if simple else None

    @property
    def label(self) -> str:
        """One line for pickers: "2026-01-04 19:30 · MiniLM · shop.csv · done · macro-F1 91.2%"."""
        score = f" · macro-F1 {score_text(self.macro_f1)}" if self.macro_f1 is not None else ""
        return f"{self.created} · {self.model} · {self.data_name or 'no data file'} · {self.status}{score}"

    @property
    def finished(self) -> str:
        """"YYYY-MM-DD HH:MM" the run wrote its results ('' before it did): what its summary records."""
        return self.summary.finished_at[:16] if self.summary and self.summary.finished_at else ""

    @property
    def when(self) -> str:
        """The run's times in words, named by its start like every list names it: "started 2026-12-06 14:22,
        finished 14:23" (the finish's date too when it is another day)."""
        finished = self.finished
        if not finished:
            return f"started {self.created}"
        same_day = finished[:10] == self.created[:10]
        return f"started {self.created}, finished {finished[11:] if same_day else finished}"


def score_text(value: float | None) -> str:
    """A score (accuracy, F1) as the app writes it for people: a percentage with one decimal, "81.4%"."""
    return "" if value is None else f"{value:.1%}"


def accuracy_text(value: float | None, multi_label: bool) -> str:
    """A run's accuracy as a score, named "exact match" for a multi-label run ("0.0%" beside a macro-F1 of 77% read
    as a broken model: it is the share of texts whose every label is right)."""
    if value is None or not multi_label:
        return score_text(value)
    return f"{score_text(value)} ({EXACT_MATCH})"


def recorded_status(run: RunFolder) -> tuple[Status, str] | None:
    """The status the run folder records in ``status.json``, read as everything else reads it
    (:func:`~bertstudio.results.read_run_status`: a running run whose process is gone is interrupted); None for a
    run from before status files, whose status is derived from its other files."""
    if not run.status.is_file():
        return None
    status = read_run_status(run.path)
    message = status.message or (INTERRUPTED if status.state == "interrupted" else "")
    if status.state in ("interrupted", "failed"):  # where it goes on from: status.json's checkpoint step
        message = f"{message} {unfinished_hint(run.path)}".strip()
    return status.state, message


def last_event(run: RunFolder) -> dict[str, Any] | None:
    """The last line of metrics.jsonl (a torn last line, from a killed process, is skipped)."""
    last = None
    try:
        for event in read_metrics(run.path):
            last = event
    except (OSError, ValueError):
        pass
    return last


def derive_status(run: RunFolder, active: Collection[Path] | None = None) -> tuple[Status, str]:
    """(status, message) of a run folder; ``active``: the folders this app's jobs are training into
    (None: no app to ask, so recent writes count as running)."""
    recorded = recorded_status(run)
    if recorded is not None:
        return recorded
    if run.summary.is_file():
        return "done", ""
    event = last_event(run) or {}
    if event.get("event") == "failed":
        hint = f" {event['hint']}" if event.get("hint") else ""
        return "failed", f"{event.get('message', 'Training failed.')}{hint}"
    if event.get("event") == "cancelled":
        return "stopped", f"Stopped at step {event.get('step', 0):,}."
    resolved = run.path.resolve()
    if active is not None:
        if any(Path(p).resolve() == resolved for p in active):
            return "running", ""
    elif run.metrics.is_file() and time.time() - run.metrics.stat().st_mtime < RECENT_ACTIVITY_S:
        return "running", "Written to in the last two minutes: probably still training."
    return "interrupted", INTERRUPTED


def _said(err: UserError) -> str:
    return f"{err.message} {err.hint}" if err.hint else err.message


def _read_settings(run: RunFolder) -> tuple[dict[str, Any], str]:
    """config.json, and what is wrong with it ('' when nothing): missing, broken or not settings."""
    try:
        return read_run_settings(run.path), ""
    except ModelError as err:
        return {}, _said(err)


def _read_summary(run: RunFolder) -> tuple[Summary | None, str]:
    """summary.json (None when the run has none), and what is wrong with it, naming the field."""
    if not run.summary.is_file():
        return None, ""
    try:
        return Summary.read(run.summary), ""
    except ModelError as err:
        return None, _said(err)


def damage(run: RunFolder, status: Status, settings_problem: str, summary_problem: str) -> list[str]:
    """What makes the run folder damaged, each naming the file (and field) and what to do: its config.json (unless
    it is still training), an unreadable summary.json, and, for a run that ended with its model, the model or
    summary.json gone since.  They showed as "failed" with "train it again", or as "done" with nothing said."""
    found = [settings_problem] if settings_problem and status != "running" else []
    found += [summary_problem] if summary_problem else []
    lost = lost_model(run.path)
    return found + ([f"{lost.message} {lost.hint}"] if lost is not None else [])


def status_file_note(run: RunFolder) -> str:
    """A damaged status.json, in words: the status is then read from the run's other files ('' when it reads)."""
    if not run.status.is_file():
        return ""
    try:
        RunStatus.read(run.status)
    except ModelError as err:
        return f"{err.message} The status shown is read from the run's other files."
    return ""


def _stamp_time(name: str) -> float | None:
    """The start time a run folder's name records ("20261206-142249-..."), as a timestamp; None without one."""
    match = FOLDER_STAMP.match(name)
    if match is None:
        return None
    try:
        return time.mktime(time.strptime(match.group(1), "%Y%m%d-%H%M%S"))
    except (ValueError, OverflowError):
        return None


def _started(run: RunFolder) -> float:
    """When the run began: the time its folder's name records (so the time a list shows and the run's name agree),
    else the time its first file was written."""
    stamped = _stamp_time(run.path.name)
    if stamped is not None:
        return stamped
    for path in (run.config, run.metrics, run.path):
        if path.exists():
            return path.stat().st_mtime if path != run.config else path.stat().st_ctime
    return 0.0


def _model_name(model: str | None) -> str:
    """The model a run without a summary was training, in the words of the runs that finished."""
    if not model:
        return "unknown model"
    variant = find_variant(model)
    if variant is not None:
        return variant.display_name
    return Path(model).name if Path(model).expanduser().is_dir() else model  # a local folder: named as it is


def read_run(path: str | os.PathLike[str], active: Collection[Path] | None = None, group: str = "") -> RunRecord:
    """The record of one run folder; a damaged file is a message on the record, never an exception."""
    run = RunFolder(path)
    config, settings_problem = _read_settings(run)
    status, message = derive_status(run, active)
    summary, summary_problem = _read_summary(run)
    damaged = damage(run, status, settings_problem, summary_problem)
    if damaged:
        status, message = "damaged", " ".join(damaged)
    message = " ".join(part for part in (message, status_file_note(run)) if part)
    started = _started(run)
    fingerprint = Fingerprint.from_dict(config.get("data_fingerprint"))
    data = config.get("data") or ""
    return RunRecord(
        path=run.path, status=status, created=time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        model=(summary.model if summary and summary.model else _model_name(config.get("model"))),
        model_key=str(config.get("model") or ""), preset=str(config.get("preset") or ""),
        data_name=fingerprint.name if fingerprint else Path(data).name, fingerprint=fingerprint,
        settings={k: config.get(k) for k in KEY_SETTINGS}, config=config, summary=summary,
        message=message, group=group, started_ts=started)


def _is_run(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _RUN_FILES)


def run_folders(root: str | os.PathLike[str]) -> list[tuple[Path, str]]:
    """(folder, group) of every run under ``root``: its own folders, and the seed runs of multi-seed folders."""
    root = Path(root)
    found: list[tuple[Path, str]] = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        if _is_run(folder):
            found.append((folder, ""))
        else:
            found += [(child, folder.name) for child in run_folders_in(folder)]
    return found


def list_runs(root: str | os.PathLike[str], active: Collection[Path] | None = None) -> list[RunRecord]:
    """Every run under ``root``, newest first."""
    records = [read_run(folder, active, group) for folder, group in run_folders(root)]
    return sorted(records, key=lambda r: (r.started_ts, r.path.name), reverse=True)


def find_run(root: str | os.PathLike[str], name: str, active: Collection[Path] | None = None) -> RunRecord:
    """The run called ``name`` (its folder name, ``group/folder``, or a path) under ``root``."""
    candidate = Path(name)
    if candidate.is_dir() and _is_run(candidate):
        return read_run(candidate, active)
    for record in list_runs(root, active):
        if name in (record.path.name, record.name, str(record.path)):
            return record
    raise UserError(f"No run called '{name}' in {root}.", "List the runs with `bertstudio runs list`.")


def delete_run(record: RunRecord, root: str | os.PathLike[str]) -> None:
    """Delete a run folder for good; never a running one, never anything outside ``root``.

    The folder is first renamed to a hidden name, so a half-deleted run never shows up in the list.
    """
    if record.status == "running":
        raise UserError(f"{record.name} is still training.", "Stop it first, then delete it.")
    if not record.path.resolve().is_relative_to(Path(root).resolve()):
        raise UserError(f"{record.path} is not a run of {root}.", "Pick one of the listed runs.")
    hidden = record.path.with_name(f".deleting-{record.path.name}-{time.time_ns()}")
    os.replace(record.path, hidden)
    shutil.rmtree(hidden, ignore_errors=True)
    group = record.path.parent
    if record.group and group.is_dir() and not run_folders_in(group):
        shutil.rmtree(group, ignore_errors=True)  # the last seed of a multi-seed folder: its seeds.json goes too


def run_folders_in(group: Path) -> list[Path]:
    """The run folders directly inside ``group`` (a multi-seed folder), by name."""
    return [child for child in sorted(group.iterdir()) if child.is_dir() and not child.name.startswith(".")
            and _is_run(child)]
