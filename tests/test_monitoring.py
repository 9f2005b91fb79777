"""The pass over a window: what it reads, what it leaves out and counts, and its errors.

Each part's figures are tested beside its module: test_monitoring_drift.py,
test_monitoring_performance.py, test_monitoring_report.py (all through this pass).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from fraud_mlops.errors import DataValidationError
from fraud_mlops.synthetic import generate_claims
from tests.support.monitoring_frames import END, capture_frame, monitor


def test_no_champion_scores_is_a_clear_error():
    empty = capture_frame(generate_claims(10, seed=1), start=END, days=1).iloc[:0]
    with pytest.raises(DataValidationError, match="no champion scores"):
        monitor(empty)


def test_missing_feature_is_named():
    frame = capture_frame(generate_claims(50, seed=1), start=END - timedelta(days=2), days=1)
    frame = frame.drop(columns=["channel"])
    with pytest.raises(DataValidationError, match="channel"):
        monitor(frame)


def test_records_outside_the_window_times_are_left_out_and_counted():
    frame = capture_frame(generate_claims(600, seed=16), start=END - timedelta(days=2), days=4)
    report = monitor(frame)
    inside = int((frame["captured_at"] < END).sum())
    assert report.champion_scores == inside and report.outside_window == 600 - inside > 0
