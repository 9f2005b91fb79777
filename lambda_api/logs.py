"""One JSON line per request: request id, route, status, latency, batch size, model version.

The log never carries a claim's fields: the middleware sees only the ASGI scope (method, path)
and what the scoring route records in ``scope["state"]`` (batch size, model version). Bodies,
query strings and headers are never logged, so personal columns cannot leak through here.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOGGER_NAME = "fraud_mlops.api"
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
logger = logging.getLogger(LOGGER_NAME)


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object; structured fields come from ``extra={"fields": …}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> logging.Logger:
    """Give the API logger one JSON handler (idempotent; Lambda reuses the process)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    # Lambda's runtime installs a root handler; without this every line would print twice.
    logger.propagate = False
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
    """Write the one line that every request or refused event gets."""
    level = logging.ERROR if fields["status"] >= 500 else logging.INFO
    logger.log(level, "request", extra={"fields": fields})


class RequestLogMiddleware:
    """Pure ASGI middleware (cheaper than ``BaseHTTPMiddleware``): times and logs each request."""

    def __init__(self, app: ASGIApp):
        self.app = app

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

        error = None
        try:
            await self.app(scope, receive, send_with_id)
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
