"""Every canned Lambda event in tests/events gets a well-formed answer and exactly one log line.

The events are written after AWS's documented payloads for each integration that can invoke the
function (Function URL, API Gateway HTTP v2/v1 and REST, ALB with and without multi-value
headers, VPC Lattice v1/v2, API Gateway WebSocket, Lambda authorizers, S3/SQS/SNS/EventBridge),
plus the malformed variants that used to raise inside Mangum: a body flagged base64 that is
not, ``"headers": null``, a missing method, header values that are lists, an unrecognised or
non-object ``requestContext``. Each file's expected answer is listed below, so adding an event
file without saying what it should get fails the suite.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.api.conftest import EVENTS, load_event
from tests.api.test_lambda_events import FakeLambdaContext, lambda_app  # noqa: F401

SCORE, WARMUP = "score", "warmup"
# file -> (expected status, what the answer is, whether the test puts real claims in the body)
EXPECTED: dict[str, tuple[int, str, bool]] = {
    "function_url_score.json": (200, SCORE, True),
    "function_url_score_base64.json": (200, SCORE, True),
    "apigw_http_v2_score.json": (200, SCORE, True),
    "apigw_http_v1_score.json": (200, SCORE, True),
    "apigw_rest_v1_score.json": (200, SCORE, True),
    "alb_score.json": (200, SCORE, True),
    "alb_multi_value_score.json": (200, SCORE, True),
    "vpc_lattice_v1_score.json": (200, SCORE, True),
    "vpc_lattice_v2_score.json": (200, SCORE, True),
    # no headers at all: served, the body is assumed to be JSON
    "malformed_function_url_headers_null.json": (200, SCORE, True),
    "malformed_http_v2_headers_null.json": (200, SCORE, True),
    "malformed_rest_v1_headers_null.json": (200, SCORE, True),
    "malformed_vpc_lattice_v2_headers_null.json": (200, SCORE, True),
    "malformed_rest_v1_bad_base64.json": (400, "base64", False),
    "malformed_function_url_bad_base64.json": (400, "base64", False),
    "malformed_vpc_lattice_v2_bad_base64.json": (400, "base64", False),
    "malformed_http_v2_no_method.json": (400, "'method'", False),
    "malformed_http_v2_header_list.json": (400, "headers", False),
    "malformed_alb_no_method.json": (400, "'httpMethod'", False),
    "malformed_unknown_request_context.json": (400, "none of the HTTP integrations", False),
    "malformed_request_context_not_object.json": (400, "none of the HTTP integrations", False),
    "websocket_connect.json": (400, "WebSocket", False),
    "websocket_message.json": (400, "WebSocket", False),
    "websocket_disconnect.json": (400, "WebSocket", False),
    "authorizer_token.json": (400, "not a Lambda authorizer", False),
    "authorizer_request_v1.json": (400, "not a Lambda authorizer", False),
    "authorizer_http_v2.json": (400, "not a Lambda authorizer", False),
    "eventbridge_scheduled.json": (200, WARMUP, False),
    "eventbridge_scheduler.json": (200, WARMUP, False),
    "eventbridge_custom.json": (200, WARMUP, False),
    "s3_object_created.json": (200, WARMUP, False),
    "sqs_message.json": (200, WARMUP, False),
    "sns_notification.json": (200, WARMUP, False),
}


def _body(response: dict[str, Any]) -> Any:
    raw = response["body"]
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw)
    return json.loads(raw)


def _headers(response: dict[str, Any]) -> dict[str, str]:
    if "headers" in response:
        return {k.lower(): v for k, v in response["headers"].items()}
    return {k.lower(): v[-1] for k, v in response["multiValueHeaders"].items()}


def test_every_event_file_has_an_expected_answer() -> None:
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_event_gets_a_well_formed_answer_and_one_log_line(
    lambda_app: ModuleType,  # noqa: F811
    sample_claims: list[dict[str, Any]],
    name: str,
) -> None:
    from lambda_api.logs import configure_logging

    status, what, with_claims = EXPECTED[name]
    event = load_event(name, {"claims": sample_claims[:2]} if with_claims else None)
    stream = io.StringIO()
    configure_logging("INFO", stream)
    response = lambda_app.handler(event, FakeLambdaContext())

    assert isinstance(response, dict)
    assert response["statusCode"] == status, response
    assert isinstance(response["body"], str)
    headers = _headers(response)
    assert headers["content-type"] == "application/json"
    body = _body(response)
    if what == SCORE:
        assert [r["id"] for r in body["results"]] == [c["claim_id"] for c in sample_claims[:2]]
    elif what == WARMUP:
        assert response["warmup"] is True and response["health"]["loaded"] is True
        assert body == response["health"]
    else:
        assert set(body) == {"detail", "errors"} and what in body["detail"], body
        assert body["errors"] and {"field", "message", "type"} <= set(body["errors"][0])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [line for line in lines if line.get("message") == "request"]
    assert len(requests) == 1, lines
    assert requests[0]["status"] == status
    assert requests[0]["request_id"] == FakeLambdaContext.aws_request_id
    assert requests[0]["event_kind"]


@pytest.mark.parametrize(
    "name", ["alb_score.json", "alb_multi_value_score.json", "vpc_lattice_v2_score.json"]
)
def test_alb_and_lattice_answers_carry_a_status_description(
    lambda_app: ModuleType,  # noqa: F811
    sample_claims: list[dict[str, Any]],
    name: str,
) -> None:
    ok = lambda_app.handler(load_event(name, {"claims": sample_claims[:1]}), FakeLambdaContext())
    assert ok["statusCode"] == 200 and ok["statusDescription"] == "200 OK"
    bad = lambda_app.handler(load_event(name, b'{"claims": ['), FakeLambdaContext())
    assert bad["statusCode"] == 400 and bad["statusDescription"] == "400 Bad Request"
    if name == "alb_multi_value_score.json":  # the answer follows the target group's setting
        assert "headers" not in ok and ok["multiValueHeaders"]["content-type"] == [
            "application/json"
        ]


def test_lattice_v1_query_and_headers_reach_the_app(
    lambda_app: ModuleType,  # noqa: F811
) -> None:
    event = load_event("vpc_lattice_v1_score.json")
    event.update(method="GET", raw_path="/health?verbose=1", body=None, is_base64_encoded=False)
    response = lambda_app.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 200 and _body(response)["loaded"] is True


def test_a_malformed_event_answer_follows_its_integration(
    lambda_app: ModuleType,  # noqa: F811
) -> None:
    rest = lambda_app.handler(load_event("malformed_rest_v1_bad_base64.json"), FakeLambdaContext())
    assert rest["multiValueHeaders"]["content-type"] == ["application/json"]
    lattice = lambda_app.handler(
        load_event("malformed_vpc_lattice_v2_bad_base64.json"), FakeLambdaContext()
    )
    assert lattice["statusDescription"] == "400 Bad Request"


def test_an_app_failure_is_a_500_in_the_error_shape_with_one_log_line(
    lambda_app: ModuleType,  # noqa: F811
    sample_claims: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lambda_api.logs import configure_logging

    def boom(body: bytes, request_id: str = "") -> Any:
        raise RuntimeError("claim C-SECRET broke the scorer")

    monkeypatch.setattr(lambda_app.holder.service, "score", boom)
    stream = io.StringIO()
    configure_logging("INFO", stream)
    event = load_event("function_url_score.json", {"claims": sample_claims[:1]})
    response = lambda_app.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 500
    assert set(_body(response)) == {"detail", "errors"}
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "C-SECRET" not in stream.getvalue()
    assert json.loads(lines[0])["error"] == "RuntimeError"


def test_event_files_are_valid_json_objects() -> None:
    for path in Path(EVENTS).glob("*.json"):
        assert isinstance(json.loads(path.read_text()), dict), path.name


def test_a_failure_translating_the_answer_is_a_500_with_a_log_line(
    lambda_app: ModuleType,  # noqa: F811
    sample_claims: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lambda_api import events
    from lambda_api.logs import configure_logging

    def broken(self: Any, response: Any) -> Any:
        raise KeyError("headers")

    monkeypatch.setattr(events.HttpV2, "__call__", broken)
    stream = io.StringIO()
    configure_logging("INFO", stream)
    event = load_event("function_url_score.json", {"claims": sample_claims[:1]})
    answer = lambda_app.handler(event, FakeLambdaContext())
    assert answer["statusCode"] == 500 and set(_body(answer)) == {"detail", "errors"}
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    # the app's own line (200) and the translation failure's (500)
    assert [x["status"] for x in lines] == [200, 500] and lines[1]["error"] == "KeyError"
