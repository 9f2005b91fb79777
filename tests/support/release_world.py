"""A small real world for the release commands: three published runs, one with a failed gate.

Artifacts are exported with ``fraud_mlops.artifact.export_artifact`` and published to a real
local model store; each run's metrics partition is written to a real lakehouse, as the flow does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MODEL = "claims-fraud"
RUNS = {  # run id -> (version, gate passed)
    "run1": ("20250101T000000Z-run1", True),
    "run2": ("20250201T000000Z-run2", True),
    "run3": ("20250301T000000Z-run3", False),
}


@dataclass(frozen=True)
class World:
    lakehouse_uri: str
    store_uri: str
    outputs_file: Path

    def version(self, run_id: str) -> str:
        return RUNS[run_id][0]


def _gate(passed: bool) -> dict:
    mark = "pass" if passed else "FAIL"
    op = ">=" if passed else "<"
    return {
        "passed": passed,
        "reasons": [
            "pass: no champion yet: this model can become the first one",
            f"{mark}: test PR-AUC 0.4100 {op} baseline 0.4500 - margin 0.01 = 0.4400",
        ],
        "candidate_pr_auc": 0.41,
        "baseline_pr_auc": 0.45,
        "champion_pr_auc": None,
        "champion_version": None,
        "policy": {"pr_auc_tolerance": 0.005, "baseline_margin": 0.01},
    }


def build_world(root: Path) -> World:
    from fraud_mlops.artifact import build_architecture, export_artifact, random_weights
    from fraud_mlops.lakehouse import METRICS, Lakehouse
    from fraud_mlops.outputs import metrics_table
    from fraud_mlops.preprocessing import fit_preprocessing
    from fraud_mlops.schema import default_schema
    from fraud_mlops.store import ModelStore
    from fraud_mlops.synthetic import generate_claims

    schema = default_schema()
    claims = generate_claims(600, seed=3)
    pre = fit_preprocessing(claims, schema)
    arch = build_architecture(pre, hidden=(4,))
    store = ModelStore(str(root / "models"))
    lake = Lakehouse(str(root / "lakehouse"))
    for i, (run_id, (version, passed)) in enumerate(RUNS.items()):
        test = {"pr_auc": 0.41 + i / 100, "roc_auc": 0.8}
        artifact = export_artifact(
            root / "exports" / version,
            model_name=MODEL,
            version=version,
            schema=schema,
            preprocessor=pre,
            architecture=arch,
            weights=random_weights(arch, seed=i),
            threshold=0.5,
            metrics={
                "mlp": {"test": test},
                "baseline": {"test": {"pr_auc": 0.45}},
                "gate": _gate(passed),
            },
            data_fingerprint="f" * 64,
            code_version="test",
        )
        store.publish(artifact, MODEL, version)
        if passed:
            store.set_champion(MODEL, version, gate=_gate(True), metrics=test)
        models = [
            {"version": version, "kind": "mlp", "metrics": {"test": test}, "is_champion": passed},
            {
                "version": f"baseline-{run_id}",
                "kind": "baseline",
                "metrics": {"test": {"pr_auc": 0.45}},
            },
        ]
        lake.write(METRICS, run_id, metrics_table(MODEL, models))
    outputs = root / "outputs-dev.json"
    outputs.write_text(
        json.dumps(
            {
                "region": "eu-west-1",
                "flow_environment": {
                    "LAKEHOUSE_URI": str(root / "lakehouse"),
                    "MODEL_STORE_URI": store.uri,
                    "MODEL_NAME": MODEL,
                },
            }
        )
    )
    return World(str(root / "lakehouse"), store.uri, outputs)


def write_metrics(lakehouse: Path, run_id: str) -> None:
    """A metrics partition exactly as the training contract defines it (headline rows)."""
    import pyarrow as pa

    from fraud_mlops.lakehouse import METRICS, Lakehouse

    now = datetime.now(UTC)
    rows = [
        ("mlp", "test", "pr_auc", 0.61, True),
        ("mlp", "test", "roc_auc", 0.93, True),
        ("mlp", "validation", "pr_auc", 0.70, True),
        ("baseline", "test", "pr_auc", 0.55, False),
    ]
    table = pa.table(
        {
            "model_name": ["claims-fraud"] * 4,
            "model_version": ["20260101T000000Z-run1"] * 4,
            "model_kind": [r[0] for r in rows],
            "split": [r[1] for r in rows],
            "metric": [r[2] for r in rows],
            "value": pa.array([r[3] for r in rows], pa.float64()),
            "created_at": pa.array([now] * 4, pa.timestamp("us", tz="UTC")),
            "params_json": ["{}"] * 4,
            "is_champion": [r[4] for r in rows],
        }
    )
    Lakehouse(str(lakehouse)).write(METRICS, run_id, table)
