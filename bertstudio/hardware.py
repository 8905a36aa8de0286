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
        raise ConfigError("No CUDA GPU is available on this machine.", "Use --device auto or --device cpu.")
    mps = getattr(torch.backends, "mps", None)
    if want in ("auto", "mps") and mps is not None and mps.is_available():
        return DeviceInfo("mps", "Apple GPU", False, os.cpu_count() or 1)
    if want == "mps":
        raise ConfigError("Apple's MPS GPU is not available on this machine.", "Use --device auto or --device cpu.")
    return DeviceInfo("cpu", _cpu_name(), cpu_has_fast_bf16(), torch.get_num_threads())


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the device running out of memory (the loop then splits the batch; never a compile
    failure)."""
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()
