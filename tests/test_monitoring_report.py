"""The monitoring report: alert levels, its text, and its round trip through a plain dict."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from fraud_mlops.monitoring_report import format_report, report_from_dict
from fraud_mlops.synthetic import generate_claims
from tests.support.monitoring_frames import END, capture_frame, monitor, outcomes_for


def test_drifted_window_alerts_and_stable_one_does_not():
    stable = monitor(
        capture_frame(generate_claims(3000, seed=7), start=END - timedelta(days=30), days=20),
        flag_rate_low=0.0,
        flag_rate_high=100.0,
    )
    assert not [a for a in stable.alerts if a.kind == "feature_drift"]
    drifted = monitor(
        capture_frame(
            generate_claims(3000, seed=8, drift=1.0), start=END - timedelta(days=30), days=20
        ),
        flag_rate_low=0.0,
        flag_rate_high=100.0,
    )
    channel = [a for a in drifted.alerts if a.subject == "channel"]
    assert channel and channel[0].level == "alert" and channel[0].value >= 0.25
    assert drifted.alerting


def test_format_report_names_every_part():
    claims = generate_claims(3000, seed=14)
    start = END - timedelta(days=30)
    champ = capture_frame(claims, start=start, days=10, seed=1, strength=1.0)
    shadow = capture_frame(claims, start=start, days=10, seed=2, role="shadow", version="v2")
    frame = pd.concat([champ, shadow]).sort_values("captured_at", kind="stable")
    report = monitor(frame, outcomes=outcomes_for(champ, claims))
    text = format_report(report)
    assert "channel" in text and "score shift" in text and "flag rate" in text
    assert "realised precision at the budget" in text and "shadow v2 vs champion v1" in text
    assert text == format_report(report.to_dict())  # the flow prints it from the artifact


def test_report_round_trips_through_its_dict():
    frame = capture_frame(
        generate_claims(800, seed=15, drift=1.0), start=END - timedelta(days=9), days=5
    )
    report = monitor(frame)
    again = report_from_dict(report.to_dict())
    assert again.to_dict() == report.to_dict() and again.alerts == report.alerts
