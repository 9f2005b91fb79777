"""Evaluation with ``sklearn.metrics``, in the terms a fraud team uses.

* ``pr_auc`` (average precision) — the headline: fraud is rare, so ROC-AUC flatters.
* ``roc_auc``, ``brier`` (calibration + sharpness).
* ``recall_at_1pct_fpr`` — share of fraud caught while bothering at most 1 % of honest claimants.
* ``precision_at_budget`` / ``recall_at_budget`` — investigators can look at the top k % of claims.
* ``threshold`` / ``expected_cost`` — the score threshold that minimises
  ``investigation_cost × flagged + fraud_loss × missed fraud``, chosen on validation and then
  applied unchanged to test; the cost is reported per claim.
  :func:`choose_threshold_within_budget` also caps the flag rate at the alert budget and says
  which rule applied.
* :func:`bootstrap_interval` / :func:`paired_bootstrap` — percentile bootstrap intervals of
  PR-AUC or ROC-AUC, the paired one on the same resampled claims for two models. Vectorised:
  each resample is a row of draw counts, and the metric of every resample comes from cumulative
  sums over the claims sorted once by score (sklearn's definitions, ties included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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


# -- alert budget ---------------------------------------------------------------------------------
def choose_threshold_within_budget(
    y: np.ndarray, scores: np.ndarray, cost: CostModel, alert_budget: float | None = None
) -> tuple[float, str]:
    """The expected-cost threshold, unless it flags more than the alert budget allows.

    Returns ``(threshold, rule)``. ``rule`` is ``"cost"`` when the cost optimum flags at most
    ``alert_budget`` (default ``cost.alert_budget``) of these (validation) claims. Otherwise it
    is ``"budget"`` and the threshold is the cheapest one among those that flag at most that
    share (ties in cost go to the higher threshold). Tied scores flag together, so when even the
    top score is shared by more claims than the budget allows, nothing is flagged.
    """
    budget = cost.alert_budget if alert_budget is None else float(alert_budget)
    if not 0.0 < budget < 1.0:
        raise ConfigError(
            f"alert budget must be a share between 0 and 1, got {budget}: "
            "e.g. --alert-budget 0.05 for the top 5 % of claims"
        )
    y, scores = _check(y, scores)
    threshold = choose_threshold(y, scores, cost)
    allowed = math.floor(budget * len(scores) + 1e-9)
    if int((scores >= threshold).sum()) <= allowed:
        return threshold, "cost"
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], y[order]
    last_of_value = np.r_[s[1:] != s[:-1], True]  # a threshold flags every tie together
    flagged = np.arange(1, len(s) + 1)
    costs = cost.investigation_cost * flagged + cost.fraud_loss * (t.sum() - np.cumsum(t))
    costs = np.where(last_of_value & (flagged <= allowed), costs, np.inf)
    best = int(np.argmin(costs))  # argmin takes the first: the highest threshold among ties
    if not np.isfinite(costs[best]) or costs[best] >= cost.fraud_loss * t.sum():
        return float(np.nextafter(s[0], np.inf)), "budget"
    return float(s[best]), "budget"


# -- bootstrap intervals --------------------------------------------------------------------------
BOOTSTRAP_METRICS = ("pr_auc", "roc_auc")
_MAX_REDRAW_ROUNDS = 20


def bootstrap_counts(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """``[n_resamples, n]`` how often each claim is drawn in each resample (with replacement)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_resamples, n))
    flat = draws + (np.arange(n_resamples) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=n_resamples * n).reshape(n_resamples, n)


def _metric_per_resample(
    metric: str, y: np.ndarray, scores: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """The metric on every resample (a row of draw counts) at once; sklearn's definitions.

    Claims are sorted by score once. For each fraud claim we need, at its tie group (claims with
    its score), the drawn claims and frauds scoring at least as high: two cumulative sums. Then
    average precision is ``sum(draws_i * precision_at_group(i)) / frauds drawn`` and ROC-AUC is
    ``sum(draws_i * (honest below + half the tied honest)) / (frauds x honest)``.
    """
    order = np.argsort(-scores, kind="stable")
    s, fraud = scores[order], y[order].astype(bool)
    n = len(s)
    group_end = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # last position of each group
    group_of = np.repeat(np.arange(group_end.size), np.diff(np.r_[-1, group_end]))
    group_start = np.r_[0, group_end[:-1] + 1]
    positions = np.flatnonzero(fraud)
    frauds_upto = np.r_[0, np.cumsum(fraud)]  # frauds among the first k sorted claims
    end = group_end[group_of[positions]] + 1  # prefix lengths: through the fraud's group
    before = group_start[group_of[positions]]  # ... and before it

    sorted_counts = counts[:, order]
    drawn = np.zeros((counts.shape[0], n + 1), dtype=np.int64)
    np.cumsum(sorted_counts, axis=1, out=drawn[:, 1:])
    fraud_counts = sorted_counts[:, positions]
    frauds_drawn = np.zeros((counts.shape[0], positions.size + 1), dtype=np.int64)
    np.cumsum(fraud_counts, axis=1, out=frauds_drawn[:, 1:])
    total_frauds = frauds_drawn[:, -1].astype(np.float64)
    tp_end = frauds_drawn[:, frauds_upto[end]]
    flagged_end = drawn[:, end]
    if metric == "pr_auc":
        precision = np.divide(
            tp_end, flagged_end, out=np.zeros(tp_end.shape), where=flagged_end > 0
        )
        return (fraud_counts * precision).sum(axis=1) / total_frauds
    total_honest = n - total_frauds
    honest_end = flagged_end - tp_end
    honest_before = drawn[:, before] - frauds_drawn[:, frauds_upto[before]]
    below = total_honest[:, None] - honest_end
    tied = honest_end - honest_before
    return (fraud_counts * (below + 0.5 * tied)).sum(axis=1) / (total_frauds * total_honest)


def _resample_metrics(
    y: np.ndarray,
    score_sets: list[np.ndarray],
    metric: str,
    n_resamples: int,
    seed: int,
) -> tuple[list[np.ndarray], int]:
    """Metric values of each score set on the same ``n_resamples`` resamples with both classes.

    Resamples that draw no fraud (or no honest claim) are redrawn; returns how many were.
    """
    if metric not in BOOTSTRAP_METRICS:
        raise ConfigError(
            f"unknown bootstrap metric {metric!r}; use one of {', '.join(BOOTSTRAP_METRICS)}"
        )
    if int(n_resamples) < 1:
        raise ConfigError(f"n_resamples must be at least 1, got {n_resamples}")
    n = len(y)
    values: list[list[np.ndarray]] = [[] for _ in score_sets]
    kept, redrawn = 0, 0
    # Chunks keep the [resamples, claims] count matrix near 4 million cells.
    chunk = max(1, min(int(n_resamples), (1 << 22) // max(n, 1)))
    for round_ in range(int(n_resamples) * _MAX_REDRAW_ROUNDS):
        if kept >= n_resamples:
            break
        counts = bootstrap_counts(n, chunk, seed + round_)
        positives = counts @ y
        valid = (positives > 0) & (positives < n)
        redrawn += int((~valid).sum())
        counts = counts[valid][: int(n_resamples) - kept]
        kept += len(counts)
        for out, scores in zip(values, score_sets, strict=True):
            out.append(_metric_per_resample(metric, y, scores, counts))
    if kept < n_resamples:
        raise FraudMlopsError(
            f"only {kept} of {n_resamples} bootstrap resamples of {n} claims with {int(y.sum())} "
            "fraud(s) held both classes: the split is far too small to judge; use more claims"
        )
    return [np.concatenate(v) for v in values], redrawn


def _interval(values: np.ndarray, estimate: float, confidence: float) -> dict[str, float]:
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {"estimate": float(estimate), "low": float(low), "high": float(high)}


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1.0:
        raise ConfigError(f"confidence must be between 0.5 and 1, got {confidence}; e.g. 0.95")


def bootstrap_interval(
    y: np.ndarray,
    scores: np.ndarray,
    metric: str = "pr_auc",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """A percentile bootstrap interval of one model's metric on one split.

    Returns ``{"metric", "estimate", "low", "high", "confidence", "n_resamples", "redrawn",
    "claims", "frauds"}``; ``estimate`` is the metric on the claims as they are.
    """
    _check_confidence(confidence)
    y, scores = _check(y, scores)
    (values,), redrawn = _resample_metrics(y, [scores], metric, n_resamples, seed)
    point = _metric_per_resample(metric, y, scores, np.ones((1, len(y)), dtype=np.int64))[0]
    return {
        "metric": metric,
        **_interval(values, point, confidence),
        "confidence": confidence,
        "n_resamples": int(n_resamples),
        "redrawn": redrawn,
        "claims": len(y),
        "frauds": int(y.sum()),
    }


def paired_bootstrap(
    y: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    metric: str = "pr_auc",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Compare two models on the SAME resampled claims: intervals of a, b and a - b.

    Pairing removes the claim-to-claim noise both models share, so the interval of the
    difference is much narrower than the two separate intervals suggest. ``share_a_better`` is
    the share of resamples where a beats b (a one-sided bootstrap p-value is 1 minus it).

    Returns ``{"metric", "a": {...}, "b": {...}, "difference": {...}, "share_a_better",
    "confidence", "n_resamples", "redrawn", "claims", "frauds"}`` where each of ``a``, ``b`` and
    ``difference`` is ``{"estimate", "low", "high"}``.
    """
    _check_confidence(confidence)
    y, a = _check(y, scores_a)
    _, b = _check(y, scores_b)
    (va, vb), redrawn = _resample_metrics(y, [a, b], metric, n_resamples, seed)
    ones = np.ones((1, len(y)), dtype=np.int64)
    pa = _metric_per_resample(metric, y, a, ones)[0]
    pb = _metric_per_resample(metric, y, b, ones)[0]
    return {
        "metric": metric,
        "a": _interval(va, pa, confidence),
        "b": _interval(vb, pb, confidence),
        "difference": _interval(va - vb, pa - pb, confidence),
        "share_a_better": float(np.mean(va > vb)),
        "confidence": confidence,
        "n_resamples": int(n_resamples),
        "redrawn": redrawn,
        "claims": len(y),
        "frauds": int(y.sum()),
    }
