"""One JSON line per request (Powertools ``Logger``) and its metrics (``lambda_api.telemetry``).

The line holds: request id, method, path, status, latency, batch size, claims flagged, model
version, the Lambda event kind. It never carries a claim's fields: the middleware sees only
the ASGI scope (method, path) and what the scoring route records in ``scope["state"]`` (batch
size, flagged count, model version). Bodies, query strings and headers are never logged, so
personal columns cannot leak through here; an exception is logged by its type only.

The library's ``fraud_mlops.api`` logger (model loading) writes through the same Powertools
handler and formatter, so every line of the function's log has one structure.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import orjson
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import (
    RESERVED_LOG_ATTRS,
    LambdaPowertoolsFormatter,
    _get_context,
)

from lambda_api import telemetry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOGGER_NAME = "fraud_mlops.api"
SERVICE = "fraud-scoring"
MAX_LOGGED_PATH = 256
INTERNAL_ERROR_START = {
    "type": "http.response.start",
    "status": 500,
    "headers": [(b"content-type", b"application/json")],
}
INTERNAL_ERROR_BODY = {
    "type": "http.response.body",
    "body": b'{"detail":"internal error: the request id in x-request-id finds it in the log",'
    b'"errors":[]}',
}
# One handler for the process; configure_logging() only re-points its stream.
_handler = logging.StreamHandler(sys.stdout)


def _dumps(entry: dict[str, Any]) -> str:
    # orjson instead of json.dumps: cheaper on every line; str() for the odd value
    return orjson.dumps(entry, default=str).decode()


_RESERVED = frozenset(RESERVED_LOG_ATTRS)


class _Formatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with a cheaper path for plain records: the same line.

    Every request writes one line, and Powertools' ``format`` (a copy of the record's dict, a
    ``strftime`` per line, a comprehension over every record attribute, three exception probes)
    cost about as much as a trivial request. For a record with a ``str`` message that is not
    JSON, no arguments, no exception (so no stack trace either) and the default time format,
    this builds the identical dict (same keys, same order, ``None`` dropped) with the date and
    time formatted once per second; anything else goes through Powertools' own ``format``
    (tests/api/test_telemetry.py compares the two).
    """

    _second: tuple[int, str, str] = (-1, "", "")

    _text_messages: frozenset[str] = frozenset()

    def _plain(self, record: logging.LogRecord) -> bool:
        if not (
            record.exc_info is None
            and not record.args
            and record.stack_info is None
            and type(record.msg) is str
            and not self.use_rfc3339_iso8601
            and not self.datefmt
        ):
            return False
        if record.msg in self._text_messages:
            return True
        # Powertools JSON-decodes a str message ('{"a": 1}' is logged as an object): the cheap
        # path takes only messages that are not JSON, learnt once each ("request", ...).
        try:
            self.json_deserializer(record.msg)
        except (ValueError, TypeError):
            if len(self._text_messages) < 64:
                self._text_messages = self._text_messages | {record.msg}
            return True
        return False

    def _asctime(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            head, tail = self.default_time_format.split(self.custom_ms_time_directive)
            stamp = self.converter(record.created)
            cached = self._second = (second, time.strftime(head, stamp), time.strftime(tail, stamp))
        return f"{cached[1]}{int(record.msecs):03d}{cached[2]}"

    def format(self, record: logging.LogRecord) -> str:
        if not self._plain(record):
            return super().format(record)
        attrs = record.__dict__
        attrs["asctime"] = self._asctime(record)
        line: dict[str, Any] = {}
        for keys in (self.log_format, _get_context().get()):
            for key, value in keys.items():
                line[key] = value % attrs if value and key in _RESERVED else value
        for key, value in attrs.items():
            if key not in _RESERVED:
                line[key] = value
        line["message"] = record.msg
        # (no exception: Powertools' exception keys would be None, and None values are dropped)
        line["xray_trace_id"] = self._get_latest_trace_id()
        return self.serialize({k: v for k, v in line.items() if v is not None})


logger = Logger(
    service=SERVICE,
    logger_handler=_handler,
    logger_formatter=_Formatter(json_serializer=_dumps),
)


class _FlattenFields(logging.Filter):
    """``extra={"fields": {...}}`` (the library's convention) -> top-level keys of the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__.pop("fields", None)
        if fields:
            record.__dict__.update(fields)
        return True


_library = logging.getLogger(LOGGER_NAME)
_library.addFilter(_FlattenFields())


def configure_logging(
    level: str = "INFO", stream: Any = None, service: str | None = None
) -> Logger:
    """Send the API's log lines to ``stream`` (default stdout) at ``level``; idempotent."""
    # not setStream(): it flushes the old stream, which a test harness may have closed already
    _handler.stream = stream or sys.stdout
    logger.setLevel(level)
    if service:
        logger.append_keys(service=service)
    _library.handlers[:] = [_handler]
    _library.setLevel(level)
    # Lambda's runtime installs a root handler; without this every line would print twice.
    _library.propagate = False
    return logger


def request_id_of(scope: Scope) -> str:
    """The Lambda request id, else the event's, else X-Request-Id / X-Amzn-Trace-Id, else new."""
    context = scope.get("aws.context")
    rid = getattr(context, "aws_request_id", None)
    if rid:
        return str(rid)
    event = scope.get("aws.event")
    context_of_event = event.get("requestContext") if isinstance(event, dict) else None
    if isinstance(context_of_event, dict):
        rid = context_of_event.get("requestId")
        if isinstance(rid, str | int) and rid and len(str(rid)) <= 128:
            return str(rid)
    headers = dict(scope.get("headers") or ())
    # An ALB event has no request id; its trace id identifies the request end to end.
    for key in (b"x-request-id", b"x-amzn-trace-id"):
        value = headers.get(key)
        if value and len(value) <= 128:
            return bytes(value).decode("latin-1")
    return uuid.uuid4().hex


def log_request(fields: dict[str, Any], scope: Scope) -> None:
    """Write the one line (and the metrics) that every request or refused event gets."""
    status = fields["status"]
    if status >= 500:
        logger.error("request", extra=fields)
    else:
        logger.info("request", extra=fields)
    if "warmup" not in fields:  # a keep-warm ping is not traffic
        telemetry.metrics.record(
            status, fields["latency_ms"], fields.get("batch_size") or 0, fields.get("flagged") or 0
        )


class RequestLogMiddleware:
    """Pure ASGI middleware (cheaper than ``BaseHTTPMiddleware``): times and logs each request.

    ``direct`` maps ``(method, path)`` to an ASGI endpoint that this middleware calls itself,
    past FastAPI's exception middleware, router and request handler: the scoring route, whose
    endpoint takes the raw request, raises no ``HTTPException`` and has no dependencies, so the
    router would only have matched the path and called the same function (about a sixth of a
    one-claim request). Only an exact path with no ``root_path`` goes direct; anything else
    (a trailing slash, another method, a mounted app) goes through the router as before.
    """

    def __init__(self, app: ASGIApp, direct: Mapping[tuple[str, str], ASGIApp] | None = None):
        self.app = app
        self.direct = direct if direct is not None else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = request_id_of(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        status = 0  # no response started yet

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            await send(message)

        target = self.app
        if self.direct and not scope.get("root_path"):
            target = self.direct.get((scope.get("method"), scope.get("path")), target)
        error = None
        try:
            await target(scope, receive, send_with_id)
        except Exception as exc:  # answered here: the server (or Mangum) never sees a traceback
            error = exc
            if not status:
                await send_with_id(dict(INTERNAL_ERROR_START))
                await send_with_id(dict(INTERNAL_ERROR_BODY))
        finally:
            path = scope.get("path")
            fields = {
                "request_id": rid,
                "method": scope.get("method"),
                "path": path if path is None or len(path) <= MAX_LOGGED_PATH else "(too long)",
                "status": status,
                "latency_ms": round((time.perf_counter() - start) * 1000, 3),
                "batch_size": state.get("batch_size"),
                "flagged": state.get("flagged"),
                "model_version": state.get("model_version"),
            }
            if "event_kind" in state:
                fields["event_kind"] = state["event_kind"]
            if "warmup" in state:
                fields["warmup"] = True
            if error is not None:
                # The type only: an exception message (or traceback) could quote claim data.
                fields["error"] = type(error).__name__
            fields["status"] = status or 500
            log_request(fields, scope)
