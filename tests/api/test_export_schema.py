"""A model trained on an insurer's export: the API takes its dates as written and scores as
training did (the derived tenure feature is computed from the posted dates)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fraud_mlops.artifact import build_architecture, export_artifact, load_artifact, random_weights
from fraud_mlops.ingest import load_claims, read_table
from fraud_mlops.preprocessing import fit_preprocessing
from fraud_mlops.schema import load_schema
from fraud_mlops.scoring import Scorer
from fraud_mlops.synthetic import generate_claims, insurer_export, write_insurer_export


@pytest.fixture(scope="module")
def export_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    """An artifact fitted on the example export, the export's raw text and its claims."""
    root = tmp_path_factory.mktemp("export-model")
    path = root / "export.csv"
    write_insurer_export(insurer_export(generate_claims(1200, seed=5), seed=5), str(path))
    schema = load_schema("insurer_export")
    claims = load_claims(str(path), schema)
    pre = fit_preprocessing(claims, schema)
    arch = build_architecture(pre, hidden=(8,), dropout=0.0)
    artifact = export_artifact(
        root / "model",
        model_name="export-fraud",
        version="v1",
        schema=schema,
        preprocessor=pre,
        architecture=arch,
        weights=random_weights(arch, seed=1),
        threshold=0.5,
        metrics={},
        data_fingerprint="0" * 64,
        code_version="test",
    )
    return artifact, read_table(str(path), schema.csv), claims


def _posted(raw: Any, rows: slice) -> list[dict[str, Any]]:
    """Claims as an integration would post the export: numbers as JSON numbers, '?' as null,
    dates and categories as written."""
    schema = load_schema("insurer_export")
    out = []
    for record in raw.iloc[rows].to_dict(orient="records"):
        claim: dict[str, Any] = {schema.id_column: record[schema.id_column]}
        for feat in schema.numeric:
            text = record[feat.name]
            claim[feat.name] = None if text == "?" else float(text.replace(",", "."))
        for name in ("incident_date", "policy_bind_date", *schema.categorical_names):
            claim[name] = record[name]
        out.append(claim)
    return out


def test_posted_export_claims_score_as_in_training(make_client: Any, export_model) -> None:
    artifact_dir, raw, claims = export_model
    client = make_client(MODEL_URI=str(artifact_dir))
    response = client.post("/v1/score", json={"claims": _posted(raw, slice(0, 40))})
    assert response.status_code == 200, response.text
    served = np.array([r["fraud_probability"] for r in response.json()["results"]])
    trained = Scorer(load_artifact(artifact_dir)).score(claims.iloc[:40]).probability
    np.testing.assert_allclose(served, trained, atol=1e-6)
    reasons = {r["feature"] for res in response.json()["results"] for r in res["reasons"]}
    assert reasons <= set(load_schema("insurer_export").feature_names)


def test_request_model_takes_dates_and_refuses_what_is_not_one(
    make_client: Any, export_model
) -> None:
    artifact_dir, raw, _ = export_model
    client = make_client(MODEL_URI=str(artifact_dir))
    spec = client.get("/openapi.json").json()["components"]["schemas"]["Claim"]
    assert "format %d/%m/%Y" in spec["properties"]["policy_bind_date"]["description"]
    assert "incident_date" in spec["required"] and "policy_tenure_days" not in spec["properties"]
    claim = _posted(raw, slice(0, 1))[0]
    bad = client.post("/v1/score", json={"claims": [claim | {"policy_bind_date": "2024-02-30"}]})
    assert bad.status_code == 422
    assert (
        "'policy_bind_date': 1 value(s) are not dates in format '%d/%m/%Y'" in bad.json()["detail"]
    )
    derived = client.post("/v1/score", json={"claims": [claim | {"policy_tenure_days": 3.0}]})
    assert derived.status_code == 422  # computed from the dates, never taken from the client
    missing = {k: v for k, v in claim.items() if k != "incident_date"}
    assert client.post("/v1/score", json={"claims": [missing]}).status_code == 422
    unknown = client.post("/v1/score", json={"claims": [claim | {"police_report_available": "?"}]})
    assert unknown.status_code == 200
    # '?' is a missing value, not an unseen category
    assert (
        "police_report_available"
        not in json.loads(unknown.text)["results"][0]["unknown_categories"]
    )
