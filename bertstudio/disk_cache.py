"""Caches on disk that stay within a size budget: least recently used folders go first.

BERT Studio keeps copies nobody deletes by hand: an Arrow copy of every uploaded table (as big as the
file) and the benchmark's ONNX exports (BERT-base: ~520 MB per model). Without a limit the cache grows
with every upload and every benchmark until the disk is full (a Hugging Face Space has little).
Whatever is deleted is simply made again when needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from bertstudio.runs import folder_bytes


def mark_used(folder: Path) -> None:
    """Record that ``folder`` was used now: its modification time is what "recently used" means here."""
    with contextlib.suppress(OSError):  # another process may remove it meanwhile; it is only a cache
        os.utime(folder)


def prune_lru(folders: Iterable[Path], in_use: Path, budget: int, *, keep_if_used_within_s: float = 0.0) -> list[Path]:
    """Delete the least recently used of ``folders`` until they and ``in_use`` fit ``budget`` bytes.

    ``in_use`` always stays, and so does every folder used within the last ``keep_if_used_within_s``
    seconds (another job may still be reading it). Returns the deleted folders, most recent first.
    """
    now = time.time()
    last_used = {f: f.stat().st_mtime for f in folders if f.is_dir() and f != in_use}
    total, removed = folder_bytes(in_use) if in_use.is_dir() else 0, []
    for folder in sorted(last_used, key=last_used.get, reverse=True):  # most recently used first, while they fit
        size = folder_bytes(folder)
        if total + size > budget and now - last_used[folder] > keep_if_used_within_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        else:
            total += size
    return removed
