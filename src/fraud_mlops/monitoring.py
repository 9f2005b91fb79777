"""Production monitoring over a window of captured scores and investigators' outcomes.

One streamed pass over the window's capture records (``fraud_mlops.capture.iter_scores``,
batches of DataFrames, so memory stays flat in the number of scores) accumulates counts only:

- **feature drift**: per feature, the counts of the champion's reference bins (PSI with
  :func:`fraud_mlops.drift.population_stability_index`) and, for numerics, the counts of
  current values below / at each value of the reference's KS sample. From those the KS statistic
  against the reference sample is *exact* (the reference ECDF is a step function on its sample,
  so the largest gap sits at a sample value, from the left or at it); it equals
  :func:`fraud_mlops.drift.ks_statistic` on all present values without holding them.
- **score shift**: scores in fine bins of their logit (``SCORE_BINS`` from -12 to 12), per day.
  The reference is the champion's own test + validation scores from the lakehouse
  ``predictions/`` of its training run when they are there, else the window's first day vs the
  rest; the report says which. PSI is taken on the reference's deciles.
- **flag rate** per day vs the alert budget (a band around it, in :class:`MonitoringSettings`).
- **labelled claims**: only the (claim_key, role, score) of claims that have an outcome are kept
  (memory grows with labels, never with scores). Realised precision / recall at the alert budget
  (top ``budget`` share of the labelled claims by score) with paired percentile-bootstrap
  intervals; claims scored less than the label maturity before the window's end are excluded and
  counted, since their outcomes are not in yet. Shadow vs champion: :func:`shadow_evidence`.

Champion-role records feed drift, score shift and flag rate (shadow records repeat the same
claims); a claim scored twice counts once, at its latest capture.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from fraud_mlops import drift
from fraud_mlops.errors import ConfigError, DataValidationError, FraudMlopsError
from fraud_mlops.preprocessing import text_column
from fraud_mlops.settings_base import BLANK_IS_UNSET, EnvSettings, Problems

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.schema import ClaimsSchema

SCORE_LOGIT_RANGE = 12.0
SCORE_BINS = 2400  # logit bins of width 0.01: deciles of any realistic score distribution
SCORE_PLOT_BINS = 40
ROLES = ("champion", "shadow")


class MonitoringSettings(EnvSettings):
    """Thresholds of the monitoring flow (README: configuration reference)."""

    psi_warn: Annotated[float, BLANK_IS_UNSET] = Field(
        drift.PSI_MODERATE,
        ge=0,
        validation_alias="MONITOR_PSI_WARN",
        description="feature or score PSI from which a warning is raised",
    )
    psi_alert: Annotated[float, BLANK_IS_UNSET] = Field(
        drift.PSI_MAJOR,
        ge=0,
        validation_alias="MONITOR_PSI_ALERT",
        description="feature or score PSI from which an alert is raised (and notified)",
    )
    alert_budget: Annotated[float, BLANK_IS_UNSET] = Field(
        0.05,
        gt=0,
        lt=1,
        validation_alias="MONITOR_ALERT_BUDGET",
        json_schema_extra={"allowed": "0 < share < 1"},
        description="share of claims investigators can review (training's --alert-budget)",
    )
    flag_rate_low: Annotated[float, BLANK_IS_UNSET] = Field(
        0.5,
        ge=0,
        validation_alias="MONITOR_FLAG_RATE_LOW",
        description="alert when the flag rate is below this multiple of the alert budget",
    )
    flag_rate_high: Annotated[float, BLANK_IS_UNSET] = Field(
        1.5,
        gt=0,
        validation_alias="MONITOR_FLAG_RATE_HIGH",
        json_schema_extra={"allowed": "> 0, above MONITOR_FLAG_RATE_LOW"},
        description="alert when the flag rate is above this multiple of the alert budget",
    )
    precision_floor: Annotated[float, BLANK_IS_UNSET] = Field(
        0.2,
        ge=0,
        le=1,
        validation_alias="MONITOR_PRECISION_FLOOR",
        description="realised precision at the budget below which to warn (point estimate) "
        "or alert (whole interval below)",
    )
    min_labelled: Annotated[int, BLANK_IS_UNSET] = Field(
        200,
        ge=10,
        validation_alias="MONITOR_MIN_LABELLED",
        description="labelled claims needed before realised precision or shadow evidence "
        "is judged (below: insufficient)",
    )
    maturity_days: Annotated[int, BLANK_IS_UNSET] = Field(
        7,
        ge=0,
        validation_alias="MONITOR_LABEL_MATURITY_DAYS",
        description="claims scored less than this many days before the window's end are left "
        "out of realised precision (their outcomes are not in yet)",
    )
    n_resamples: Annotated[int, BLANK_IS_UNSET] = Field(
        1000,
        ge=1000,
        le=100_000,
        validation_alias="MONITOR_BOOTSTRAP_RESAMPLES",
        description="bootstrap resamples of the precision and shadow intervals",
    )

    @model_validator(mode="after")
    def _ordered(self) -> MonitoringSettings:
        problems = []
        if self.psi_warn > self.psi_alert:
            problems.append(
                f"MONITOR_PSI_WARN={self.psi_warn} is above MONITOR_PSI_ALERT={self.psi_alert}: "
                "the warning level must not exceed the alert level"
            )
        if self.flag_rate_low >= self.flag_rate_high:
            problems.append(
                f"MONITOR_FLAG_RATE_LOW={self.flag_rate_low} must be below "
                f"MONITOR_FLAG_RATE_HIGH={self.flag_rate_high}"
            )
        if problems:
            raise Problems(problems)
        return self


# -- window -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """Half-open ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def label(self) -> str:
        return f"{self.start:%Y-%m-%dT%H:%M}Z..{self.end:%Y-%m-%dT%H:%M}Z"


def _utc(value: str | datetime, what: str) -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        text = value.strip()
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"{what}={value!r} is not a date or time: use ISO 8601, e.g. 2026-11-25 or "
                "2026-11-25T06:00:00Z"
            ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def resolve_window(
    *,
    days: float | None = None,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    now: datetime | None = None,
) -> Window:
    """The window from ``start``/``end`` (ISO dates or times), or the ``days`` before ``end``.

    A date-only ``end`` means the end of that day. Raises ConfigError on a contradiction.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    end_at = now if end in (None, "") else _utc(end, "--to")
    if isinstance(end, str) and len(end.strip()) == 10:  # a date: include the whole day
        end_at += timedelta(days=1)
    if start not in (None, ""):
        start_at = _utc(start, "--from")
    else:
        if days is None or not days > 0:
            raise ConfigError(f"--days={days!r}: give a positive number of days, or --from")
        start_at = end_at - timedelta(days=float(days))
    if start_at >= end_at:
        raise ConfigError(
            f"the window starts at {start_at:%Y-%m-%dT%H:%M:%SZ}, not before its end "
            f"{end_at:%Y-%m-%dT%H:%M:%SZ}: swap --from and --to or widen --days"
        )
    return Window(start_at, end_at)


# -- accumulators -----------------------------------------------------------------------------
class _NumericCounts:
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


class _CategoricalCounts:
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


# -- results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    """One crossed threshold. ``level`` is ``warn`` or ``alert`` (alerts are notified)."""

    kind: str  # feature_drift | score_shift | flag_rate | precision | shadow
    subject: str
    level: Literal["warn", "alert"]
    value: float
    threshold: float
    message: str


@dataclass
class MonitoringReport:
    """Everything a monitoring run computed, JSON-safe via :meth:`to_dict`."""

    window: Window
    model_name: str
    reference_version: str
    alert_budget: float
    scores_read: int
    champion_scores: int
    shadow_scores: int
    versions: dict[str, int]
    drift: list[dict[str, Any]]
    score_shift: dict[str, Any]
    flag_rate: dict[str, Any]
    performance: dict[str, Any]
    shadow: dict[str, Any] | None
    alerts: list[Alert] = field(default_factory=list)
    capture_skipped: int = 0  # capture lines the reader could not use (named in its ScanStats)
    outside_window: int = 0  # records of the window's dates but outside its times

    @property
    def alerting(self) -> bool:
        return any(a.level == "alert" for a in self.alerts)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["window"] = {
            "start": self.window.start.isoformat(),
            "end": self.window.end.isoformat(),
        }
        return out


# -- the pass over the window -----------------------------------------------------------------
def compute_monitoring(
    batches: Iterable[pd.DataFrame],
    *,
    reference: drift.ReferenceProfile,
    schema: ClaimsSchema,
    model_name: str,
    reference_version: str,
    window: Window,
    outcomes: pd.DataFrame | None = None,
    reference_scores: np.ndarray | None = None,
    expected: Mapping[str, float] | None = None,
    settings: MonitoringSettings | None = None,
    seed: int = 0,
) -> MonitoringReport:
    """Monitor one window from capture batches (see the module docstring).

    Args:
        batches: DataFrames in the capture reader's columns (``captured_at``, ``claim_key``,
            ``model_version``, ``role``, ``score``, ``flagged``, then the features).
        outcomes: ``claim_key, outcome`` (``fraud`` | ``legitimate``), the latest per claim.
        reference_scores: the champion's test/validation scores; None: the window's first day.
        expected: the champion's test metrics (``precision_at_budget``...), shown alongside.

    Raises:
        DataValidationError: the window holds no champion scores, or a batch lacks a column.
    """
    settings = settings or MonitoringSettings()
    numeric = {n: _NumericCounts(r) for n, r in reference.numeric.items()}
    categorical = {n: _CategoricalCounts(r) for n, r in reference.categorical.items()}
    missing = [f for f in schema.feature_names if f not in numeric and f not in categorical]
    if missing:
        raise DataValidationError(
            "monitoring",
            [f"the reference profile has no distribution for {missing}: the schema differs"],
        )
    labels = _outcome_labels(outcomes)
    kept: list[pd.DataFrame] = []
    daily: dict[str, np.ndarray] = {}
    flags: dict[str, list[int]] = {}
    versions: dict[str, int] = {}
    read = champions = shadows = outside = 0
    for batch in batches:
        _require(batch, ("captured_at", "claim_key", "model_version", "role", "score", "flagged"))
        when = batch["captured_at"]
        inside = (when >= window.start) & (when < window.end)
        if not inside.all():  # the reader selects whole days; the window may be finer
            outside += int((~inside).sum())
            batch = batch[inside.to_numpy()]
        read += len(batch)
        role = batch["role"].to_numpy()
        champ = batch[role == "champion"]
        shadows += int((role == "shadow").sum())
        champions += len(champ)
        if labels is not None:
            hit = batch[batch["claim_key"].isin(labels.index)]
            if len(hit):
                cols = ["claim_key", "role", "model_version", "captured_at", "score", "flagged"]
                kept.append(hit[cols].copy())
        if not len(champ):
            continue
        for v, n in champ["model_version"].value_counts().items():
            versions[str(v)] = versions.get(str(v), 0) + int(n)
        for feat in schema.numeric_names:
            numeric[feat].add(drift._numeric_values(champ, feat, schema))
        for feat in schema.categorical:
            categorical[feat.name].add(_column(champ, feat.name))
        # UTC days as datetime64[D] (strftime on every row would cost more than the rest)
        day = champ["captured_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        day = day.astype("datetime64[D]")
        bins = score_bin(champ["score"].to_numpy(dtype=np.float64))
        flagged = champ["flagged"].to_numpy(dtype=bool)
        for d in np.unique(day):
            sel = day == d
            key = str(d)
            hist = daily.setdefault(key, np.zeros(SCORE_BINS, dtype=np.int64))
            hist += np.bincount(bins[sel], minlength=SCORE_BINS)
            f = flags.setdefault(key, [0, 0])
            f[0] += int(sel.sum())
            f[1] += int(flagged[sel].sum())
    if champions == 0:
        raise DataValidationError(
            "monitoring",
            [
                f"no champion scores were captured in {window.label()} ({read} record(s) read): "
                "check CAPTURE_SINK / the Firehose delivery, or widen the window (--days)"
            ],
        )
    report = MonitoringReport(
        window=window,
        model_name=model_name,
        reference_version=reference_version,
        alert_budget=settings.alert_budget,
        scores_read=read,
        champion_scores=champions,
        shadow_scores=shadows,
        versions=versions,
        drift=_drift_rows(numeric, categorical, schema),
        score_shift=_score_shift(daily, reference_scores),
        flag_rate=_flag_rate(flags, settings),
        performance={},
        shadow=None,
        outside_window=outside,
    )
    labelled = _labelled(kept, labels, window, settings)
    report.performance = realised_performance(
        labelled, settings, expected=expected or {}, seed=seed
    )
    both = None if labelled is None else labelled[labelled["shadow"].notna() & labelled["mature"]]
    if both is not None and len(both):  # matured labels only, as for realised precision
        # One comparison: the shadow version that scored the most labelled claims.
        top = both["shadow_version"].value_counts().index[0]
        both = both[both["shadow_version"] == top]
        report.shadow = shadow_evidence(
            both["y"].to_numpy(),
            both["champion"].to_numpy(),
            both["shadow"].to_numpy(),
            shadow_version=str(both["shadow_version"].iloc[0]),
            champion_version=str(both["champion_version"].iloc[0]),
            settings=settings,
            seed=seed,
        )
    report.alerts = evaluate_alerts(report, settings)
    return report


def _require(batch: pd.DataFrame, columns: Iterable[str]) -> None:
    absent = [c for c in columns if c not in batch.columns]
    if absent:
        raise DataValidationError(
            "captured scores",
            [f"column {c!r} is missing (have: {list(batch.columns)})" for c in absent],
        )


def _column(frame: pd.DataFrame, name: str) -> Any:
    if name not in frame.columns:
        raise DataValidationError(
            "captured scores",
            [f"feature {name!r} is not captured: the champion's schema needs it (is it personal?)"],
        )
    return frame[name]


def _outcome_labels(outcomes: pd.DataFrame | None) -> pd.Series | None:
    """``claim_key -> 1 (fraud) / 0 (legitimate)``, the latest decision per claim."""
    if outcomes is None or not len(outcomes):
        return None
    _require(outcomes, ("claim_key", "outcome"))
    bad = sorted(set(outcomes["outcome"]) - {"fraud", "legitimate"})
    if bad:
        raise DataValidationError("outcomes", [f"unknown outcome value(s) {bad[:5]}"])
    frame = outcomes
    if "decided_at" in frame.columns:
        frame = frame.sort_values("decided_at")
    last = frame.drop_duplicates("claim_key", keep="last")
    return (last.set_index("claim_key")["outcome"] == "fraud").astype(np.int64)


def _labelled(
    kept: list[pd.DataFrame],
    labels: pd.Series | None,
    window: Window,
    settings: MonitoringSettings,
) -> pd.DataFrame | None:
    """One row per labelled claim: ``y``, champion score, shadow score (or NaN), ``mature``."""
    import pandas as pd

    if labels is None or not kept:
        return None
    rows = pd.concat(kept, ignore_index=True).sort_values("captured_at")
    rows = rows.drop_duplicates(["claim_key", "role"], keep="last")  # latest capture counts
    champ = rows[rows["role"] == "champion"].set_index("claim_key")
    shadow = rows[rows["role"] == "shadow"].set_index("claim_key")
    out = pd.DataFrame(
        {
            "y": labels.reindex(champ.index).to_numpy(),
            "champion": champ["score"].to_numpy(dtype=np.float64),
            "flagged": champ["flagged"].to_numpy(dtype=bool),
            "captured_at": champ["captured_at"].to_numpy(),
            "champion_version": champ["model_version"].astype(str).to_numpy(),
        },
        index=champ.index,
    )
    out["shadow"] = shadow["score"].reindex(out.index).astype(np.float64)
    out["shadow_version"] = shadow["model_version"].reindex(out.index)
    cutoff = window.end - timedelta(days=settings.maturity_days)
    out["mature"] = pd.to_datetime(out["captured_at"], utc=True) <= cutoff
    return out


# -- per-part results -------------------------------------------------------------------------
def _drift_rows(
    numeric: dict[str, _NumericCounts],
    categorical: dict[str, _CategoricalCounts],
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


def _score_shift(daily: dict[str, np.ndarray], reference_scores: np.ndarray | None) -> dict:
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


def _flag_rate(flags: dict[str, list[int]], settings: MonitoringSettings) -> dict[str, Any]:
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


# -- thresholds -------------------------------------------------------------------------------
def evaluate_alerts(report: MonitoringReport, settings: MonitoringSettings) -> list[Alert]:
    """Every threshold the report crosses, most severe first."""
    alerts: list[Alert] = []

    def psi_alert(kind: str, subject: str, psi: float | None) -> None:
        if psi is None or psi < settings.psi_warn:
            return
        level = "alert" if psi >= settings.psi_alert else "warn"
        limit = settings.psi_alert if level == "alert" else settings.psi_warn
        alerts.append(
            Alert(kind, subject, level, psi, limit, f"{subject}: PSI {psi:.3f} >= {limit:g}")
        )

    for row in report.drift:
        psi_alert("feature_drift", row["feature"], row["psi"])
    psi_alert("score_shift", "score", report.score_shift.get("psi"))
    fr = report.flag_rate
    low, high = fr["band"]
    if not low <= fr["rate"] <= high:
        limit = low if fr["rate"] < low else high
        alerts.append(
            Alert(
                "flag_rate",
                "flag rate",
                "alert",
                fr["rate"],
                limit,
                f"flag rate {fr['rate']:.2%} is outside {low:.2%}..{high:.2%} "
                f"(alert budget {fr['budget']:.0%})",
            )
        )
    perf = report.performance
    if perf.get("status") == "ok":
        p = perf["precision_at_budget"]
        floor = settings.precision_floor
        if p["high"] < floor or p["value"] < floor:
            level = "alert" if p["high"] < floor else "warn"
            alerts.append(
                Alert(
                    "precision",
                    "precision at budget",
                    level,
                    p["value"],
                    floor,
                    f"realised precision at the budget {p['value']:.3f} "
                    f"[{p['low']:.3f}, {p['high']:.3f}] vs floor {floor:g}",
                )
            )
    sh = report.shadow
    if sh and sh.get("status") == "shadow_better":
        d = sh["pr_auc"]
        alerts.append(
            Alert(
                "shadow",
                f"shadow {sh['shadow_version']}",
                "warn",
                d["difference"],
                0.0,
                f"shadow {sh['shadow_version']} beats the champion: PR-AUC "
                f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]; consider "
                f"`fraud-mlops promote --version {sh['shadow_version']}`",
            )
        )
    return sorted(alerts, key=lambda a: (a.level != "alert", a.kind, a.subject))


# -- wiring: the champion, the capture reader, the outcomes -----------------------------------
def reference_scores_from_lakehouse(lakehouse_uri: str, version: str) -> np.ndarray | None:
    """The champion version's test + validation scores from ``predictions/``, if recorded."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from fraud_mlops.errors import LakehouseError
    from fraud_mlops.lakehouse import PREDICTIONS, Lakehouse

    lake = Lakehouse(lakehouse_uri)
    try:
        if not lake.runs(PREDICTIONS):
            return None
        table = lake.read(PREDICTIONS, columns=["model_version", "split", "score"])
    except LakehouseError:
        return None
    mask = pc.and_(
        pc.equal(table["model_version"], version),
        pc.is_in(table["split"], value_set=pa.array(["test", "validation"])),
    )
    scores = table.filter(mask)["score"].to_numpy()
    return scores if len(scores) else None


def champion_artifact(model_store_uri: str, model_name: str, cache_dir: str) -> Any:
    """Load the current champion (with its reference profile) or say how to get one."""
    from fraud_mlops.artifact import load_artifact
    from fraud_mlops.store import ModelStore

    store = ModelStore(model_store_uri)
    version = store.champion_version_or_none(model_name)
    if version is None:
        raise ConfigError(
            f"{model_store_uri} has no champion for model {model_name!r}: train one first "
            "(make demo) or set MODEL_NAME"
        )
    artifact = load_artifact(store.fetch(model_name, version, cache_dir))
    if artifact.reference is None:
        raise ConfigError(
            f"champion {model_name} {version} has no reference profile (reference.npz): "
            "retrain it with this version of fraud-mlops to monitor drift"
        )
    return artifact


def run_monitoring(
    *,
    lakehouse_uri: str,
    model_store_uri: str,
    model_name: str,
    window: Window,
    cache_dir: str,
    settings: MonitoringSettings | None = None,
    batch_rows: int = 100_000,
) -> MonitoringReport:
    """Monitor the window against the current champion: reads captured scores and outcomes."""
    from fraud_mlops.capture import ScanStats, iter_scores

    settings = settings or MonitoringSettings.from_env()
    artifact = champion_artifact(model_store_uri, model_name, cache_dir)
    outcomes = _read_outcomes(lakehouse_uri)
    stats = ScanStats()
    # The reader selects whole UTC days (inclusive); compute_monitoring trims to the window.
    last_day = (window.end - timedelta(microseconds=1)).date()
    batches: Iterator[pd.DataFrame] = iter_scores(
        lakehouse_uri, start=window.start.date(), end=last_day, batch_rows=batch_rows, stats=stats
    )
    test = (artifact.metrics.get("mlp") or {}).get("test") or {}
    report = compute_monitoring(
        batches,
        reference=artifact.reference,
        schema=artifact.schema,
        model_name=model_name,
        reference_version=artifact.version,
        window=window,
        outcomes=outcomes,
        reference_scores=reference_scores_from_lakehouse(lakehouse_uri, artifact.version),
        expected={k: float(v) for k, v in test.items() if isinstance(v, (int, float))},
        settings=settings,
    )
    report.capture_skipped = stats.skipped
    return report


def _read_outcomes(lakehouse_uri: str) -> pd.DataFrame | None:
    from fraud_mlops.outcome_reader import read_outcomes

    # An unreadable outcome object is an error to fix (the reader names it), not "no labels".
    outcomes = read_outcomes(lakehouse_uri, latest=True)
    return outcomes if len(outcomes) else None


# -- text -------------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def format_report(report: MonitoringReport | Mapping[str, Any]) -> str:
    """The report as the text the flow's ``end`` step and ``make monitor-demo`` print."""
    r = report.to_dict() if isinstance(report, MonitoringReport) else dict(report)
    w = r["window"]
    lines = [
        f"monitoring {r['model_name']} (reference: champion {r['reference_version']}) over "
        f"{w['start']} .. {w['end']}",
        f"  {r['scores_read']:,} captured scores: {r['champion_scores']:,} champion, "
        f"{r['shadow_scores']:,} shadow; versions {r['versions']}",
    ]
    if r.get("capture_skipped"):
        lines.append(
            f"  {r['capture_skipped']:,} capture line(s) could not be read and were skipped "
            "(the capture reader's ScanStats names them)"
        )
    lines += [
        "",
        f"  {'feature':<28} {'kind':<12} {'PSI':>7} {'KS':>7}  verdict",
    ]
    for d in r["drift"]:
        lines.append(
            f"  {d['feature']:<28} {d['kind']:<12} {d['psi']:>7.3f} {_fmt(d['ks']):>7}  "
            f"{d['verdict']}"
        )
    s = r["score_shift"]
    lines += ["", f"  score shift: PSI {_fmt(s['psi'])} against {s['against']}"]
    f = r["flag_rate"]
    lines.append(
        f"  flag rate: {f['rate']:.2%} of {f['claims']:,} claims (alert budget {f['budget']:.0%}, "
        f"band {f['band'][0]:.2%}..{f['band'][1]:.2%})"
    )
    p = r["performance"]
    counts = (
        f"{p['labelled']:,} labelled claims, {p['matured']:,} matured "
        f"(>= {p['maturity_days']} days old), {p['immature_excluded']:,} too recent, "
        f"{p['frauds']:,} frauds"
    )
    if p["status"] == "ok":
        pb, rb = p["precision_at_budget"], p["recall_at_budget"]
        expected = p.get("expected_precision_at_budget")
        lines += [
            f"  realised precision at the budget: {pb['value']:.3f} "
            f"[{pb['low']:.3f}, {pb['high']:.3f}] (test: {_fmt(expected)}); recall "
            f"{rb['value']:.3f} [{rb['low']:.3f}, {rb['high']:.3f}]",
            f"    {counts}",
        ]
    else:
        lines.append(f"  realised precision: insufficient ({p['reason']}); {counts}")
    sh = r.get("shadow")
    if sh:
        lines.append("")
        lines.append(format_shadow(sh))
    alerts = r["alerts"]
    lines += ["", f"  alerts: {len(alerts) or 'none'}"]
    lines += [f"    [{a['level'].upper()}] {a['message']}" for a in alerts]
    return "\n".join(lines)


def format_shadow(sh: Mapping[str, Any]) -> str:
    """Shadow evidence in two lines (also printed by ``fraud-mlops promote``)."""
    head = (
        f"  shadow {sh['shadow_version']} vs champion {sh['champion_version']} on "
        f"{sh['claims']:,} labelled claims ({sh['frauds']:,} frauds): {sh['status']}"
    )
    if sh["status"] == "insufficient":
        return f"{head}\n    {sh['reason']}"
    d, pb = sh["pr_auc"], sh["precision_at_budget"]
    return (
        f"{head}\n    PR-AUC {d['shadow']:.3f} vs {d['champion']:.3f}, difference "
        f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] (paired bootstrap, "
        f"{sh['n_resamples']} resamples); precision at the budget {pb['shadow']:.3f} vs "
        f"{pb['champion']:.3f}, difference {pb['value']:+.3f} [{pb['low']:+.3f}, {pb['high']:+.3f}]"
    )


def report_from_dict(data: Mapping[str, Any]) -> MonitoringReport:
    """Rebuild a report from :meth:`MonitoringReport.to_dict` (a flow artifact)."""
    values = dict(data)
    window = values.pop("window")
    values["window"] = Window(
        datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
    )
    values["alerts"] = [Alert(**a) for a in values.get("alerts", [])]
    return MonitoringReport(**values)
