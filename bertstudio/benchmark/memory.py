"""Peak memory of one measured cell.

On the CPU, ``peak_bytes`` is the process's resident memory (RSS) at its highest while the cell ran: everything
the process holds (Python, the loaded model, the app when run from it) plus inference's working memory; and
``delta_bytes`` is the growth over the RSS at the cell's start (the working memory alone; often 0, since the
warm-up's buffers are reused).  The table shows the peak, which was 0 for no cell (the growth alone read 0 MB
for most cells, which told a reader nothing).  Linux keeps the peak RSS (VmHWM) and lets a process reset it,
which catches even short spikes; elsewhere a background thread samples RSS every few milliseconds.
On CUDA both are ``torch.cuda.max_memory_allocated`` (weights plus activations).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Self

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
SAMPLE_INTERVAL_S = 0.005
MB = 1024 * 1024


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def current_rss_bytes() -> int:
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter to the current RSS; False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


class PeakRss:
    """Context manager: ``peak_bytes`` is the highest RSS inside the block, ``delta_bytes`` that minus the RSS
    at its start."""

    def __init__(self) -> None:
        self.peak_bytes = 0
        self.delta_bytes = 0
        self._start = 0
        self._peak = 0
        self._kernel = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self._peak = max(self._peak, current_rss_bytes())

    def __enter__(self) -> Self:
        self._kernel = _reset_peak()
        self._start = current_rss_bytes()
        self._peak = self._start
        if not self._kernel:
            self._thread = threading.Thread(target=self._sample, name="bertstudio-rss", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        end = current_rss_bytes()
        peak = max(self._peak, end)
        if self._kernel:
            peak = max(peak, (_status_kb("VmHWM") or 0) * 1024)
        self.peak_bytes = peak
        self.delta_bytes = max(0, peak - self._start)


class PeakCuda:
    """Context manager: ``delta_bytes`` is the largest CUDA memory allocated by torch inside the block."""

    def __init__(self, device) -> None:
        self.device = device
        self.peak_bytes = 0
        self.delta_bytes = 0

    def __enter__(self) -> Self:
        import torch

        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.cuda.synchronize(self.device)
        self.delta_bytes = self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))


def peak_memory(device: str):
    """The right peak-memory meter for ``device`` ("cpu" or "cuda")."""
    return PeakCuda(device) if device.startswith("cuda") else PeakRss()
