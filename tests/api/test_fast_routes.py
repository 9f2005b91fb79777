"""The scoring routes' short cuts answer exactly as the router and Mangum's own cycle do.

``POST /v1/score`` and ``POST /invocations`` go past FastAPI's router (``RequestLogMiddleware``'s
``direct`` table) and, on Lambda, run without a turn of the event loop
(:class:`lambda_api.eager.EagerCycle`). Here the same events go through a handler with both
short cuts and through one with neither (the code path before them), and the answers and log
lines must be identical: status, headers, body, every field of the line but its latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import load_event
from tests.api.test_lambda_events import FakeLambdaContext

EVENTS = [
    "function_url_score.json",
    "function_url_score_base64.json",
    "apigw_http_v2_score.json",
    "apigw_rest_v1_score.json",
    "alb_score.json",
    "alb_multi_value_score.json",
    "vpc_lattice_v1_score.json",
    "vpc_lattice_v2_score.json",
]


def _log_middleware(app: Any) -> Any:
    from lambda_api.logs import RequestLogMiddleware

    if app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()
    layer = app.middleware_stack
    while not isinstance(layer, RequestLogMiddleware):
        layer = layer.app
    return layer


@pytest.fixture(scope="module")
def handlers(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """(with the short cuts, without them): two handlers over one loaded model."""
    from lambda_api.app import SCORE_ROUTES, create_app
    from lambda_api.events import LambdaEntry
    from lambda_api.loader import ModelHolder

    cache = tmp_path_factory.mktemp("cache")
    holder = ModelHolder.load({"MODEL_URI": str(artifact_dir), "MODEL_CACHE_DIR": str(cache)})
    assert holder.loaded, holder.reason
    fast = LambdaEntry(create_app(holder), eager=SCORE_ROUTES)
    assert fast.eager == set(SCORE_ROUTES) == set(_log_middleware(fast.app).direct)
    slow_app = create_app(holder)
    _log_middleware(slow_app).direct = {}
    return fast, LambdaEntry(slow_app)


@contextlib.contextmanager
def _lines() -> Iterator[io.StringIO]:
    from lambda_api.logs import configure_logging

    stream = io.StringIO()
    configure_logging("INFO", stream)
    try:
        yield stream
    finally:
        configure_logging("INFO")


def _answer_and_line(handler: Any, event: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    with _lines() as stream:
        answer = handler(json.loads(json.dumps(event)), FakeLambdaContext())
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    for key in ("latency_ms", "timestamp"):
        line.pop(key)
    return answer, line


def _same(handlers: tuple[Any, Any], event: dict[str, Any]) -> dict[str, Any]:
    fast, slow = handlers
    got, got_line = _answer_and_line(fast, event)
    want, want_line = _answer_and_line(slow, event)
    assert got == want
    assert got_line == want_line
    return got


def _with_path(event: dict[str, Any], path: str) -> dict[str, Any]:
    """``event`` addressed to ``path`` (every integration keeps it in its own place)."""
    event = json.loads(json.dumps(event))
    if "rawPath" in event:
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
    elif "raw_path" in event:
        event["raw_path"] = path
    else:
        event["path"] = path
    return event


BODIES: list[Any] = [
    b'{"claims": [{"claim_id": 1, "claim_amount": "lots"}]}',  # 422, the field named
    b'{"claims": [{"claim_id": "c1", "colour": "red"}]}',  # unknown field
    b'{"claims": []}',
    b"{not json",
    b"",
    b'{"claims": {"a": 1}}',
    b"[1, 2, 3]",
]


@pytest.mark.parametrize("name", EVENTS)
def test_claims_score_identically(
    handlers: tuple[Any, Any], sample_claims: list[dict[str, Any]], name: str
) -> None:
    for rows in (1, 3):
        answer = _same(handlers, load_event(name, {"claims": sample_claims[:rows]}))
        assert answer["statusCode"] == 200


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("name", ["function_url_score.json", "apigw_rest_v1_score.json"])
def test_refusals_are_identical(handlers: tuple[Any, Any], name: str, body: bytes) -> None:
    assert _same(handlers, load_event(name, body))["statusCode"] >= 400


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "text/plain"},
        {"content-type": "application/json; charset=latin-1"},
        {"content-type": "application/json", "content-length": "999999999"},
        {"content-type": "application/json", "content-length": "twelve"},
        {},
    ],
)
def test_header_checks_are_identical(
    handlers: tuple[Any, Any], sample_claims: list[dict[str, Any]], headers: dict[str, str]
) -> None:
    event = load_event("function_url_score.json", {"claims": sample_claims[:1]})
    event["headers"] = {**headers, "host": event["headers"]["host"]}
    _same(handlers, event)


@pytest.mark.parametrize("path", ["/invocations", "/v1/score/", "/v1/scores", "/V1/score"])
def test_other_paths_answer_as_the_router_does(
    handlers: tuple[Any, Any], sample_claims: list[dict[str, Any]], path: str
) -> None:
    event = _with_path(load_event("function_url_score.json", {"claims": sample_claims[:2]}), path)
    _same(handlers, event)


def test_get_on_the_scoring_path_is_a_405_as_before(handlers: tuple[Any, Any]) -> None:
    event = load_event("function_url_score.json")
    event["requestContext"]["http"]["method"] = "GET"
    assert _same(handlers, event)["statusCode"] == 405


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_claims_answer_identically(
    handlers: tuple[Any, Any], sample_claims: list[dict[str, Any]], data: st.DataObject
) -> None:
    claims = [dict(c) for c in sample_claims[: data.draw(st.integers(1, 4))]]
    for claim in claims:
        for key in data.draw(st.lists(st.sampled_from(sorted(claim)), max_size=3)):
            if data.draw(st.booleans()):
                claim.pop(key, None)
            else:
                claim[key] = data.draw(_VALUES)
    _same(handlers, load_event("function_url_score.json", {"claims": claims}))


# -- the eager cycle itself ---------------------------------------------------------------------
async def _app_that_waits(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that really waits (a sleep, a future resolved by the loop) before answering."""
    message = await receive()
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.call_soon(future.set_result, b"!")
    tail = await future
    await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
    await send({"type": "http.response.body", "body": message["body"] + tail})


async def _app_that_fails(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(0)
    raise RuntimeError("boom")


def test_the_eager_cycle_finishes_an_app_that_waits_on_the_loop() -> None:
    from mangum.protocols import HTTPCycle

    from lambda_api.eager import EagerCycle

    scope = {"type": "http", "method": "POST", "path": "/"}
    got = EagerCycle(scope, b"body")(_app_that_waits)
    assert got == HTTPCycle(scope, b"body")(_app_that_waits)
    assert got == {"status": 201, "headers": [(b"x-a", b"1")], "body": b"body!"}


def test_the_eager_cycle_answers_a_failure_as_mangum_does() -> None:
    from mangum.protocols import HTTPCycle

    from lambda_api.eager import EagerCycle

    scope = {"type": "http", "method": "POST", "path": "/"}
    got = EagerCycle(scope, b"")(_app_that_fails)
    assert got == HTTPCycle(scope, b"")(_app_that_fails)
    assert got["status"] == 500


def test_the_eager_cycle_leaves_no_running_loop_and_no_context_changes() -> None:
    import contextvars

    from lambda_api.eager import EagerCycle

    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="outside")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        marker.set("inside")  # a task's context is a copy: this must not leak out
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    assert EagerCycle({"type": "http", "method": "GET", "path": "/"}, b"")(app)["status"] == 200
    assert marker.get() == "outside"
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
