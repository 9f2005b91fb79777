"""Bootstrap intervals in the shape the run records: the manifest, the summary, the gate.

Thin wrappers over ``fraud_mlops.evaluate.bootstrap_interval`` / ``paired_bootstrap``
(vectorised, 1,000 resamples of the same test claims by default): one model's test PR-AUC and
ROC-AUC with 95 % intervals, and the paired difference between two models scored on the same
claims. Everything returned is plain JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_RESAMPLES = 1000
CONFIDENCE = 0.95


def model_intervals(
    y: np.ndarray, scores: np.ndarray, *, seed: int = 0, n_resamples: int = N_RESAMPLES
) -> dict[str, Any]:
    """``{"pr_auc": {value, low, high}, "roc_auc": {...}, confidence, n_resamples, frauds}``."""
    from fraud_mlops.evaluate import bootstrap_interval

    out: dict[str, Any] = {}
    for metric in ("pr_auc", "roc_auc"):
        r = bootstrap_interval(
            y, scores, metric=metric, n_resamples=n_resamples, seed=seed, confidence=CONFIDENCE
        )
        out[metric] = {"value": r["estimate"], "low": r["low"], "high": r["high"]}
        out.update(confidence=r["confidence"], n_resamples=r["n_resamples"], frauds=r["frauds"])
    return out


def comparison(
    y: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    *,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> dict[str, Any]:
    """Test PR-AUC of ``a - b`` on the same resampled claims (paired), with its interval."""
    from fraud_mlops.evaluate import paired_bootstrap

    r = paired_bootstrap(
        y,
        scores_a,
        scores_b,
        metric="pr_auc",
        n_resamples=n_resamples,
        seed=seed,
        confidence=CONFIDENCE,
    )
    diff = r["difference"]
    return {
        "difference": diff["estimate"],
        "low": diff["low"],
        "high": diff["high"],
        "a": r["a"]["estimate"],
        "b": r["b"]["estimate"],
        "share_a_better": r["share_a_better"],
        "confidence": r["confidence"],
        "n_resamples": r["n_resamples"],
    }
