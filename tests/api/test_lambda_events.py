"""The Lambda handler with real event payloads (tests/events, written from AWS's documentation).

``lambda_api.app`` is imported fresh for each test with MODEL_URI pointing at the test artifact,
so these tests also cover the load-at-import path that Lambda's init phase runs.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.api.conftest import load_event

SCORE_EVENTS = [
    "function_url_score.json",
    "function_url_score_base64.json",
    "apigw_http_v2_score.json",
    "apigw_rest_v1_score.json",
    "alb_score.json",
]


@dataclass
class FakeLambdaContext:
    """The attributes of the Python runtime's context object that code may read."""

    aws_request_id: str = "5e1f2d3c-4b5a-4978-8a6b-1c2d3e4f5a6b"
    function_name: str = "fraud-scoring"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:fraud-scoring"
    memory_limit_in_mb: int = 1024
    log_group_name: str = "/aws/lambda/fraud-scoring"
    log_stream_name: str = "2026/01/15/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def _import_app(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ModuleType:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delitem(sys.modules, "lambda_api.app", raising=False)
    return importlib.import_module("lambda_api.app")


@pytest.fixture
def lambda_app(monkeypatch: pytest.MonkeyPatch, artifact_dir: Path, tmp_path: Path) -> ModuleType:
    return _import_app(
        monkeypatch, {"MODEL_URI": str(artifact_dir), "MODEL_CACHE_DIR": str(tmp_path)}
    )


def _body(response: dict[str, Any]) -> Any:
    raw = response["body"]
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw)
    return json.loads(raw)


@pytest.mark.parametrize("name", SCORE_EVENTS)
def test_every_http_event_shape_scores(
    lambda_app: ModuleType, sample_claims: list[dict[str, Any]], name: str
) -> None:
    event = load_event(name, {"claims": sample_claims[:3]})
    response = lambda_app.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response
    body = _body(response)
    assert [r["id"] for r in body["results"]] == [c["claim_id"] for c in sample_claims[:3]]
    assert body["model_version"] == lambda_app.holder.service.model_version
    headers = response.get("headers") or {}
    assert headers.get("content-type") == "application/json"
    assert headers.get("x-request-id") == FakeLambdaContext.aws_request_id
    if name == "apigw_rest_v1_score.json":  # REST v1 answers carry multiValueHeaders too
        assert "multiValueHeaders" in response


@pytest.mark.parametrize("name", SCORE_EVENTS)
def test_every_http_event_shape_rejects_bad_input_with_4xx(
    lambda_app: ModuleType, name: str
) -> None:
    event = load_event(name, b'{"claims": [{"claim_id": 1, "claim_amount": "lots"}]}')
    response = lambda_app.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 422
    assert "claims[0].claim_amount" in _body(response)["detail"]


@pytest.mark.parametrize("name", ["function_url_score.json", "apigw_http_v2_score.json"])
def test_get_health_through_v2_events(lambda_app: ModuleType, name: str) -> None:
    event = load_event(name)
    event["requestContext"]["http"].update(method="GET", path="/health")
    event["rawPath"] = "/health"
    event["body"] = None
    response = lambda_app.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 200
    assert _body(response)["loaded"] is True


def test_request_id_comes_from_the_event_without_a_context(
    lambda_app: ModuleType, sample_claims: list[dict[str, Any]]
) -> None:
    event = load_event("apigw_rest_v1_score.json", {"claims": sample_claims[:1]})
    response = lambda_app.handler(event, None)
    assert response["headers"]["x-request-id"] == event["requestContext"]["requestId"]


def test_scheduled_warmup_ping_is_answered(lambda_app: ModuleType) -> None:
    from lambda_api.logs import configure_logging

    stream = io.StringIO()
    configure_logging("INFO", stream)
    event = load_event("eventbridge_scheduled.json")
    response = lambda_app.handler(event, FakeLambdaContext())
    assert response["warmup"] is True and response["statusCode"] == 200
    assert response["health"]["loaded"] is True
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["warmup"] is True and line["path"] == "/health"
    assert line["request_id"] == FakeLambdaContext.aws_request_id


@pytest.mark.parametrize("event", [{}, {"Records": [{"eventSource": "aws:sqs"}]}, [], "ping"])
def test_any_non_http_event_is_answered_without_an_exception(
    lambda_app: ModuleType, event: Any
) -> None:
    response = lambda_app.handler(event, FakeLambdaContext())
    assert response["warmup"] is True and response["health"]["status"] == "ok"


def test_model_loads_at_import_from_the_store_champion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, artifact_dir: Path
) -> None:
    """MODEL_URI unset: the app serves the embedded store's champion, fetched into the cache."""
    pytest.importorskip("fraud_mlops.store", reason="the model store lands with the model core")
    from fraud_mlops.store import ModelStore

    store = ModelStore(str(tmp_path / "models"))
    version = json.loads((artifact_dir / "manifest.json").read_text())["version"]
    store.publish(artifact_dir, "claims-fraud", version)
    store.set_champion("claims-fraud", version, gate={"passed": True}, metrics={})
    monkeypatch.delenv("MODEL_URI", raising=False)
    app = _import_app(
        monkeypatch,
        {"MODEL_STORE_URI": str(tmp_path / "models"), "MODEL_CACHE_DIR": str(tmp_path / "c")},
    )
    assert app.holder.loaded, app.holder.reason
    assert app.holder.service.model_version == version


def test_no_model_at_import_keeps_the_handler_working(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sample_claims: list[dict[str, Any]]
) -> None:
    app = _import_app(monkeypatch, {"MODEL_URI": str(tmp_path / "nothing-here")})
    assert not app.holder.loaded
    event = load_event("function_url_score.json", {"claims": sample_claims[:1]})
    response = app.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 503
    assert "nothing-here" in _body(response)["detail"]
