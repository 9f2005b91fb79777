"""Fixtures for the scoring API: a small real artifact (no torch, no training) and app builders.

The artifact is a tiny random MLP that respects the architecture contract, with preprocessing
fitted on 2,000 synthetic claims; its threshold is set so that about 10 % of claims flag.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

EVENTS = Path(__file__).resolve().parents[1] / "events"


def build_artifact(directory: Path, *, version: str = "20260101T000000Z-test", n: int = 2000):
    """Export a small, real artifact to ``directory`` and return the claims it was fitted on."""
    from fraud_mlops.artifact import (
        build_architecture,
        export_artifact,
        load_artifact,
        random_weights,
    )
    from fraud_mlops.preprocessing import fit_preprocessing
    from fraud_mlops.schema import default_schema
    from fraud_mlops.scoring import Scorer
    from fraud_mlops.synthetic import generate_claims

    schema = default_schema()
    frame = generate_claims(n, seed=7)
    pre = fit_preprocessing(frame, schema)
    arch = build_architecture(pre, hidden=(16, 8), dropout=0.0)
    weights = random_weights(arch, seed=3)
    common = dict(
        model_name="claims-fraud",
        version=version,
        schema=schema,
        preprocessor=pre,
        architecture=arch,
        weights=weights,
        metrics={"test": {"pr_auc": 0.42, "roc_auc": 0.81}},
        data_fingerprint="0" * 64,
        code_version="test",
        params={"hidden": [16, 8]},
    )
    # Pick the threshold from the model's own scores so that both flags occur.
    probe = export_artifact(directory.parent / f".probe-{directory.name}", threshold=0.5, **common)
    probs = Scorer(load_artifact(probe)).score(frame).probability
    threshold = float(np.quantile(probs, 0.9))
    export_artifact(directory, threshold=threshold, **common)
    return frame


@pytest.fixture(scope="session")
def artifact_and_claims(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("artifact")
    frame = build_artifact(root / "model")
    return root / "model", frame


@pytest.fixture(scope="session")
def artifact_dir(artifact_and_claims: tuple[Path, Any]) -> Path:
    return artifact_and_claims[0]


def claims_json(frame: Any, rows: int, start: int = 0) -> list[dict[str, Any]]:
    """Claims as a client would post them: JSON-safe, NaN as null, only the schema's features."""
    from fraud_mlops.schema import default_schema

    schema = default_schema()
    cols = [schema.id_column, *schema.feature_names]
    part = frame.iloc[start : start + rows][cols]
    return json.loads(part.to_json(orient="records"))


@pytest.fixture(scope="session")
def sample_claims(artifact_and_claims: tuple[Path, Any]) -> list[dict[str, Any]]:
    return claims_json(artifact_and_claims[1], 50)


@pytest.fixture
def make_client(artifact_dir: Path, tmp_path: Path) -> Callable[..., Any]:
    """Build a TestClient around a freshly loaded holder; ``env`` overrides the environment."""
    from fastapi.testclient import TestClient

    from lambda_api.app import create_app
    from lambda_api.loader import ModelHolder

    def make(**env: str) -> TestClient:
        full = {"MODEL_URI": str(artifact_dir), "MODEL_CACHE_DIR": str(tmp_path / "cache"), **env}
        return TestClient(create_app(ModelHolder.load(full)), raise_server_exceptions=False)

    return make


def load_event(name: str, body: Any = None, **overrides: Any) -> dict[str, Any]:
    """A canned Lambda event from tests/events, with its body replaced (kept in its encoding)."""
    event = copy.deepcopy(json.loads((EVENTS / name).read_text(encoding="utf-8")))
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if event.get("isBase64Encoded") or event.get("is_base64_encoded"):  # VPC Lattice v1
            event["body"] = base64.b64encode(raw).decode()
        else:
            event["body"] = raw.decode()
    event.update(overrides)
    return event
