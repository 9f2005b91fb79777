"""Lakehouse output tables have exactly the contract's columns and types, and round-trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from fraud_mlops.drift import FeatureDrift
from fraud_mlops.lakehouse import DRIFT, METRICS, PREDICTIONS, SCORING_SUMMARY, Lakehouse
from fraud_mlops.outputs import (
    drift_table,
    metrics_table,
    predictions_table,
    scoring_summary_table,
    write_run_outputs,
)
from fraud_mlops.schema import default_schema

TS = pa.timestamp("us", tz="UTC")


def _types(table: pa.Table) -> dict[str, pa.DataType]:
    return {f.name: f.type for f in table.schema}


def test_metrics_table():
    t = metrics_table(
        "claims-fraud",
        [
            {
                "version": "v2",
                "kind": "mlp",
                "metrics": {"test": {"pr_auc": 0.3, "roc_auc": 0.8}},
                "params": {"hidden": [8]},
                "is_champion": True,
            },
            {"version": "b", "kind": "baseline", "metrics": {"test": {"pr_auc": 0.28}}},
        ],
    )
    assert _types(t) == {
        "model_name": pa.string(),
        "model_version": pa.string(),
        "model_kind": pa.string(),
        "split": pa.string(),
        "metric": pa.string(),
        "value": pa.float64(),
        "created_at": TS,
        "params_json": pa.string(),
        "is_champion": pa.bool_(),
    }
    rows = t.to_pylist()
    assert len(rows) == 3
    assert [r["is_champion"] for r in rows] == [True, True, False]
    assert json.loads(rows[0]["params_json"]) == {"hidden": [8]} and rows[2]["params_json"] == "{}"


def test_scoring_summary_counts_per_split_and_segment():
    split = np.array(["test", "test", "test", "validation"], dtype=object)
    scores = np.array([0.9, 0.1, 0.2, 0.5])
    labels = np.array([1, 0, 0, 1])
    seg = {"region": np.array(["north", "south", "north", None], dtype=object)}
    t = scoring_summary_table("v1", split, scores, scores >= 0.5, labels, seg)
    assert _types(t)["claims"] == pa.int64() and _types(t)["created_at"] == TS
    rows = {(r["split"], r["segment_column"], r["segment_value"]): r for r in t.to_pylist()}
    overall = rows[("test", "__all__", "__all__")]
    assert (overall["claims"], overall["flagged"]) == (3, 1)
    assert overall["mean_score"] == pytest.approx(0.4)
    north = rows[("test", "region", "north")]
    assert (north["claims"], north["observed_fraud_rate"]) == (2, 0.5)
    assert ("validation", "region", "__missing__") in rows
    unlabelled = scoring_summary_table("v1", split, scores, scores >= 0.5, None, seg)
    assert unlabelled.column("observed_fraud_rate").null_count == unlabelled.num_rows


def test_drift_and_predictions_round_trip_through_the_lakehouse(tmp_path):
    schema = default_schema()
    drift = drift_table(
        [
            FeatureDrift("claim_amount", "numeric", 0.02, 0.05),
            FeatureDrift("region", "categorical", 0.3, None),
        ],
        None,
    )
    assert drift.column("ks").to_pylist() == [0.05, None]
    assert drift.column("reference_version").to_pylist() == ["", ""]
    times = np.array(["2024-01-01T10:00", "2024-02-01T11:00"], dtype="datetime64[us]")
    preds = predictions_table(
        schema,
        ids=np.array(["C1", "C2"], dtype=object),
        event_time=times,
        split=np.array(["train", "test"], dtype=object),
        scores=np.array([0.7, 0.2]),
        threshold=0.5,
        labels=np.array([1, 0]),
        model_version="v1",
        segments={
            "region": np.array(["north", "east"], dtype=object),
            "incident_type": np.array(["theft", "fire"], dtype=object),
        },
    )
    assert list(preds.column_names) == [
        "id",
        "event_time",
        "split",
        "score",
        "flagged",
        "label",
        "model_version",
        *schema.segments,
    ]
    assert preds.column("flagged").to_pylist() == [True, False]
    assert preds.column("event_time").to_pylist()[0] == datetime(2024, 1, 1, 10, tzinfo=UTC)
    lake = Lakehouse(str(tmp_path / "lake"))
    summary = scoring_summary_table(
        "v1", np.array(["test"]), np.array([0.1]), np.array([False]), np.array([0]), {}
    )
    metrics = metrics_table(
        "m", [{"version": "v1", "kind": "mlp", "metrics": {"test": {"pr_auc": 0.5}}}]
    )
    uris = write_run_outputs(
        lake,
        "run-1",
        {PREDICTIONS: preds, DRIFT: drift, SCORING_SUMMARY: summary, METRICS: metrics},
    )
    assert set(uris) == {PREDICTIONS, DRIFT, SCORING_SUMMARY, METRICS}
    back = lake.read(PREDICTIONS, "run-1")
    assert back.column("run_id").to_pylist() == ["run-1", "run-1"]
    assert back.drop(["run_id"]).equals(preds)
    with pytest.raises(ValueError, match="unknown run output"):
        write_run_outputs(lake, "run-1", {"raw/claims": preds})
