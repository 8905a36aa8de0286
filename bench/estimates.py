"""Time estimates you can believe: the plan's estimate against the measured wall time of the same run.

For each data set (the sample data, and the shared sst2 / ag_news sets) at a few sizes and presets, the script
asks the engine for the plan and its estimate exactly as the Model tab does (``train.estimate.plan_run``: the
step count the loop follows x the speeds of a short timed probe), then trains the run and times it from
reading the file to ``summary.json``. Target: within +/-30% on every row on a quiet machine.

    python bench/estimates.py [--data-dir ../shared/data] [--sizes 400,2000] [--presets head-only,balanced]
                              [--max-steps 60]

``--max-steps`` keeps full fine-tuning short on a CPU: the estimate is of the same capped run. Each row is followed
by its per-phase breakdown (estimated / measured seconds of reading, tokenizing, the simple model, head-only
features, steps, validation checks, final scoring and saving, from the run's own events), which says which part of
the estimate is off; ``--no-write`` prints without recording (a busy machine).
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
from bertstudio.train.phase_times import PhaseTimes, phase_times  # noqa: E402
from bertstudio.train.pipeline import train  # noqa: E402
from bertstudio.train.plan import PHASES, TimeEstimate  # noqa: E402

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "assets" / "sample_feedback.csv"
TARGET = 0.30


@dataclass
class Row:
    data: str
    rows: int
    preset: str
    estimate: TimeEstimate
    measured: PhaseTimes
    estimated_step: float | None  # the probe's seconds per optimizer step (None for head-only: the head's own)
    probe_seconds: float  # how long the estimate took to make (the probe, or none when cached)
    load: float  # load average (1 min) at the end of the run

    @property
    def error(self) -> float:
        return self.estimate.total_seconds / self.measured.total_seconds - 1

    def line(self) -> str:
        mark = "yes" if abs(self.error) <= TARGET else "no"
        return (f"| {self.data} | {self.rows:,} | {self.preset} | {self.estimate.total_seconds:.1f} s | "
                f"{self.measured.total_seconds:.1f} s | {self.error:+.0%} | {mark} |")

    def breakdown(self) -> str:
        """Estimated vs measured seconds per phase, and the seconds per step against the probe's."""
        parts = [f"{name} {getattr(self.estimate, name):.1f}/{getattr(self.measured, name):.1f}"
                 for name in PHASES if getattr(self.estimate, name) or getattr(self.measured, name)]
        step = self.measured.seconds_per_step
        steps = (f"; {self.measured.step_count} steps at {step:.3f} s" if step else "") + (
            f" (probe {self.estimated_step:.3f} s)" if self.estimated_step else "")
        return (f"    {self.data} {self.rows} {self.preset}: estimated/measured s: " + ", ".join(parts) + steps
                + f"; estimate made in {self.probe_seconds:.1f} s; load {self.load:.1f}")


def data_file(name: str, rows: int, data_dir: Path, folder: Path) -> Path:
    """A CSV of ``rows`` rows (text, label) of one data set: a fixed random sample (seed 0)."""
    import pandas as pd

    source = SAMPLE if name == "sample" else data_dir / name / "train.csv"
    table = pd.read_csv(source)
    table = table.sample(n=min(rows, len(table)), random_state=0)
    path = folder / f"{name}-{rows}.csv"
    table.to_csv(path, index=False)
    return path


def measure_one(name: str, path: Path, preset: str, max_steps: int | None, runs: Path) -> Row:
    """The Model tab's estimate of one run, then the run itself, phase by phase from its events."""
    device = detect_device("auto")
    hardware = Hardware.of(device)
    config = config_from_preset(preset, data=str(path), max_steps=max_steps, output_dir=str(runs / path.stem / preset))
    asked = time.perf_counter()
    found = inspect_file(str(path), model=config.model)
    report = found.report
    planned = plan_run(config, report.n_rows_kept, report.class_counts, found.lengths,
                       found.lengths.suggested_max_length if found.lengths else 128, hardware)
    probe, estimate = planned.estimate(hardware)
    probe_seconds = time.perf_counter() - asked
    events: list = []
    start = time.time()
    train(config, emit=events.append)
    measured = phase_times(events, start=start, end=time.time())
    return Row(name, report.n_rows_kept, preset, estimate, measured, planned.step_seconds(probe), probe_seconds,
               os.getloadavg()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--datasets", default="sample,sst2,ag_news")
    parser.add_argument("--sizes", default="400,2000,8000")
    parser.add_argument("--presets", default="head-only,balanced,small-data")
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--no-write", action="store_true",
                        help="Print the rows and their breakdown only (a busy machine: not worth recording).")
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
                    rows.append(measure_one(name, path, preset, args.max_steps, folder / "runs"))
                    print(rows[-1].line(), flush=True)
                    print(rows[-1].breakdown(), flush=True)
    within = sum(abs(r.error) <= TARGET for r in rows)
    body = "\n".join([
        "The time the Model tab estimates before training against the wall time of the same run (reading the "
        "file to summary.json). Target: within +/-30% on every row on a quiet machine.", "",
        machine_line() + f" Load average while measuring: {os.getloadavg()[0]:.1f} (a busy machine makes both "
        "the probe and the run slower, unevenly).", f"Reproduce: `{command_line()}`", "",
        "| data | rows | preset | estimate | measured | error | within 30% |",
        "|---|---:|---|---:|---:|---:|---|", *(r.line() for r in rows), "",
        f"{within} of {len(rows)} rows within +/-30%.", "",
        "Per phase, estimated / measured seconds (the measurement folds each run's events, `train/phase_times.py`; "
        "a step's seconds measured against the probe's):", "", *(r.breakdown().strip() + "  " for r in rows)])
    if not args.no_write:
        write_section("Time estimates (bench/estimates.py)", body)


if __name__ == "__main__":
    main()
