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


# -- alert budget -----------------------------------------------------------------------------
def _scored(n: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.08).astype(int)
    s = np.clip(0.1 + 0.3 * y + rng.normal(0, 0.15, n), 0, 1)
    return y, s


def test_budget_leaves_a_cost_threshold_that_fits_alone():
    from fraud_mlops.evaluate import choose_threshold_within_budget

    y, s = _scored()
    cost = CostModel(investigation_cost=100, fraud_loss=2000)
    t_cost = choose_threshold(y, s, cost)
    share = float((s >= t_cost).mean())
    assert choose_threshold_within_budget(y, s, cost, share + 0.01) == (t_cost, "cost")


def test_budget_caps_the_flag_rate_at_the_cheapest_allowed_threshold():
    from fraud_mlops.evaluate import choose_threshold_within_budget

    y, s = _scored()
    cost = CostModel(investigation_cost=20, fraud_loss=4000)  # cheap reviews: flag a lot
    assert (s >= choose_threshold(y, s, cost)).mean() > 0.3
    threshold, rule = choose_threshold_within_budget(y, s, cost, 0.05)
    assert rule == "budget"
    assert (s >= threshold).sum() <= 100  # 5 % of 2,000
    allowed = [t for t in np.unique(s) if (s >= t).sum() <= 100]
    assert expected_cost(y, s, threshold, cost) == pytest.approx(
        min(expected_cost(y, s, t, cost) for t in allowed)
    )
    # The budget defaults to the cost model's.
    assert choose_threshold_within_budget(y, s, CostModel(20, 4000, alert_budget=0.05)) == (
        threshold,
        "budget",
    )


def test_budget_with_ties_larger_than_the_budget_flags_nothing():
    from fraud_mlops.evaluate import choose_threshold_within_budget

    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9] * 3 + [0.1] * 7)
    threshold, rule = choose_threshold_within_budget(y, s, CostModel(10, 4000), 0.2)
    assert rule == "budget" and (s >= threshold).sum() == 0
    with pytest.raises(ConfigError, match="alert budget"):
        choose_threshold_within_budget(y, s, CostModel(), 1.2)


# -- bootstrap --------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["pr_auc", "roc_auc"])
def test_every_resample_matches_sklearn(metric):
    from sklearn.metrics import average_precision_score, roc_auc_score

    from fraud_mlops.evaluate import _metric_per_resample, bootstrap_counts

    y, s = _scored(600, 1)
    s = np.round(s, 2)  # plenty of ties
    counts = bootstrap_counts(len(y), 50, seed=3)
    values = _metric_per_resample(metric, y, s, counts)
    reference = average_precision_score if metric == "pr_auc" else roc_auc_score
    for row, value in zip(counts, values, strict=True):
        idx = np.repeat(np.arange(len(y)), row)
        assert value == pytest.approx(reference(y[idx], s[idx]), abs=1e-9)


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible():
    from sklearn.metrics import average_precision_score

    from fraud_mlops.evaluate import bootstrap_interval

    y, s = _scored(3000, 2)
    out = bootstrap_interval(y, s, n_resamples=1000, seed=5)
    assert out["estimate"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert out["low"] < out["estimate"] < out["high"]
    assert out["high"] - out["low"] < 0.2
    assert out["n_resamples"] == 1000 and out["frauds"] == int(y.sum()) and out["redrawn"] == 0
    assert bootstrap_interval(y, s, n_resamples=1000, seed=5) == out
    # A small split gives a visibly wider interval: the gate must not read noise as signal.
    small = bootstrap_interval(y[:300], s[:300], n_resamples=1000, seed=5)
    assert small["high"] - small["low"] > out["high"] - out["low"]


def test_paired_difference_is_tighter_than_separate_intervals():
    from sklearn.metrics import average_precision_score

    from fraud_mlops.evaluate import paired_bootstrap

    rng = np.random.default_rng(4)
    y, s = _scored(2000, 3)
    better = s + 0.05 * y * rng.random(len(y))  # a slightly better model on the same claims
    out = paired_bootstrap(y, better, s, n_resamples=1000, seed=1)
    diff = out["difference"]
    assert diff["estimate"] == pytest.approx(
        average_precision_score(y, better) - average_precision_score(y, s)
    )
    assert 0 < diff["low"] < diff["estimate"] < diff["high"]
    width_a = out["a"]["high"] - out["a"]["low"]
    assert diff["high"] - diff["low"] < width_a / 2
    assert out["share_a_better"] > 0.99
    same = paired_bootstrap(y, s, s, n_resamples=200, seed=1)
    assert same["difference"] == {"estimate": 0.0, "low": 0.0, "high": 0.0}


def test_resamples_without_fraud_are_redrawn_and_counted():
    from fraud_mlops.evaluate import bootstrap_interval

    y = np.zeros(60, dtype=int)
    y[[5, 40]] = 1  # two frauds: about 13 % of resamples draw neither
    s = np.linspace(0, 1, 60)
    out = bootstrap_interval(y, s, n_resamples=500, seed=0)
    assert out["n_resamples"] == 500 and out["redrawn"] > 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "f1"}, "unknown bootstrap metric 'f1'"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"confidence": 1.5}, "confidence"),
    ],
)
def test_bootstrap_bad_arguments(kwargs, message):
    from fraud_mlops.evaluate import bootstrap_interval, paired_bootstrap

    y, s = _scored(200, 5)
    with pytest.raises(ConfigError, match=message):
        bootstrap_interval(y, s, **kwargs)
    with pytest.raises(ConfigError, match=message):
        paired_bootstrap(y, s, s, **kwargs)
    with pytest.raises(FraudMlopsError, match="must be equal"):
        paired_bootstrap(y, s, s[:-1])
