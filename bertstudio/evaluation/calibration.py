"""Does "90% sure" mean right nine times in ten?  Measuring and fixing over-confidence.

Fine-tuned transformers are usually over-confident: their probabilities are
closer to 0 and 1 than their accuracy justifies.  Expected calibration error
(ECE) measures the gap; temperature scaling (Guo et al., 2017) fixes most of it
by dividing the logits by one number T fitted on the validation split.  T does
not change which class is predicted, so accuracy and F1 stay exactly the same.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from bertstudio.evaluation.metrics import softmax

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_BINS = 15
# T below 0.25 would multiply logits by more than 4: no real model is that under-confident, and
# such a fit only happens when the validation split is too easy to say anything.
TEMPERATURE_BOUNDS = (0.25, 20.0)
# Fewer validation rows than this and each is more than 5% of what the fit sees: T stays 1 whatever they say.
MIN_CALIBRATION_ROWS = 20
# A temperature below 1 (a surer model) is only fitted from this many validation mistakes on. T is one number for
# every class, so what the fit learns from is how often the model is wrong, not how many rows each class has, and a
# handful of mistakes does not say that: one mistake in 30 rows fits as well a true error rate five times higher.
# Sharpening on such thin evidence is what made a model that never predicts its rare class (95/5 file, its few rare
# validation rows its only mistakes) fit T = 0.27: surer of every text, the wrong ones included. On 2,400 simulated
# validation splits of a model calibrated by construction (bench/calibration_small_splits.py: 30 to 300 rows), 1,
# 2 and 3 mistakes fitted T < 0.7 in 25%, 8% and 4% of them; 4 mistakes and more in 1% or less. Raising T (less
# sure) stays allowed: a confident mistake is already strong evidence of over-confidence, and an under-confident
# model only makes people check more, never trust a wrong answer.
MIN_MISTAKES_TO_SHARPEN = 4


@dataclass
class ReliabilityBin:
    """One bar of a reliability diagram: rows whose confidence fell in (lower, upper]."""

    lower: float
    upper: float
    count: int
    confidence: float | None  # mean confidence of the rows in the bin; None when empty
    accuracy: float | None  # share of those rows predicted correctly; None when empty


@dataclass
class ReliabilityDiagram:
    """Confidence against accuracy in equal-width bins; ``ece`` is their count-weighted mean gap."""

    bins: list[ReliabilityBin]
    ece: float
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"ece": self.ece, "rows": self.rows, "bins": [asdict(b) for b in self.bins]}

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([asdict(b) for b in self.bins])


@dataclass
class TemperatureFit:
    """The fitted temperature and what it did on the split it was fitted on."""

    temperature: float
    rows: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    note: str = ""

    @property
    def applied(self) -> bool:
        """Whether predictions are temperature-scaled at all: T = 1 leaves every probability as the model gives it,
        and the words around the figures must not say "calibrated" then."""
        return self.temperature != 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin i holds confidences in (i/n, (i+1)/n]; a confidence of exactly 0 joins the first bin."""
    return np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)


def reliability_diagram(probs: np.ndarray, labels: Sequence[int], n_bins: int = DEFAULT_BINS) -> ReliabilityDiagram:
    """Per confidence bin: how many rows, how confident on average, how often right."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    confidence = p.max(axis=1) if len(y) else np.zeros(0)
    correct = (p.argmax(axis=1) == y) if len(y) else np.zeros(0, dtype=bool)
    return reliability_of(confidence, correct, n_bins)


def reliability_of(confidence: np.ndarray, correct: np.ndarray, n_bins: int = DEFAULT_BINS) -> ReliabilityDiagram:
    """The diagram of any probabilities and the 0/1 outcomes they predict: a single-label model's top-class
    confidence and whether it was right, or (multi-label) each label's probability and whether the text has it."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    index = _bin_index(confidence, n_bins)
    bins, gap = [], 0.0
    for i in range(n_bins):
        in_bin = index == i
        count = int(in_bin.sum())
        mean_conf = float(confidence[in_bin].mean()) if count else None
        accuracy = float(correct[in_bin].mean()) if count else None
        if count:
            gap += count * abs(accuracy - mean_conf)
        bins.append(ReliabilityBin(lower=i / n_bins, upper=(i + 1) / n_bins, count=count,
                                   confidence=mean_conf, accuracy=accuracy))
    ece = gap / len(correct) if len(correct) else float("nan")
    return ReliabilityDiagram(bins=bins, ece=float(ece), rows=int(len(correct)))


def chance_ece(confidence: np.ndarray, n_bins: int = DEFAULT_BINS, *, draws: int = 200, quantile: float = 0.9,
               seed: int = 0) -> float:
    """The calibration error a perfectly calibrated model with these confidences shows by chance alone on this many
    rows (its ``quantile`` over ``draws`` draws of right/wrong, each row right with its own confidence). ECE is
    never 0 on a finite split: a calibrated model shows 0.11 on 30 texts and 0.02 on 1,000
    (bench/calibration_small_splits.py), so a gap is only a finding beyond this."""
    confidence = np.asarray(confidence, dtype=np.float64)
    if len(confidence) == 0:
        return float("nan")
    draws = max(20, min(draws, 4_000_000 // len(confidence)))  # a million test texts: 20 draws, under a second
    rng = np.random.default_rng(seed)
    eces = [reliability_of(confidence, rng.random(len(confidence)) < confidence, n_bins).ece for _ in range(draws)]
    return float(np.quantile(eces, quantile))


def expected_calibration_error(probs: np.ndarray, labels: Sequence[int], n_bins: int = DEFAULT_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by rows per bin."""
    return reliability_diagram(probs, labels, n_bins).ece


def nll_at_temperature(logits: np.ndarray, labels: Sequence[int], temperature: float) -> float:
    """Mean negative log-likelihood of the true labels after dividing the logits by ``temperature``."""
    from scipy.special import logsumexp

    z = np.asarray(logits, dtype=np.float64) / temperature
    y = np.asarray(labels, dtype=np.int64)
    return float(np.mean(logsumexp(z, axis=1) - z[np.arange(len(y)), y]))


def _best_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float]) -> float:
    """The T in ``bounds`` with the lowest NLL.

    NLL is convex in 1/T, hence unimodal in log T, so a bounded Brent search on
    log T finds the global minimum without gradients or a starting guess.
    """
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(lambda log_t: nll_at_temperature(logits, labels, math.exp(log_t)),
                             bounds=(math.log(bounds[0]), math.log(bounds[1])), method="bounded",
                             options={"xatol": 1e-4})
    return float(math.exp(result.x))


def fit_temperature(logits: np.ndarray, labels: Sequence[int], *, bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
                    min_rows: int = MIN_CALIBRATION_ROWS, min_mistakes: int = MIN_MISTAKES_TO_SHARPEN,
                    n_bins: int = DEFAULT_BINS) -> TemperatureFit:
    """Fit T > 0 minimising the NLL of ``labels`` under softmax(logits / T).

    Keeps T = 1 (and says why in ``note``) when the data cannot support a fit: too few rows. With fewer than
    ``min_mistakes`` mistakes T may only rise (a less sure model): no mistakes at all, or a few, are evidence of an
    easy split (or of a rare class the model ignores), not of an under-confident model; when the fit would have
    lowered T, the note says T was kept at 1 and why.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    temperature, note = 1.0, ""
    mistakes = int((z.argmax(axis=1) != y).sum()) if len(y) else 0
    if len(y) < min_rows:
        note = f"Only {len(y)} validation rows (at least {min_rows} needed): temperature kept at 1."
    else:
        thin = mistakes < min_mistakes
        allowed = (max(bounds[0], 1.0), bounds[1]) if thin else bounds
        fitted = _best_temperature(z, y, allowed)
        if nll_at_temperature(z, y, fitted) < nll_at_temperature(z, y, 1.0):
            temperature = fitted
        if thin and temperature == 1.0:
            note = too_few_mistakes_note(mistakes, len(y), min_mistakes)
        elif math.isclose(temperature, bounds[0], rel_tol=1e-3) or math.isclose(temperature, bounds[1],
                                                                                rel_tol=1e-3):
            note = f"The best temperature lies at the edge of the allowed range {bounds}; it was capped there."
    nll_before = nll_at_temperature(z, y, 1.0) if len(y) else float("nan")
    nll_after = nll_at_temperature(z, y, temperature) if len(y) else float("nan")
    return TemperatureFit(
        temperature=temperature, rows=int(len(y)), nll_before=nll_before, nll_after=nll_after,
        ece_before=expected_calibration_error(softmax(z), y, n_bins) if len(y) else float("nan"),
        ece_after=expected_calibration_error(softmax(z, temperature), y, n_bins) if len(y) else float("nan"),
        note=note)


def too_few_mistakes_note(mistakes: int, rows: int, needed: int = MIN_MISTAKES_TO_SHARPEN) -> str:
    """Why a fit that would have made the model surer of itself was not applied, in words."""
    made = "no mistakes" if mistakes == 0 else f"only {mistakes} mistake{'s' if mistakes != 1 else ''}"
    return (f"The model made {made} on the {rows:,} validation rows (at least {needed} needed): too few to show "
            "that it should be surer of itself, and calibrating on so few can make it confidently wrong: "
            "temperature kept at 1.")
