"""Fine-tuning strategies side by side: which one wins at which training-set size (bench/STRATEGIES.md).

Every strategy BERT Studio offers (full fine-tuning, layer-wise learning-rate decay, gradual unfreezing, LoRA,
head only, and [CLS] pooling against the bundled model's mean pooling) trains the bundled model on the shared
single-label sets at several training-set sizes, over several seeds, through the Python API with every other
setting on automatic.  Reported: test macro-F1 mean +/- spread (half the range over the seeds) and training time.
The recommendation in ``bertstudio/train/auto.py`` (``choose_strategy``) is whatever wins here.

Defaults are the full grid (SST-2 and AG News; 500, 2,000 rows and the whole training set; 3 seeds; automatic
epochs; the whole test set), which takes many hours on a CPU:

    python bench/strategies.py

What fitted in the time on a shared 2-core CPU (see bench/STRATEGIES.md for the exact command that was run):

    python bench/strategies.py --datasets sst2,ag_news --sizes 500,2000 --seeds 3 --epochs 3 --test-rows 1000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bertstudio.config import config_from_preset  # noqa: E402
from bertstudio.train.pipeline import train  # noqa: E402

DATASETS = ("sst2", "ag_news")  # the shared single-label, single-text sets
VALIDATION_ROWS = 500  # from dev.csv where there is one, else held out of train.csv (before sampling)
OUT = HERE / "_out" / "strategies"


@dataclass(frozen=True)
class Strategy:
    name: str
    settings: dict = field(default_factory=dict)


STRATEGIES = (
    Strategy("full", {"layer_lr_decay": 1.0, "unfreezing": "none", "lora_rank": 0}),
    Strategy("full (CLS+pooler)", {"layer_lr_decay": 1.0, "unfreezing": "none", "lora_rank": 0, "pooling": "cls"}),
    Strategy("LLRD 0.9", {"layer_lr_decay": 0.9, "unfreezing": "none", "lora_rank": 0}),
    Strategy("gradual unfreezing", {"layer_lr_decay": 1.0, "unfreezing": "gradual", "lora_rank": 0}),
    Strategy("LoRA", {"layer_lr_decay": 1.0, "unfreezing": "none", "lora_rank": 16}),
    Strategy("head only", {"freeze_encoder": True}),
)


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows({"text": r["text"], "label": r["label"]} for r in rows)
    return path


def splits(name: str, data_dir: Path, folder: Path, test_rows: int | None,
           val_rows: int = VALIDATION_ROWS) -> tuple[list[dict], Path, Path]:
    """(training pool, validation file, test file): validation from dev.csv or held out of train.csv."""
    import random

    train_rows = read_rows(data_dir / name / "train.csv")
    random.Random(0).shuffle(train_rows)
    dev = data_dir / name / "dev.csv"
    if dev.is_file():
        val = read_rows(dev)
        random.Random(2).shuffle(val)
        val = val[:val_rows]
    else:
        val, train_rows = train_rows[:val_rows], train_rows[val_rows:]
    test = read_rows(data_dir / name / "test.csv")
    if test_rows:
        random.Random(1).shuffle(test)
        test = test[:test_rows]
    folder.mkdir(parents=True, exist_ok=True)
    return train_rows, write_rows(folder / "val.csv", val), write_rows(folder / "test.csv", test)


def run_one(pool: list[dict], size: int, val: Path, test: Path, strategy: Strategy, seed: int, folder: Path,
            epochs: float | None, model: str, max_length: int | None = None) -> dict:
    import random

    rows = list(pool)
    random.Random(seed).shuffle(rows)
    data = write_rows(folder / f"train-{size}-{seed}.csv", rows[:size])
    cfg = config_from_preset("balanced", data=str(data), val_file=str(val), test_file=str(test), model=model,
                             seed=seed, epochs=epochs, max_length=max_length, simple_model=False, checkpoint_minutes=0, report_to="none",
                             output_dir=str(folder / "runs" / f"{strategy.name}-{size}-{seed}".replace(" ", "_")
                                            .replace(",", "").replace("[", "").replace("]", "").replace("+", "")),
                             overwrite=True, **strategy.settings)
    start = time.perf_counter()
    summary = train(cfg)
    wall = time.perf_counter() - start
    return {"macro_f1": summary.macro_f1, "accuracy": summary.accuracy, "train_seconds": summary.train_seconds,
            "wall_seconds": round(wall, 1), "steps": summary.steps}


def results_from(path: Path) -> dict:
    """The results of a runs.jsonl (one line per finished run), grouped as ``main`` groups them."""
    results: dict = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        run = json.loads(line)
        results.setdefault((run["dataset"], run["size"]), {}).setdefault(run["strategy"], []).append(run)
    return results


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / 2 if len(values) > 1 else 0.0


def table(results: dict) -> str:
    lines = ["| dataset | train rows | strategy | macro-F1 (mean +/- half range) | each seed | train s (mean) |",
             "|---|---|---|---|---|---|"]
    for (name, size), cells in results.items():
        best = max(cells, key=lambda s: statistics.fmean(r["macro_f1"] for r in cells[s]))
        order = [s.name for s in STRATEGIES]
        for strategy, runs in sorted(cells.items(), key=lambda item: order.index(item[0])):
            f1 = [r["macro_f1"] for r in runs]
            mark = " **best**" if strategy == best else ""
            lines.append(f"| {name} | {size:,} | {strategy}{mark} | {statistics.fmean(f1):.4f} +/- {spread(f1):.4f} | "
                         f"{', '.join(f'{v:.3f}' for v in f1)} | "
                         f"{statistics.fmean(r['train_seconds'] for r in runs):.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(HERE.parents[1] / "shared" / "data"))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--sizes", default="500,2000,full", help="training rows per run; 'full': the whole set")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=float, default=None, help="default: automatic (from data size)")
    parser.add_argument("--test-rows", type=int, default=None, help="default: the whole test set")
    parser.add_argument("--val-rows", type=int, default=VALIDATION_ROWS)
    parser.add_argument("--max-length", type=int, default=None, help="default: automatic (from the texts)")
    parser.add_argument("--table-from", default=None, help="only print the table of a runs.jsonl")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own; 1 on a machine shared with other jobs, where two "
                             "threads waiting on each other were 4.6x slower per step)")
    parser.add_argument("--strategies", default=",".join(s.name for s in STRATEGIES))
    parser.add_argument("--model", default="bundled-minilm")
    args = parser.parse_args()
    if args.table_from:
        print(table(results_from(Path(args.table_from))))
        return 0
    wanted = [s for s in STRATEGIES if s.name in args.strategies.split(",")]
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    # Runs already measured with the same settings (bench/_out/strategies/runs.jsonl) are reused, so an interrupted
    # grid goes on where it stopped.
    grid = {"epochs": args.epochs, "max_length": args.max_length, "val_rows": args.val_rows,
            "test_rows": args.test_rows, "model": args.model}
    done = {json.dumps({k: r.get(k) for k in ("dataset", "size", "strategy", "seed", *grid)}, sort_keys=True): r
            for r in map(json.loads, (OUT / "runs.jsonl").read_text(encoding="utf-8").splitlines())
            } if (OUT / "runs.jsonl").is_file() else {}
    results: dict = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="strategies-") as tmp:
        for name in args.datasets.split(","):
            pool, val, test = splits(name, Path(args.data_dir), Path(tmp) / name, args.test_rows, args.val_rows)
            for size_text in args.sizes.split(","):
                size = len(pool) if size_text == "full" else min(int(size_text), len(pool))
                cells = results.setdefault((name, size), {})
                for seed in range(args.seeds):  # seed by seed: a run cut short still has whole seeds to compare
                    for strategy in wanted:
                        key = {"dataset": name, "size": size, "strategy": strategy.name, "seed": seed, **grid}
                        run = done.get(json.dumps(key, sort_keys=True))
                        if run is None:  # not measured yet with these settings
                            run = run_one(pool, size, val, test, strategy, seed, Path(tmp) / name, args.epochs,
                                          args.model, args.max_length)
                            with (OUT / "runs.jsonl").open("a", encoding="utf-8") as log:
                                log.write(json.dumps({**key, **run}) + "\n")
                        cells.setdefault(strategy.name, []).append(run)
                        print(json.dumps({**key, **run}), flush=True)
    body = (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"wall time {time.perf_counter() - started:.0f} s.\n\n"
            f"Command: python bench/strategies.py {' '.join(sys.argv[1:])}\n\n{table(results)}\n")
    (OUT / "table.md").write_text(body, encoding="utf-8")
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
