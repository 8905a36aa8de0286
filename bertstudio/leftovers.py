"""Removing what killed processes left behind: temporary files and folders of atomic writes.

A run or export killed mid-write leaves its temporary copy (``.model.tmp-<pid>-...``, ``.onnx.tmp-<pid>-...``,
``.summary.json.tmp-<pid>-...``, ``.model.old-<pid>-...``) beside the file it was going to replace: never
mistaken for a result (hidden, never renamed into place), but a model's worth of disk each time.  The next start
(the app, ``bertstudio train``, ``bertstudio export``) removes those whose process is gone.  A run still
training (``status.json`` running with a live process) is left alone entirely, and so is any temporary name
whose process is alive (an export running in another terminal writes into a finished run's ``exports/``).
The data cache is swept the same way: the cleaned rows of a table (``data/arrow_batches.py``) are written under
such a name beside its Arrow copy, ``<cache>/datasets/<builder>/<copy>/prepared/``; the names older versions wrote
there (``.<digest>-<uuid>.tmp``, no process id) go once nobody has written to them for ``LEGACY_TMP_STALE_S``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from bertstudio.errors import ConfigError
from bertstudio.results import read_run_status
from bertstudio.runs import TEMP_NAME, RunFolder

# Root (0) -> run folders (1) -> model/, exports/ (2) -> exports/<format>/ (3): every place an atomic write goes;
# the data cache: datasets (0) -> csv (1) -> one table's copy (2) -> prepared/ (3).
MAX_DEPTH = 3
# The cleaned rows' temporary files before they carried a process id: a file being written grows a batch at a time
# (10,000 rows, well under a minute each even for a million-row file), so one untouched for an hour is abandoned.
LEGACY_TMP = re.compile(r"^\.[0-9a-f]{24}-[0-9a-f]{32}\.tmp$")
LEGACY_TMP_STALE_S = 3600


def _process_alive(pid: int) -> bool:
    import psutil

    return pid == os.getpid() or psutil.pid_exists(pid)


def is_orphan(path: Path) -> bool:
    """A temporary name of an atomic write whose process is gone (or, with no process id, long untouched)."""
    match = TEMP_NAME.match(path.name)
    if match is not None:
        return not _process_alive(int(match["pid"]))
    return LEGACY_TMP.match(path.name) is not None and _idle_for(path) > LEGACY_TMP_STALE_S


def _idle_for(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:  # removed meanwhile
        return 0.0


def _training_now(folder: Path) -> bool:
    return RunFolder(folder).status.is_file() and read_run_status(folder).state == "running"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _sweep(folder: Path, depth: int, removed: list[Path]) -> None:
    if depth > MAX_DEPTH or _training_now(folder):
        return
    try:
        entries = sorted(folder.iterdir())
    except OSError:  # gone, or not ours to read: nothing to clean there
        return
    for entry in entries:
        if is_orphan(entry):
            _remove(entry)
            removed.append(entry)
        elif entry.is_dir() and not entry.is_symlink():
            _sweep(entry, depth + 1, removed)


def remove_leftovers(roots: Iterable[str | os.PathLike[str] | None]) -> list[Path]:
    """Remove killed processes' temporary files and folders under each of ``roots`` (a runs folder, a run
    folder or an export folder); returns what was removed."""
    removed: list[Path] = []
    for root in roots:
        if root is not None and Path(root).is_dir():
            _sweep(Path(root), 0, removed)
    return removed


def claim_out_folder(folder: str | os.PathLike[str], overwrite: bool) -> None:
    """Make sure a new training may write into ``folder`` (``--out``): a folder holding an earlier run is refused
    (its metrics.jsonl would mix two runs' steps, its old model would look like the new one's) unless
    ``overwrite``, which removes that run's files first.  A run still training there is never touched."""
    run = RunFolder(folder)
    if not run.path.is_dir() or not run.holds_a_run():
        return
    status = read_run_status(run.path)
    if status.state == "running":
        raise ConfigError(f"The folder {run.path} holds a run that is still training (process {status.pid}).",
                          hint="Pick another folder with --out, or wait for that run to end.")
    if not overwrite:
        what = {"interrupted": "an interrupted run", "failed": "a failed run"}.get(status.state, "a finished run")
        choices = ["pick another folder with --out", "add --overwrite to replace that run"]
        if status.state in ("interrupted", "failed"):
            choices.insert(0, f"resume it (bertstudio train --resume {run.path})")
        hint = ", ".join(choices[:-1]) + f" or {choices[-1]}."
        raise ConfigError(f"The folder {run.path} already holds {what}; training into it would mix the two runs.",
                          hint=hint[:1].upper() + hint[1:])
    run.clear()
