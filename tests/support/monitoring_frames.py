"""Captured scores as in-memory frames, for the monitoring tests that skip the capture reader.

``capture_frame`` builds what ``fraud_mlops.capture.iter_scores`` yields (capture columns, then
the features), with scores that separate frauds by ``strength``; ``monitor`` runs
``compute_monitoring`` on it over the 30 days before ``END``, in batches of 700 records. The
reference profile is built once per process (6,000 undrifted synthetic claims).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from fraud_mlops.drift import ReferenceProfile
    from fraud_mlops.monitoring_report import MonitoringReport

END = datetime(2026, 12, 1, tzinfo=UTC)


@cache
def reference_profile() -> ReferenceProfile:
    from fraud_mlops.drift import build_reference
    from fraud_mlops.schema import default_schema
    from fraud_mlops.synthetic import generate_claims

    return build_reference(generate_claims(6000, seed=1, drift=0.0), default_schema())


def scores_for(y: np.ndarray, seed: int, strength: float = 2.5) -> np.ndarray:
    """Scores whose logit rises by ``strength`` for a fraud (0: no better than chance)."""
    rng = np.random.default_rng(seed)
    logit = -3.0 + strength * y + rng.normal(0, 1.0, len(y))
    return 1 / (1 + np.exp(-logit))


def capture_frame(
    claims: pd.DataFrame,
    *,
    start: datetime,
    days: int,
    role: str = "champion",
    version: str = "v1",
    seed: int = 0,
    strength: float = 2.5,
) -> pd.DataFrame:
    """Claims as the capture reader yields them (features + capture columns)."""
    n = len(claims)
    y = claims["is_fraud"].to_numpy()
    score = scores_for(y, seed, strength)
    offsets = np.sort(np.random.default_rng(seed).uniform(0, days * 86400, n))
    frame = claims.drop(columns=["is_fraud"]).copy()
    frame.insert(0, "captured_at", pd.to_datetime(start) + pd.to_timedelta(offsets, unit="s"))
    frame.insert(1, "claim_key", [f"k{i:08d}" for i in range(n)])
    frame.insert(2, "model_version", version)
    frame.insert(3, "role", role)
    frame.insert(4, "score", score)
    frame.insert(5, "flagged", score >= 0.5)
    return frame


def outcomes_for(frame: pd.DataFrame, claims: pd.DataFrame, share: float = 1.0) -> pd.DataFrame:
    """The true outcome of the first ``share`` of the frame's claims, decided at ``END``."""
    n = int(len(frame) * share)
    return pd.DataFrame(
        {
            "claim_key": frame["claim_key"].iloc[:n].to_numpy(),
            "outcome": np.where(claims["is_fraud"].iloc[:n] == 1, "fraud", "legitimate"),
            "decided_at": pd.Timestamp(END),
        }
    )


def batches(frame: pd.DataFrame, rows: int) -> Iterator[pd.DataFrame]:
    for i in range(0, len(frame), rows):
        yield frame.iloc[i : i + rows]


def monitor(
    frame: pd.DataFrame, *, outcomes=None, reference_scores=None, **settings
) -> MonitoringReport:
    """``compute_monitoring`` over the 30 days before ``END``; ``settings``: MonitoringSettings."""
    from fraud_mlops.monitoring import compute_monitoring
    from fraud_mlops.monitoring_config import MonitoringSettings, Window
    from fraud_mlops.schema import default_schema

    return compute_monitoring(
        batches(frame, 700),
        reference=reference_profile(),
        schema=default_schema(),
        model_name="fraud",
        reference_version="v1",
        window=Window(END - timedelta(days=30), END),
        outcomes=outcomes,
        reference_scores=reference_scores,
        settings=MonitoringSettings(**settings),
    )
