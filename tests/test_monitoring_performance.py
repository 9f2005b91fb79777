"""Realised precision / recall at the budget with intervals, and shadow vs champion evidence."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from fraud_mlops.evaluate import at_budget
from fraud_mlops.monitoring_performance import _budget_hits, budget_resamples, shadow_evidence
from fraud_mlops.synthetic import generate_claims
from tests.support.monitoring_frames import END, capture_frame, monitor, outcomes_for, scores_for


def test_realised_precision_matches_at_budget_and_respects_maturity():
    claims = generate_claims(4000, seed=11)
    frame = capture_frame(claims, start=END - timedelta(days=30), days=30)
    outcomes = outcomes_for(frame, claims, share=0.75)
    report = monitor(frame, outcomes=outcomes, maturity_days=7, min_labelled=100)
    perf = report.performance
    labelled = frame.iloc[:3000]
    mature = labelled[labelled["captured_at"] <= END - timedelta(days=7)]
    assert perf["labelled"] == 3000
    assert perf["matured"] == len(mature) and perf["immature_excluded"] == 3000 - len(mature)
    y = claims["is_fraud"].iloc[: len(mature)].to_numpy()
    want, _ = at_budget(y, mature["score"].to_numpy(), 0.05)
    p = perf["precision_at_budget"]
    assert perf["status"] == "ok" and p["value"] == pytest.approx(want)
    assert p["low"] < p["value"] < p["high"]


def test_precision_insufficient_below_minimum():
    claims = generate_claims(1000, seed=12)
    frame = capture_frame(claims, start=END - timedelta(days=30), days=10)
    report = monitor(frame, outcomes=outcomes_for(frame, claims, 0.05))
    assert report.performance["status"] == "insufficient"
    assert "200" in report.performance["reason"]
    assert not any(a.kind == "precision" for a in report.alerts)


def test_precision_below_floor_alerts():
    claims = generate_claims(4000, seed=13)
    frame = capture_frame(claims, start=END - timedelta(days=30), days=10, strength=0.0)
    report = monitor(frame, outcomes=outcomes_for(frame, claims), precision_floor=0.5)
    alert = [a for a in report.alerts if a.kind == "precision"]
    assert alert and alert[0].level == "alert"


def test_budget_resamples_are_paired_and_match_at_budget():
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(int)
    s = scores_for(y, 1)
    counts = np.ones((1, 500), dtype=np.int64)
    hits, k, frauds = _budget_hits(y, s, 0.05, counts)
    p, r = at_budget(y, s, 0.05)
    assert hits[0] / k == pytest.approx(p) and hits[0] / frauds[0] == pytest.approx(r)
    (pa, pb), _ = budget_resamples(y, [s, s], 0.05, 1000, seed=0)
    assert len(pa) == 1000 and np.array_equal(pa, pb)  # same resamples for both score sets


def test_shadow_evidence():
    rng = np.random.default_rng(4)
    y = (rng.random(3000) < 0.08).astype(int)
    champion, better = scores_for(y, 1, strength=1.0), scores_for(y, 2, strength=3.5)
    ev = shadow_evidence(y, champion, better, champion_version="v1", shadow_version="v2")
    assert ev["status"] == "shadow_better" and ev["pr_auc"]["low"] > 0
    assert ev["n_resamples"] >= 1000
    assert ev["precision_at_budget"]["value"] > 0
    same = shadow_evidence(y, champion, champion, champion_version="v1", shadow_version="v2")
    assert same["status"] == "no_difference"
    few = shadow_evidence(
        y[:50], champion[:50], better[:50], champion_version="v1", shadow_version="v2"
    )
    assert few["status"] == "insufficient" and "200" in few["reason"]


def test_shadow_from_the_window():
    claims = generate_claims(3000, seed=14)
    start = END - timedelta(days=30)
    champ = capture_frame(claims, start=start, days=10, seed=1, strength=1.0)
    shadow = capture_frame(
        claims, start=start, days=10, seed=2, role="shadow", version="v2", strength=3.5
    )
    frame = pd.concat([champ, shadow]).sort_values("captured_at", kind="stable")
    report = monitor(frame, outcomes=outcomes_for(champ, claims))
    assert report.champion_scores == 3000 and report.shadow_scores == 3000
    assert report.shadow["claims"] == 3000 and report.shadow["shadow_version"] == "v2"
    assert report.shadow["status"] == "shadow_better"
    assert any(a.kind == "shadow" for a in report.alerts)


def test_shadow_compares_matured_labelled_claims_only():
    claims = generate_claims(3000, seed=17)
    start = END - timedelta(days=20)
    champ = capture_frame(claims, start=start, days=20, seed=1)
    shadow = capture_frame(claims, start=start, days=20, seed=2, role="shadow", version="v2")
    frame = pd.concat([champ, shadow]).sort_values("captured_at", kind="stable")
    report = monitor(frame, outcomes=outcomes_for(champ, claims), maturity_days=10)
    matured = int((champ["captured_at"] <= END - timedelta(days=10)).sum())
    assert 0 < matured < 3000
    assert report.shadow["claims"] == report.performance["matured"] == matured
