"""Fixtures for the warehouse tests: the real lakehouse and the real embedded warehouse.

Frames come from ``warehouse_frames`` (the lakehouse contract's shapes); the warehouse is fakesnow
on DuckDB files under the test's own FRAUD_MLOPS_HOME.
"""

from __future__ import annotations

import pytest

from fraud_mlops.lakehouse import DRIFT, METRICS, SCORING_SUMMARY, Lakehouse
from fraud_mlops.settings import Settings
from fraud_mlops.warehouse.settings import WarehouseSettings
from tests.warehouse.warehouse_frames import drift_table, metrics_table, scoring_summary_table


@pytest.fixture
def lake() -> Lakehouse:
    return Lakehouse(Settings.from_env().lakehouse_uri)


@pytest.fixture
def run_outputs(lake: Lakehouse) -> str:
    """Write one complete run (metrics, scoring summary, drift); yields its run id."""
    run_id = "run1"
    lake.write(METRICS, run_id, metrics_table())
    lake.write(SCORING_SUMMARY, run_id, scoring_summary_table())
    lake.write(DRIFT, run_id, drift_table())
    return run_id


@pytest.fixture
def embedded() -> WarehouseSettings:
    settings = WarehouseSettings.from_env(
        {k: v for k, v in __import__("os").environ.items() if not k.startswith("SNOWFLAKE_")}
    )
    assert settings.is_embedded
    return settings
