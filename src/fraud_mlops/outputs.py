"""The lakehouse outputs of a training run, built exactly per the contract (docs/training.md).

Four datasets, one partition per run id (the partition carries ``run_id``; it is not a column):
``metrics``, ``scoring_summary``, ``drift`` and ``predictions``. Each builder returns a pyarrow
table with an explicit schema, so a type never depends on what pandas inferred; the warehouse
sync reads these tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from fraud_mlops.lakehouse import DRIFT, METRICS, PREDICTIONS, SCORING_SUMMARY, Lakehouse
from fraud_mlops.warehouse import specs

if TYPE_CHECKING:
    from fraud_mlops.drift import FeatureDrift
    from fraud_mlops.schema import ClaimsSchema

TS = pa.timestamp("us", tz="UTC")
ALL = "__all__"

# The run's tables are declared once, in the warehouse specs; the lakehouse files carry the same
# columns under their lakehouse names (the run id is the partition, not a column of the file).
_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "FLOAT": pa.float64(),
    "NUMBER(38,0)": pa.int64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP_TZ": TS,
    "VARIANT": pa.string(),  # JSON text in the lakehouse
}


def lakehouse_schema(table: specs.TableSpec) -> pa.Schema:
    """The Parquet schema of a run output, derived from its warehouse table spec."""
    return pa.schema(
        [(c.source_column, _ARROW_TYPES[c.type]) for c in table.columns if c.name != "RUN_ID"]
    )


METRICS_SCHEMA = lakehouse_schema(specs.MODEL_METRICS)
SCORING_SUMMARY_SCHEMA = lakehouse_schema(specs.SCORING_SUMMARY)
DRIFT_SCHEMA = lakehouse_schema(specs.FEATURE_DRIFT)
PREDICTION_BASE = [
    ("id", pa.string()),
    ("event_time", TS),
    ("split", pa.string()),
    ("score", pa.float64()),
    ("flagged", pa.bool_()),
    ("label", pa.int64()),
    ("model_version", pa.string()),
]


def now() -> datetime:
    return datetime.now(UTC)


def metrics_table(
    model_name: str,
    models: Iterable[Mapping[str, Any]],
    *,
    created_at: datetime | None = None,
) -> pa.Table:
    """One row per (model, split, metric).

    Args:
        models: dicts with ``version``, ``kind`` (mlp | baseline | champion), ``metrics``
            (``{split: {metric: value}}``), optional ``params`` and ``is_champion``.
    """
    created_at = created_at or now()
    rows: dict[str, list] = {name: [] for name in METRICS_SCHEMA.names}
    for m in models:
        params = json.dumps(m.get("params") or {}, sort_keys=True, default=str)
        for split, values in m["metrics"].items():
            for metric, value in values.items():
                rows["model_name"].append(model_name)
                rows["model_version"].append(str(m["version"]))
                rows["model_kind"].append(m["kind"])
                rows["split"].append(split)
                rows["metric"].append(metric)
                rows["value"].append(float(value))
                rows["created_at"].append(created_at)
                rows["params_json"].append(params)
                rows["is_champion"].append(bool(m.get("is_champion", False)))
    return pa.Table.from_pydict(rows, schema=METRICS_SCHEMA)


def scoring_summary_table(
    model_version: str,
    split: np.ndarray,
    scores: np.ndarray,
    flagged: np.ndarray,
    labels: np.ndarray | None,
    segments: Mapping[str, np.ndarray],
    *,
    created_at: datetime | None = None,
) -> pa.Table:
    """Claims, alerts, mean score and observed fraud rate per split, overall and per segment."""
    created_at = created_at or now()
    split = np.asarray(split).astype(str)
    rows: dict[str, list] = {name: [] for name in SCORING_SUMMARY_SCHEMA.names}

    def add(split_name: str, column: str, value: str, mask: np.ndarray) -> None:
        rows["model_version"].append(model_version)
        rows["split"].append(split_name)
        rows["segment_column"].append(column)
        rows["segment_value"].append(value)
        rows["claims"].append(int(mask.sum()))
        rows["flagged"].append(int(flagged[mask].sum()))
        rows["mean_score"].append(float(scores[mask].mean()))
        rows["observed_fraud_rate"].append(
            None if labels is None else float(np.asarray(labels)[mask].mean())
        )
        rows["created_at"].append(created_at)

    for split_name in sorted(set(split.tolist())):
        in_split = split == split_name
        add(split_name, ALL, ALL, in_split)
        for column, values in segments.items():
            text = np.asarray(values, dtype=object)
            text = np.where(text == None, "__missing__", text).astype(str)  # noqa: E711
            for value in sorted(set(text[in_split].tolist())):
                add(split_name, column, value, in_split & (text == value))
    return pa.Table.from_pydict(rows, schema=SCORING_SUMMARY_SCHEMA)


def drift_table(
    drifts: Iterable[FeatureDrift],
    reference_version: str | None,
    *,
    created_at: datetime | None = None,
) -> pa.Table:
    """PSI (and KS for numeric features) per feature; empty reference version = no champion."""
    created_at = created_at or now()
    drifts = list(drifts)
    return pa.Table.from_pydict(
        {
            "feature": [d.feature for d in drifts],
            "kind": [d.kind for d in drifts],
            "psi": [float(d.psi) for d in drifts],
            "ks": [None if d.ks is None else float(d.ks) for d in drifts],
            "reference_version": [reference_version or ""] * len(drifts),
            "created_at": [created_at] * len(drifts),
        },
        schema=DRIFT_SCHEMA,
    )


def predictions_table(
    schema: ClaimsSchema,
    *,
    ids: np.ndarray,
    event_time: np.ndarray,
    split: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    labels: np.ndarray,
    model_version: str,
    segments: Mapping[str, np.ndarray],
) -> pa.Table:
    """One row per claim: score, flag at the model's threshold, label and segment columns."""
    scores = np.asarray(scores, dtype=np.float64)
    fields = [*PREDICTION_BASE, *[(c, pa.string()) for c in schema.segments]]
    times = pa.array(np.asarray(event_time, dtype="datetime64[us]"), pa.timestamp("us"))
    data = {
        "id": pa.array(np.asarray(ids).astype(str), pa.string()),
        "event_time": times.cast(TS),
        "split": pa.array(np.asarray(split).astype(str), pa.string()),
        "score": pa.array(scores, pa.float64()),
        "flagged": pa.array(scores >= threshold, pa.bool_()),
        "label": pa.array(np.asarray(labels).astype(np.int64), pa.int64()),
        "model_version": pa.array([model_version] * len(scores), pa.string()),
    }
    for column in schema.segments:
        values = [None if v is None else str(v) for v in np.asarray(segments[column], dtype=object)]
        data[column] = pa.array(values, pa.string())
    return pa.Table.from_pydict(data, schema=pa.schema(fields))


def write_run_outputs(lakehouse: Lakehouse, run_id: str, tables: Mapping[str, pa.Table]) -> dict:
    """Write each dataset's partition for ``run_id``; returns ``{dataset: partition URI}``."""
    known = {METRICS, SCORING_SUMMARY, DRIFT, PREDICTIONS}
    unknown = sorted(set(tables) - known)
    if unknown:
        raise ValueError(f"unknown run output dataset(s) {unknown}; expected {sorted(known)}")
    return {name: lakehouse.write(name, run_id, table).uri for name, table in tables.items()}
