"""Evaluation metrics agree with hand computations and the cost threshold is optimal."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_mlops.errors import ConfigError, FraudMlopsError
from fraud_mlops.evaluate import (
    CostModel,
    at_budget,
    choose_threshold,
    evaluate_model,
    evaluate_scores,
    expected_cost,
    recall_at_fpr,
)

Y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])


def test_budget_precision_and_recall_by_hand():
    assert at_budget(Y, S, 0.2) == (0.5, pytest.approx(1 / 3))  # top 2: one fraud of three
    assert at_budget(Y, S, 0.3) == (pytest.approx(2 / 3), pytest.approx(2 / 3))


def test_recall_at_fpr():
    # With no false positive allowed, only the top fraud is caught before the first honest claim.
    assert recall_at_fpr(Y, S, 0.0) == pytest.approx(1 / 3)
    assert recall_at_fpr(Y, S, 1.0) == 1.0


def test_cost_threshold_beats_every_other_threshold():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.05).astype(int)
    s = np.clip(0.05 + 0.3 * y + rng.normal(0, 0.15, 2000), 0, 1)
    cost = CostModel(investigation_cost=100, fraud_loss=2000)
    best = choose_threshold(y, s, cost)
    best_cost = expected_cost(y, s, best, cost)
    for t in np.unique(s):
        assert best_cost <= expected_cost(y, s, t, cost) + 1e-12


def test_when_investigating_never_pays_nothing_is_flagged():
    y, s = np.array([0, 0, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6])
    cost = CostModel(investigation_cost=100, fraud_loss=150)  # catching the fraud costs 400
    t = choose_threshold(y, s, cost)
    assert (s >= t).sum() == 0


def test_metrics_are_complete_and_consistent():
    from sklearn.metrics import average_precision_score

    m = evaluate_scores(Y, S, CostModel(alert_budget=0.2), threshold=0.65)
    assert m["pr_auc"] == pytest.approx(average_precision_score(Y, S))
    # 0.9, 0.8 and 0.7 are flagged: two frauds caught, one (0.05) missed.
    assert m["flag_rate"] == pytest.approx(0.3)
    assert m["precision_at_threshold"] == pytest.approx(2 / 3)
    expected = (150 * 3 + 4000 * 1) / 10
    assert m["expected_cost"] == pytest.approx(expected)
    assert 0 <= m["brier"] <= 1


def test_threshold_comes_from_validation_not_test():
    cost = CostModel()
    out = evaluate_model(Y, S, Y[::-1], S, cost)
    assert out["test"]["threshold"] == out["validation"]["threshold"]
    assert out["test"]["threshold"] == choose_threshold(Y, S, cost)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"investigation_cost": 0}, "investigation cost"),
        ({"fraud_loss": 10}, "fraud loss"),
        ({"alert_budget": 1.5}, "alert budget"),
    ],
)
def test_bad_cost_model(kw, message):
    with pytest.raises(ConfigError, match=message):
        CostModel(**kw)


def test_bad_inputs():
    with pytest.raises(FraudMlopsError, match="both fraud"):
        evaluate_scores(np.zeros(5), np.ones(5), CostModel(), 0.5)
    with pytest.raises(FraudMlopsError, match="NaN"):
        evaluate_scores(Y, np.where(S > 0.5, np.nan, S), CostModel(), 0.5)


def test_platt_scaling_fixes_inflated_probabilities_without_reordering() -> None:
    from sklearn.metrics import brier_score_loss

    from fraud_mlops.evaluate import apply_platt, fit_platt

    rng = np.random.default_rng(3)
    true_p = rng.beta(0.5, 12, 20_000)  # rare events, like fraud
    y = (rng.random(true_p.size) < true_p).astype(int)
    inflated = 1 / (1 + np.exp(-(np.log(true_p / (1 - true_p)) + 2.0)))  # as pos_weight does
    calibration = fit_platt(y[:10_000], inflated[:10_000])
    fixed = apply_platt(inflated[10_000:], calibration)
    assert calibration[0] > 0
    assert brier_score_loss(y[10_000:], fixed) < brier_score_loss(y[10_000:], inflated[10_000:])
    assert abs(fixed.mean() - y[10_000:].mean()) < 0.01
    order = np.argsort(inflated[10_000:])
    assert np.all(np.diff(fixed[order]) >= -1e-12)  # monotonic: the ranking is unchanged
