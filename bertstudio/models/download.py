"""Get this model: a registry model fetched from the Hugging Face Hub into the normal Hugging Face cache.

What it does, in order:

1. **Offline is said at once.** ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is an immediate, clear
   error; otherwise the Hub must answer within ``sources.HUB_PROBE_TIMEOUT_S`` (2 s, DNS included), so a
   computer without internet is told so in seconds, not after a 14 s hang.
2. **The size is known first.** The Hub's metadata (``/api/models/{repo}/revision/{rev}?blobs=true``) lists
   every file with its size and hash; only what ``from_pretrained`` needs is fetched: ``config.json``, the
   safetensors weights (never pickles) and the tokenizer files.
3. **Resumable.** Each file is written to ``blobs/<etag>.incomplete`` (the name ``huggingface_hub`` uses
   too) and continued with an HTTP ``Range`` request after an interruption or a Stop.
4. **Verified.** A finished file must match the Hub's hash: the LFS SHA-256 for large files, the git blob
   SHA-1 (the ETag) for small ones.  A damaged file is deleted, never put in the cache.
5. **Cached where transformers looks.** ``blobs/<etag>``, ``snapshots/<commit>/<file>`` (a relative link) and
   ``refs/<revision>``: the layout of ``huggingface_hub``, so ``from_pretrained(hub_id)`` and
   :func:`bertstudio.models.sources.availability` find it with no network.

:class:`DownloadJob` runs it on a background thread for the app, with :class:`~bertstudio.events.Working`
events (bytes done of bytes needed) at least every ``PROGRESS_EVERY_S`` and Stop honoured between chunks.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bertstudio.errors import ModelError
from bertstudio.events import Working
from bertstudio.jobs import BackgroundJob, Emit, JobStopped, ShouldStop
from bertstudio.models.sources import (
    TOKENIZER_FILES,
    ModelSource,
    _cached_snapshot,
    _hf_cache_dir,
    _hub_endpoint,
    _offline_error,
    _offline_mode,
    as_hub_id_of_a_misspelt_name,
    hub_reachable,
    resolve_model_source,
)

DOWNLOAD = "model-download"  # the job kind
REVISION = "main"
METADATA_TIMEOUT_S = 10.0  # the Hub already answered the 2 s probe; metadata is one small JSON
READ_TIMEOUT_S = 30.0  # a stalled connection while fetching a file
CHUNK_BYTES = 256 * 1024  # Stop is checked between chunks: 256 KB take 2 s only below 128 KB/s
PROGRESS_EVERY_S = 0.5
# Besides the weights and config.json: what a tokenizer may need.  Top-level files only.
TOKENIZER_EXTRA = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "merges.txt")
INCOMPLETE = ".incomplete"

_BLOB_LOCKS: dict[Path, threading.Lock] = {}  # two visitors fetching the same file take turns
_LOCKS_LOCK = threading.Lock()

LocalState = Literal["bundled", "local", "downloaded", "partial", "needed"]


@dataclass(frozen=True)
class HubFile:
    """One file of a Hub repo as its metadata describes it."""

    name: str
    size: int
    blob_id: str  # git blob SHA-1 (the ETag of a small file)
    sha256: str | None = None  # LFS files: SHA-256 of the content (their ETag)

    @property
    def etag(self) -> str:
        """The blob's name in the cache (what the Hub sends as ETag)."""
        return self.sha256 or self.blob_id


@dataclass(frozen=True)
class DownloadPlan:
    """What getting a model takes: the repo, the commit, and the files with their sizes."""

    repo_id: str
    commit: str
    files: tuple[HubFile, ...]
    cache_dir: Path

    @property
    def repo_folder(self) -> Path:
        return self.cache_dir / ("models--" + self.repo_id.replace("/", "--"))

    @property
    def snapshot(self) -> Path:
        return self.repo_folder / "snapshots" / self.commit

    def blob(self, file: HubFile) -> Path:
        return self.repo_folder / "blobs" / file.etag

    def have_bytes(self, file: HubFile) -> int:
        """Bytes of ``file`` already here: all of it once cached, else what a partial download holds."""
        if self.blob(file).is_file():
            return file.size
        partial = self.blob(file).with_name(file.etag + INCOMPLETE)
        return min(partial.stat().st_size, file.size) if partial.is_file() else 0

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def needed_bytes(self) -> int:
        return sum(f.size - self.have_bytes(f) for f in self.files)


@dataclass(frozen=True)
class LocalStatus:
    """Whether a model is here, without any network: what the plan and the Model tab show."""

    state: LocalState
    needed_bytes: int = 0  # "needed"/"partial": about this much is still to fetch (the registry's size)

    def text(self) -> str:
        if self.state in ("bundled", "local", "downloaded"):
            return {"bundled": "comes with BERT Studio", "local": "a folder on this computer",
                    "downloaded": "downloaded"}[self.state]
        more = " more (a download was interrupted: Get this model resumes it)" if self.state == "partial" else ""
        return f"needs {format_mb(self.needed_bytes)}{more}"


def format_mb(size_bytes: int) -> str:
    """'268 MB', '1.3 GB', '0.4 MB': download sizes as people read them."""
    if size_bytes >= 1e9:
        return f"{size_bytes / 1e9:.1f} GB"
    return f"{size_bytes / 1e6:.0f} MB" if size_bytes >= 10e6 else f"{size_bytes / 1e6:.1f} MB"


# --------------------------------------------------------------------------- what is here (no network)


def _partial_bytes(repo_id: str) -> int:
    blobs = _hf_cache_dir() / ("models--" + repo_id.replace("/", "--")) / "blobs"
    return sum(p.stat().st_size for p in blobs.glob(f"*{INCOMPLETE}")) if blobs.is_dir() else 0


def local_status(model: str) -> LocalStatus:
    """Whether ``model`` (a registry key, Hub id or folder) needs a download; never touches the network."""
    source = resolve_model_source(model)
    if source.kind in ("bundled", "local"):
        return LocalStatus(source.kind)
    if _cached_snapshot(source) is not None:
        return LocalStatus("downloaded")
    size = int(source.variant.size_mb * 1e6) if source.variant is not None else 0
    partial = _partial_bytes(source.path_or_id)
    return LocalStatus("partial" if partial else "needed", max(0, size - partial))


# --------------------------------------------------------------------------- what to fetch


def wanted(name: str) -> bool:
    """Whether ``from_pretrained`` needs this repo file: config, safetensors weights, tokenizer files."""
    if "/" in name:
        return False
    return (name == "config.json" or name.endswith(".safetensors") or name == "model.safetensors.index.json"
            or name in TOKENIZER_FILES or name in TOKENIZER_EXTRA)


def _open(url: str, timeout: float, start: int = 0):
    # No token is sent: the registry's models are public, and the Hub redirects large files to another host,
    # which urllib would hand the Authorization header to as well.
    request = urllib.request.Request(url, headers={"User-Agent": "bertstudio"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)


def _hub_source(model: str) -> ModelSource:
    """The Hub model ``model`` names, checked to be reachable now: offline is said at once (HF_HUB_OFFLINE)
    or within the 2 s probe."""
    source = resolve_model_source(model)
    if source.kind != "hub":
        raise ModelError(f"{source.display_name} is already on this computer; nothing to download.",
                         hint="Pick it and train.")
    if _offline_mode():
        raise _offline_error(source, "offline mode is switched on (HF_HUB_OFFLINE=1)")
    if not hub_reachable():
        raise _offline_error(source, f"{_hub_endpoint()} cannot be reached (no internet connection?)")
    return source


def plan_download(model: str, revision: str = REVISION) -> DownloadPlan:
    """The files ``model`` needs, with sizes and hashes from the Hub (a ModelError when offline)."""
    source = _hub_source(model)
    repo_id = source.path_or_id
    url = f"{_hub_endpoint()}/api/models/{repo_id}/revision/{urllib.parse.quote(revision, safe='')}?blobs=true"
    try:
        with _open(url, METADATA_TIMEOUT_S) as response:
            info = json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise ModelError(as_hub_id_of_a_misspelt_name(source, f"The Hugging Face Hub has no model '{repo_id}' that "
                                                              f"can be downloaded (it answered {err.code})."),
                         hint="Check the name (only public models can be fetched here).") from err
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as err:
        raise ModelError(f"The list of files of {repo_id} could not be read from the Hub ({err}).",
                         hint="Check the internet connection and press Get this model again.") from err
    files = tuple(HubFile(name=s["rfilename"], size=int((s.get("lfs") or {}).get("size") or s.get("size") or 0),
                          blob_id=s.get("blobId") or "", sha256=(s.get("lfs") or {}).get("sha256"))
                  for s in info.get("siblings", []) if wanted(s["rfilename"]))
    names = {f.name for f in files}
    if "config.json" not in names or not any(n.endswith(".safetensors") for n in names):
        raise ModelError(f"{repo_id} on the Hub has no safetensors weights or no config.json, so BERT Studio "
                         "cannot use it.", hint="Pick another model.")
    return DownloadPlan(repo_id=repo_id, commit=info["sha"], files=files, cache_dir=_hf_cache_dir())


# --------------------------------------------------------------------------- fetching


Progress = Callable[[int, str], None]  # (bytes done so far of all files, the file being fetched)


def _digest(file: HubFile, path: Path) -> str:
    """The file's hash the way the Hub states it: SHA-256 for LFS files, else the git blob SHA-1."""
    hasher = hashlib.sha256() if file.sha256 else hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _blob_lock(path: Path) -> threading.Lock:
    with _LOCKS_LOCK:
        return _BLOB_LOCKS.setdefault(path, threading.Lock())


def _fetch(plan: DownloadPlan, file: HubFile, done_before: int, progress: Progress, should_stop: ShouldStop) -> None:
    """Fetch one file into its blob, resuming a partial one, and verify it."""
    blob = plan.blob(file)
    partial = blob.with_name(file.etag + INCOMPLETE)
    blob.parent.mkdir(parents=True, exist_ok=True)
    url = f"{_hub_endpoint()}/{plan.repo_id}/resolve/{plan.commit}/{urllib.parse.quote(file.name)}"
    have = partial.stat().st_size if partial.is_file() else 0
    if have > file.size:  # longer than the file can be: start again
        partial.unlink()
        have = 0
    last = 0.0
    try:
        with _open(url, READ_TIMEOUT_S, start=have) as response:
            if have and response.status != 206:  # the server sent the whole file: start again
                have = 0
            with partial.open("ab" if have else "wb") as out:
                while have < file.size:
                    if should_stop():
                        raise JobStopped()
                    chunk = response.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    out.write(chunk)
                    have += len(chunk)
                    if time.monotonic() - last >= PROGRESS_EVERY_S:
                        progress(done_before + have, file.name)
                        last = time.monotonic()
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
        raise ModelError(f"The download of {file.name} was interrupted ({getattr(err, 'reason', err)}); "
                         f"{format_mb(have)} of {format_mb(file.size)} are kept.",
                         hint="Press Get this model again: it continues where it stopped.") from err
    progress(done_before + have, file.name)
    if have < file.size:
        raise ModelError(f"The download of {file.name} ended early ({format_mb(have)} of "
                         f"{format_mb(file.size)}); what arrived is kept.",
                         hint="Press Get this model again: it continues where it stopped.")
    expected = file.sha256 or file.blob_id
    if expected and _digest(file, partial) != expected:
        partial.unlink()
        raise ModelError(f"The downloaded {file.name} is damaged: its checksum does not match the Hub's, so it "
                         "was deleted.", hint="Press Get this model again to download it afresh.")
    os.replace(partial, blob)


def _link(plan: DownloadPlan, file: HubFile) -> None:
    """snapshots/<commit>/<file> -> ../../blobs/<etag>, as huggingface_hub lays out its cache."""
    target = plan.snapshot / file.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        target.symlink_to(os.path.relpath(plan.blob(file), target.parent))
    except OSError:  # no symlinks (some Windows set-ups): a copy, as huggingface_hub does there
        import shutil

        shutil.copyfile(plan.blob(file), target)


def download(plan: DownloadPlan, progress: Progress | None = None,
             should_stop: ShouldStop | None = None) -> Path:
    """Fetch every file of ``plan`` not cached yet (resuming partial ones), verify each, and link the snapshot;
    returns the snapshot folder, which ``from_pretrained`` loads."""
    progress = progress or (lambda done, name: None)
    should_stop = should_stop or (lambda: False)
    done = 0
    for file in plan.files:
        with _blob_lock(plan.blob(file)):
            if not plan.blob(file).is_file():
                _fetch(plan, file, done, progress, should_stop)
        done += file.size
        _link(plan, file)
    refs = plan.repo_folder / "refs" / REVISION
    refs.parent.mkdir(parents=True, exist_ok=True)
    refs.write_text(plan.commit)  # last: only a complete snapshot is what "main" points to
    progress(plan.total_bytes, "")
    return plan.snapshot


# --------------------------------------------------------------------------- the job


class DownloadJob(BackgroundJob):
    """Get one model in the background: :class:`Working` events carry bytes done of bytes in all; the job
    completes with the snapshot folder."""

    kind = DOWNLOAD
    what = "The download"

    def __init__(self, model: str):
        super().__init__()
        self.model = model
        self.plan: DownloadPlan | None = None

    def work(self, emit: Emit, should_stop: ShouldStop) -> Path:
        emit(Working(phase=f"Asking the Hub for the files of {self.model}", done=0, total=0))
        plan = self.plan = plan_download(self.model)

        def progress(done: int, name: str) -> None:
            phase = f"Downloading {name}" if name else "Downloaded and checked"
            emit(Working(phase=phase, done=done, total=plan.total_bytes))

        already = plan.total_bytes - plan.needed_bytes
        emit(Working(phase="Resuming the download" if already else "Starting the download", done=already,
                     total=plan.total_bytes))
        return download(plan, progress, should_stop)
