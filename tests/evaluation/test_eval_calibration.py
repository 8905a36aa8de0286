"""Calibration error and temperature scaling on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from bertstudio.evaluation.calibration import (
    chance_ece,
    expected_calibration_error,
    fit_temperature,
    nll_at_temperature,
    reliability_diagram,
)
from bertstudio.evaluation.metrics import softmax


def calibrated_logits(n: int = 20_000, k: int = 4, scale: float = 2.0, seed: int = 0):
    """Logits whose softmax is the true label distribution: calibrated by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=scale, size=(n, k))
    probs = softmax(logits)
    labels = (rng.random(n)[:, None] > probs.cumsum(axis=1)).sum(axis=1)
    return logits, np.minimum(labels, k - 1)


def test_ece_is_near_zero_when_calibrated_and_large_when_over_confident():
    logits, labels = calibrated_logits()
    assert expected_calibration_error(softmax(logits), labels) < 0.02
    assert expected_calibration_error(softmax(logits * 3), labels) > 0.1


def test_ece_hand_computed():
    # two rows at confidence 0.9 (one right) and two at 0.6 (both right): |0.5-0.9|*2/4 + |1-0.6|*2/4
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 1, 0, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4)


def test_reliability_bins():
    logits, labels = calibrated_logits(n=2_000)
    diagram = reliability_diagram(softmax(logits), labels)
    assert len(diagram.bins) == 15 and diagram.rows == 2_000
    assert sum(b.count for b in diagram.bins) == 2_000
    assert diagram.bins[0].lower == 0 and diagram.bins[-1].upper == 1
    for b in diagram.bins:
        if b.count:
            assert b.lower < b.confidence <= b.upper and 0 <= b.accuracy <= 1
        else:
            assert b.confidence is None and b.accuracy is None
    assert diagram.to_frame()["count"].sum() == 2_000
    assert diagram.to_dict()["ece"] == diagram.ece


def test_temperature_scaling_fixes_over_confidence():
    logits, labels = calibrated_logits()
    fit = fit_temperature(logits * 3, labels)
    assert 2.7 < fit.temperature < 3.3
    assert fit.nll_after < fit.nll_before
    assert fit.ece_before > 0.1 and fit.ece_after < 0.02
    assert fit.rows == len(labels) and fit.note == ""


def test_temperature_below_one_for_under_confident_logits():
    logits, labels = calibrated_logits(seed=1)
    fit = fit_temperature(logits / 2, labels)
    assert 0.4 < fit.temperature < 0.6 and fit.nll_after < fit.nll_before


def test_temperature_does_not_change_predictions():
    logits, _ = calibrated_logits(n=500)
    assert (softmax(logits, 2.5).argmax(axis=1) == softmax(logits).argmax(axis=1)).all()


def test_temperature_is_kept_when_the_data_cannot_support_a_fit():
    logits, labels = calibrated_logits(n=10)
    assert fit_temperature(logits, labels).temperature == 1.0
    assert "validation rows" in fit_temperature(logits, labels).note
    perfect = np.eye(3)[[0, 1, 2] * 10] * 5.0
    fit = fit_temperature(perfect, [0, 1, 2] * 10)
    assert fit.temperature == 1.0 and "no mistakes" in fit.note


def test_temperature_is_capped_at_the_bounds():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 3)) * 50  # wildly over-confident, labels random
    fit = fit_temperature(logits, rng.integers(0, 3, 200), bounds=(0.25, 20.0))
    assert fit.temperature == pytest.approx(20.0, rel=1e-2) and "edge" in fit.note


def test_nll_at_temperature_matches_definition():
    logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    expected = -np.mean(np.log([softmax(logits / 2)[0, 0], softmax(logits / 2)[1, 1]]))
    assert nll_at_temperature(logits, [0, 1], 2.0) == pytest.approx(expected)


def always_majority_logits(rare_rows: int = 1, rows: int = 30, gap: float = 2.4):
    """A model that calls every text the majority class (1), about 92% sure: its only mistakes are the rare class's
    rows, as after a short training on a 95/5 file."""
    logits = np.tile([-gap / 2, gap / 2], (rows, 1))
    return logits, [0] * rare_rows + [1] * (rows - rare_rows)


def test_a_few_mistakes_never_make_the_model_surer():
    """One rare validation row, the model's only mistake: the fit lowered T (0.67 here, 0.27 for a tester), making
    a model that never predicts the rare class surer of every text, the wrong ones included."""
    logits, labels = always_majority_logits()
    assert _best_temperature_unbounded(logits, labels) < 0.8  # what the fit alone wants
    fit = fit_temperature(logits, labels)
    assert fit.temperature == 1.0 and not fit.applied
    assert "only 1 mistake on the 30 validation rows" in fit.note and "kept at 1" in fit.note
    assert fit.nll_after == fit.nll_before and fit.ece_after == fit.ece_before


def test_a_few_confident_mistakes_still_make_the_model_less_sure():
    """Raising T needs no such evidence: two mistakes at 99.97% sure say the model is over-confident."""
    logits, labels = always_majority_logits(rare_rows=2, rows=40, gap=8.0)
    fit = fit_temperature(logits, labels)
    assert fit.temperature > 1.5 and fit.applied and fit.note == "" and fit.nll_after < fit.nll_before


def _best_temperature_unbounded(logits, labels) -> float:
    return fit_temperature(logits, labels, min_mistakes=0).temperature


def test_chance_ece_is_the_gap_a_calibrated_model_shows_on_so_few_rows():
    rng = np.random.default_rng(0)
    few, many = rng.uniform(0.5, 1.0, 30), rng.uniform(0.5, 1.0, 3000)
    assert chance_ece(few) > 0.08 > 0.03 > chance_ece(many)
    assert chance_ece(few) == chance_ece(few), "a fixed seed: the same verdict every time"
