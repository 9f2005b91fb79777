"""A small real world for the monitoring flow: a champion with a reference, captures, outcomes.

The champion is exported with ``fraud_mlops.artifact.export_artifact`` (random weights: the
monitoring reads its reference profile, schema and test metrics, never its forward pass) and
published to a real local model store. Captured scores are written as the API's file sink writes
them (``capture_format.log_line`` lines under ``scores/date=…/model_version=…/``), outcomes with
``fraud_mlops.outcome_store.record_outcomes``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

MODEL = "claims-fraud"
CHAMPION = "20260101T000000Z-champ"
SALT = "monitoring-test-salt"


def publish_champion(root: Path) -> str:
    """Export and publish a champion with a reference profile; returns the store URI."""
    from fraud_mlops.artifact import build_architecture, export_artifact, random_weights
    from fraud_mlops.drift import build_reference
    from fraud_mlops.preprocessing import fit_preprocessing
    from fraud_mlops.schema import default_schema
    from fraud_mlops.store import ModelStore
    from fraud_mlops.synthetic import generate_claims

    schema = default_schema()
    claims = generate_claims(2000, seed=3)
    pre = fit_preprocessing(claims, schema)
    arch = build_architecture(pre, hidden=(4,))
    store = ModelStore(str(root / "models"))
    test = {"pr_auc": 0.41, "roc_auc": 0.8, "precision_at_budget": 0.35, "recall_at_budget": 0.5}
    artifact = export_artifact(
        root / "exports" / CHAMPION,
        model_name=MODEL,
        version=CHAMPION,
        schema=schema,
        preprocessor=pre,
        architecture=arch,
        weights=random_weights(arch, seed=0),
        threshold=0.5,
        metrics={"mlp": {"test": test}},
        data_fingerprint="f" * 64,
        code_version="test",
        reference=build_reference(claims, schema),
    )
    store.publish(artifact, MODEL, CHAMPION)
    store.set_champion(MODEL, CHAMPION, gate={"passed": True, "reasons": []}, metrics=test)
    return store.uri


def write_captures(
    lakehouse: Path,
    claims,
    *,
    start: datetime,
    days: float,
    version: str = CHAMPION,
    role: str = "champion",
    seed: int = 0,
    strength: float = 2.5,
    writer: str = "test",
) -> list[str]:
    """Capture lines for ``claims`` spread over ``days`` from ``start``; returns claim keys."""
    from fraud_mlops import capture_format as cf

    rng = np.random.default_rng(seed)
    y = claims["is_fraud"].to_numpy()
    score = 1 / (1 + np.exp(-(-3.0 + strength * y + rng.normal(0, 1, len(y)))))
    offsets = np.sort(rng.uniform(0, days * 86400, len(y)))
    features = claims.drop(columns=["is_fraud", "claim_id"]).to_dict("records")
    keys = [cf.claim_key(c, SALT) for c in claims["claim_id"]]
    files: dict[str, list[str]] = {}
    for i, feats in enumerate(features):
        when = start + timedelta(seconds=float(offsets[i]))
        rec = cf.record(
            claim_key=keys[i],
            model_name=MODEL,
            model_version=version,
            role=role,
            score=float(score[i]),
            flagged=bool(score[i] >= 0.5),
            threshold=0.5,
            reasons=[],
            features={k: _plain(v) for k, v in feats.items()},
            request_id=f"r{i}",
            captured_at=when,
        )
        files.setdefault(cf.partition(rec["captured_at"], version), []).append(cf.log_line(rec))
    for partition, lines in files.items():
        folder = lakehouse / partition
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{writer}-{role}.jsonl").write_text("\n".join(lines) + "\n")
    return keys


def record_outcomes(lakehouse: Path, keys: list[str], labels, decided_at: datetime) -> int:
    from fraud_mlops.outcome_store import record_outcomes as record
    from fraud_mlops.outcomes import Outcome

    outcomes = [
        Outcome(k, "fraud" if int(y) else "legitimate", decided_at)
        for k, y in zip(keys, labels, strict=True)
    ]
    return record(str(lakehouse), outcomes).new


def _plain(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
