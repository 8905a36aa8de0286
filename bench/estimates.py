"""Time estimates you can believe: the plan's estimate against the measured wall time of the same run.

For each data set (the sample data, and the shared sst2 / ag_news sets) at a few sizes and presets, the script
asks the engine for the plan and its estimate exactly as the Model tab does (``train.estimate.plan_run``: the
step count the loop follows x the speeds of a short timed probe), then trains the run and times it from
reading the file to ``summary.json``. Target: within +/-30% on every row on a quiet machine.

    python bench/estimates.py [--data-dir ../shared/data] [--sizes 400,2000] [--presets head-only,balanced]
                              [--max-steps 60]

``--max-steps`` keeps full fine-tuning short on a CPU: the estimate is of the same capped run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the engine, also from a clone not pip-installed
from results import command_line, machine_line, write_section  # noqa: E402

from bertstudio.config import config_from_preset  # noqa: E402
from bertstudio.data.inspect import inspect_file  # noqa: E402
from bertstudio.hardware import detect_device  # noqa: E402
from bertstudio.train.auto import Hardware  # noqa: E402
from bertstudio.train.estimate import plan_run  # noqa: E402
from bertstudio.train.pipeline import train  # noqa: E402

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "assets" / "sample_feedback.csv"
TARGET = 0.30


@dataclass
class Row:
    data: str
    rows: int
    preset: str
    estimate: float
    measured: float

    @property
    def error(self) -> float:
        return self.estimate / self.measured - 1

    def line(self) -> str:
        mark = "yes" if abs(self.error) <= TARGET else "no"
        return (f"| {self.data} | {self.rows:,} | {self.preset} | {self.estimate:.1f} s | "
                f"{self.measured:.1f} s | {self.error:+.0%} | {mark} |")


def data_file(name: str, rows: int, data_dir: Path, folder: Path) -> Path:
    """A CSV of ``rows`` rows (text, label) of one data set: a fixed random sample (seed 0)."""
    import pandas as pd

    source = SAMPLE if name == "sample" else data_dir / name / "train.csv"
    table = pd.read_csv(source)
    table = table.sample(n=min(rows, len(table)), random_state=0)
    path = folder / f"{name}-{rows}.csv"
    table.to_csv(path, index=False)
    return path


def measure_one(path: Path, preset: str, max_steps: int | None, runs: Path) -> tuple[float, float]:
    """(estimated seconds, measured seconds) of one run."""
    device = detect_device("auto")
    hardware = Hardware.of(device)
    config = config_from_preset(preset, data=str(path), max_steps=max_steps, output_dir=str(runs / path.stem / preset))
    found = inspect_file(str(path), model=config.model)
    report = found.report
    planned = plan_run(config, report.n_rows_kept, report.class_counts, found.lengths,
                       found.lengths.suggested_max_length if found.lengths else 128, hardware)
    _, estimate = planned.estimate(hardware)
    start = time.perf_counter()
    train(config)
    return estimate.total_seconds, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--datasets", default="sample,sst2,ag_news")
    parser.add_argument("--sizes", default="400,2000,8000")
    parser.add_argument("--presets", default="head-only,balanced,small-data")
    parser.add_argument("--max-steps", type=int, default=60)
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.datasets.split(","):
            for size in map(int, args.sizes.split(",")):
                if name == "sample" and size > 400:
                    continue  # the sample data has 400 rows
                path = data_file(name, size, args.data_dir, folder)
                for preset in args.presets.split(","):
                    estimate, measured = measure_one(path, preset, args.max_steps, folder / "runs")
                    rows.append(Row(name, size, preset, estimate, measured))
                    print(rows[-1].line(), flush=True)
    within = sum(abs(r.error) <= TARGET for r in rows)
    body = "\n".join([
        "The time the Model tab estimates before training against the wall time of the same run (reading the "
        "file to summary.json). Target: within +/-30% on every row on a quiet machine.", "",
        machine_line() + f" Load average while measuring: {os.getloadavg()[0]:.1f} (a busy machine makes both "
        "the probe and the run slower, unevenly).", f"Reproduce: `{command_line()}`", "",
        "| data | rows | preset | estimate | measured | error | within 30% |",
        "|---|---:|---|---:|---:|---:|---|", *(r.line() for r in rows), "",
        f"{within} of {len(rows)} rows within +/-30%."])
    write_section("Time estimates (bench/estimates.py)", body)


if __name__ == "__main__":
    main()
