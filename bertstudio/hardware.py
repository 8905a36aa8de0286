"""Which device to train on, and what it can do fast."""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass

from bertstudio.errors import ConfigError


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it, else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class DeviceInfo:
    type: str  # "cpu" | "cuda" | "mps"
    name: str
    bf16: bool
    threads: int

    def describe(self) -> str:
        fast = ", bf16" if self.bf16 else ""
        return f"{self.type.upper()} ({self.name}{fast})"


@functools.lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True when the CPU multiplies bf16 matrices in hardware (AVX512-BF16 or AMX), where
    bf16 autocast is several times faster than fp32; elsewhere it would be emulated and slower."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = handle.read()
    except OSError:
        return platform.machine() == "arm64" and platform.system() == "Darwin"
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def detect_device(preference: str = "auto") -> DeviceInfo:
    import torch

    want = preference.lower()
    if want in ("auto", "cuda") and torch.cuda.is_available():
        return DeviceInfo("cuda", torch.cuda.get_device_name(0), torch.cuda.is_bf16_supported(), os.cpu_count() or 1)
    if want == "cuda":
        raise ConfigError("No CUDA GPU is available on this machine.", "Leave --device out, or use --device cpu.")
    mps = getattr(torch.backends, "mps", None)
    if want in ("auto", "mps") and mps is not None and mps.is_available():
        return DeviceInfo("mps", "Apple GPU", False, os.cpu_count() or 1)
    if want == "mps":
        raise ConfigError("Apple's MPS GPU is not available on this machine.", "Leave --device out, or use --device cpu.")
    return DeviceInfo("cpu", _cpu_name(), cpu_has_fast_bf16(), torch.get_num_threads())


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the device running out of memory (the loop then splits the batch; never a compile
    failure)."""
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


@functools.lru_cache(maxsize=1)
def fast_bf16_here() -> bool:
    """Whether this machine computes bf16 in hardware (its GPU, else its CPU), checked once per process."""
    return detect_device().bf16


def weights_precision(trained: str) -> str:
    """The precision a trained model's weights run in by default, wherever it runs (predict's and serve's auto,
    evaluate), from the precision it trained in ("bf16", "fp32", ...; "" when not known): one decision, so their
    numbers agree (evaluate's own mixed precision beside predict's bf16 weights gave other label sets on 2 of 64
    GoEmotions test texts).

    "bf16" when the run trained in bf16 and this machine computes bf16 in hardware: its test scores were measured
    in bf16, and on such a CPU it labels a file about 3x faster than fp32 (bench/RESULTS.md, Latency: PyTorch bf16
    3.6x faster than fp32 for the bundled model at batch 32, the same labels on 100% of the test texts).  A model
    trained in full precision, or not known to have trained in bf16, runs in "fp32"."""
    return "bf16" if trained == "bf16" and fast_bf16_here() else "fp32"
