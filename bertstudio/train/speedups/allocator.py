"""Keep freed memory inside the process while training on a CPU, instead of handing it back every step.

A training step frees and re-allocates the same tensors over and over (gradients, activations: tens of
MB for the bundled model, hundreds for BERT-base).  glibc's malloc serves big blocks with fresh mmap'd
pages and trims its heap as soon as 128 KB at its top are free, so every step faults its memory back in
page by page.  Measured on the project's 2-core reference CPU, one step of the bundled model on 16 short
texts (14 tokens) took 13,800 page faults and 30 ms of kernel time (86 ms per step in all); with big
blocks kept on the heap (mmap threshold 32 MB, glibc's largest) and up to 1 GB of free heap kept before
trimming, the same step took under one page fault and 75 ms.  Both settings are needed: either alone
changes little or makes things worse, because setting one turns off glibc's adaptive threshold.

The settings are process-wide and stay once made (another thread may be training); the memory kept is
handed back with ``malloc_trim`` when training ends.  Other C libraries (macOS, Windows, musl) are left
alone.
"""

from __future__ import annotations

import ctypes
import logging
import platform
from functools import lru_cache

logger = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's maximum on 64-bit systems
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024


@lru_cache(maxsize=1)
def _glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks for reuse (see the module note); True when the settings took effect."""
    libc = _glibc()
    if libc is None:
        return False
    done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    if not done:
        logger.debug("glibc refused the malloc settings; training runs with the defaults.")
    return done


def release_freed_memory() -> None:
    """Hand the free heap back to the operating system (after training)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class ReleaseOnNewShape:
    """For a pass of inference batches on a CPU: hand the free heap back whenever the batch shape changes.

    Evaluation batches run longest first, so each shape is met in one stretch. Their freed blocks are cut to that
    shape's sizes, which the next (smaller) shape reuses poorly: measured on the bundled model (55 validation-like
    batches of 33 shapes, glibc keeping freed blocks as training sets it), resident memory grew 251 MB over the
    pass, 68 MB when handed back at each new shape; handing back after every batch saved no more. A million-row
    train command's peak was reached in these passes, not in training: 2,002 MB before, 1,714 MB since (the 100k
    command: 3% more time for 201 MB less; bench/RESULTS.md, "A million rows").
    ``device_type`` other than "cpu" (a GPU has its own caching allocator): nothing to do.
    """

    def __init__(self, device_type: str) -> None:
        self.active = device_type == "cpu"
        self.shape: tuple[int, ...] | None = None

    def before(self, batch: dict) -> None:
        """Call before each batch (its model inputs: tensors or arrays of one shape)."""
        shape = tuple(next(iter(batch.values())).shape) if batch else ()
        if self.active and shape != self.shape:
            if self.shape is not None:
                release_freed_memory()
            self.shape = shape
