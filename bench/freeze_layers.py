"""Freezing the bottom layers: what the engine's automatic ``freeze_layers`` costs in accuracy and saves in time.

For the bundled 6-layer model the defaults keep the bottom layer (and the embeddings) fixed. On the shared
datasets of bench/defaults.py (the same training subsets, validation and test files), ``bertstudio train`` with
its defaults runs with the bottom layer frozen (``--freeze-layers 1``, what the defaults choose) and with every
layer trained (``--freeze-layers 0``), over several seeds. The section "Freezing the bottom layer" of
bench/RESULTS.md is the result; finished runs are cached in bench/_out/freeze_layers/.

    python bench/freeze_layers.py [--data-dir ../shared/data] [--seeds 3] [--datasets sst2,ag_news]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from defaults import DATASETS, TRAIN_ROWS, Cell, prepare, run_cell  # noqa: E402
from results import machine_line, write_section  # noqa: E402

CACHE = HERE / "_out" / "freeze_layers"
FROZEN = Cell("bottom layer frozen", ("--freeze-layers", "1"))
ALL_TRAINED = Cell("every layer trained", ("--freeze-layers", "0"))


def mean(runs: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in runs)


def table(results: dict[str, dict[str, list[dict]]]) -> str:
    lines = ["| dataset | train rows | macro-F1, every layer trained | macro-F1, bottom layer frozen | difference "
             "(points) |", "|---|---|---|---|---|"]
    for name, cells in results.items():
        full, frozen = cells[ALL_TRAINED.name], cells[FROZEN.name]

        def f1s(runs: list[dict]) -> str:
            each = ", ".join(f"{r['macro_f1']:.4f}" for r in runs)
            return f"{mean(runs, 'macro_f1'):.4f} ({each})"

        lines.append(f"| {name} | {TRAIN_ROWS[name]:,} | {f1s(full)} | {f1s(frozen)} | "
                     f"{100 * (mean(frozen, 'macro_f1') - mean(full, 'macro_f1')):+.2f} |")
    return "\n".join(lines)


def report(results: dict[str, dict[str, list[dict]]], seeds: int) -> str:
    diffs = [mean(c[FROZEN.name], "macro_f1") - mean(c[ALL_TRAINED.name], "macro_f1") for c in results.values()]
    return f"""{machine_line()}

`bertstudio train` with its defaults on the subsets of bench/defaults.py (test macro-F1; best checkpoint picked on
validation), with the bottom layer of the bundled 6-layer model frozen (what the defaults now choose:
`freeze_layers`, the bottom sixth of the layers, and the embeddings with them) and with every layer trained.
Means over {seeds} seeds, each seed's figure in brackets. What it saves in time is measured where timing is
controlled: the section "Training speed (SST-2 sample, bundled MiniLM)".

{table(results)}

Mean difference over the datasets: {100 * statistics.fmean(diffs):+.2f} macro-F1 points.

Reproduce: `python bench/freeze_layers.py --seeds {seeds}`."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(HERE.parents[1] / "shared" / "data"))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, dict[str, list[dict]]] = {}
    with tempfile.TemporaryDirectory(prefix="freeze-") as tmp:
        for name in args.datasets.split(","):
            data = prepare(name, Path(args.data_dir), Path(tmp) / "data", TRAIN_ROWS[name])
            results[name] = {}
            for cell in (ALL_TRAINED, FROZEN):
                runs = [run_cell(data, cell, TRAIN_ROWS[name], Path(tmp) / "runs", seed, cache=CACHE)
                        for seed in range(args.seeds)]
                results[name][cell.name] = runs
                print(f"{name:10s} {cell.name:20s} macro-F1 {mean(runs, 'macro_f1'):.4f}", flush=True)
    body = report(results, args.seeds)
    write_section("Freezing the bottom layer", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
