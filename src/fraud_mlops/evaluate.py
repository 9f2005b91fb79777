"""Evaluation with ``sklearn.metrics``, in the terms a fraud team uses.

* ``pr_auc`` (average precision) — the headline: fraud is rare, so ROC-AUC flatters.
* ``roc_auc``, ``brier`` (calibration + sharpness).
* ``recall_at_1pct_fpr`` — share of fraud caught while bothering at most 1 % of honest claimants.
* ``precision_at_budget`` / ``recall_at_budget`` — investigators can look at the top k % of claims.
* ``threshold`` / ``expected_cost`` — the score threshold that minimises
  ``investigation_cost × flagged + fraud_loss × missed fraud``, chosen on validation and then
  applied unchanged to test; the cost is reported per claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fraud_mlops.errors import ConfigError, FraudMlopsError

# The metrics people compare runs by, in the order summaries, cards and CLIs show them.
HEADLINE_METRICS = (
    "pr_auc",
    "roc_auc",
    "recall_at_1pct_fpr",
    "precision_at_budget",
    "recall_at_budget",
    "brier",
    "threshold",
    "expected_cost",
)


@dataclass(frozen=True)
class CostModel:
    """What an investigation costs and what an undetected fraud costs (same currency)."""

    investigation_cost: float = 150.0
    fraud_loss: float = 4000.0
    alert_budget: float = 0.05  # share of claims investigators can review

    def __post_init__(self) -> None:
        if not self.investigation_cost > 0:
            raise ConfigError(
                f"investigation cost must be > 0, got {self.investigation_cost}: pass the average "
                "cost of reviewing one claim, e.g. --investigation-cost 150"
            )
        if not self.fraud_loss > self.investigation_cost:
            raise ConfigError(
                f"fraud loss ({self.fraud_loss}) must exceed the investigation cost "
                f"({self.investigation_cost}), otherwise investigating never pays: pass the "
                "average loss of an undetected fraud, e.g. --fraud-loss 4000"
            )
        if not 0.0 < self.alert_budget < 1.0:
            raise ConfigError(
                f"alert budget must be a share between 0 and 1, got {self.alert_budget}: "
                "e.g. --alert-budget 0.05 for the top 5 % of claims"
            )


def _check(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if y.shape != scores.shape or y.ndim != 1:
        raise FraudMlopsError(f"labels {y.shape} and scores {scores.shape} must be equal 1-D")
    if not np.isfinite(scores).all():
        raise FraudMlopsError("scores contain NaN or infinite values")
    if set(np.unique(y).tolist()) != {0, 1}:
        raise FraudMlopsError("evaluation needs both fraud (1) and non-fraud (0) labels")
    return y, scores


def expected_cost(y: np.ndarray, scores: np.ndarray, threshold: float, cost: CostModel) -> float:
    """Average cost per claim when every claim scoring >= ``threshold`` is investigated."""
    y, scores = _check(y, scores)
    flagged = scores >= threshold
    missed = int(((~flagged) & (y == 1)).sum())
    total = cost.investigation_cost * int(flagged.sum()) + cost.fraud_loss * missed
    return total / len(y)


def choose_threshold(y: np.ndarray, scores: np.ndarray, cost: CostModel) -> float:
    """The score threshold with the lowest expected cost on (validation) data.

    Every distinct score is a candidate, evaluated in one vectorised pass; ties on cost go to the
    higher threshold (fewer investigations for the same money).
    """
    y, scores = _check(y, scores)
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], y[order]
    flagged = np.arange(1, len(s) + 1)  # flag the top i claims
    caught = np.cumsum(t)
    costs = cost.investigation_cost * flagged + cost.fraud_loss * (t.sum() - caught)
    last_of_value = np.r_[s[1:] != s[:-1], True]  # a threshold flags every tie together
    costs = np.where(last_of_value, costs, np.inf)
    none_cost = cost.fraud_loss * t.sum()  # flag nothing
    best = int(np.argmin(costs))
    if costs[best] >= none_cost:
        return float(np.nextafter(s[0], np.inf))
    return float(s[best])


def recall_at_fpr(y: np.ndarray, scores: np.ndarray, max_fpr: float = 0.01) -> float:
    """The highest recall reachable with a false-positive rate of at most ``max_fpr``."""
    from sklearn.metrics import roc_curve

    y, scores = _check(y, scores)
    fpr, tpr, _ = roc_curve(y, scores)
    ok = fpr <= max_fpr
    return float(tpr[ok].max()) if ok.any() else 0.0


def at_budget(y: np.ndarray, scores: np.ndarray, budget: float) -> tuple[float, float]:
    """Precision and recall when investigating the top ``budget`` share of claims by score."""
    y, scores = _check(y, scores)
    k = max(1, math.ceil(budget * len(y)))
    top = np.argsort(-scores, kind="stable")[:k]
    hits = int(y[top].sum())
    return hits / k, hits / int(y.sum())


def evaluate_scores(
    y: np.ndarray, scores: np.ndarray, cost: CostModel, threshold: float
) -> dict[str, float]:
    """Every metric of one model on one split, at a threshold chosen elsewhere (validation)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y, scores = _check(y, scores)
    precision_k, recall_k = at_budget(y, scores, cost.alert_budget)
    flagged = scores >= threshold
    return {
        "pr_auc": float(average_precision_score(y, scores)),
        "roc_auc": float(roc_auc_score(y, scores)),
        "recall_at_1pct_fpr": recall_at_fpr(y, scores, 0.01),
        "precision_at_budget": precision_k,
        "recall_at_budget": recall_k,
        "brier": float(brier_score_loss(y, scores)),
        "threshold": float(threshold),
        "expected_cost": expected_cost(y, scores, threshold, cost),
        "flag_rate": float(flagged.mean()),
        "precision_at_threshold": float(y[flagged].mean()) if flagged.any() else 0.0,
        "recall_at_threshold": float(y[flagged].sum() / y.sum()),
        "fraud_rate": float(y.mean()),
        "claims": float(len(y)),
    }


def evaluate_model(
    y_validation: np.ndarray,
    validation_scores: np.ndarray,
    y_test: np.ndarray,
    test_scores: np.ndarray,
    cost: CostModel,
) -> dict[str, dict[str, float]]:
    """Pick the threshold on validation, then report both splits: ``{split: {metric: value}}``."""
    threshold = choose_threshold(y_validation, validation_scores, cost)
    return {
        "validation": evaluate_scores(y_validation, validation_scores, cost, threshold),
        "test": evaluate_scores(y_test, test_scores, cost, threshold),
    }


def fit_platt(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Platt scaling fitted on validation: ``p = sigmoid(slope * logit(score) + intercept)``.

    Class weighting (``pos_weight``) makes the MLP's raw probabilities too high; this maps them
    back to observed fraud rates without changing the ranking (the slope is kept positive).
    """
    from sklearn.linear_model import LogisticRegression

    y, scores = _check(y, scores)
    logit = _logit(scores).reshape(-1, 1)
    model = LogisticRegression(C=1e6, max_iter=1000).fit(logit, y)
    slope, intercept = float(model.coef_[0, 0]), float(model.intercept_[0])
    if not slope > 0:  # a model no better than chance on validation: leave it as it is
        return 1.0, 0.0
    return slope, intercept


def apply_platt(scores: np.ndarray, calibration: tuple[float, float]) -> np.ndarray:
    slope, intercept = calibration
    return 1.0 / (1.0 + np.exp(-(slope * _logit(np.asarray(scores, dtype=np.float64)) + intercept)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)
