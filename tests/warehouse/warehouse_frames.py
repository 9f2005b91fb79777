"""A run's lakehouse outputs in exactly the flow's shape, for the warehouse tests.

The frames follow the lakehouse contract ("Lakehouse outputs of a training run") and are written
with the real :class:`~fraud_mlops.lakehouse.Lakehouse` by the fixtures in conftest.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from fraud_mlops.schema import default_schema

CREATED = datetime(2024, 5, 17, 8, 30, 15, 123456, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def metrics_table(version: str = "20240517T083015Z-run1", *, pr_auc: float = 0.61) -> pa.Table:
    """mlp, baseline and champion rows over two splits, with hyperparameters as JSON."""
    params = {
        # the published candidate ("mlp", a legacy kind) of any family, here a blend
        "mlp": {"family": "blend", "hidden": [64, 32], "lr": 0.003, "dropout": 0.1},
        "baseline": {},
        "champion": {},
    }
    rows = []
    for kind, ver in (
        ("mlp", version),
        ("baseline", version),
        ("champion", "20240401T000000Z-old"),
    ):
        for split in ("validation", "test"):
            for metric, value in (("pr_auc", pr_auc), ("roc_auc", 0.88), ("brier", 0.041)):
                if kind == "baseline":
                    value = value * 0.9
                if kind == "champion":
                    value = value * 0.95
                rows.append(
                    {
                        "model_name": "claims-fraud",
                        "model_version": ver,
                        "model_kind": kind,
                        "split": split,
                        "metric": metric,
                        "value": float(value),
                        "created_at": CREATED,
                        "params_json": json.dumps(params[kind]),
                        "is_champion": kind == "mlp",
                    }
                )
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("model_name", pa.string()),
                ("model_version", pa.string()),
                ("model_kind", pa.string()),
                ("split", pa.string()),
                ("metric", pa.string()),
                ("value", pa.float64()),
                ("created_at", TS),
                ("params_json", pa.string()),
                ("is_champion", pa.bool_()),
            ]
        ),
    )


def scoring_summary_table(version: str = "20240517T083015Z-run1") -> pa.Table:
    """The overall row plus one row per value of each schema segment column."""
    schema = default_schema()
    rows = [("__all__", "__all__", 1000, 31, 0.052, 0.049)]
    for i, column in enumerate(schema.segments):
        for j, value in enumerate(schema.feature(column).values[:3]):
            rate = None if (i, j) == (0, 2) else 0.04 + 0.01 * j  # an unlabelled segment
            rows.append((column, value, 100 + j, 3 + j, 0.05 + 0.001 * j, rate))
    return pa.table(
        {
            "model_version": pa.array([version] * len(rows), pa.string()),
            "split": pa.array(["test"] * len(rows), pa.string()),
            "segment_column": pa.array([r[0] for r in rows], pa.string()),
            "segment_value": pa.array([r[1] for r in rows], pa.string()),
            "claims": pa.array([r[2] for r in rows], pa.int64()),
            "flagged": pa.array([r[3] for r in rows], pa.int64()),
            "mean_score": pa.array([r[4] for r in rows], pa.float64()),
            "observed_fraud_rate": pa.array([r[5] for r in rows], pa.float64()),
            "created_at": pa.array([CREATED] * len(rows), TS),
        }
    )


def drift_table() -> pa.Table:
    schema = default_schema()
    names = schema.numeric_names[:3] + schema.categorical_names[:2]
    kinds = ["numeric"] * 3 + ["categorical"] * 2
    return pa.table(
        {
            "feature": pa.array(names, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "psi": pa.array([0.01, 0.23, 0.002, 0.05, 0.0], pa.float64()),
            "ks": pa.array([0.02, 0.11, 0.01, None, None], pa.float64()),
            "reference_version": pa.array(["20240401T000000Z-old"] * 5, pa.string()),
            "created_at": pa.array([CREATED] * 5, TS),
        }
    )
