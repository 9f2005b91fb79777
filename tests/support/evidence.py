"""Production evidence for tests: synthetic claims captured as the API writes them (file sink
layout) and their outcomes recorded through the outcome store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraud_mlops import capture_format as cf
from fraud_mlops.outcome_store import record_outcomes
from fraud_mlops.outcomes import validate_outcomes
from fraud_mlops.schema import default_schema
from fraud_mlops.synthetic import generate_claims

SALT = "test-salt-0123456789"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def captured_history(
    lake: Path,
    n: int,
    *,
    days: int = 120,
    decided_share: float = 0.8,
    seed: int = 5,
    now: datetime = NOW,
) -> dict[str, int]:
    """Capture ``n`` synthetic claims over the ``days`` before ``now`` (oldest first), and record
    an outcome (the generator's label) for the first ``decided_share`` of them."""
    schema = default_schema()
    frame = generate_claims(n, seed=seed)
    columns = cf.capture_features(schema.scoring_columns, schema.personal, schema.id_column)
    features = json.loads(frame[columns].to_json(orient="records"))
    step = timedelta(days=days) / n
    by_partition: dict[str, list[str]] = {}
    for i, (claim_id, values) in enumerate(zip(frame[schema.id_column], features, strict=True)):
        when = now - timedelta(days=days) + i * step
        rec = cf.record(
            claim_key=cf.claim_key(claim_id, SALT), model_name="claims-fraud", model_version="1",
            role="champion", score=0.1, flagged=False, threshold=0.5, reasons=[],
            features=values, captured_at=when,
        )  # fmt: skip
        by_partition.setdefault(cf.partition(rec["captured_at"], "1"), []).append(cf.log_line(rec))
    for partition, lines in by_partition.items():
        path = lake / partition / "writer.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    decided = int(n * decided_share)
    rows = [
        {
            "claim_id": str(cid),
            "outcome": "fraud" if label else "legitimate",
            "decided_at": (now - timedelta(days=1)).isoformat(),
        }
        for cid, label in zip(
            frame[schema.id_column][:decided], frame[schema.label_column][:decided], strict=True
        )
    ]
    if rows:
        record_outcomes(str(lake), validate_outcomes(rows, SALT, now=now))
    return {"decided": decided, "frauds": int(frame[schema.label_column][:decided].sum())}
