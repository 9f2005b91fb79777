"""Telemetry: the EMF metrics each request writes, the Powertools log line, and X-Ray tracing.

The EMF documents are captured from the metrics stream and checked against the CloudWatch
Embedded Metric Format specification (every declared metric has a numeric value at the top
level, every dimension key is present, namespace and units as documented); the names are the
ones the release helper's alarms and dashboard use.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.api.conftest import load_event
from tests.api.test_lambda_events import FakeLambdaContext

EXPECTED_UNITS = {
    "Requests": "Count",
    "ClaimsScored": "Count",
    "ClaimsFlagged": "Count",
    "LatencyMs": "Milliseconds",
    "ClientErrors": "Count",
    "ServerErrors": "Count",
}


def _emf(stream: io.StringIO) -> list[dict[str, Any]]:
    """The EMF documents written, each checked against the EMF specification."""
    docs = [json.loads(line) for line in stream.getvalue().splitlines()]
    for doc in docs:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert isinstance(doc["_aws"]["Timestamp"], int)
        assert directive["Namespace"] == "FraudMlops" or directive["Namespace"]
        assert directive["Dimensions"] == [["model_version"]]
        assert isinstance(doc["model_version"], str)
        units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
        assert units == EXPECTED_UNITS
        for name in units:
            values = doc[name] if isinstance(doc[name], list) else [doc[name]]
            assert all(isinstance(v, int | float) for v in values)
    return docs


def _values(doc: dict[str, Any]) -> dict[str, float]:
    return {name: doc[name][0] for name in EXPECTED_UNITS}


@pytest.fixture
def client_and_metrics(make_client: Any) -> tuple[Any, io.StringIO]:
    from lambda_api import telemetry

    client = make_client()
    stream = io.StringIO()
    telemetry.metrics.stream = stream
    return client, stream


def test_a_scored_request_writes_its_metrics(
    client_and_metrics: tuple[Any, io.StringIO],
    sample_claims: list[dict[str, Any]],
    artifact_dir: Path,
) -> None:
    from fraud_mlops.artifact import load_artifact

    client, stream = client_and_metrics
    response = client.post("/v1/score", json={"claims": sample_claims[:20]})
    assert response.status_code == 200
    flagged = sum(r["flagged"] for r in response.json()["results"])
    (doc,) = _emf(stream)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "FraudMlops"
    assert doc["model_version"] == load_artifact(artifact_dir).version
    values = _values(doc)
    assert values["LatencyMs"] > 0
    assert {k: v for k, v in values.items() if k != "LatencyMs"} == {
        "Requests": 1,
        "ClaimsScored": 20,
        "ClaimsFlagged": flagged,
        "ClientErrors": 0,
        "ServerErrors": 0,
    }
    assert 0 < flagged < 20  # the fixture's threshold flags about 10 %


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/v1/score", {"claims": [{"claim_id": 1}]}), ("GET", "/nope", None)],
)
def test_client_errors_are_counted(
    client_and_metrics: tuple[Any, io.StringIO], method: str, path: str, body: Any
) -> None:
    client, stream = client_and_metrics
    assert 400 <= client.request(method, path, json=body).status_code < 500
    (doc,) = _emf(stream)
    values = _values(doc)
    assert values["ClientErrors"] == 1 and values["ServerErrors"] == 0
    assert values["Requests"] == 1 and values["ClaimsScored"] == 0


def test_server_errors_are_counted(
    client_and_metrics: tuple[Any, io.StringIO],
    sample_claims: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fraud_mlops.scoring import Scorer

    def boom(self: Any, columns: Any) -> Any:
        raise RuntimeError("scorer failed")

    monkeypatch.setattr(Scorer, "score", boom)
    client, stream = client_and_metrics
    assert client.post("/v1/score", json={"claims": sample_claims[:1]}).status_code == 500
    (doc,) = _emf(stream)
    assert _values(doc)["ServerErrors"] == 1 and _values(doc)["ClientErrors"] == 0


def test_namespace_and_switch_come_from_the_settings(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    from lambda_api import telemetry

    client = make_client(POWERTOOLS_METRICS_NAMESPACE="FraudMlopsStaging")
    telemetry.metrics.stream = stream = io.StringIO()
    client.post("/v1/score", json={"claims": sample_claims[:1]})
    doc = json.loads(stream.getvalue())
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "FraudMlopsStaging"

    client = make_client(POWERTOOLS_METRICS_DISABLED="true")
    telemetry.metrics.stream = stream = io.StringIO()
    assert client.post("/v1/score", json={"claims": sample_claims[:1]}).status_code == 200
    assert stream.getvalue() == ""


def test_without_a_model_the_dimension_says_none(make_client: Any, tmp_path: Path) -> None:
    from lambda_api import telemetry

    client = make_client(MODEL_URI=str(tmp_path / "nothing"))
    telemetry.metrics.stream = stream = io.StringIO()
    assert client.post("/v1/score", json={"claims": [{"claim_id": 1}]}).status_code == 503
    (doc,) = _emf(stream)
    assert doc["model_version"] == "none" and _values(doc)["ServerErrors"] == 1


# -- through the Lambda handler ----------------------------------------------------------------
def _import_app(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ModuleType:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delitem(sys.modules, "lambda_api.app", raising=False)
    return importlib.import_module("lambda_api.app")


@pytest.fixture
def lambda_env(artifact_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {"MODEL_URI": str(artifact_dir), "MODEL_CACHE_DIR": str(tmp_path / "cache")}


def test_refused_events_count_and_warmups_do_not(
    monkeypatch: pytest.MonkeyPatch, lambda_env: dict[str, str]
) -> None:
    from lambda_api import telemetry

    app = _import_app(monkeypatch, lambda_env)
    telemetry.metrics.stream = stream = io.StringIO()
    app.handler(load_event("eventbridge_scheduled.json"), FakeLambdaContext())
    assert stream.getvalue() == ""  # keep-warm pings are not traffic
    app.handler(load_event("websocket_message.json"), FakeLambdaContext())
    (doc,) = _emf(stream)
    assert _values(doc)["ClientErrors"] == 1
    assert doc["model_version"] == app.holder.service.model_version


def test_log_lines_are_powertools_json_without_claim_data(
    monkeypatch: pytest.MonkeyPatch, lambda_env: dict[str, str], sample_claims: list[dict]
) -> None:
    from lambda_api.logs import configure_logging

    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "fraud-scoring-test")
    app = _import_app(monkeypatch, lambda_env)
    stream = io.StringIO()
    configure_logging("INFO", stream)
    claims = [{**c, "policy_id": f"POLICY-SECRET-{i}"} for i, c in enumerate(sample_claims[:2])]
    event = load_event("apigw_http_v2_score.json", {"claims": claims})
    event["rawQueryString"] = "token=QUERY-SECRET"
    event["headers"]["authorization"] = "Bearer HEADER-SECRET"
    assert app.handler(event, FakeLambdaContext())["statusCode"] == 200
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["service"] == "fraud-scoring-test"
    assert {"level", "location", "message", "timestamp"} <= set(line)
    assert line["message"] == "request" and line["status"] == 200 and line["batch_size"] == 2
    assert line["event_kind"] == "http_v2" and "flagged" in line
    text = stream.getvalue()
    for secret in ("SECRET", claims[0]["claim_id"], claims[0]["provider_id"]):
        assert secret not in text


def test_model_load_lines_share_the_format(
    monkeypatch: pytest.MonkeyPatch, lambda_env: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    from lambda_api import logs

    stream = io.StringIO()
    monkeypatch.setattr(logs._handler, "stream", stream)
    monkeypatch.setattr(logs, "configure_logging", lambda *a, **k: logs.logger)
    _import_app(monkeypatch, lambda_env)
    loaded = [json.loads(x) for x in stream.getvalue().splitlines()]
    (line,) = [x for x in loaded if x["message"] == "model loaded"]
    assert line["model_name"] == "claims-fraud" and line["load_ms"] > 0
    assert "fields" not in line and line["service"]


def test_tracing_wraps_each_invocation_without_capturing_the_response(
    monkeypatch: pytest.MonkeyPatch, lambda_env: dict[str, str], sample_claims: list[dict]
) -> None:
    from aws_xray_sdk.core import xray_recorder

    sent: list[Any] = []

    class Capture:
        def send_entity(self, entity: Any) -> None:
            sent.append(entity.to_dict())

        def set_daemon_address(self, address: Any) -> None:
            pass

    monkeypatch.setattr(xray_recorder, "_emitter", Capture())
    # no sampling decisions: they would poll an X-Ray daemon on 127.0.0.1:2000 from a thread
    monkeypatch.setattr(xray_recorder, "_sampling", False)
    app = _import_app(monkeypatch, {**lambda_env, "POWERTOOLS_TRACE_DISABLED": "false"})
    assert app.handler is not app.LambdaEntry  # wrapped by Tracer.capture_lambda_handler
    xray_recorder.begin_segment("test-invocation")
    try:
        event = load_event("function_url_score.json", {"claims": sample_claims[:2]})
        response = app.handler(event, FakeLambdaContext())
    finally:
        xray_recorder.end_segment()
    assert response["statusCode"] == 200
    (segment,) = [s for s in sent if s["name"] == "test-invocation"]
    # the recorder streams the finished subsegment on its own, pointing at its parent
    (sub,) = [s for s in sent if s["name"] == "## invoke"]
    assert sub["parent_id"] == segment["id"]
    assert sub["annotations"]["model_version"] == app.holder.service.model_version
    assert sub["annotations"]["ColdStart"] in (True, False)
    assert "metadata" not in sub  # capture_response=False: no scores, no ids
    dumped = json.dumps(sent)
    assert sample_claims[0]["claim_id"] not in dumped and "fraud_probability" not in dumped


def test_tracing_is_off_by_default(
    monkeypatch: pytest.MonkeyPatch, lambda_env: dict[str, str]
) -> None:
    from lambda_api.events import LambdaEntry

    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    app = _import_app(monkeypatch, lambda_env)
    assert isinstance(app.handler, LambdaEntry)


def test_metrics_go_to_stdout_by_default(
    make_client: Any, sample_claims: list[dict[str, Any]], capsys: pytest.CaptureFixture
) -> None:
    client = make_client()
    capsys.readouterr()
    assert client.post("/v1/score", json={"claims": sample_claims[:1]}).status_code == 200
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')]
    assert len(lines) == 1 and lines[0]["Requests"] == [1.0]


# -- the cheap paths give Powertools' own output -----------------------------------------------
def test_each_request_document_is_the_one_powertools_serialises() -> None:
    from lambda_api.telemetry import RequestMetrics

    metrics = RequestMetrics("FraudMlops", "v7")
    metrics.stream = stream = io.StringIO()
    metrics.record(422, 1.25, claims=0, flagged=0)
    metrics.record(200, 0.5, claims=3, flagged=2)
    first, second = _emf(stream)
    for doc, values in ((first, [1, 0, 0, 1.25, 1, 0]), (second, [1, 3, 2, 0.5, 0, 0])):
        own = metrics._serialize([float(v) for v in values], doc["_aws"]["Timestamp"])
        assert list(doc) == list(own)  # the same key order, as well as the same content
        assert doc == own


def _record(msg: Any, args: Any = None, exc_info: Any = None, **extra: Any) -> Any:
    import logging

    from lambda_api.logs import logger

    return logger._logger.makeRecord(
        logger._logger.name, logging.INFO, __file__, 42, msg, args, exc_info, "caller", extra
    )


@pytest.mark.parametrize(
    "case",
    ["plain", "none_fields", "json_message", "args", "exception", "trace", "context", "appended"],
)
def test_the_cheap_log_formatter_writes_powertools_lines(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    from lambda_api.logs import logger

    formatter = logger.registered_formatter
    fields = {"request_id": "r-1", "status": 200, "latency_ms": 0.25, "batch_size": 1}
    if case == "none_fields":
        record = _record("request", **{**fields, "batch_size": None, "flagged": None})
    elif case == "json_message":
        record = _record('{"already": "json"}', **fields)  # Powertools logs it as an object
    elif case == "args":
        record = _record("loaded %s in %d ms", ("claims-fraud", 12))
    elif case == "exception":
        try:
            raise ValueError("boom")
        except ValueError:
            record = _record("request", exc_info=sys.exc_info(), **fields)
    else:
        record = _record("request", **fields)
    if case == "trace":
        monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    with contextlib.ExitStack() as stack:
        if case == "context":
            stack.enter_context(logger.append_context_keys(tenant="t-1"))
        if case == "appended":
            logger.append_keys(stage="test")
            stack.callback(logger.remove_keys, ["stage"])
        cheap = formatter.format(record)
        own = LambdaPowertoolsFormatter.format(formatter, record)
    assert cheap == own
    line = json.loads(cheap)
    assert line["location"] == "caller:42" and "timestamp" in line
    if case == "plain":
        assert list(line)[:5] == ["level", "location", "message", "timestamp", "service"]
    if case == "trace":
        assert line["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    if case in ("context", "appended"):
        assert line.get("tenant", line.get("stage")) in ("t-1", "test")
