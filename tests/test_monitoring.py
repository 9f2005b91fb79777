"""Monitoring: streamed drift, score shift, flag rate, realised precision and shadow evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from fraud_mlops import monitoring as mon
from fraud_mlops.drift import build_reference, compute_drift, ks_statistic
from fraud_mlops.errors import ConfigError, DataValidationError
from fraud_mlops.evaluate import at_budget
from fraud_mlops.schema import default_schema
from fraud_mlops.synthetic import generate_claims

END = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def schema():
    return default_schema()


@pytest.fixture(scope="module")
def reference(schema):
    return build_reference(generate_claims(6000, seed=1, drift=0.0), schema)


def _scores(y: np.ndarray, seed: int, strength: float = 2.5) -> np.ndarray:
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
    score = _scores(y, seed, strength)
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
    n = int(len(frame) * share)
    return pd.DataFrame(
        {
            "claim_key": frame["claim_key"].iloc[:n].to_numpy(),
            "outcome": np.where(claims["is_fraud"].iloc[:n] == 1, "fraud", "legitimate"),
            "decided_at": pd.Timestamp(END),
        }
    )


def batches(frame: pd.DataFrame, rows: int):
    for i in range(0, len(frame), rows):
        yield frame.iloc[i : i + rows]


def run(frame, schema, reference, *, outcomes=None, reference_scores=None, **settings):
    return mon.compute_monitoring(
        batches(frame, 700),
        reference=reference,
        schema=schema,
        model_name="fraud",
        reference_version="v1",
        window=mon.Window(END - timedelta(days=30), END),
        outcomes=outcomes,
        reference_scores=reference_scores,
        settings=mon.MonitoringSettings(**settings),
    )


def test_streamed_drift_matches_drift_module_exactly(schema, reference):
    claims = generate_claims(3000, seed=5, drift=0.7)
    frame = capture_frame(claims, start=END - timedelta(days=30), days=20)
    report = run(frame, schema, reference)
    whole = {d.feature: d for d in compute_drift(reference, claims, schema)}
    assert [r["feature"] for r in report.drift] == schema.feature_names
    for row in report.drift:
        want = whole[row["feature"]]
        assert row["psi"] == pytest.approx(want.psi, rel=1e-9, abs=1e-12)
        if row["kind"] == "numeric":  # KS from counts is exact, not an approximation
            assert row["ks"] == pytest.approx(want.ks, abs=1e-12)
        else:
            assert row["ks"] is None


def test_numeric_counts_ks_equals_ks_statistic_with_ties():
    from fraud_mlops.drift import NumericReference

    rng = np.random.default_rng(3)
    sample = np.sort(rng.integers(0, 20, 300).astype(float))  # heavy ties
    counts = mon._NumericCounts(NumericReference(np.array([5.0, 10.0]), np.ones(4) / 4, sample))
    current = rng.integers(3, 25, 1000).astype(float)
    for part in np.array_split(current, 7):
        counts.add(part)
    assert counts.ks() == pytest.approx(ks_statistic(sample, current), abs=1e-12)


def test_drifted_window_alerts_and_stable_one_does_not(schema, reference):
    stable = run(
        capture_frame(generate_claims(3000, seed=7), start=END - timedelta(days=30), days=20),
        schema,
        reference,
        flag_rate_low=0.0,
        flag_rate_high=100.0,
    )
    assert not [a for a in stable.alerts if a.kind == "feature_drift"]
    drifted = run(
        capture_frame(
            generate_claims(3000, seed=8, drift=1.0), start=END - timedelta(days=30), days=20
        ),
        schema,
        reference,
        flag_rate_low=0.0,
        flag_rate_high=100.0,
    )
    channel = [a for a in drifted.alerts if a.subject == "channel"]
    assert channel and channel[0].level == "alert" and channel[0].value >= 0.25
    assert drifted.alerting


def test_flag_rate_by_day_and_band(schema, reference):
    frame = capture_frame(generate_claims(2000, seed=9), start=END - timedelta(days=5), days=3)
    report = run(frame, schema, reference, alert_budget=0.05)
    fr = report.flag_rate
    assert fr["claims"] == 2000 and fr["flagged"] == int(frame["flagged"].sum())
    assert sum(d["claims"] for d in fr["by_day"]) == 2000
    assert [d["date"] for d in fr["by_day"]] == sorted(d["date"] for d in fr["by_day"])
    outside = not fr["band"][0] <= fr["rate"] <= fr["band"][1]
    assert outside == any(a.kind == "flag_rate" for a in report.alerts)


def test_score_shift_against_reference_scores_or_first_day(schema, reference):
    claims = generate_claims(3000, seed=10)
    frame = capture_frame(claims, start=END - timedelta(days=10), days=5)
    same = _scores(claims["is_fraud"].to_numpy(), seed=99)
    shifted = run(frame, schema, reference, reference_scores=same * 0.2)
    assert "predictions" in shifted.score_shift["against"]
    assert shifted.score_shift["psi"] > 0.25
    assert any(a.kind == "score_shift" and a.level == "alert" for a in shifted.alerts)
    close = run(frame, schema, reference, reference_scores=same)
    assert close.score_shift["psi"] < 0.05
    fallback = run(frame, schema, reference)
    assert fallback.score_shift["against"].startswith("the window's first day")
    assert sum(fallback.score_shift["window_hist"]) + sum(
        fallback.score_shift["reference_hist"]
    ) == len(frame)


def test_realised_precision_matches_at_budget_and_respects_maturity(schema, reference):
    claims = generate_claims(4000, seed=11)
    frame = capture_frame(claims, start=END - timedelta(days=30), days=30)
    outcomes = outcomes_for(frame, claims, share=0.75)
    report = run(frame, schema, reference, outcomes=outcomes, maturity_days=7, min_labelled=100)
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


def test_precision_insufficient_below_minimum(schema, reference):
    claims = generate_claims(1000, seed=12)
    frame = capture_frame(claims, start=END - timedelta(days=30), days=10)
    report = run(frame, schema, reference, outcomes=outcomes_for(frame, claims, 0.05))
    assert report.performance["status"] == "insufficient"
    assert "200" in report.performance["reason"]
    assert not any(a.kind == "precision" for a in report.alerts)


def test_precision_below_floor_alerts(schema, reference):
    claims = generate_claims(4000, seed=13)
    frame = capture_frame(claims, start=END - timedelta(days=30), days=10, strength=0.0)
    report = run(
        frame, schema, reference, outcomes=outcomes_for(frame, claims), precision_floor=0.5
    )
    alert = [a for a in report.alerts if a.kind == "precision"]
    assert alert and alert[0].level == "alert"


def test_budget_resamples_are_paired_and_match_at_budget():
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(int)
    s = _scores(y, 1)
    counts = np.ones((1, 500), dtype=np.int64)
    hits, k, frauds = mon._budget_hits(y, s, 0.05, counts)
    p, r = at_budget(y, s, 0.05)
    assert hits[0] / k == pytest.approx(p) and hits[0] / frauds[0] == pytest.approx(r)
    (pa, pb), _ = mon.budget_resamples(y, [s, s], 0.05, 1000, seed=0)
    assert len(pa) == 1000 and np.array_equal(pa, pb)  # same resamples for both score sets


def test_shadow_evidence(schema, reference):
    rng = np.random.default_rng(4)
    y = (rng.random(3000) < 0.08).astype(int)
    champion, better = _scores(y, 1, strength=1.0), _scores(y, 2, strength=3.5)
    ev = mon.shadow_evidence(y, champion, better, champion_version="v1", shadow_version="v2")
    assert ev["status"] == "shadow_better" and ev["pr_auc"]["low"] > 0
    assert ev["n_resamples"] >= 1000
    assert ev["precision_at_budget"]["value"] > 0
    same = mon.shadow_evidence(y, champion, champion, champion_version="v1", shadow_version="v2")
    assert same["status"] == "no_difference"
    few = mon.shadow_evidence(
        y[:50], champion[:50], better[:50], champion_version="v1", shadow_version="v2"
    )
    assert few["status"] == "insufficient" and "200" in few["reason"]


def test_shadow_from_the_window(schema, reference):
    claims = generate_claims(3000, seed=14)
    start = END - timedelta(days=30)
    champ = capture_frame(claims, start=start, days=10, seed=1, strength=1.0)
    shadow = capture_frame(
        claims, start=start, days=10, seed=2, role="shadow", version="v2", strength=3.5
    )
    frame = pd.concat([champ, shadow]).sort_values("captured_at", kind="stable")
    report = run(frame, schema, reference, outcomes=outcomes_for(champ, claims))
    assert report.champion_scores == 3000 and report.shadow_scores == 3000
    assert report.shadow["claims"] == 3000 and report.shadow["shadow_version"] == "v2"
    assert report.shadow["status"] == "shadow_better"
    assert any(a.kind == "shadow" for a in report.alerts)


def test_no_champion_scores_is_a_clear_error(schema, reference):
    empty = capture_frame(generate_claims(10, seed=1), start=END, days=1).iloc[:0]
    with pytest.raises(DataValidationError, match="no champion scores"):
        run(empty, schema, reference)


def test_missing_feature_is_named(schema, reference):
    frame = capture_frame(generate_claims(50, seed=1), start=END - timedelta(days=2), days=1)
    frame = frame.drop(columns=["channel"])
    with pytest.raises(DataValidationError, match="channel"):
        run(frame, schema, reference)


def test_window_resolution():
    now = datetime(2026, 12, 2, 6, tzinfo=UTC)
    w = mon.resolve_window(days=7, now=now)
    assert w.end == now and w.start == now - timedelta(days=7)
    w = mon.resolve_window(start="2026-11-01", end="2026-11-30")
    assert w.end == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="not before its end"):
        mon.resolve_window(start="2026-12-01", end="2026-11-01")
    with pytest.raises(ConfigError, match="ISO 8601"):
        mon.resolve_window(start="yesterday", end="2026-11-01")
    with pytest.raises(ConfigError, match="--days"):
        mon.resolve_window(days=0)


def test_settings_defaults_and_rules():
    s = mon.MonitoringSettings.from_env({})
    assert (s.psi_warn, s.psi_alert, s.alert_budget, s.min_labelled) == (0.1, 0.25, 0.05, 200)
    with pytest.raises(ConfigError) as exc:
        mon.MonitoringSettings.from_env(
            {"MONITOR_PSI_WARN": "0.5", "MONITOR_FLAG_RATE_LOW": "2", "MONITOR_MIN_LABELLED": "x"}
        )
    text = str(exc.value)
    assert "MONITOR_PSI_WARN=0.5" in text and "MONITOR_FLAG_RATE_LOW=2" in text
    assert "MONITOR_MIN_LABELLED='x'" in text


def test_format_report_names_every_part(schema, reference):
    claims = generate_claims(3000, seed=14)
    start = END - timedelta(days=30)
    champ = capture_frame(claims, start=start, days=10, seed=1, strength=1.0)
    shadow = capture_frame(claims, start=start, days=10, seed=2, role="shadow", version="v2")
    frame = pd.concat([champ, shadow]).sort_values("captured_at", kind="stable")
    report = run(frame, schema, reference, outcomes=outcomes_for(champ, claims))
    text = mon.format_report(report)
    assert "channel" in text and "score shift" in text and "flag rate" in text
    assert "realised precision at the budget" in text and "shadow v2 vs champion v1" in text
    assert text == mon.format_report(report.to_dict())  # the flow prints it from the artifact


def test_report_round_trips_through_its_dict(schema, reference):
    frame = capture_frame(
        generate_claims(800, seed=15, drift=1.0), start=END - timedelta(days=9), days=5
    )
    report = run(frame, schema, reference)
    again = mon.report_from_dict(report.to_dict())
    assert again.to_dict() == report.to_dict() and again.alerts == report.alerts


def test_records_outside_the_window_times_are_left_out_and_counted(schema, reference):
    frame = capture_frame(generate_claims(600, seed=16), start=END - timedelta(days=2), days=4)
    report = run(frame, schema, reference)
    inside = int((frame["captured_at"] < END).sum())
    assert report.champion_scores == inside and report.outside_window == 600 - inside > 0


def test_shadow_compares_matured_labelled_claims_only(schema, reference):
    claims = generate_claims(3000, seed=17)
    start = END - timedelta(days=20)
    champ = capture_frame(claims, start=start, days=20, seed=1)
    shadow = capture_frame(claims, start=start, days=20, seed=2, role="shadow", version="v2")
    frame = pd.concat([champ, shadow]).sort_values("captured_at", kind="stable")
    report = run(frame, schema, reference, outcomes=outcomes_for(champ, claims), maturity_days=10)
    matured = int((champ["captured_at"] <= END - timedelta(days=10)).sum())
    assert 0 < matured < 3000
    assert report.shadow["claims"] == report.performance["matured"] == matured
