"""Sync: exact, repeatable, atomic replication of a run's lakehouse outputs (embedded store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fraud_mlops.errors import DataValidationError, LakehouseError
from fraud_mlops.lakehouse import DRIFT, METRICS, SCORING_SUMMARY, Lakehouse
from fraud_mlops.warehouse import ddl, specs
from fraud_mlops.warehouse.connection import WarehouseError, connect
from fraud_mlops.warehouse.settings import WarehouseSettings
from fraud_mlops.warehouse.sync import latest_run, sync_run
from tests.warehouse.warehouse_frames import drift_table, metrics_table, scoring_summary_table


def _dump(settings: WarehouseSettings) -> dict[str, list[tuple]]:
    """Every table's rows in key order, so two states compare exactly."""
    out = {}
    with connect(settings) as wh:
        for table in specs.TABLES:
            cols = ", ".join(c.name for c in table.columns)
            order = ", ".join(table.key)
            out[table.name] = wh.query(f"SELECT {cols} FROM {table.name} ORDER BY {order}")[1]
    return out


def _counts(report) -> dict[str, tuple[int, int, int]]:
    return {t.table: (t.inserted, t.updated, t.deleted) for t in report.tables}


def test_first_sync_inserts_every_row(run_outputs: str, lake: Lakehouse, embedded) -> None:
    report = sync_run(run_outputs, settings=embedded)
    assert _counts(report) == {
        "MODEL_METRICS": (18, 0, 0),
        "SCORING_SUMMARY": (scoring_summary_table().num_rows, 0, 0),
        "FEATURE_DRIFT": (5, 0, 0),
    }
    rows = _dump(embedded)
    assert len(rows["MODEL_METRICS"]) == 18
    assert {r[0] for rs in rows.values() for r in rs} == {run_outputs}
    assert "18 inserted" in report.format()


def test_second_sync_changes_nothing(run_outputs: str, embedded) -> None:
    sync_run(run_outputs, settings=embedded)
    before = _dump(embedded)
    again = sync_run(run_outputs, settings=embedded)
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert not again.changed
    assert all(t.unchanged == t.staged for t in again.tables)
    assert "already up to date" in again.format()
    assert _dump(embedded) == before


def test_changed_partition_updates_exactly_those_rows(run_outputs, lake, embedded) -> None:
    sync_run(run_outputs, settings=embedded)
    before = _dump(embedded)["MODEL_METRICS"]
    lake.write(METRICS, run_outputs, metrics_table(pr_auc=0.7))  # the re-run moved one metric
    report = sync_run(run_outputs, settings=embedded)
    assert _counts(report)["MODEL_METRICS"] == (0, 6, 0)  # pr_auc x 3 models x 2 splits
    assert _counts(report)["SCORING_SUMMARY"] == (0, 0, 0)
    after = _dump(embedded)["MODEL_METRICS"]
    metric = [c.name for c in specs.MODEL_METRICS.columns].index("METRIC")
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == 6 and all(a[metric] == "pr_auc" for _, a in changed)


def test_rows_gone_from_the_lakehouse_are_deleted_for_that_run_only(lake, embedded) -> None:
    lake.write(DRIFT, "other-run", drift_table())
    lake.write(METRICS, "other-run", metrics_table("v-other"))
    lake.write(METRICS, "run1", metrics_table())
    lake.write(DRIFT, "run1", drift_table())
    sync_run("other-run", settings=embedded)
    sync_run("run1", settings=embedded)
    lake.write(DRIFT, "run1", drift_table().slice(0, 3))
    report = sync_run("run1", settings=embedded)
    assert _counts(report)["FEATURE_DRIFT"] == (0, 0, 2)
    with connect(embedded) as wh:
        _, rows = wh.query("SELECT RUN_ID, COUNT(*) FROM FEATURE_DRIFT GROUP BY RUN_ID ORDER BY 1")
    assert rows == [("other-run", 5), ("run1", 3)]


def test_failure_half_way_commits_nothing(run_outputs, lake, embedded) -> None:
    sync_run(run_outputs, settings=embedded)
    before = _dump(embedded)
    # A real database failure in the SECOND table's merge, after MODEL_METRICS was changed:
    # recreate SCORING_SUMMARY with a CHECK constraint every row violates.
    assert [t.name for t in specs.TABLES][:2] == ["MODEL_METRICS", "SCORING_SUMMARY"]
    with connect(embedded) as wh:
        wh.execute(f"DROP TABLE {wh.qualified('SCORING_SUMMARY')}")
        sql = ddl.create_table_sql(
            specs.SCORING_SUMMARY, wh.settings.database, wh.settings.schema, column_comments=False
        ).replace("CLAIMS NUMBER(38,0) NOT NULL", "CLAIMS NUMBER(38,0) NOT NULL CHECK (CLAIMS < 0)")
        wh.execute(sql)
    lake.write(METRICS, run_outputs, metrics_table(pr_auc=0.99))
    lake.write(DRIFT, run_outputs, drift_table().slice(0, 1))
    with pytest.raises(WarehouseError, match="CHECK constraint"):
        sync_run(run_outputs, settings=embedded)
    after = _dump(embedded)
    assert after["MODEL_METRICS"] == before["MODEL_METRICS"]  # the 6 updates were rolled back
    assert after["FEATURE_DRIFT"] == before["FEATURE_DRIFT"]  # and the 4 deletes never ran
    assert after["SCORING_SUMMARY"] == []


def test_types_round_trip(lake: Lakehouse, embedded) -> None:
    berlin = timezone(timedelta(hours=2))
    local = datetime(2024, 7, 1, 23, 45, 1, 250000, tzinfo=berlin)
    metrics = metrics_table()
    created = pa.array([local] * metrics.num_rows, pa.timestamp("us", tz="+02:00"))
    metrics = metrics.set_column(
        metrics.schema.get_field_index("created_at"), "created_at", created
    )
    lake.write(METRICS, "types", metrics)
    lake.write(SCORING_SUMMARY, "types", scoring_summary_table())
    sync_run("types", settings=embedded)
    with connect(embedded) as wh:
        _, rows = wh.query(
            "SELECT CREATED_AT, VALUE, PARAMETERS, IS_CHAMPION FROM MODEL_METRICS "
            "WHERE MODEL_KIND = 'mlp' AND SPLIT = 'test' AND METRIC = 'brier'"
        )
        _, typed = wh.query(
            "SELECT PARAMETERS:lr::FLOAT, PARAMETERS:hidden[1]::NUMBER FROM MODEL_METRICS "
            "WHERE MODEL_KIND = 'mlp' LIMIT 1"
        )
        _, summary = wh.query(
            "SELECT CLAIMS, FLAGGED, OBSERVED_FRAUD_RATE FROM SCORING_SUMMARY "
            "ORDER BY SEGMENT_COLUMN, SEGMENT_VALUE"
        )
    ((created_at, value, parameters, champion),) = rows
    assert created_at.tzinfo is not None and created_at == local  # same instant
    assert created_at.astimezone(UTC) == datetime(2024, 7, 1, 21, 45, 1, 250000, tzinfo=UTC)
    assert value == 0.041 and champion is True
    assert json.loads(parameters) == {
        "family": "blend",
        "hidden": [64, 32],
        "lr": 0.003,
        "dropout": 0.1,
    }
    assert typed == [(0.003, 32)]
    expected = scoring_summary_table().sort_by(
        [("segment_column", "ascending"), ("segment_value", "ascending")]
    )
    assert summary == list(
        zip(
            expected["claims"].to_pylist(),
            expected["flagged"].to_pylist(),
            expected["observed_fraud_rate"].to_pylist(),
            strict=True,
        )
    )
    assert any(r[2] is None for r in summary)  # NULL stays NULL, not 0 or NaN


def test_run_without_metrics_is_refused(lake, embedded) -> None:
    lake.write(DRIFT, "no-metrics", drift_table())
    with pytest.raises(LakehouseError, match="no partition for run 'no-metrics'"):
        sync_run("no-metrics", settings=embedded)


def test_missing_optional_partition_is_skipped_not_emptied(lake, embedded) -> None:
    lake.write(METRICS, "partial", metrics_table())
    report = sync_run("partial", settings=embedded)
    skipped = {t.table for t in report.tables if t.skipped}
    assert skipped == {"SCORING_SUMMARY", "FEATURE_DRIFT"}
    assert "skipped" in report.format()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.drop(["split"]), "column 'split' is missing"),
        (
            lambda t: t.set_column(8, "is_champion", pa.array([None] * t.num_rows, pa.bool_())),
            "'is_champion' has 18 NULL",
        ),
        (lambda t: t.set_column(7, "params_json", pa.array(["{oops"] * t.num_rows)), "not JSON"),
        (
            lambda t: t.set_column(6, "created_at", pc.cast(t["created_at"], pa.timestamp("us"))),
            "expected a timezone-aware timestamp",
        ),
        (lambda t: pa.concat_tables([t, t.slice(0, 1)]), "share a key"),
    ],
)
def test_invalid_partition_is_refused_before_anything_is_written(
    mutate, message, lake: Lakehouse, embedded
) -> None:
    lake.write(METRICS, "bad", mutate(metrics_table()))
    with pytest.raises(DataValidationError, match=message) as info:
        sync_run("bad", settings=embedded)
    assert "metrics (run bad)" in str(info.value)
    with connect(embedded) as wh:
        ddl.apply(wh)
        assert wh.query("SELECT COUNT(*) FROM MODEL_METRICS")[1] == [(0,)]


def test_latest_run_is_the_most_recently_written(lake: Lakehouse) -> None:
    import os

    for run in ("9", "10", "a"):
        lake.write(METRICS, run, metrics_table())
    path = lake.partition_uri(METRICS, "10")
    os.utime(path, ns=(2**62, 2**62))  # "10" sorts first but was written last
    assert latest_run(lake) == "10"
    with pytest.raises(LakehouseError, match="no runs yet"):
        latest_run(lake, DRIFT)
