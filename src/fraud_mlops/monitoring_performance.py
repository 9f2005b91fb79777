"""Realised performance at the alert budget from labelled claims, and shadow vs champion.

Precision / recall at the budget (the top ``budget`` share of the labelled claims by score, as
:func:`fraud_mlops.evaluate.at_budget` ranks them) with percentile-bootstrap intervals; the
shadow comparison resamples both score sets on the SAME draws (paired).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_mlops.errors import FraudMlopsError
from fraud_mlops.monitoring_config import MonitoringSettings

if TYPE_CHECKING:
    import pandas as pd


# -- precision / recall at the budget ---------------------------------------------------------
def _budget_hits(y: np.ndarray, scores: np.ndarray, budget: float, counts: np.ndarray):
    """Per resample (a row of draw counts): frauds among the top ``budget`` share drawn.

    Claims are ranked as :func:`fraud_mlops.evaluate.at_budget` ranks them (stable, by score
    descending); a claim drawn several times fills several of the top ``k`` places.
    """
    order = np.argsort(-scores, kind="stable")
    c = counts[:, order]
    fraud = y[order].astype(np.int64)
    n = counts.shape[1]
    k = max(1, math.ceil(budget * n))
    cum = np.cumsum(c, axis=1)
    last = np.argmax(cum >= k, axis=1)  # the claim that fills place k
    rows = np.arange(c.shape[0])
    before = np.where(last > 0, cum[rows, np.maximum(last - 1, 0)], 0)
    fraud_cum = np.cumsum(c * fraud, axis=1)
    hits = np.where(last > 0, fraud_cum[rows, np.maximum(last - 1, 0)], 0)
    hits = hits + (k - before) * fraud[last]
    return hits, k, (c * fraud).sum(axis=1)


def budget_resamples(
    y: np.ndarray,
    score_sets: list[np.ndarray],
    budget: float,
    n_resamples: int,
    seed: int,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Precision and recall at the budget of each score set on the SAME resamples (paired)."""
    from fraud_mlops.evaluate import bootstrap_counts

    n = len(y)
    chunk = max(1, min(n_resamples, (1 << 22) // max(n, 1)))
    precision: list[list[np.ndarray]] = [[] for _ in score_sets]
    recall: list[list[np.ndarray]] = [[] for _ in score_sets]
    done, round_ = 0, 0
    while done < n_resamples:
        counts = bootstrap_counts(n, min(chunk, n_resamples - done), seed + round_)
        round_ += 1
        for i, scores in enumerate(score_sets):
            hits, k, frauds = _budget_hits(y, scores, budget, counts)
            precision[i].append(hits / k)
            recall[i].append(np.divide(hits, frauds, out=np.zeros(len(hits)), where=frauds > 0))
        done += len(counts)
    return [np.concatenate(p) for p in precision], [np.concatenate(r) for r in recall]


def _interval(values: np.ndarray, estimate: float, confidence: float = 0.95) -> dict[str, float]:
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {"value": float(estimate), "low": float(low), "high": float(high)}


def realised_performance(
    labelled: pd.DataFrame | None,
    settings: MonitoringSettings,
    *,
    expected: Mapping[str, float],
    seed: int = 0,
) -> dict[str, Any]:
    """Realised precision/recall at the budget (and at the threshold) of matured labels."""
    from fraud_mlops.evaluate import at_budget

    total = 0 if labelled is None else len(labelled)
    mature = labelled[labelled["mature"]] if labelled is not None else None
    n = 0 if mature is None else len(mature)
    frauds = 0 if mature is None else int(mature["y"].sum())
    out: dict[str, Any] = {
        "labelled": total,
        "matured": n,
        "immature_excluded": total - n,
        "frauds": frauds,
        "maturity_days": settings.maturity_days,
        "min_labelled": settings.min_labelled,
        "expected_precision_at_budget": expected.get("precision_at_budget"),
        "expected_recall_at_budget": expected.get("recall_at_budget"),
    }
    if mature is None or n < settings.min_labelled or frauds == 0:
        why = (
            f"{n} matured labelled claim(s), {frauds} fraud(s); at least "
            f"{settings.min_labelled} with one fraud are needed"
        )
        return {**out, "status": "insufficient", "reason": why}
    y = mature["y"].to_numpy(dtype=np.int64)
    s = mature["champion"].to_numpy(dtype=np.float64)
    precision, recall = at_budget(y, s, settings.alert_budget)
    (p_values,), (r_values,) = budget_resamples(
        y, [s], settings.alert_budget, settings.n_resamples, seed
    )
    flagged = mature["flagged"].to_numpy(dtype=bool)
    return {
        **out,
        "status": "ok",
        "precision_at_budget": _interval(p_values, precision),
        "recall_at_budget": _interval(r_values, recall),
        "precision_at_threshold": float(y[flagged].mean()) if flagged.any() else None,
        "recall_at_threshold": float(y[flagged].sum() / frauds),
        "n_resamples": settings.n_resamples,
    }


# -- shadow vs champion -----------------------------------------------------------------------
def shadow_evidence(
    y: np.ndarray,
    champion: np.ndarray,
    shadow: np.ndarray,
    *,
    champion_version: str,
    shadow_version: str,
    settings: MonitoringSettings | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Shadow minus champion on the same labelled claims, paired bootstrap (PR-AUC, precision).

    ``status`` is ``insufficient`` below ``min_labelled`` claims or without both classes;
    otherwise ``shadow_better`` / ``champion_better`` when the PR-AUC difference's 95 % interval
    excludes 0, else ``no_difference``.
    """
    from fraud_mlops.evaluate import at_budget
    from fraud_mlops.intervals import comparison

    settings = settings or MonitoringSettings()
    y = np.asarray(y, dtype=np.int64)
    n, frauds = len(y), int(y.sum())
    out: dict[str, Any] = {
        "champion_version": champion_version,
        "shadow_version": shadow_version,
        "claims": n,
        "frauds": frauds,
        "min_labelled": settings.min_labelled,
    }
    if n < settings.min_labelled or frauds == 0 or frauds == n:
        return {
            **out,
            "status": "insufficient",
            "reason": f"{n} labelled claim(s) with both scores, {frauds} fraud(s); at least "
            f"{settings.min_labelled} with both outcomes are needed",
        }
    try:
        pr = comparison(y, shadow, champion, seed=seed, n_resamples=settings.n_resamples)
    except FraudMlopsError as exc:  # too few frauds for resamples holding both classes
        return {**out, "status": "insufficient", "reason": str(exc)}
    (p_shadow, p_champ), _ = budget_resamples(
        y, [shadow, champion], settings.alert_budget, settings.n_resamples, seed
    )
    ps, _ = at_budget(y, shadow, settings.alert_budget)
    pc, _ = at_budget(y, champion, settings.alert_budget)
    if pr["low"] > 0:
        status = "shadow_better"
    elif pr["high"] < 0:
        status = "champion_better"
    else:
        status = "no_difference"
    return {
        **out,
        "status": status,
        "pr_auc": {
            "shadow": pr["a"],
            "champion": pr["b"],
            "difference": pr["difference"],
            "low": pr["low"],
            "high": pr["high"],
            "share_shadow_better": pr["share_a_better"],
        },
        "precision_at_budget": {
            "shadow": ps,
            "champion": pc,
            **_interval(p_shadow - p_champ, ps - pc),
        },
        "alert_budget": settings.alert_budget,
        "n_resamples": pr["n_resamples"],
        "confidence": pr["confidence"],
    }
