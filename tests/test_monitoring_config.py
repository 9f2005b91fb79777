"""Monitoring inputs: the window from --days / --from / --to, and the MONITOR_* settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fraud_mlops.errors import ConfigError
from fraud_mlops.monitoring_config import MonitoringSettings, resolve_window


def test_window_resolution():
    now = datetime(2026, 12, 2, 6, tzinfo=UTC)
    w = resolve_window(days=7, now=now)
    assert w.end == now and w.start == now - timedelta(days=7)
    w = resolve_window(start="2026-11-01", end="2026-11-30")
    assert w.end == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="not before its end"):
        resolve_window(start="2026-12-01", end="2026-11-01")
    with pytest.raises(ConfigError, match="ISO 8601"):
        resolve_window(start="yesterday", end="2026-11-01")
    with pytest.raises(ConfigError, match="--days"):
        resolve_window(days=0)


def test_settings_defaults_and_rules():
    s = MonitoringSettings.from_env({})
    assert (s.psi_warn, s.psi_alert, s.alert_budget, s.min_labelled) == (0.1, 0.25, 0.05, 200)
    with pytest.raises(ConfigError) as exc:
        MonitoringSettings.from_env(
            {"MONITOR_PSI_WARN": "0.5", "MONITOR_FLAG_RATE_LOW": "2", "MONITOR_MIN_LABELLED": "x"}
        )
    text = str(exc.value)
    assert "MONITOR_PSI_WARN=0.5" in text and "MONITOR_FLAG_RATE_LOW=2" in text
    assert "MONITOR_MIN_LABELLED='x'" in text
