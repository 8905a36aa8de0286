"""The simple word-count model of a multi-label run: one logistic regression per label, fitted one by one and side
by side (a thread per core), in the same run.

A multi-label run fits this model before its first training step (on a CPU), so its time is time a person waits
before training starts. GoEmotions' training split (43,410 texts, 28 labels) is the reference; both ways fit the
same features and give the same weights (checked). Results go to the section "Simple model of a multi-label run"
of bench/RESULTS.md.

    python bench/multilabel_simple_fit.py [--data-dir ../shared/data] [--rows 43410]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the engine, also from a clone not pip-installed
from defaults import read_rows  # noqa: E402
from results import command_line, machine_line, write_section  # noqa: E402

from bertstudio.hardware import usable_cores  # noqa: E402
from bertstudio.models import word_counts  # noqa: E402

TITLE = "Simple model of a multi-label run"


def label_matrix(cells: list[str]) -> tuple[np.ndarray, list[str]]:
    names = sorted({label for cell in cells for label in cell.split(";")})
    column = {name: i for i, name in enumerate(names)}
    y = np.zeros((len(cells), len(names)), dtype=np.float32)
    for row, cell in enumerate(cells):
        y[row, [column[label] for label in cell.split(";")]] = 1
    return y, names


def timed_fit(features, y: np.ndarray, cores: int) -> tuple[float, np.ndarray]:
    """Seconds to fit every label with ``cores`` threads, and the weights."""
    real = word_counts.usable_cores
    word_counts.usable_cores = lambda: cores
    try:
        start = time.perf_counter()
        coef, _ = word_counts.fit_one_vs_rest(features, y)
        return time.perf_counter() - start, coef
    finally:
        word_counts.usable_cores = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--rows", type=int, default=None, help="The first N training rows (default: all).")
    args = parser.parse_args()
    _, rows = read_rows(args.data_dir / "goemotions" / "train.csv")
    rows = rows[:args.rows] if args.rows else rows
    y, names = label_matrix([row["labels"] for row in rows])
    start = time.perf_counter()
    features = word_counts.fit_features([row["text"] for row in rows])[1]
    feature_s = time.perf_counter() - start
    cores = usable_cores()
    alone_s, alone = timed_fit(features, y, 1)
    side_s, side = timed_fit(features, y, cores)
    same = np.allclose(alone, side, rtol=1e-5, atol=1e-6)
    print(f"features {feature_s:.1f} s; labels one by one {alone_s:.1f} s; side by side on {cores} cores "
          f"{side_s:.1f} s ({alone_s / side_s:.2f}x); same weights: {same}")
    body = "\n".join([
        machine_line(),
        f"Reproduce: `{command_line()}`",
        "",
        f"GoEmotions training split: {len(rows):,} texts, {len(names)} labels; the features (TF-IDF words and "
        f"character n-grams) took {feature_s:.1f} s, then one logistic regression per label:",
        "",
        "| labels fitted | seconds | against one by one |",
        "|---|---|---|",
        f"| one by one | {alone_s:.1f} | 1.00x |",
        f"| side by side, a thread per core ({cores}) | {side_s:.1f} | {alone_s / side_s:.2f}x |",
        "",
        f"Same weights both ways: {'yes' if same else 'NO'}. A multi-label run on a CPU waits for this fit before "
        f"its first step: {feature_s + alone_s:.0f} s before, {feature_s + side_s:.0f} s now (plus scoring the "
        "validation texts).",
    ])
    write_section(TITLE, body)


if __name__ == "__main__":
    main()
