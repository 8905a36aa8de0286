"""Never lose to a simple model: the simple word-count model every run trains, the fine-tuned model, and the run's
final model (the blend when validation chose it), on the shared data sets at several training sizes and seeds.

Each run is ``bertstudio train`` with its defaults (the bundled model), the same validation file (it picks the best
checkpoint and decides the blend) and the same test file (it scores all three). The figures come from the run's
``summary.json`` (``simple_model``): nothing is refitted here. Results go to the section "Simple model and blend" of
bench/RESULTS.md; finished runs are cached in bench/_out/baseline_blend/, so an interrupted run resumes.

    python bench/baseline_blend.py [--data-dir ../shared/data] [--datasets ag_news,sst2] [--sizes 500,2000,full]
                                   [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the engine, also from a clone not pip-installed
from defaults import VAL_ROWS, prepare, read_rows  # noqa: E402
from results import command_line, machine_line, write_section  # noqa: E402

CACHE = HERE / "_out" / "baseline_blend"
TITLE = "Simple model and blend"
NOISE_POINTS = 1.0  # what three seeds on 2,000 test rows can tell apart, roughly (see the spread columns)


def cached_file(name: str, size_name: str, seed: int) -> Path:
    return CACHE / f"{name}-{size_name}-seed{seed}.json"


def run_one(data, size_name: str, seed: int, runs_root: Path) -> dict:
    cached = cached_file(data.name, size_name, seed)
    if cached.is_file():
        return json.loads(cached.read_text())
    out = runs_root / cached.stem
    command = [sys.executable, "-m", "bertstudio", "train", str(data.train), "--val", str(data.val), "--test",
               str(data.test), "--out", str(out), "--seed", str(seed), "--quiet"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{data.name} / {size_name} / seed {seed} failed:\n{done.stderr[-3000:]}")
    return save_cell(cell_from_run(out, data.name, size_name, seed, time.perf_counter() - start), cached)


def cell_from_run(out: Path, name: str, size_name: str, seed: int, wall_seconds: float) -> dict:
    """The figures of one finished run folder (its summary.json; nothing is refitted)."""
    summary = json.loads((out / "summary.json").read_text())
    simple = summary["simple_model"]
    return {"dataset": name, "size": size_name, "seed": seed, "final": summary["macro_f1"],
            "accuracy": summary.get("accuracy"),
            "fine_tuned": simple["fine_tuned_macro_f1"], "simple": simple["macro_f1"],
            # the weight, not "used": summaries before the typed BlendFigures saved used as the string "False"
            "blended": simple["blend"]["weight"] < 1, "weight": simple["blend"]["weight"],
            "simple_seconds": simple["fit_seconds"], "train_seconds": summary["train_seconds"],
            "wall_seconds": wall_seconds, "verdict": simple["verdict"]}


def save_cell(cell: dict, cached: Path) -> dict:
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(cell, indent=2))
    return cell


def reuse_run(spec: str) -> None:
    """``DATASET-SIZE=RUN_FOLDER``: a finished defaults run of another benchmark as the cell's seed 0 (an IMDb run at
    full size takes an hour here: bench/long_texts.py's "chosen" run is such a run), noted with its own split."""
    cell_name, folder = spec.split("=", 1)
    name, size_name = cell_name.rsplit("-", 1)
    out = Path(folder)
    started = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    config = json.loads((out / "config.json").read_text())
    cell = cell_from_run(out, name, size_name, config["seed"], float("nan"))
    cell["train_rows"] = started["train_rows"]
    cell["note"] = (f"reused run {out.name} (seed {config['seed']}): train {started['train_rows']:,} rows, "
                    f"validation {started['val_rows']:,} rows carved from the training file by the engine, test "
                    f"{started['test_rows']:,} rows of test.csv")
    save_cell(cell, cached_file(name, size_name, 0))


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.fmean(values):.1f} ± {100 * sd:.1f}"


def row(runs: list[dict], train_rows: int) -> str:
    first = runs[0]
    final = [r["final"] for r in runs]
    best_single = max(statistics.fmean(r["simple"] for r in runs), statistics.fmean(r["fine_tuned"] for r in runs))
    gap = 100 * (statistics.fmean(final) - best_single)
    ok = "yes" if gap >= -NOISE_POINTS else "**no**"
    return (f"| {first['dataset']} | {train_rows:,} | {mean_sd([r['simple'] for r in runs])} | "
            f"{mean_sd([r['fine_tuned'] for r in runs])} | {mean_sd(final)} | {len(runs)} | {sum(r['weight'] < 1 for r in runs)}"
            f"/{len(runs)} | {gap:+.1f} ({ok}) | {statistics.fmean(r['simple_seconds'] for r in runs):.1f} | "
            f"{statistics.fmean(r['train_seconds'] for r in runs):.0f} |")


def report(rows: list[str], notes: list[str], seeds: int) -> str:
    return "\n".join([
        machine_line(), f"Reproduce: `{command_line()}`", "",
        f"Test macro-F1 in points (mean ± standard deviation over {seeds} seeds unless the seeds column says fewer). *Simple*: the word-count model "
        "trained beside every run (TF-IDF word 1-2 grams, character 2-5 grams for short texts, logistic "
        "regression). *Fine-tuned*: the bundled model with the defaults, alone. *Final*: what the run ships (the "
        "blend when validation chose it, else the fine-tuned model). *Final vs better*: final minus the better of "
        f"the two means; within {NOISE_POINTS:g} point counts as as good (seed noise at these sizes).", "",
        "| dataset | train rows | simple | fine-tuned | final | seeds | blended | final vs better | simple fit s | "
        "train s |", "|---|---|---|---|---|---|---|---|---|---|", *rows, "", *notes])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--datasets", default="ag_news,sst2,mrpc,imdb")
    parser.add_argument("--sizes", default="500,2000,full")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--full-seeds", type=int, default=None,
                        help="seeds at the full size (default: --seeds); fewer where a full run takes hours here")
    parser.add_argument("--seeds-for", default="",
                        help="seeds for some data sets at every size, e.g. imdb=1 (long texts take hours here)")
    parser.add_argument("--reuse", action="append", default=[], metavar="DATASET-SIZE=RUN_FOLDER",
                        help="a finished defaults run (e.g. imdb-full=bench/_out/long_texts/runs/...-chosen) as that "
                             "cell's first seed")
    parser.add_argument("--finished-only", action="store_true",
                        help="write the table from the finished runs only, naming the cells not run")
    args = parser.parse_args()
    for spec in args.reuse:
        reuse_run(spec)
    seeds_for = {name: int(count) for name, count in (pair.split("=") for pair in args.seeds_for.split(",") if pair)}
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            train_total = len(read_rows(args.data_dir / name / "train.csv")[1])
            if not (args.data_dir / name / "dev.csv").is_file():
                train_total -= VAL_ROWS  # validation comes from the training file then: keep it out of training
            for size_name in args.sizes.split(","):
                size = train_total if size_name == "full" else min(int(size_name), train_total)
                data = prepare(name, args.data_dir, Path(tmp) / size_name, size)
                seeds = args.full_seeds if size_name == "full" and args.full_seeds else args.seeds
                seeds = min(seeds, seeds_for.get(name, seeds))
                if args.finished_only:
                    seeds = sum(cached_file(name, size_name, seed).is_file() for seed in range(seeds))
                    if not seeds:
                        notes.append(f"- {name}, {size:,} rows: not run.")
                        continue
                runs = [run_one(data, size_name, seed, Path(tmp) / "runs") for seed in range(seeds)]
                size = runs[0].get("train_rows", size)  # a reused run's own split
                rows.append(row(runs, size))
                notes.append(f"- {name}, {size:,} rows: {runs[0].get('note', data.note)}. Verdict of the first seed: "
                             f"{runs[0]['verdict']}")
                print(rows[-1], flush=True)
                write_section(TITLE, report(rows, notes, args.seeds))
    write_section(TITLE, report(rows, notes, args.seeds))  # also the cells not run, when the last one is


if __name__ == "__main__":
    main()
