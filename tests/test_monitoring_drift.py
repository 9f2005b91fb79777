"""Streamed drift: PSI / exact KS from counts, score shift, flag rate by day."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from fraud_mlops.drift import NumericReference, compute_drift, ks_statistic
from fraud_mlops.monitoring_drift import NumericCounts
from fraud_mlops.schema import default_schema
from fraud_mlops.synthetic import generate_claims
from tests.support.monitoring_frames import (
    END,
    capture_frame,
    monitor,
    reference_profile,
    scores_for,
)


def test_streamed_drift_matches_drift_module_exactly():
    schema = default_schema()
    claims = generate_claims(3000, seed=5, drift=0.7)
    frame = capture_frame(claims, start=END - timedelta(days=30), days=20)
    report = monitor(frame)
    whole = {d.feature: d for d in compute_drift(reference_profile(), claims, schema)}
    assert [r["feature"] for r in report.drift] == schema.feature_names
    for row in report.drift:
        want = whole[row["feature"]]
        assert row["psi"] == pytest.approx(want.psi, rel=1e-9, abs=1e-12)
        if row["kind"] == "numeric":  # KS from counts is exact, not an approximation
            assert row["ks"] == pytest.approx(want.ks, abs=1e-12)
        else:
            assert row["ks"] is None


def test_numeric_counts_ks_equals_ks_statistic_with_ties():
    rng = np.random.default_rng(3)
    sample = np.sort(rng.integers(0, 20, 300).astype(float))  # heavy ties
    counts = NumericCounts(NumericReference(np.array([5.0, 10.0]), np.ones(4) / 4, sample))
    current = rng.integers(3, 25, 1000).astype(float)
    for part in np.array_split(current, 7):
        counts.add(part)
    assert counts.ks() == pytest.approx(ks_statistic(sample, current), abs=1e-12)


def test_flag_rate_by_day_and_band():
    frame = capture_frame(generate_claims(2000, seed=9), start=END - timedelta(days=5), days=3)
    report = monitor(frame, alert_budget=0.05)
    fr = report.flag_rate
    assert fr["claims"] == 2000 and fr["flagged"] == int(frame["flagged"].sum())
    assert sum(d["claims"] for d in fr["by_day"]) == 2000
    assert [d["date"] for d in fr["by_day"]] == sorted(d["date"] for d in fr["by_day"])
    outside = not fr["band"][0] <= fr["rate"] <= fr["band"][1]
    assert outside == any(a.kind == "flag_rate" for a in report.alerts)


def test_score_shift_against_reference_scores_or_first_day():
    claims = generate_claims(3000, seed=10)
    frame = capture_frame(claims, start=END - timedelta(days=10), days=5)
    same = scores_for(claims["is_fraud"].to_numpy(), seed=99)
    shifted = monitor(frame, reference_scores=same * 0.2)
    assert "predictions" in shifted.score_shift["against"]
    assert shifted.score_shift["psi"] > 0.25
    assert any(a.kind == "score_shift" and a.level == "alert" for a in shifted.alerts)
    close = monitor(frame, reference_scores=same)
    assert close.score_shift["psi"] < 0.05
    fallback = monitor(frame)
    assert fallback.score_shift["against"].startswith("the window's first day")
    assert sum(fallback.score_shift["window_hist"]) + sum(
        fallback.score_shift["reference_hist"]
    ) == len(frame)
