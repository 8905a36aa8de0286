"""How much of a score is luck?  The same training repeated with different seeds.

Fine-tuning on small data can swing several points of macro-F1 between seeds;
a difference between two settings smaller than that spread means nothing.  Each
seed also draws its own train/validation/test split (the split follows the seed),
so the spread covers both the training and the choice of held-out rows.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from bertstudio.config import TrainConfig
from bertstudio.errors import ConfigError
from bertstudio.models.sources import resolve_model_source
from bertstudio.runs import atomic_write_json, new_run_dir
from bertstudio.train.interrupts import Interrupt
from bertstudio.train.pipeline import train

SEEDS_FILE = "seeds.json"
MAX_SEEDS = 20


@dataclass
class SeedRun:
    seed: int
    run_dir: str
    accuracy: float
    macro_f1: float


@dataclass
class SeedReport:
    """Each seed's scores and their mean and sample standard deviation (0 for a single seed)."""

    runs: list[SeedRun]
    mean_macro_f1: float
    std_macro_f1: float
    mean_accuracy: float
    std_accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def headline(self) -> dict[str, Any]:
        return {"seeds": [r.seed for r in self.runs], "mean_macro_f1": self.mean_macro_f1,
                "std_macro_f1": self.std_macro_f1, "mean_accuracy": self.mean_accuracy,
                "std_accuracy": self.std_accuracy}

    def to_text(self) -> str:
        return (f"macro-F1 {self.mean_macro_f1:.4f} ± {self.std_macro_f1:.4f}, accuracy {self.mean_accuracy:.4f} "
                f"± {self.std_accuracy:.4f} over {len(self.runs)} seeds")


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return float(statistics.fmean(values)), float(spread)


def summarize_seeds(runs: Sequence[SeedRun]) -> SeedReport:
    mean_f1, std_f1 = _mean_std([r.macro_f1 for r in runs])
    mean_acc, std_acc = _mean_std([r.accuracy for r in runs])
    return SeedReport(list(runs), mean_f1, std_f1, mean_acc, std_acc)


def seed_values(first: int, n_seeds: int) -> list[int]:
    if not 1 <= n_seeds <= MAX_SEEDS:
        raise ConfigError(f"The number of seeds must be between 1 and {MAX_SEEDS} (got {n_seeds}).",
                          "Three seeds are usually enough to see the spread.")
    return [first + i for i in range(n_seeds)]


def seeds_folder(config: TrainConfig, runs_root: Path) -> Path:
    """The folder holding one run per seed: the configured output folder, else a new one under runs_root."""
    if config.output_dir:
        return Path(config.output_dir)

    return new_run_dir(Path(runs_root), f"seeds-{resolve_model_source(config.model).display_name}")


def train_with_seeds(config: TrainConfig, n_seeds: int, *, runs_root: str | Path = "runs",
                     emit: Callable[[Any], None] = lambda e: None,
                     on_run: Callable[[SeedRun], None] = lambda r: None,
                     should_stop: Callable[[], bool] = lambda: False,
                     interrupt: Interrupt | None = None) -> SeedReport:
    """Train ``n_seeds`` times (seed, seed+1, ...) into ``<folder>/seed-<n>``; writes seeds.json there.
    ``interrupt``: the command's Ctrl-C and SIGTERM, which stop the run in progress at a step boundary with a
    checkpoint, as ``train`` does."""

    seeds = seed_values(config.seed, n_seeds)
    folder = seeds_folder(config, Path(runs_root))
    runs = []
    for seed in seeds:
        cfg = config.model_copy(update={"seed": seed, "output_dir": str(folder / f"seed-{seed}")})
        summary = train(cfg, emit=emit, should_stop=should_stop, interrupt=interrupt)
        runs.append(SeedRun(seed=seed, run_dir=summary.run_dir, accuracy=summary.accuracy, macro_f1=summary.macro_f1))
        on_run(runs[-1])
    report = summarize_seeds(runs)
    atomic_write_json(folder / SEEDS_FILE, report.to_dict())
    return report


def load_seed_report(folder: str | Path) -> SeedReport:
    raw = json.loads((Path(folder) / SEEDS_FILE).read_text(encoding="utf-8"))
    return SeedReport(runs=[SeedRun(**r) for r in raw["runs"]], mean_macro_f1=raw["mean_macro_f1"],
                      std_macro_f1=raw["std_macro_f1"], mean_accuracy=raw["mean_accuracy"],
                      std_accuracy=raw["std_accuracy"])
