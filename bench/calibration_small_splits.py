"""What temperature scaling and the calibration error say on small splits, measured on models calibrated by
construction (the true temperature is 1, every gap is chance). Pure numpy, a few seconds on a CPU.

1. The temperature fitted on a validation split, by how many mistakes the model made on it: with few mistakes the
   fit lowers T (a surer model) by chance alone, which is why ``calibration.MIN_MISTAKES_TO_SHARPEN`` exists.
2. The calibration error (ECE, 15 bins) such a model shows on n texts: the gap chance alone produces, which is why
   ``cautions.confidence_verdict`` compares the ECE with it (``calibration.chance_ece``) instead of a fixed line.

    python bench/calibration_small_splits.py [--draws 400]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the engine, also from a clone not pip-installed
from bertstudio.evaluation.calibration import _best_temperature, reliability_of  # noqa: E402

SIZES = (30, 100, 300)
MARGINS = (2.5, 4.0)  # mean logit gap of a binary model: about 92% and 98% sure on average


def calibrated_split(rng: np.random.Generator, n: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Binary logits and labels drawn from the model's own probabilities: calibrated at T = 1."""
    gap = rng.normal(margin, 1.0, n)
    logits = np.stack([np.zeros(n), gap], axis=1)
    labels = (rng.random(n) < 1 / (1 + np.exp(-gap))).astype(np.int64)
    return logits, labels


def fitted_temperatures(draws: int, seed: int = 0) -> dict[int, list[float]]:
    """Fitted T by number of mistakes (12 stands for 12 and more)."""
    rng = np.random.default_rng(seed)
    by_mistakes: dict[int, list[float]] = {}
    for n in SIZES:
        for margin in MARGINS:
            for _ in range(draws):
                logits, labels = calibrated_split(rng, n, margin)
                mistakes = int((logits.argmax(axis=1) != labels).sum())
                if mistakes:
                    by_mistakes.setdefault(min(mistakes, 12), []).append(_best_temperature(logits, labels,
                                                                                           (0.25, 20.0)))
    return by_mistakes


def chance_ece(draws: int, seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for n in (30, 50, 100, 200, 300, 1000):
        eces = []
        for _ in range(draws):
            confidence = 1 / (1 + np.exp(-np.abs(rng.normal(2.5, 1.2, n))))
            eces.append(reliability_of(confidence, rng.random(n) < confidence).ece)
        out[n] = np.asarray(eces)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=400)
    args = parser.parse_args()
    print("Fitted temperature of a calibrated model, by validation mistakes "
          f"({len(SIZES) * len(MARGINS) * args.draws:,} splits of {SIZES} rows)")
    print("mistakes  splits  median T  share T < 0.7  share T > 1.4")
    for mistakes, temps in sorted(fitted_temperatures(args.draws).items()):
        t = np.asarray(temps)
        label = f"{mistakes}+" if mistakes == 12 else str(mistakes)
        print(f"{label:>8}  {len(t):6d}  {np.median(t):8.2f}  {(t < 0.7).mean():13.0%}  {(t > 1.4).mean():13.0%}")
    print("\nECE of a calibrated model by chance alone, by number of texts")
    print("    texts   mean  90th percentile")
    for n, eces in chance_ece(args.draws).items():
        print(f"{n:9,d}  {eces.mean():5.3f}  {np.quantile(eces, 0.9):15.3f}")


if __name__ == "__main__":
    main()
