"""The score-capture record and the ``scores/`` layout, written once (standard library only).

Every claim the API scores becomes one capture record. In the cloud the record travels as one
log line (``CAPTURE_PREFIX`` + compact JSON) that a CloudWatch Logs subscription filter hands to
Kinesis Data Firehose, which delivers it under the lakehouse ``scores/`` prefix; locally a file
sink appends the same lines. Nothing on the request path makes a network call.

Record (version 1)::

    {"capture": "fraud-mlops/score/v1", "captured_at": "2026-12-02T07:10:00.123456Z",
     "request_id": "...", "claim_key": "<32 hex>", "model_name": "...", "model_version": "...",
     "role": "champion" | "shadow", "score": 0.42, "flagged": false, "threshold": 0.3,
     "reasons": [{"feature": "...", "contribution": 0.1}], "features": {"<column>": value}}

``claim_key`` is a keyed hash (HMAC-SHA256, first 32 hex digits) of the claim id, so captured
scores and investigators' outcomes join without the raw id being stored; ``features`` holds the
model's input columns minus the schema's ``personal`` ones and the id column.

Layout under the lakehouse root::

    scores/date=YYYY-MM-DD/model_version=<version>/<file>.jsonl | .parquet

Files are append-only and named uniquely by their writer; readers read every file of the dates
they are asked for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

CAPTURE_VERSION = "fraud-mlops/score/v1"
CAPTURE_PREFIX = "FRAUD_MLOPS_CAPTURE "
SCORES = "scores"
ROLES = ("champion", "shadow")
CLAIM_KEY_HEX = 32


def claim_key(claim_id: object, salt: str) -> str:
    """The stored, non-reversible key of a claim id (same salt in scoring and in outcomes)."""
    digest = hmac.new(salt.encode(), str(claim_id).encode(), hashlib.sha256).hexdigest()
    return digest[:CLAIM_KEY_HEX]


def capture_features(
    feature_columns: Iterable[str], personal: Iterable[str], id_column: str
) -> list[str]:
    """The columns a capture record may hold: model inputs, never personal ones or the id."""
    excluded = {*personal, id_column}
    return [c for c in feature_columns if c not in excluded]


def record(
    *,
    claim_key: str,
    model_name: str,
    model_version: str,
    role: str,
    score: float,
    flagged: bool,
    threshold: float,
    reasons: list[dict[str, Any]],
    features: Mapping[str, Any],
    request_id: str = "",
    captured_at: datetime | None = None,
) -> dict[str, Any]:
    """Build one capture record (see the module docstring for the fields)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    when = (captured_at or datetime.now(UTC)).astimezone(UTC)
    return {
        "capture": CAPTURE_VERSION,
        "captured_at": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "request_id": request_id,
        "claim_key": claim_key,
        "model_name": model_name,
        "model_version": model_version,
        "role": role,
        "score": float(score),
        "flagged": bool(flagged),
        "threshold": float(threshold),
        "reasons": reasons,
        "features": dict(features),
    }


def log_line(rec: Mapping[str, Any]) -> str:
    """The one line a record travels as (what the subscription filter matches)."""
    return CAPTURE_PREFIX + json.dumps(rec, separators=(",", ":"), allow_nan=False, default=str)


def parse_line(line: str) -> dict[str, Any] | None:
    """A record from a log or sink line, or ``None`` if the line is not a capture line."""
    start = line.find(CAPTURE_PREFIX)
    if start < 0:
        return None
    rec = json.loads(line[start + len(CAPTURE_PREFIX) :])
    if not isinstance(rec, dict) or rec.get("capture") != CAPTURE_VERSION:
        return None
    return rec


def partition(captured_at: str, model_version: str) -> str:
    """``scores/date=…/model_version=…`` for a record's timestamp and model version."""
    return f"{SCORES}/date={captured_at[:10]}/model_version={model_version}"
