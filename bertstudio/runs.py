"""Run folders and crash-safe writes.

A run folder holds ``config.json``, ``metrics.jsonl``, ``model/`` and, written
last, ``summary.json``.  Its presence is what marks a run as done, and every
file is written to a temporary name first and renamed into place, so a crash
never leaves a half-written model that looks finished.

:class:`RunFolder` is the one place that knows where each file of a run lives;
what the JSON files hold is typed in :mod:`bertstudio.results`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from bertstudio.errors import ConfigError, disk_full_error, is_disk_full

try:
    import fcntl
except ImportError:  # Windows: no flock; a run folder is then claimed by its status.json alone
    fcntl = None

logger = logging.getLogger(__name__)

# Every file name of a run folder, defined here and nowhere else.
CONFIG_FILE = "config.json"  # every setting, and the reason for each automatic one
METRICS_FILE = "metrics.jsonl"  # one line per training event, appended as it happens
SUMMARY_FILE = "summary.json"  # written last: its presence marks the run as done
MODEL_DIR = "model"  # the trained model, swapped in whole
MODEL_WEIGHTS_FILE = "model.safetensors"  # the trained model's weights, inside model/ (never a pickle)
REPORT_FILE = "data_report.json"  # what was read and found in the data
PREDICTIONS_FILE = "test_predictions.csv"  # the evaluated rows with what the model said
EVAL_FILE = "eval.json"  # full metrics and calibration
VALIDATION_LOGITS_FILE = "validation_logits.npz"  # lets later evaluations refit the temperature without the data
LABEL_ISSUES_FILE = "label_issues.csv"  # training rows that look mislabeled
EXPORTS_DIR = "exports"  # default place of a run's exports: RUN/exports/<format>/
EXPORT_PLACES_FILE = "export_places.json"  # where each format was last exported to (--out may be anywhere)
EXPORT_PLACES_LOCK = "export_places.json.lock"  # held while one export updates it (several may end at once)
ADAPTER_DIR = "adapter"  # a LoRA run's adapters and head, as peft saves them
SIMPLE_MODEL_DIR = "simple_model"  # the word-count model trained beside the fine-tuned one
STATUS_FILE = "status.json"  # running / done / stopped / failed, rewritten as the run goes (see results.RunStatus)
CHECKPOINTS_DIR = "checkpoints"  # the latest resumable training state, removed once the run has ended
# Held (flock) by the one process training in the folder, for the whole training; it names that process.  Removed
# when the training ends (a killed one leaves it, unlocked, for the next to take); see hold_run_folder.
TRAINING_LOCK = ".training.lock"
TRACKING_DIR = "logs"  # experiment tracker files: logs/bertstudio/ holds TensorBoard's event files
RUN_REPORT_FILE = "report.html"  # `bertstudio report RUN` (the Runs tab's report): the run as it was when made

# Files inside a model folder (the run's model/ and every export) that BERT Studio adds to the weights.
PREPROCESSING_FILE = "preprocessing.json"  # what prediction must repeat exactly as training did
EXPORT_INFO_FILE = "export.json"  # what an export holds and how it compared with the trained model


# Temporary names carry the writer's process id (".model.tmp-1234-x8f2a", ".model.old-1234-...") so the next start
# can tell the leftovers of a killed process from the work of a live one (see bertstudio.leftovers).
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)(?:-.*)?$")


def temp_prefix(target: Path) -> str:
    """The start of a temporary name beside ``target``: hidden, naming the target and this process."""
    return f".{target.name}.tmp-{os.getpid()}-"


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full_error(path.name, path.parent, len(text.encode("utf-8"))) from exc
        raise


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


def atomic_directory(target: Path, fill, needed_bytes: int | None = None) -> Path:
    """Build a folder under a temporary name with ``fill(tmp_path)`` and then swap it in.

    A full disk is a :class:`DiskFullError` naming ``needed_bytes`` (what the folder takes, when known).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=target.parent))
    try:
        fill(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(exc):
            raise disk_full_error(f"the folder {target.name}", target.parent, needed_bytes) from exc
        raise
    return target


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def slugify(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return (slug or "run")[:limit]


def new_run_dir(root: Path, model_name: str) -> Path:
    """A fresh, unique folder, made by this call: sortable by time, readable by model.

    ``mkdir`` is the claim (it fails when the folder exists), so two trainings started in the same second never
    share a folder: the second takes the next name instead of failing or writing into the first one's."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = root / f"{stamp}-{slugify(Path(model_name).name)}"
    root.mkdir(parents=True, exist_ok=True)
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


class RunFolderBusy(ConfigError):
    """Another process is training in the run folder (it holds the folder's training lock)."""

    def __init__(self, message: str, hint: str | None = None, pid: int | None = None):
        super().__init__(message, hint)
        self.pid = pid


class TrainingHold:
    """This process's exclusive claim on a run folder while it trains in it (:func:`hold_run_folder`).

    An ``flock`` on ``.training.lock``: taken at once or refused, never waited for, and released by the kernel
    when the process ends however it ends, so a killed run never blocks the next one.  Locks of one process
    exclude each other too (each hold opens the file anew), so the app's threads are held apart as processes are.
    """

    def __init__(self, folder: Path, fd: int | None):
        self.folder = folder
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file while still holding it (a finished run folder keeps no trace of it), then let go."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # the folder was removed meanwhile: nothing to clean
            if _same_file(self._fd, RunFolder(self.folder).training_lock):
                RunFolder(self.folder).training_lock.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> TrainingHold:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


# Errors of a file system that cannot lock (some network mounts): training goes on unlocked, as it did before.
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


def hold_run_folder(folder: str | os.PathLike[str], hint: str) -> TrainingHold:
    """Claim ``folder`` (created if missing) for this process's training, or raise :class:`RunFolderBusy` naming
    the process that trains there, with ``hint``.  Checking the run's status first and writing it later was not
    enough: two resumes started in the same second both read "interrupted" and both trained into one folder.

    A full disk is a :class:`~bertstudio.errors.DiskFullError` (`train --resume` on a full disk ended in an
    OSError traceback while writing the holder's process id), and nothing is held or left behind."""
    folder = Path(folder)
    try:
        return _take_hold(folder, hint)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(f"the training's lock file {TRAINING_LOCK}", folder) from exc
        raise


def _take_hold(folder: Path, hint: str) -> TrainingHold:
    """:func:`hold_run_folder`'s claim, errors of the file system as they come."""
    if fcntl is None:
        folder.mkdir(parents=True, exist_ok=True)
        return TrainingHold(folder, None)
    run = RunFolder(folder)
    while True:
        fd = _open_lock_file(run)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _lock_holder(fd)
            os.close(fd)
            if exc.errno in _NO_LOCKS:
                logger.warning("%s cannot be locked (%s); two trainings there would not be kept apart.", folder, exc)
                return TrainingHold(folder, None)
            who = f"process {holder}" if holder is not None else "another process"
            raise RunFolderBusy(f"The run in {folder} is still training ({who}).", hint, pid=holder) from None
        # The holder before removed the file as it let go: this lock is on a file no longer there, so another
        # process may hold the new one.  Only a lock on the file at the path counts; else open it again.
        if _same_file(fd, run.training_lock):
            break
        os.close(fd)
    hold = TrainingHold(folder, fd)
    try:
        _write_holder(fd)
    except BaseException:
        hold.release()  # a hold that cannot name its process is let go at once, its lock file removed
        raise
    return hold


def _write_holder(fd: int) -> None:
    """Write this process's id into the lock file, for a refused claim to name (see :func:`_lock_holder`)."""
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())


def _same_file(fd: int, path: Path) -> bool:
    """``fd`` is the file at ``path`` (not one removed, or replaced, since it was opened)."""
    try:
        here = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (here.st_dev, here.st_ino)


def _open_lock_file(run: RunFolder, tries: int = 3) -> int:
    """The lock file, opened (not inherited by programs this process starts).  Another command checking whether
    it can write there creates a missing folder and removes it again (cli_args.check_writable_folder): a folder
    removed between our mkdir and open is made again."""
    for _ in range(tries - 1):
        run.path.mkdir(parents=True, exist_ok=True)
        try:
            return os.open(run.training_lock, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            continue
    run.path.mkdir(parents=True, exist_ok=True)
    return os.open(run.training_lock, os.O_RDWR | os.O_CREAT, 0o644)


HOLDER_WAIT_S = 1.0  # how long a refused claim waits for the holder to write its process id (it locks, then writes)


def _lock_holder(fd: int) -> int | None:
    """The process id of the holder of the lock on ``fd``, as it wrote it into the file; None when it does not
    write one in time (it locks first and writes next, so a claim refused in between reads an empty file, or the id
    of a killed holder before it)."""
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        pid = _live_pid_in(fd)
        if pid is not None or time.monotonic() > deadline:
            return pid
        time.sleep(0.02)


def _live_pid_in(fd: int) -> int | None:
    """The process id written in the lock file when that process is alive."""
    try:
        pid = int(os.pread(fd, 32, 0).decode().strip())
    except (ValueError, OSError):
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except PermissionError:  # it does, under another user
        return pid
    except OSError:
        return None
    return pid


class MetricsLog:
    """Append-only ``metrics.jsonl``: one JSON object per training event, flushed as it happens."""

    def __init__(self, path: Path):
        self.path = path
        self._handle = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, default=str) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read_metrics(run_dir: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    path = RunFolder(run_dir).metrics
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def readable_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """``metrics.jsonl``'s events, skipping a line a killed process left torn (a resumed run appends after it)."""
    path = RunFolder(run_dir).metrics
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def one_history(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run's recorded events as one history.  A resumed run's metrics.jsonl holds, after the events of the
    process that was killed, a ``started`` naming the checkpoint step it went on from: the steps and checks past
    that checkpoint were done again, so their first tries are dropped (the curves would otherwise step back)."""
    history: list[dict[str, Any]] = []
    for event in events:
        resumed = event.get("resumed_from_step") if event.get("event") == "started" else None
        if resumed is not None:
            history = [e for e in history if e.get("event") not in ("step", "evaluated") or e.get("step", 0) <= resumed]
        history.append(event)
    return history


@dataclass(frozen=True, init=False)
class RunFolder:
    """A run folder's path, with one property per file it holds: ``RunFolder(run_dir).summary``."""

    path: Path

    def __init__(self, path: str | os.PathLike[str]):
        object.__setattr__(self, "path", Path(path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY_FILE

    @property
    def model(self) -> Path:
        return self.path / MODEL_DIR

    @property
    def weights(self) -> Path:
        """The trained model's weights (inside ``model/``)."""
        return self.model / MODEL_WEIGHTS_FILE

    @property
    def preprocessing(self) -> Path:
        """The model's ``preprocessing.json`` (inside ``model/``)."""
        return self.model / PREPROCESSING_FILE

    @property
    def data_report(self) -> Path:
        return self.path / REPORT_FILE

    @property
    def predictions(self) -> Path:
        return self.path / PREDICTIONS_FILE

    @property
    def eval(self) -> Path:
        return self.path / EVAL_FILE

    @property
    def validation_logits(self) -> Path:
        return self.path / VALIDATION_LOGITS_FILE

    @property
    def label_issues(self) -> Path:
        return self.path / LABEL_ISSUES_FILE

    @property
    def exports(self) -> Path:
        return self.path / EXPORTS_DIR

    @property
    def simple_model(self) -> Path:
        return self.path / SIMPLE_MODEL_DIR

    @property
    def adapter(self) -> Path:
        """The LoRA adapters and head of a LoRA run (already merged into ``model/``), as peft loads them."""
        return self.path / ADAPTER_DIR

    @property
    def status(self) -> Path:
        return self.path / STATUS_FILE

    @property
    def training_lock(self) -> Path:
        """Locked by the process training in the folder (see :func:`hold_run_folder`); not one of ``run_files``."""
        return self.path / TRAINING_LOCK

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def tracking(self) -> Path:
        return self.path / TRACKING_DIR

    @property
    def export_places(self) -> Path:
        return self.path / EXPORT_PLACES_FILE

    @property
    def report(self) -> Path:
        return self.path / RUN_REPORT_FILE

    @property
    def export_places_lock(self) -> Path:
        return self.path / EXPORT_PLACES_LOCK

    def export(self, fmt: str) -> Path:
        """The default folder of the run's ``fmt`` export."""
        return self.exports / fmt

    def eval_on(self, data: str | os.PathLike[str] | None) -> Path:
        """``eval.json``, or ``eval-<file name>.json`` for an evaluation on the labelled file ``data``."""
        return self.eval if data is None else self.path / f"eval-{Path(data).stem}.json"

    def predictions_on(self, data: str | os.PathLike[str]) -> Path:
        """``predictions-<file name>.csv``: per-row predictions of an evaluation on the labelled file ``data``."""
        return self.path / f"predictions-{Path(data).stem}.csv"

    @property
    def run_files(self) -> tuple[Path, ...]:
        """Everything a training writes into the folder (exports too: they were made from its model)."""
        return (self.config, self.metrics, self.summary, self.model, self.data_report, self.predictions, self.eval,
                self.validation_logits, self.label_issues, self.exports, self.export_places, self.simple_model,
                self.status, self.checkpoints, self.tracking)

    def holds_a_run(self) -> bool:
        return any(path.exists() for path in self.run_files)

    def clear(self) -> None:
        """Remove every file a training wrote, and the run's report (it describes the run removed); other files in
        the folder stay."""
        for path in (*self.run_files, self.report):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    @property
    def is_complete(self) -> bool:
        return self.summary.is_file() and self.model.is_dir()

    @classmethod
    def finished_under(cls, root: str | os.PathLike[str]) -> list[RunFolder]:
        """Finished runs under ``root``, newest first (folder names start with the time they were made)."""
        root = Path(root)
        if not root.is_dir():
            return []
        runs = (cls(p) for p in root.iterdir() if p.is_dir())
        return sorted((run for run in runs if run.is_complete), key=lambda run: run.path.name, reverse=True)
