"""The scoring API through FastAPI's test client: answers, bad input, no model, logs."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest

from fraud_mlops.artifact import load_artifact
from fraud_mlops.schema import default_schema
from fraud_mlops.scoring import Scorer


def _post(client: Any, claims: list[dict[str, Any]]) -> Any:
    return client.post("/v1/score", json={"claims": claims})


def test_health_reports_the_loaded_model(make_client: Any, artifact_dir: Any) -> None:
    body = make_client().get("/health").json()
    assert body["status"] == "ok" and body["loaded"] is True and body["reason"] is None
    assert body["model_name"] == "claims-fraud"
    assert body["model_version"] == load_artifact(artifact_dir).version
    assert body["uptime_seconds"] >= 0


def test_model_summary_has_metrics_threshold_and_schema(
    make_client: Any, artifact_dir: Any
) -> None:
    body = make_client().get("/model").json()
    artifact = load_artifact(artifact_dir)
    assert body["threshold"] == pytest.approx(artifact.threshold)
    assert body["metrics"] == {"test": {"pr_auc": 0.42, "roc_auc": 0.81}}
    assert body["schema"]["id_column"] == "claim_id"
    assert body["max_batch_size"] == 1000
    assert "preprocessing" not in body  # fitted vocabularies stay private


def test_batch_matches_the_scorer_claim_by_claim(
    make_client: Any, artifact_dir: Any, sample_claims: list[dict[str, Any]]
) -> None:
    response = _post(make_client(), sample_claims)
    assert response.status_code == 200, response.text
    body = response.json()
    results = body["results"]
    assert [r["id"] for r in results] == [c["claim_id"] for c in sample_claims]
    artifact = load_artifact(artifact_dir)
    scorer = Scorer(artifact)
    for claim, result in zip(sample_claims[:5], results[:5], strict=True):
        alone = scorer.score({k: [v] for k, v in claim.items()})
        assert result["fraud_probability"] == pytest.approx(float(alone.probability[0]), abs=1e-6)
        assert result["reasons"] == [
            {"feature": f, "contribution": pytest.approx(v, abs=1e-5)} for f, v in alone.reasons[0]
        ]
    probs = np.array([r["fraud_probability"] for r in results])
    assert ((probs > 0) & (probs < 1)).all()
    assert [r["flagged"] for r in results] == (probs >= artifact.threshold).tolist()
    assert any(r["flagged"] for r in results) and not all(r["flagged"] for r in results)
    features = set(default_schema().feature_names)
    for r in results:
        assert len(r["reasons"]) == 3 and {x["feature"] for x in r["reasons"]} <= features
        assert r["model_version"] == body["model_version"] == artifact.version
    assert body["threshold"] == pytest.approx(artifact.threshold)


def test_unknown_category_is_scored_and_marked(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    claim = {**sample_claims[0], "provider_id": "P-never-seen", "region": "atlantis"}
    response = _post(make_client(), [claim, sample_claims[1]])
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert sorted(first["unknown_categories"]) == ["provider_id", "region"]
    assert 0 < first["fraud_probability"] < 1
    assert second["unknown_categories"] == []


def test_optional_feature_may_be_null_or_absent(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    absent = {k: v for k, v in sample_claims[0].items() if k != "vehicle_age"}
    null = {**sample_claims[0], "vehicle_age": None, "claim_id": "C-other"}
    response = _post(make_client(), [absent, null])
    assert response.status_code == 200, response.text
    a, b = response.json()["results"]
    assert a["fraud_probability"] == pytest.approx(b["fraud_probability"])


def test_whole_claim_records_are_accepted(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    # label, event time and passthrough (personal) columns are accepted and ignored
    record = {
        **sample_claims[0],
        "is_fraud": 1,
        "claim_date": "2024-03-01T10:00:00",
        "policy_id": "POL-1",
        "customer_id": None,
    }
    plain = _post(make_client(), [sample_claims[0]]).json()["results"][0]
    full = _post(make_client(), [record]).json()["results"][0]
    assert full == plain


def test_integral_floats_are_accepted_for_int_features(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    claim = {**sample_claims[0], "customer_age": 41.0}
    assert _post(make_client(), [claim]).status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"claim_amount": "1200"}, "claims[0].claim_amount", "valid number"),
        ({"claim_amount": True}, "claims[0].claim_amount", "valid number"),
        ({"claim_amount": -5}, "claims[0].claim_amount", "greater than or equal to 0"),
        ({"customer_age": 41.5}, "claims[0].customer_age", "multiple of 1"),
        ({"witnesses": 1e-300}, "claims[0].witnesses", "whole number"),
        ({"customer_age": 140}, "claims[0].customer_age", "less than or equal to 100"),
        ({"region": "x" * 129}, "claims[0].region", "at most 128 characters"),
        ({"region": 3}, "claims[0].region", "valid string"),
        ({"region": None}, "claims[0].region", "valid string"),
        ({"claim_id": ""}, "claims[0].claim_id", "at least 1 character"),
        ({"claim_amuont": 10}, "claims[0].claim_amuont", "unknown field"),
        ({"claim_id": 2**64}, "claims[0].claim_id", "less than or equal to"),
        ({"claim_id": -(2**63) - 1}, "claims[0].claim_id", "greater than or equal to"),
        ({"claim_id": 1e300}, "claims[0].claim_id", "less than or equal to"),
        ({"claim_id": 1.2e-161}, "claims[0].claim_id", "whole number"),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    make_client: Any,
    sample_claims: list[dict[str, Any]],
    change: dict[str, Any],
    field: str,
    fragment: str,
) -> None:
    response = _post(make_client(), [sample_claims[0], {**sample_claims[1], **change}][1:])
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"].startswith(field)
    assert any(e["field"] == field and fragment in e["message"] for e in body["errors"]), body
    # the submitted value is never echoed back (claims carry personal data)
    for value in change.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in response.text


def test_missing_required_field_is_named(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    claim = {k: v for k, v in sample_claims[0].items() if k != "severity"}
    response = _post(make_client(), [sample_claims[1], claim])
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "claims[1].severity", "message": "required field is missing", "type": "missing"}
    ]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_are_refused(
    make_client: Any, sample_claims: list[dict[str, Any]], literal: bytes
) -> None:
    claim = json.dumps({**sample_claims[0], "claim_amount": 12345}).encode()
    body = b'{"claims": [' + claim.replace(b"12345", literal) + b"]}"
    response = make_client().post(
        "/v1/score", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert "claim_amount" in response.text or "JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b'{"claims": [', 400, "not valid JSON"),
        (b"", 422, "empty body"),
        (b"[1, 2]", 422, "must be a JSON object"),
        (b'{"claims": []}', 422, "'claims' is empty"),
        (b'{"claims": {}}', 422, "claims"),
        (b'{"claim": []}', 422, "claims"),
    ],
)
def test_malformed_bodies_are_4xx(
    make_client: Any, body: bytes, status: int, fragment: str
) -> None:
    response = make_client().post(
        "/v1/score", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def test_batch_over_the_limit_is_413(make_client: Any, sample_claims: list[dict[str, Any]]) -> None:
    client = make_client(MAX_BATCH_SIZE="5")
    assert _post(client, sample_claims[:5]).status_code == 200
    response = _post(client, sample_claims[:6])
    assert response.status_code == 413
    assert "limit is 5" in response.json()["detail"]
    huge = b'{"claims": [' + b" " * 70_000 + b"]}"
    response = client.post("/v1/score", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "bytes" in response.json()["detail"]


def test_non_json_content_type_is_415(make_client: Any) -> None:
    response = make_client().post(
        "/v1/score", content=b"claim_id,claim_amount\n", headers={"content-type": "text/csv"}
    )
    assert response.status_code == 415
    assert "text/csv" in response.json()["detail"]


def test_without_a_model_the_api_stays_up_and_answers_503(
    make_client: Any, tmp_path: Any, sample_claims: list[dict[str, Any]]
) -> None:
    client = make_client(MODEL_URI=str(tmp_path / "store" / "claims-fraud" / "champion"))
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["loaded"] is False and health.json()["status"] == "unavailable"
    response = _post(client, sample_claims[:1])
    assert response.status_code == 503
    assert response.json()["detail"].startswith("no model loaded: ")
    assert client.get("/model").status_code == 503


def test_corrupted_artifact_is_refused_with_the_reason(
    make_client: Any, artifact_dir: Any, tmp_path: Any
) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(artifact_dir, broken)
    weights = broken / "weights.npz"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte in the middle of the weights
    weights.write_bytes(bytes(data))
    health = make_client(MODEL_URI=str(broken)).get("/health").json()
    assert health["loaded"] is False and "checksum" in health["reason"]


def test_bad_settings_keep_the_api_up(make_client: Any) -> None:
    health = make_client(MAX_BATCH_SIZE="lots").get("/health").json()
    assert health["loaded"] is False
    assert "MAX_BATCH_SIZE='lots'" in health["reason"]


def test_openapi_documents_the_schema_fields(make_client: Any) -> None:
    doc = make_client().get("/openapi.json").json()
    body = doc["paths"]["/v1/score"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/ScoreRequest"}
    claim = doc["components"]["schemas"]["Claim"]
    schema = default_schema()
    assert set(schema.feature_names) | {schema.id_column} <= set(claim["properties"])
    required = set(claim["required"])
    assert "vehicle_age" not in required and {"claim_amount", "claim_id"} <= required
    age = claim["properties"]["customer_age"]["anyOf"]
    assert {branch["type"] for branch in age} == {"integer", "number"}
    assert all(branch["maximum"] == 100 and branch["minimum"] == 18 for branch in age)
    assert claim["additionalProperties"] is False
    batch = doc["components"]["schemas"]["ScoreRequest"]["properties"]["claims"]
    assert batch["maxItems"] == 1000 and batch["minItems"] == 1
    # Error answers of every route point at the one documented ErrorResponse schema.
    outcomes = doc["paths"]["/v1/outcomes"]["post"]["responses"]
    for code in ("400", "409", "413", "415", "422", "503"):
        ref = outcomes[code]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorResponse"
    assert "errors" in doc["components"]["schemas"]["ErrorResponse"]["properties"]


def test_one_json_log_line_per_request_without_claim_data(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    from lambda_api.logs import configure_logging

    stream = io.StringIO()
    configure_logging("INFO", stream)
    client = make_client()
    stream.truncate(0)
    stream.seek(0)
    claims = [{**c, "policy_id": f"POLICY-SECRET-{i}"} for i, c in enumerate(sample_claims[:3])]
    response = client.post(
        "/v1/score", json={"claims": claims}, headers={"x-request-id": "req-123"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-123"
    _post(client, [{"claim_id": "C-SECRET"}])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    ok, bad = lines
    assert ok["message"] == "request" and ok["request_id"] == "req-123"
    assert ok["status"] == 200 and ok["batch_size"] == 3 and ok["path"] == "/v1/score"
    assert ok["model_version"] and ok["latency_ms"] > 0
    assert bad["status"] == 422 and bad.get("batch_size") is None  # Powertools drops nulls
    text = stream.getvalue()
    for needle in ("SECRET", sample_claims[0]["claim_id"], sample_claims[0]["provider_id"]):
        assert needle not in text
