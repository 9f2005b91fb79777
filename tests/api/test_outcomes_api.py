"""POST /v1/outcomes (#15 item 1): through the real app (TestClient), a real Function URL event
through the Mangum handler, and S3 on the moto server; the claim key joins the captured score."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from fraud_mlops import capture_format as cf
from fraud_mlops.capture import read_scores
from fraud_mlops.outcome_reader import read_outcomes
from tests.api.conftest import load_event
from tests.api.test_lambda_events import FakeLambdaContext

SALT = "test-salt-0123456789"


def body(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"outcomes": list(rows)}


def row(claim_id: Any = "C1", outcome: str = "fraud", decided_at: str = "2026-11-30T09:00:00Z"):
    return {"claim_id": claim_id, "outcome": outcome, "decided_at": decided_at}


@pytest.fixture
def client(make_client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("CAPTURE_KEY_SALT", SALT)
    monkeypatch.setenv("LAKEHOUSE_URI", str(tmp_path / "lake"))
    return make_client()


def test_a_batch_is_recorded_once_and_a_resend_changes_nothing(client, tmp_path: Path) -> None:
    batch = body(row(), row("C2", "legitimate", "2026-12-01T10:00:00+01:00"))
    first = client.post("/v1/outcomes", json=batch)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "recorded": 2, "already_recorded": 0, "message": "recorded 2 new, 0 already recorded"
    }  # fmt: skip
    again = client.post("/v1/outcomes", json=batch)
    assert again.json()["message"] == "recorded 0 new, 2 already recorded"
    frame = read_outcomes(str(tmp_path / "lake"))
    assert sorted(frame["claim_key"]) == sorted(cf.claim_key(c, SALT) for c in ("C1", "C2"))


def test_a_bad_batch_lists_every_problem_and_records_nothing(client, tmp_path: Path) -> None:
    bad = body(
        row(),
        row("C2", "maybe"),
        {**row("C3", decided_at="2026-12-01T09:00:00"), "notes": "x"},
        row(),  # repeats row 0
    )
    response = client.post("/v1/outcomes", json=bad)
    assert response.status_code == 422
    answer = response.json()
    assert [e["field"] for e in answer["errors"]] == [
        "outcomes[1].outcome",
        "outcomes[2]",
        "outcomes[2].decided_at",
        "outcomes[3].decided_at",
    ]
    assert answer["detail"].endswith(
        "(and 3 more problem(s), 3 listed in 'errors'); nothing was recorded"
    )
    assert "the value is not fraud or legitimate (send one of them, in lowercase)" in response.text
    assert "has no UTC offset" in answer["errors"][2]["message"]
    assert not (tmp_path / "lake").exists()


def test_a_contradicting_resend_is_a_409(client) -> None:
    assert client.post("/v1/outcomes", json=body(row())).status_code == 200
    response = client.post("/v1/outcomes", json=body(row("C9"), row(outcome="legitimate")))
    assert response.status_code == 409
    (error,) = response.json()["errors"]
    assert error["field"] == "outcomes[1]" and "already recorded as fraud" in error["message"]


@pytest.mark.parametrize(
    ("payload", "headers", "status", "says"),
    [
        (b"{not json", {}, 400, "not valid JSON"),
        (b"", {}, 422, "empty body"),
        (b'{"claims": []}', {}, 422, "must be a JSON object"),
        (b'{"outcomes": {}}', {}, 422, "must be a JSON object"),
        (b'{"outcomes": []}', {}, 422, "holds no outcomes"),
        (b"<x/>", {"content-type": "application/xml"}, 415, "is not JSON"),
        (json.dumps(body(*[row(f"C{i}") for i in range(4)])).encode(), {}, 413, "the limit is 3"),
    ],
)
def test_refusals_have_the_documented_error_shape(
    make_client, monkeypatch, tmp_path, payload, headers, status, says
) -> None:
    monkeypatch.setenv("CAPTURE_KEY_SALT", SALT)
    monkeypatch.setenv("LAKEHOUSE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("MAX_BATCH_SIZE", "3")
    client = make_client(MAX_BATCH_SIZE="3")
    headers = {"content-type": "application/json", **headers}
    response = client.post("/v1/outcomes", content=payload, headers=headers)
    assert response.status_code == status, response.text
    answer = response.json()
    assert set(answer) == {"detail", "errors"} and says in answer["detail"]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"LAKEHOUSE_URI": "/tmp/x"}, "CAPTURE_KEY_SALT is unset"),
        ({"CAPTURE_KEY_SALT": SALT}, "LAKEHOUSE_URI is unset"),
        ({"CAPTURE_KEY_SALT": "short-salt", "LAKEHOUSE_URI": "/tmp/x"}, "shorter than 16"),
    ],
)
def test_not_configured_is_a_503_saying_what_to_set(make_client, monkeypatch, env, says) -> None:
    for key in ("CAPTURE_KEY_SALT", "LAKEHOUSE_URI"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    response = make_client().post("/v1/outcomes", json=body(row()))
    assert response.status_code == 503
    assert says in response.json()["detail"] and "short-salt" not in response.text


def test_scored_then_decided_claims_join_on_the_claim_key(
    make_client, monkeypatch, tmp_path, sample_claims
) -> None:
    lake = tmp_path / "lake"
    monkeypatch.setenv("CAPTURE_KEY_SALT", SALT)
    monkeypatch.setenv("LAKEHOUSE_URI", str(lake))
    client = make_client(CAPTURE_KEY_SALT=SALT, CAPTURE_SINK=str(lake), CAPTURE_LOG="false")
    assert client.post("/v1/score", json={"claims": sample_claims[:4]}).status_code == 200
    decided = [row(c["claim_id"], "fraud", "2026-12-01T09:00:00Z") for c in sample_claims[:2]]
    assert client.post("/v1/outcomes", json=body(*decided)).status_code == 200
    scores = read_scores(str(lake))
    joined = scores.merge(read_outcomes(str(lake)), on="claim_key")
    assert len(scores) == 4 and len(joined) == 2 and set(joined["outcome"]) == {"fraud"}


def _function_url_event(payload: dict[str, Any]) -> dict[str, Any]:
    event = load_event("function_url_score.json", payload)
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/outcomes"
    return event


def test_a_function_url_event_through_mangum_writes_to_s3(
    monkeypatch, artifact_dir, tmp_path, s3_bucket, aws_env
) -> None:
    root = f"s3://{s3_bucket}/lakehouse"
    env = {
        "MODEL_URI": str(artifact_dir), "MODEL_CACHE_DIR": str(tmp_path),
        "CAPTURE_KEY_SALT": SALT, "LAKEHOUSE_URI": root,
    }  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delitem(sys.modules, "lambda_api.app", raising=False)
    app = importlib.import_module("lambda_api.app")
    event = _function_url_event(body(row(), row("C2", "legitimate")))
    response = app.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["recorded"] == 2
    again = app.handler(_function_url_event(body(row())), FakeLambdaContext())
    assert json.loads(again["body"])["message"] == "recorded 0 new, 1 already recorded"
    assert sorted(read_outcomes(root)["outcome"]) == ["fraud", "legitimate"]


def test_refusals_never_repeat_a_submitted_value(client) -> None:
    bad = body(row(" C-secret-1"), row("C2", "FRAUD-secret"), row("C3", decided_at="secret-day"))
    response = client.post("/v1/outcomes", json=bad)
    assert response.status_code == 422
    assert "secret" not in response.text
    assert "the value is not fraud or legitimate" in response.text
