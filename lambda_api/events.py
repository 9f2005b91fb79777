"""Every Lambda event the function can receive, answered: scored, refused with a 400, or warmed up.

:class:`LambdaEntry` is the Lambda handler. It names the integration that sent the event
(:func:`classify`), checks the parts Mangum would trip over, and runs the ASGI app through
Mangum's handler for that integration:

* HTTP integrations: Function URL and HTTP API (payload 2.0, and 1.0), REST API, ALB (with the
  ``statusDescription`` ALB wants), VPC Lattice v1 and v2 (handlers here: Mangum has none),
  Lambda@Edge. ``"headers": null`` counts as no headers; a body flagged ``isBase64Encoded`` that
  is not base64 is a 400, like any event whose method, path or headers have the wrong type.
* Events that are HTTP-like but not requests this API serves (API Gateway WebSocket
  connect/message/disconnect, Lambda authorizer requests, an unrecognised ``requestContext``):
  a 400 in the API's error shape, naming the event kind.
* Everything else (the scheduled EventBridge warm-up ping, S3/SQS/SNS records, ``{}``, a list or a
  string from a test invocation): an internal ``GET /health`` whose answer is the warm-up
  document ``{"warmup": true, "statusCode", "headers", "body", "health", "event"}``.

Nothing raises: an event Mangum cannot translate is a 400, an app failure a 500, and each one is
logged as exactly one request line (``lambda_api.logs``) like every request the app answers.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Collection
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

import orjson
from mangum import Mangum
from mangum.handlers import ALB, APIGateway, HTTPGateway, LambdaAtEdge
from mangum.handlers.utils import get_server_and_port, handle_base64_response_body
from mangum.protocols import HTTPCycle

from lambda_api.eager import EagerCycle
from lambda_api.logs import log_request, request_id_of

WARMUP_PATH = "/health"
JSON_HEADERS = {"content-type": "application/json"}
HTTP_KINDS = ("http_v2", "rest_v1", "alb", "lattice_v1", "lattice_v2", "edge")
REFUSED = {
    "websocket": "API Gateway WebSocket events are not served: this function answers HTTP "
    "requests (Function URL, API Gateway HTTP/REST, ALB, VPC Lattice)",
    "authorizer": "this function is not a Lambda authorizer: point the API's authorizer at its "
    "own function",
    "unknown_http": "the event has a requestContext but is none of the HTTP integrations this "
    "function serves (Function URL, API Gateway HTTP/REST, ALB, VPC Lattice)",
}


class EventProblem(Exception):
    """An HTTP event that cannot be turned into a request; answered with a 400."""


def classify(event: Any) -> str:
    """The integration that sent ``event``: one of :data:`HTTP_KINDS`, a refused kind, or the
    source of a non-HTTP event (``eventbridge``, ``sqs``, ``s3`` …, else ``unknown``)."""
    if not isinstance(event, dict):
        return "unknown"
    if event.get("type") in ("REQUEST", "TOKEN") and ("methodArn" in event or "routeArn" in event):
        return "authorizer"
    context = event.get("requestContext")
    if isinstance(context, dict):
        if "elb" in context:
            return "alb"
        if "connectionId" in context or "eventType" in context:
            return "websocket"
        if "serviceNetworkArn" in context or "serviceArn" in context:
            return "lattice_v2"
        if event.get("version") == "2.0" and "http" in context:
            return "http_v2"
        if "httpMethod" in event:
            return "rest_v1"  # REST API, and HTTP API payload 1.0
        return "unknown_http"
    if "requestContext" in event:
        return "unknown_http"
    if "raw_path" in event and "method" in event:
        return "lattice_v1"
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        if "cf" in records[0]:
            return "edge"
        source = records[0].get("eventSource") or records[0].get("EventSource") or "records"
        return str(source).removeprefix("aws:")[:32]
    if "detail-type" in event:
        return "eventbridge"
    return "unknown"


# -- checks before Mangum ---------------------------------------------------------------------
def _decoded_body(event: dict[str, Any], body_key: str, flag_key: str) -> bytes:
    body = event.get(body_key)
    if body is None or body == "":
        return b""
    if not isinstance(body, str):
        raise EventProblem(f"the event's {body_key!r} is not a string")
    if not event.get(flag_key):
        return body.encode()
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise EventProblem(
            f"the event's body is flagged {flag_key}=true but is not valid base64"
        ) from None


def _string_map(value: Any, what: str, *, lists: bool = False) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventProblem(f"the event's {what} is not an object")
    for key, item in value.items():
        ok = isinstance(item, str) or (lists and isinstance(item, list))
        if not ok or (
            lists and isinstance(item, list) and not all(isinstance(v, str) for v in item)
        ):
            raise EventProblem(f"the event's {what} hold a value that is not a string")
        if not isinstance(key, str):
            raise EventProblem(f"the event's {what} hold a key that is not a string")
    return value


def _require_str(event: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if not isinstance(event.get(key), str):
            raise EventProblem(f"the event has no {key!r} string")


def prepare(kind: str, event: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy of ``event`` that Mangum can translate, its body already decoded."""
    event = dict(event)
    if kind in ("http_v2", "rest_v1", "alb"):
        event["headers"] = _string_map(event.get("headers"), "headers")
        if "multiValueHeaders" in event:
            event["multiValueHeaders"] = _string_map(
                event["multiValueHeaders"], "multiValueHeaders", lists=True
            )
        event["body"] = _decoded_body(event, "body", "isBase64Encoded")
        event["isBase64Encoded"] = False
        if kind == "http_v2":
            http = event["requestContext"]["http"]
            if not isinstance(http, dict):
                raise EventProblem("the event's requestContext.http is not an object")
            _require_str(http, "method", "path")
            if not isinstance(event.get("rawQueryString") or "", str):
                raise EventProblem("the event's rawQueryString is not a string")
        else:
            _require_str(event, "httpMethod", "path")
            for key in ("queryStringParameters", "multiValueQueryStringParameters"):
                if event.get(key) is not None:
                    _string_map(event[key], key, lists=key.startswith("multi"))
            if kind == "rest_v1" and not isinstance(event["requestContext"].get("identity"), dict):
                event["requestContext"] = {**event["requestContext"], "identity": {}}
    elif kind == "lattice_v1":
        _require_str(event, "method", "raw_path")
        event["headers"] = _string_map(event.get("headers"), "headers")
        _string_map(event.get("query_string_parameters"), "query_string_parameters")
        event["body"] = _decoded_body(event, "body", "is_base64_encoded")
    elif kind == "lattice_v2":
        _require_str(event, "method", "path")
        event["headers"] = _string_map(event.get("headers"), "headers", lists=True)
        for key in ("queryStringParameters", "query_string_parameters"):
            _string_map(event.get(key), key, lists=True)
        event["body"] = _decoded_body(event, "body", "isBase64Encoded")
    return event


# -- Mangum handlers for what Mangum lacks ------------------------------------------------------
def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


class _ScopeOnce:
    """Mangum's handlers rebuild the scope when answering; build it once per event instead."""

    _scope: dict[str, Any] | None = None

    @property
    def scope(self) -> dict[str, Any]:
        if self._scope is None:
            self._scope = super().scope  # type: ignore[misc]
        return self._scope


class HttpV2(_ScopeOnce, HTTPGateway):
    """Mangum's HTTP API / Function URL handler, scope built once."""


class AlbWithStatus(_ScopeOnce, ALB):
    """Mangum's ALB handler plus the ``statusDescription`` ALB documents for every answer."""

    def __call__(self, response: Any) -> dict[str, Any]:
        out = super().__call__(response)
        out["statusDescription"] = _status_line(out["statusCode"])
        return out


class _Lattice:
    """VPC Lattice: request headers (v2: lists of values), a single-valued answer."""

    path_key = "path"
    query_key = "queryStringParameters"

    def __init__(self, event: dict[str, Any], context: Any, config: Any) -> None:
        self.event = event
        self.context = context
        self.config = config

    @classmethod
    def infer(cls, event: Any, context: Any, config: Any) -> bool:  # Mangum's protocol
        return False  # chosen by classify(), never by Mangum's inference

    @property
    def body(self) -> bytes:
        return self.event["body"]

    @property
    def scope(self) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for key, value in self.event["headers"].items():
            headers[key.lower()] = ", ".join(value) if isinstance(value, list) else value
        path, _, raw_query = self.event[self.path_key].partition("?")
        params = self.event.get(self.query_key) or self.event.get("query_string_parameters")
        query = urlencode(params, doseq=True) if params else raw_query
        return {
            "type": "http",
            "http_version": "1.1",
            "method": self.event["method"],
            "headers": [[k.encode(), v.encode()] for k, v in headers.items()],
            "path": path or "/",
            "raw_path": None,
            "root_path": "",
            "scheme": headers.get("x-forwarded-proto", "https"),
            "query_string": query.encode(),
            "server": get_server_and_port({"host": headers.get("host", "lattice")}),
            "client": (headers.get("x-forwarded-for", ""), 0),
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "aws.event": self.event,
            "aws.context": self.context,
        }

    def __call__(self, response: Any) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for key, value in response["headers"]:
            name = key.decode().lower()
            headers[name] = (
                f"{headers[name]},{value.decode()}" if name in headers else value.decode()
            )
        body, is_base64 = handle_base64_response_body(
            response["body"], headers, self.config["text_mime_types"]
        )
        return {
            "statusCode": response["status"],
            "statusDescription": _status_line(response["status"]),
            "headers": headers,
            "body": body,
            "isBase64Encoded": is_base64,
        }


class LatticeV1(_Lattice):
    path_key = "raw_path"
    query_key = "query_string_parameters"


class LatticeV2(_Lattice):
    pass


class WarmupPing:
    """Any non-HTTP event: an internal ``GET /health``, answered as the warm-up document."""

    def __init__(self, event: Any, context: Any, config: Any, kind: str = "unknown") -> None:
        self.event = event
        self.context = context
        self.config = config
        self.kind = kind

    @property
    def body(self) -> bytes:
        return b""

    @property
    def scope(self) -> dict[str, Any]:
        return {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "headers": [],
            "path": WARMUP_PATH,
            "raw_path": None,
            "root_path": "",
            "scheme": "https",
            "query_string": b"",
            "server": ("lambda", 443),
            "client": None,
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "aws.event": self.event if isinstance(self.event, dict) else {},
            "aws.context": self.context,
            "state": {"warmup": True, "event_kind": self.kind},
        }

    def __call__(self, response: Any) -> dict[str, Any]:
        raw = response["body"] or b"null"
        try:
            health = orjson.loads(raw)
        except orjson.JSONDecodeError:
            health = None
        return {
            "warmup": True,
            "event": self.kind,
            "statusCode": response["status"],
            "headers": dict(JSON_HEADERS),
            "body": raw.decode("utf-8", "replace"),
            "health": health,
        }


HANDLERS: dict[str, Any] = {
    "http_v2": HttpV2,
    "rest_v1": APIGateway,
    "alb": AlbWithStatus,
    "lattice_v1": LatticeV1,
    "lattice_v2": LatticeV2,
    "edge": LambdaAtEdge,
}


def error_answer(kind: str, event: Any, status: int, detail: str, rid: str) -> dict[str, Any]:
    """An answer in the API's error shape that the integration ``kind`` can return."""
    body = orjson.dumps(
        {"detail": detail, "errors": [{"field": "event", "message": detail, "type": kind}]}
    ).decode()
    headers = {**JSON_HEADERS, "x-request-id": rid}
    out: dict[str, Any] = {
        "statusCode": status,
        "headers": headers,
        "body": body,
        "isBase64Encoded": False,
    }
    if kind in ("alb", "lattice_v1", "lattice_v2"):
        out["statusDescription"] = _status_line(status)
    if kind == "rest_v1" or (
        kind == "alb" and isinstance(event, dict) and "multiValueHeaders" in event
    ):
        out["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        if kind == "alb":
            del out["headers"]
    return out


class LambdaEntry:
    """The Lambda handler: ``handler(event, context)`` always returns an answer, never raises."""

    def __init__(self, app: Any, eager: Collection[tuple[str, str]] = ()) -> None:
        # Mangum for its configuration (text MIME types) and its event loop; lifespan off,
        # because Mangum would otherwise run the ASGI lifespan on every invocation.
        self.mangum = Mangum(app, lifespan="off")
        self.app = app
        self.config = self.mangum.config
        # (method, path) of routes that never wait: run without a loop turn (lambda_api.eager)
        self.eager = frozenset(eager)

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        start = time.perf_counter()
        kind = classify(event)
        if kind in REFUSED:
            return self._refuse(kind, event, context, REFUSED[kind], start)
        try:
            if kind in HANDLERS:
                handler = HANDLERS[kind](prepare(kind, event), context, self.config)
            else:
                handler = WarmupPing(event, context, self.config, kind)
            scope = handler.scope
        except EventProblem as exc:
            return self._refuse(kind, event, context, f"malformed {kind} event: {exc}", start)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            detail = f"malformed {kind} event: Mangum cannot read it ({type(exc).__name__})"
            return self._refuse(kind, event, context, detail, start)
        scope.setdefault("state", {})["event_kind"] = kind
        route = (scope.get("method"), scope.get("path"))
        cycle = EagerCycle if route in self.eager and not scope.get("root_path") else HTTPCycle
        response = cycle(scope, handler.body)(self.app)
        try:
            return handler(response)
        except Exception as exc:  # translating the app's answer back: a bug here, not the input
            rid = scope["state"].get("request_id") or request_id_of(scope)
            fields = {"request_id": rid, "status": 500, "event_kind": kind}
            fields["latency_ms"] = round((time.perf_counter() - start) * 1000, 3)
            fields["error"] = type(exc).__name__
            log_request(fields, scope)
            return error_answer(kind, event, 500, "internal error answering the event", rid)

    def _refuse(
        self, kind: str, event: Any, context: Any, detail: str, start: float
    ) -> dict[str, Any]:
        scope = {"aws.context": context, "aws.event": event if isinstance(event, dict) else {}}
        rid = request_id_of(scope)
        log_request(
            {
                "request_id": rid,
                "method": None,
                "path": None,
                "status": 400,
                "latency_ms": round((time.perf_counter() - start) * 1000, 3),
                "event_kind": kind,
                "error": "bad_event",
            },
            scope,
        )
        return error_answer(kind, event, 400, detail, rid)
