"""Lambda events that are not HTTP requests.

Mangum understands Function URL / API Gateway v1 and v2 / ALB / Lambda@Edge events and raises on
anything else. A scheduled EventBridge rule that keeps the function warm sends a plain event
(``{"source": "aws.events", "detail-type": "Scheduled Event", …}``): :class:`WarmupPing` turns any
such event into an internal ``GET /health``, so the ping loads the model, is logged like any
request, and returns the health document instead of failing the invocation.
"""

from __future__ import annotations

import json
from typing import Any

WARMUP_PATH = "/health"


def _is_http_event(event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    if "requestContext" in event:  # Function URL, API Gateway v1/v2, ALB
        return True
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        return False
    return isinstance(records[0], dict) and "cf" in records[0]  # Lambda@Edge


class WarmupPing:
    """A Mangum handler for non-HTTP events: answers with the health document."""

    @classmethod
    def infer(cls, event: Any, context: Any, config: Any) -> bool:
        return not _is_http_event(event)

    def __init__(self, event: Any, context: Any, config: Any) -> None:
        self.event = event
        self.context = context
        self.config = config

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
            "state": {"warmup": True},
        }

    def __call__(self, response: dict[str, Any]) -> dict[str, Any]:
        try:
            health = json.loads(response["body"] or b"null")
        except ValueError:
            health = None
        return {"warmup": True, "statusCode": response["status"], "health": health}
