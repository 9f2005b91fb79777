"""Production monitoring over a window of captured scores and investigators' outcomes.

One streamed pass over the window's capture records (``fraud_mlops.capture.iter_scores``,
batches of DataFrames, so memory stays flat in the number of scores) accumulates counts only:

- **feature drift**, **score shift** and **flag rate** per day: counts in the champion's
  reference bins and in fine score bins (:mod:`fraud_mlops.monitoring_drift`, which says why
  the KS from counts is exact). The score reference is the champion's own test + validation
  scores from the lakehouse ``predictions/`` of its training run when they are there, else the
  window's first day vs the rest; the report says which.
- **labelled claims**: only the (claim_key, role, score) of claims that have an outcome are kept
  (memory grows with labels, never with scores). Realised precision / recall at the alert budget
  with paired percentile-bootstrap intervals, and shadow vs champion
  (:mod:`fraud_mlops.monitoring_performance`); claims scored less than the label maturity before
  the window's end are excluded and counted, since their outcomes are not in yet.

Champion-role records feed drift, score shift and flag rate (shadow records repeat the same
claims); a claim scored twice counts once, at its latest capture. The thresholds and the window
are in :mod:`fraud_mlops.monitoring_config`, the report, its alerts and its text in
:mod:`fraud_mlops.monitoring_report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_mlops import drift
from fraud_mlops.errors import ConfigError, DataValidationError
from fraud_mlops.monitoring_config import MonitoringSettings, Window
from fraud_mlops.monitoring_drift import (
    SCORE_BINS,
    CategoricalCounts,
    NumericCounts,
    drift_rows,
    flag_rate,
    score_bin,
    score_shift,
)
from fraud_mlops.monitoring_performance import realised_performance, shadow_evidence
from fraud_mlops.monitoring_report import MonitoringReport, evaluate_alerts

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.schema import ClaimsSchema


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
    numeric = {n: NumericCounts(r) for n, r in reference.numeric.items()}
    categorical = {n: CategoricalCounts(r) for n, r in reference.categorical.items()}
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
        drift=drift_rows(numeric, categorical, schema),
        score_shift=score_shift(daily, reference_scores),
        flag_rate=flag_rate(flags, settings),
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
