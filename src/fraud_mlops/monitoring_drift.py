"""Drift statistics of a monitoring window, from counts accumulated batch by batch.

- **feature drift**: per feature, the counts of the champion's reference bins (PSI with
  :func:`fraud_mlops.drift.population_stability_index`) and, for numerics, the counts of
  current values below / at each value of the reference's KS sample. From those the KS statistic
  against the reference sample is *exact* (the reference ECDF is a step function on its sample,
  so the largest gap sits at a sample value, from the left or at it); it equals
  :func:`fraud_mlops.drift.ks_statistic` on all present values without holding them.
- **score shift**: scores in fine bins of their logit (``SCORE_BINS`` from -12 to 12), per day;
  PSI is taken on the reference's deciles.
- **flag rate**: flagged / scored per day vs the alert budget's band.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_mlops import drift
from fraud_mlops.preprocessing import text_column

if TYPE_CHECKING:
    from fraud_mlops.monitoring_config import MonitoringSettings
    from fraud_mlops.schema import ClaimsSchema

SCORE_LOGIT_RANGE = 12.0
SCORE_BINS = 2400  # logit bins of width 0.01: deciles of any realistic score distribution
SCORE_PLOT_BINS = 40


# -- accumulators -----------------------------------------------------------------------------
class NumericCounts:
    """Counts of one numeric feature in the reference's PSI bins and at its KS sample values."""

    def __init__(self, ref: drift.NumericReference):
        self.ref = ref
        self.bins = np.zeros(ref.edges.size + 2, dtype=np.int64)  # bins, then missing
        self.below = np.zeros(ref.sample.size, dtype=np.int64)  # current values < sample[j]
        self.at_or_below = np.zeros(ref.sample.size, dtype=np.int64)  # current values <= it
        self.present = 0

    def add(self, x: np.ndarray) -> None:
        missing = np.isnan(x)
        present = x[~missing]
        idx = np.searchsorted(self.ref.edges, present, side="right")
        self.bins[:-1] += np.bincount(idx, minlength=self.ref.edges.size + 1)
        self.bins[-1] += int(missing.sum())
        self.present += present.size
        m = self.ref.sample.size
        if m and present.size:
            # value x is < sample[j] for all j >= searchsorted(sample, x, "right")
            self.below += np.cumsum(
                np.bincount(np.searchsorted(self.ref.sample, present, side="right"), minlength=m)
            )[:m]
            self.at_or_below += np.cumsum(
                np.bincount(np.searchsorted(self.ref.sample, present, side="left"), minlength=m)
            )[:m]

    def ks(self) -> float:
        """Exact two-sample KS between the reference sample and every present current value."""
        sample = self.ref.sample
        if not (sample.size and self.present):
            return 1.0
        ref_below = np.searchsorted(sample, sample, side="left") / sample.size
        ref_at = np.searchsorted(sample, sample, side="right") / sample.size
        gaps = np.maximum(
            np.abs(ref_below - self.below / self.present),
            np.abs(ref_at - self.at_or_below / self.present),
        )
        return float(gaps.max())


class CategoricalCounts:
    def __init__(self, ref: drift.CategoricalReference):
        self.ref = ref
        self.bins = np.zeros(ref.values.size + 2, dtype=np.int64)  # values, other, missing

    def add(self, column: Any) -> None:
        text, absent = text_column(column)
        shares = drift._categorical_shares(text, absent, self.ref.values)
        self.bins += np.rint(shares * len(text)).astype(np.int64)


def score_bin(scores: np.ndarray) -> np.ndarray:
    """Fine bin index (0..SCORE_BINS-1) of each score, on its logit."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-12, 1 - 1e-12)
    logit = np.log(p) - np.log1p(-p)
    scaled = (logit + SCORE_LOGIT_RANGE) / (2 * SCORE_LOGIT_RANGE) * SCORE_BINS
    return np.clip(scaled.astype(np.int64), 0, SCORE_BINS - 1)


def score_bin_edges() -> np.ndarray:
    """Score value at each fine bin's lower edge, plus 1.0 (for plots)."""
    logit = np.linspace(-SCORE_LOGIT_RANGE, SCORE_LOGIT_RANGE, SCORE_BINS + 1)
    edges = 1.0 / (1.0 + np.exp(-logit))
    edges[0], edges[-1] = 0.0, 1.0
    return edges


def score_histogram(scores: np.ndarray) -> np.ndarray:
    return np.bincount(score_bin(scores), minlength=SCORE_BINS).astype(np.int64)


def _decile_psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two fine histograms on the reference's deciles (ties kept in one bin)."""
    cum = np.cumsum(reference) / max(reference.sum(), 1)
    cuts = np.unique(np.searchsorted(cum, np.linspace(0.1, 0.9, 9), side="left") + 1)
    cuts = cuts[(cuts > 0) & (cuts < SCORE_BINS)]
    ref = np.add.reduceat(reference, np.r_[0, cuts]) / max(reference.sum(), 1)
    cur = np.add.reduceat(current, np.r_[0, cuts]) / max(current.sum(), 1)
    return drift.population_stability_index(ref, cur)


def coarse_histogram(fine: np.ndarray, bins: int = SCORE_PLOT_BINS) -> np.ndarray:
    """A fine score histogram summed into ``bins`` equal logit ranges (for plots)."""
    return fine.reshape(bins, -1).sum(axis=1)


# -- from counts to the report's parts --------------------------------------------------------
def drift_rows(
    numeric: dict[str, NumericCounts],
    categorical: dict[str, CategoricalCounts],
    schema: ClaimsSchema,
) -> list[dict[str, Any]]:
    rows = []
    for name in schema.numeric_names:
        c = numeric[name]
        actual = c.bins / max(c.bins.sum(), 1)
        psi = drift.population_stability_index(c.ref.proportions, actual)
        rows.append({"feature": name, "kind": "numeric", "psi": psi, "ks": c.ks()})
    for feat in schema.categorical:
        c = categorical[feat.name]
        actual = c.bins / max(c.bins.sum(), 1)
        psi = drift.population_stability_index(c.ref.proportions, actual)
        rows.append({"feature": feat.name, "kind": "categorical", "psi": psi, "ks": None})
    for row in rows:
        row["verdict"] = drift.psi_verdict(row["psi"])
    return rows


def score_shift(daily: dict[str, np.ndarray], reference_scores: np.ndarray | None) -> dict:
    days = sorted(daily)
    window_hist = np.sum([daily[d] for d in days], axis=0)
    if reference_scores is not None and len(reference_scores):
        ref = score_histogram(reference_scores)
        cur = window_hist
        against = "champion test + validation scores (lakehouse predictions/)"
    elif len(days) >= 2:
        ref = daily[days[0]]
        cur = np.sum([daily[d] for d in days[1:]], axis=0)
        against = f"the window's first day ({days[0]}) vs the rest"
    else:
        return {
            "psi": None,
            "against": "none: no reference scores and the window spans one day",
            "reference_hist": [],
            "window_hist": coarse_histogram(window_hist).tolist(),
            "edges": score_bin_edges()[:: SCORE_BINS // SCORE_PLOT_BINS].tolist(),
        }
    return {
        "psi": _decile_psi(ref, cur),
        "against": against,
        "reference_hist": coarse_histogram(ref).tolist(),
        "window_hist": coarse_histogram(cur).tolist(),
        "edges": score_bin_edges()[:: SCORE_BINS // SCORE_PLOT_BINS].tolist(),
    }


def flag_rate(flags: dict[str, list[int]], settings: MonitoringSettings) -> dict[str, Any]:
    claims = sum(v[0] for v in flags.values())
    flagged = sum(v[1] for v in flags.values())
    return {
        "claims": claims,
        "flagged": flagged,
        "rate": flagged / claims,
        "budget": settings.alert_budget,
        "band": [
            settings.alert_budget * settings.flag_rate_low,
            settings.alert_budget * settings.flag_rate_high,
        ],
        "by_day": [
            {"date": d, "claims": c, "flagged": f, "rate": f / c}
            for d, (c, f) in sorted(flags.items())
        ],
    }
