"""Per-browser workspaces: each visitor's uploads, runs and exports live in their own folder.

The browser keeps only an HttpOnly cookie; the workspace id is derived from it on the server
(``ui/guard.py``) and everything else stays under ``<data_dir>/sessions/<id>/``.  Every path that comes
back from the browser (a run picked in a dropdown) is checked to lie inside the visitor's own folder, so
one visitor can never open, or even list, another's files.  On a shared app, workspaces nobody visited
for the limits' ``session_hours`` are deleted; when all of them together (with the uploads on their way in, in
Gradio's cache) pass ``sessions_disk_mb``, old uploads in the cache go first, then workspaces over their share
(``workspace_disk_mb``, largest first), then the longest idle: a visitor past their share loses their own files
before anyone else's. A workspace holding its share takes no new files.  The Data tab's file and choices are
kept there too (``data-choice.json``, a path inside the workspace's own uploads), and the Model tab's model, preset
and settings (``model-choice.json``), so a reloaded page shows them again.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bertstudio.data.io import rows_past_limit
from bertstudio.export.bundle import zip_model
from bertstudio.history.records import read_run, score_text
from bertstudio.errors import DataError, UserError
from bertstudio.limits import NO_LIMITS, UsageLimits
from bertstudio.runs import RunFolder, atomic_write_json
from bertstudio.ui.state import DataChoice, DataSelection, ModelChoice

SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
LAST_SEEN = ".last-seen"  # touched on every visit; its time is how long the workspace has been idle
DATA_CHOICE = "data-choice.json"
MODEL_CHOICE = "model-choice.json"
CLEAN_EVERY_S = 600  # a sweep walks every workspace's files: at most once per ten minutes
# An upload in Gradio's cache is copied into its workspace within seconds, and a download there is a copy of a
# workspace's file that its button makes again: past this age, deleting one to free the disk loses nothing.
CACHE_GRACE_S = 600
logger = logging.getLogger("bertstudio.ui")


@dataclass(frozen=True)
class Workspace:
    """One visitor's folder."""

    id: str
    root: Path

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def presets(self) -> Path:
        """Settings the visitor saved under a name (same files as ``presets/*.json``)."""
        return self.root / "presets"

    @property
    def data_choice(self) -> Path:
        """The Data tab's file and column choices, so a reloaded page shows them again (``remember_data``)."""
        return self.root / DATA_CHOICE

    @property
    def model_choice(self) -> Path:
        """The Model tab's model, preset and settings (``remember_model_choice``)."""
        return self.root / MODEL_CHOICE

    def owns(self, path: str | Path) -> bool:
        """Whether ``path`` lies inside this workspace (after resolving links and '..')."""
        try:
            return Path(path).resolve().is_relative_to(self.root.resolve())
        except (OSError, ValueError):
            return False


class SessionStore:
    """Creates and reopens workspaces under ``<data_dir>/sessions``, and deletes those past the limits.

    ``cache_dir``: Gradio's upload folder, counted in ``sessions_disk_mb`` (uploads land there before any handler
    sees them, and a client can send them without ever opening a page).
    """

    def __init__(self, data_dir: str | Path, limits: UsageLimits = NO_LIMITS, cache_dir: str | Path | None = None):
        self.root = Path(data_dir).expanduser().resolve() / "sessions"
        self.limits = limits
        self.cache_dir = Path(cache_dir).resolve() if cache_dir is not None else None
        self._last_sweep = 0.0
        self._cleaner: threading.Thread | None = None
        self._cleaner_lock = threading.Lock()

    def open(self, session_id: str | None) -> Workspace:
        """The workspace for ``session_id``; a fresh one when the id is missing or malformed."""
        if not session_id or not SESSION_ID_PATTERN.match(session_id):
            session_id = secrets.token_urlsafe(18)
        workspace = Workspace(session_id, self.root / session_id)
        for folder in (workspace.uploads, workspace.runs, workspace.exports):
            folder.mkdir(parents=True, exist_ok=True)
        (workspace.root / LAST_SEEN).touch()
        return workspace

    def clean_up(self, busy: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """:meth:`sweep`, at most once per :data:`CLEAN_EVERY_S` (it is called on every page load, and by
        :meth:`keep_clean`)."""
        with self._cleaner_lock:
            if time.time() - self._last_sweep < CLEAN_EVERY_S:
                return []
            self._last_sweep = time.time()
        return self.sweep(busy)

    def keep_clean(self, busy: Callable[[], Collection[str]]) -> None:
        """:meth:`clean_up` now and every :data:`CLEAN_EVERY_S`, on a daemon thread started once (nothing without
        limits to sweep by): uploads can arrive without any page load to sweep after them. ``busy``: the
        workspaces with a job running or waiting, asked each time."""
        if self.limits.session_hours is None and self.limits.sessions_disk_mb is None:
            return
        with self._cleaner_lock:
            if self._cleaner is not None:
                return
            self._cleaner = threading.Thread(target=self._clean_forever, args=(busy,), name="bertstudio-cleanup",
                                             daemon=True)
            self._cleaner.start()

    def _clean_forever(self, busy: Callable[[], Collection[str]]) -> None:
        while True:
            try:
                self.clean_up(set(busy()))
            except Exception:  # noqa: BLE001 - a failed sweep is tried again next time, the app goes on
                logger.exception("Cleaning up the visitors' files failed")
            time.sleep(CLEAN_EVERY_S)

    def sweep(self, busy: set[str] | frozenset[str] = frozenset(), now: float | None = None) -> list[str]:
        """Delete workspaces idle past ``session_hours``; then, while all files together (workspaces and Gradio's
        cache) exceed ``sessions_disk_mb``: cached uploads older than :data:`CACHE_GRACE_S`, workspaces over their
        share (largest first), then the longest idle. Never a workspace in ``busy`` (a job of it is running or
        waiting). Returns the deleted workspace ids."""
        if not self.root.is_dir() or (self.limits.session_hours is None and self.limits.sessions_disk_mb is None):
            return []
        now = time.time() if now is None else now
        idle = sorted((_last_seen(folder), folder) for folder in self.root.iterdir()
                      if folder.is_dir() and folder.name not in busy)  # longest idle first
        deleted = []
        if self.limits.session_hours is not None:
            expired = [(seen, f) for seen, f in idle if now - seen > self.limits.session_hours * 3600]
            deleted += [_delete(folder) for _, folder in expired]
            idle = idle[len(expired):]
        if self.limits.sessions_disk_mb is not None:
            quota = self.limits.sessions_disk_mb * 1e6
            sizes = {folder: _size(folder) for _, folder in idle}
            total = sum(_size(f) for f in self.root.iterdir() if f.is_dir() and f.name in busy) + sum(sizes.values())
            total = self._free_cache(total, quota, now)
            for folder in eviction_order([folder for _, folder in idle], sizes, self.limits):
                if total <= quota:
                    break
                total -= sizes[folder]
                deleted.append(_delete(folder))
        return deleted

    def _free_cache(self, total: int, quota: float, now: float) -> int:
        """``total`` with Gradio's cache added, less what was deleted of it (its oldest entries past the grace age)
        to come under ``quota``."""
        if self.cache_dir is None or not self.cache_dir.is_dir():
            return total
        entries = sorted((_newest(entry), entry, _size_of(entry)) for entry in self.cache_dir.iterdir())
        total += sum(size for _, _, size in entries)
        for changed, entry, size in entries:  # oldest first
            if total <= quota or now - changed < CACHE_GRACE_S:
                break
            _remove(entry)
            total -= size
        return total


def eviction_order(folders: list[Path], sizes: dict[Path, int], limits: UsageLimits) -> list[Path]:
    """Which workspaces go first when the disk is full: those over their share, largest first, then the others in
    the order given (longest idle first). Idle order alone let one visitor's uploads, spread over fresh cookies,
    delete every other visitor's runs while their own stayed."""
    over = sorted((f for f in folders if limits.over_disk_share(sizes[f])), key=lambda f: -sizes[f])
    return over + [f for f in folders if f not in over]


def check_room(workspace: Workspace, limits: UsageLimits, adding_bytes: int = 0) -> None:
    """Refuse new files (an upload of ``adding_bytes``, a run, an export) in a workspace that holds its share of
    the disk (``workspace_disk_mb``)."""
    if limits.workspace_disk_mb is not None:
        limits.check_disk_share(_size(workspace.root), adding_bytes)


def _last_seen(folder: Path) -> float:
    marker = folder / LAST_SEEN
    try:
        return marker.stat().st_mtime if marker.exists() else folder.stat().st_mtime
    except OSError:
        return 0.0


def _size_of(entry: Path) -> int:
    try:
        return _size(entry) if entry.is_dir() else entry.stat().st_size
    except OSError:
        return 0


def _newest(entry: Path) -> float:
    """When ``entry`` (a file, or the files of a folder; an empty folder itself) last changed; now when it cannot
    be told (it is changing: not old)."""
    try:
        files = [path for path in entry.rglob("*") if path.is_file()] if entry.is_dir() else [entry]
        return max(path.stat().st_mtime for path in files or [entry])
    except OSError:
        return time.time()


def _remove(entry: Path) -> None:
    if entry.is_dir():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def _size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:
            continue  # deleted meanwhile
    return total


def _delete(folder: Path) -> str:
    # Rename first, then delete: a half-deleted workspace is never opened as if it were whole.
    doomed = folder.with_name(f".deleting-{folder.name}")
    try:
        folder.rename(doomed)
    except OSError:
        doomed = folder
    shutil.rmtree(doomed, ignore_errors=True)
    return folder.name


def safe_file_name(name: str) -> str:
    """A file name without folders or odd characters, keeping its extension."""
    base = Path(name).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    return f"{_SAFE_NAME.sub('-', stem).strip('-.') or 'data'}{_SAFE_NAME.sub('', suffix)}"


def save_upload(workspace: Workspace, source: str | Path, original_name: str | None = None,
                limits: UsageLimits = NO_LIMITS, *, to_label: bool = False) -> Path:
    """Copy an uploaded (or sample) file into the workspace; the copy is what training reads.

    Each upload gets its own folder, so the file keeps the name the person knows: it is the
    name every message about the file uses. A file past the upload limit is refused before it is copied, and so
    is a table of more rows than the row limit, read only up to the row past it: read whole before its rows were
    checked, a million-row workbook held the app for 73 s (every later reading of the file, with other columns or
    after a reload, reads the copy that passed). ``to_label``: a file the model labels or scores (Predict, Evaluate),
    refused in those words rather than as training data.
    """
    source = Path(source)
    if not source.is_file():
        raise DataError("The uploaded file could not be found on the server.", "Upload it again.")
    limits.check_upload(source.stat().st_size)
    check_room(workspace, limits, source.stat().st_size)
    past = rows_past_limit(source, limits.max_rows) if limits.max_rows is not None else None
    if past is not None and to_label:
        limits.check_label_rows(past.rows)
    elif past is not None:
        limits.check_rows(past.rows, exact=past.exact)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder, n = workspace.uploads / stamp, 1
    while folder.exists():
        n += 1
        folder = workspace.uploads / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    target = folder / safe_file_name(original_name or source.name)
    shutil.copyfile(source, target)
    return target


def remember_data(workspace: Workspace, path: str | Path | None, selection: DataSelection | None,
                  sheet: str | None = None) -> None:
    """Keep the Data tab's file and choices in the workspace (a file outside its uploads is never recorded);
    ``sheet``: the workbook's sheet shown while its columns are still to be chosen."""
    if not path:
        return
    uploads = workspace.uploads.resolve()
    file = Path(path).resolve()
    if not file.is_relative_to(uploads):
        return
    choice = DataChoice.of(file.relative_to(uploads).as_posix(), selection, sheet)
    atomic_write_json(workspace.data_choice, asdict(choice))


def recall_data(workspace: Workspace) -> tuple[Path, DataChoice] | None:
    """The file and choices the Data tab showed last in this workspace; None when there are none, the file is
    gone, or the record is damaged or points outside the workspace's uploads (it is then ignored)."""
    try:
        choice = DataChoice(**json.loads(workspace.data_choice.read_text(encoding="utf-8")))
        uploads = workspace.uploads.resolve()
        file = (uploads / choice.file).resolve()
    except (OSError, ValueError, TypeError):
        return None
    if not file.is_relative_to(uploads) or not file.is_file():
        return None
    return file, choice


@dataclass(frozen=True)
class RememberedChoice:
    """The Model tab's choice as the person left it, and the data file it was made for."""

    model: str
    preset: str
    settings: dict[str, Any]
    data_file: str  # the loaded file's path then ("" when none was loaded)

    def made_for(self, data_file: str | Path | None) -> bool:
        """Whether this choice was made with ``data_file`` loaded (a new file gets its recommended preset)."""
        if not data_file or not self.data_file:
            return False
        try:
            return Path(self.data_file).resolve() == Path(data_file).resolve()
        except (OSError, ValueError):
            return False


def remember_model_choice(workspace: Workspace, choice: ModelChoice, data_file: str | None) -> None:
    """Keep the Model tab's choice in the workspace, so a reloaded page shows the settings the person typed."""
    remembered = RememberedChoice(choice.model, choice.preset, dict(choice.settings), data_file or "")
    atomic_write_json(workspace.model_choice, asdict(remembered))


def recall_model_choice(workspace: Workspace) -> RememberedChoice | None:
    """The Model tab's last choice in this workspace; None when there is none or the record is damaged."""
    try:
        remembered = RememberedChoice(**json.loads(workspace.model_choice.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(remembered.settings, dict) or not all(
            isinstance(v, str) for v in (remembered.model, remembered.preset, remembered.data_file)):
        return None
    return remembered


# --- runs ---------------------------------------------------------------------------------------------


@dataclass
class RunInfo:
    """A finished run, as listed in the run pickers: named as the Runs tab names it (when it started, the model,
    the data file)."""

    path: Path
    model: str
    macro_f1: float | None
    accuracy: float | None
    started: str  # "YYYY-MM-DD HH:MM"
    data_name: str = ""

    @property
    def label(self) -> str:
        score = f"macro-F1 {score_text(self.macro_f1)}" if self.macro_f1 is not None else "no score"
        data = f" · {self.data_name}" if self.data_name else ""
        return f"{self.started} · {self.model}{data} · {score}"


def list_workspace_runs(workspace: Workspace) -> list[RunInfo]:
    """Finished runs of this workspace, newest first."""

    infos = []
    for run in RunFolder.finished_under(workspace.runs):
        record = read_run(run.path)
        if record.summary is None:
            continue  # a damaged summary.json (the Runs tab lists the run as damaged, and why): the others can be
        infos.append(RunInfo(path=run.path, model=record.model, macro_f1=record.macro_f1, accuracy=record.accuracy,
                             started=record.created, data_name=record.data_name))
    return infos


def checked_run_dir(workspace: Workspace, run_dir: str | Path | None) -> Path:
    """``run_dir`` if it is a finished run of this workspace; a UserError otherwise."""

    if not run_dir:
        raise UserError("No trained model is selected.", "Train a model in the Train tab, or pick an earlier run.")
    path = Path(run_dir)
    if not workspace.owns(path) or not path.resolve().is_relative_to(workspace.runs.resolve()):
        raise UserError("That run does not belong to this browser session.", "Pick one of your own runs.")
    if not path.is_dir():  # deleted in the Runs tab (or another tab of this visitor) since it was picked
        raise UserError("That run has been deleted.", "Pick another run, or train a new one in the Train tab.")
    if not RunFolder(path).is_complete:
        raise UserError("That run did not finish, so it has no saved model.", "Pick a finished run.")
    return path


def export_zip(workspace: Workspace, run_dir: str | Path) -> Path:
    """A zip of the run's model folder (weights, tokenizer, labels, a README.md model card), built once and
    reused."""

    run = RunFolder(checked_run_dir(workspace, run_dir))
    return zip_model(run.path, workspace.exports / f"{run.path.name}-model.zip")

