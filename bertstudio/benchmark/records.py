"""The benchmark's results as plain data: one record per (model, backend, batch size, sequence length)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bertstudio.benchmark.contention import is_busy, is_slow


@dataclass
class BenchRecord:
    """One measured cell.  Times are milliseconds per batch; throughput is texts per second."""

    model: str  # what the person asked for (registry key or folder)
    model_label: str  # short display name
    model_kind: str  # registry | bundled | folder | onnx-export
    weights: str  # real | random ("architecture timing, weights not downloaded")
    backend: str  # torch-fp32 | torch-bf16 | onnx | onnx-int8
    device: str
    threads: int
    batch_size: int
    seq_len: int
    repeats: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput: float
    tokenize_p50_ms: float | None = None
    tokenize_p95_ms: float | None = None
    e2e_p50_ms: float | None = None
    e2e_p95_ms: float | None = None
    e2e_p99_ms: float | None = None
    e2e_throughput: float | None = None
    size_mb: float | None = None  # the file this backend loads (fp32 weights for both PyTorch backends)
    peak_memory_mb: float | None = None
    # rss-peak (CPU: the process's resident peak during the cell) | cuda-max-allocated | rss-delta (records of
    # earlier versions: only the growth during the cell, which was mostly 0)
    memory_kind: str = "rss-peak"
    working_memory_mb: float | None = None  # rss-peak: how much of the peak the cell itself added
    bf16_method: str | None = None
    onnx_source: str | None = None  # export folder | benchmark cache
    parity_rows: int | None = None
    parity_agreement: float | None = None  # share of parity rows whose label matches PyTorch fp32
    parity_max_diff: float | None = None
    parity_accuracy_change: float | None = None  # points, when the parity rows are labelled
    parity_passed: bool | None = None  # None: not applicable (the reference itself, or random weights)
    other_cpu_cores: float | None = None  # cores other programs used while this cell ran (> 0.25: flagged)
    host_probe_ms: float | None = None  # a fixed workload timed around the cell: the machine's own speed then
    host_slowdown: float | None = None  # that probe against the run's fastest (> 1.10: flagged)
    note: str = ""

    @property
    def busy(self) -> bool:
        """Timed while other programs used the CPU: the figure is likely too slow."""

        return is_busy(self.other_cpu_cores)

    @property
    def slow_host(self) -> bool:
        """Timed while the machine itself ran slower than its best in this run: the figure is likely too slow."""

        return is_slow(self.host_slowdown)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def cell(self) -> tuple[str, str, int, int]:
        return (self.model, self.backend, self.batch_size, self.seq_len)


@dataclass
class BenchmarkResult:
    """Every measured cell, what was skipped and why, and whether the person stopped the run."""

    records: list[BenchRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cancelled: bool = False
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"records": [r.to_dict() for r in self.records], "skipped": list(self.skipped),
                "cancelled": self.cancelled, "settings": dict(self.settings)}
