"""Hostile and odd requests: bounded error bodies, strict media types, duplicate ids, unknown
routes, and the body-size limit enforced while streaming under uvicorn (the container server)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

JSON_HEADERS = {"content-type": "application/json"}


def _post_raw(client: Any, body: bytes, content_type: str = "application/json") -> Any:
    return client.post("/v1/score", content=body, headers={"content-type": content_type})


def test_a_four_megabyte_unknown_key_is_not_echoed(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    key = "k" * 4_000_000
    body = json.dumps({"claims": [{**sample_claims[0], key: 1}]}).encode()
    assert len(body) < 4_096_000  # under the body limit: validation itself must answer
    response = _post_raw(make_client(), body)
    assert response.status_code == 422
    assert len(response.content) < 2_000, len(response.content)
    problem = response.json()["errors"][0]
    assert problem["type"] == "extra_forbidden"
    assert problem["field"].startswith("claims[0].kkkk") and "4,000,000 chars" in problem["field"]


def test_many_problems_give_a_bounded_list(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    claims = [
        {**c, "claim_id": f"C{i}", **{f"unknown_{j}_{'x' * 80}": 1 for j in range(30)}}
        for i, c in enumerate(sample_claims * 20)
    ]
    response = _post_raw(make_client(), json.dumps({"claims": claims}).encode())
    assert response.status_code == 422
    body = response.json()
    assert len(body["errors"]) == 20
    # 1,000 claims x 30 unknown keys, all counted, 20 listed
    assert "(and 29999 more problem(s), 19 listed in 'errors')" in body["detail"]
    assert len(response.content) < 20_000


def test_scorer_problems_are_bounded_too(
    make_client: Any, sample_claims: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scorer refusal (e.g. dates not in the schema's format, listing row numbers) is cut."""
    from fraud_mlops.errors import DataValidationError
    from fraud_mlops.scoring import Scorer

    client = make_client()
    rows = ", ".join(str(i) for i in range(5000))

    def refuse(self: Any, columns: Any) -> Any:
        raise DataValidationError("claims", [f"column 'd': bad dates (row(s) {rows})"] * 500)

    monkeypatch.setattr(Scorer, "score", refuse)
    response = _post_raw(client, json.dumps({"claims": sample_claims[:2]}).encode())
    assert response.status_code == 422
    body = response.json()
    assert len(body["errors"]) == 20 and len(body["detail"]) <= 300
    assert all(len(e["message"]) <= 300 for e in body["errors"])
    assert len(response.content) < 10_000


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        'Application/JSON; charset="UTF-8"',
        "application/vnd.api+json",
        "application/problem+json ; q=1",
    ],
)
def test_json_media_types_are_accepted(
    make_client: Any, sample_claims: list[dict[str, Any]], content_type: str
) -> None:
    body = json.dumps({"claims": sample_claims[:1]}).encode()
    assert _post_raw(make_client(), body, content_type).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "fragment"),
    [
        ("application/xml; x=json", "is not JSON"),
        ("text/json", "is not JSON"),
        ("application/jsonx", "is not JSON"),
        ('text/plain; note="application/json"', "is not JSON"),
        ("text/plain; note=application/json", "not a media type"),
        ("application/json garbage", "not a media type"),
        ("json", "not a media type"),
        ("application/json; charset=latin-1", "charset 'latin-1'"),
        ("application/x-www-form-urlencoded", "is not JSON"),
    ],
)
def test_other_media_types_are_415(
    make_client: Any, sample_claims: list[dict[str, Any]], content_type: str, fragment: str
) -> None:
    body = json.dumps({"claims": sample_claims[:1]}).encode()
    response = _post_raw(make_client(), body, content_type)
    assert response.status_code == 415, response.text
    assert fragment in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "headers.content-type"


def test_a_long_content_type_is_not_echoed(make_client: Any) -> None:
    response = _post_raw(make_client(), b"{}", "text/" + "x" * 5000)
    assert response.status_code == 415 and len(response.content) < 1_000


def test_duplicate_claim_ids_are_422_naming_them(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    a, b, c = sample_claims[:3]
    claims = [a, b, {**c, "claim_id": a["claim_id"]}, {**c, "claim_id": b["claim_id"]}, c]
    response = make_client().post("/v1/score", json={"claims": claims})
    assert response.status_code == 422
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["claims[2].claim_id", "claims[3].claim_id"]
    assert {e["type"] for e in body["errors"]} == {"duplicate_id"}
    assert "duplicate of claims[0].claim_id" in body["errors"][0]["message"]
    assert "duplicate of claims[1].claim_id" in body["errors"][1]["message"]
    assert (
        body["detail"].startswith("claims[2].claim_id: duplicate")
        and "2 duplicate" in body["detail"]
    )


def test_integer_and_integral_float_ids_are_the_same_id(
    make_client: Any, sample_claims: list[dict[str, Any]]
) -> None:
    claims = [{**sample_claims[0], "claim_id": 7}, {**sample_claims[1], "claim_id": 7.0}]
    response = make_client().post("/v1/score", json={"claims": claims})
    assert response.status_code == 422 and response.json()["errors"][0]["type"] == "duplicate_id"


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("POST", "/v2/score", 404, "not_found"),
        ("GET", "/" + "p" * 10_000, 404, "not_found"),
        ("GET", "/v1/score", 405, "method_not_allowed"),
        ("DELETE", "/health", 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_and_methods_use_the_error_shape(
    make_client: Any, method: str, path: str, status: int, kind: str
) -> None:
    response = make_client().request(method, path)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"detail", "errors"} and body["errors"][0]["type"] == kind
    assert "/v1/score" in body["detail"]  # says what the API does serve
    assert len(response.content) < 1_000
    if status == 405:
        assert "allow" in response.headers


# -- the size limit under uvicorn ----------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def uvicorn_port(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    import uvicorn

    from lambda_api.app import create_app
    from lambda_api.loader import ModelHolder

    env = {
        "MODEL_URI": str(artifact_dir),
        "MODEL_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        "MAX_BATCH_SIZE": "10",  # body limit: 65,536 bytes
        "POWERTOOLS_METRICS_DISABLED": "true",  # the server thread would print into the tests
    }
    holder = ModelHolder.load(env)
    assert holder.loaded and holder.service.max_body_bytes == 65_536
    port = _free_port()
    config = uvicorn.Config(create_app(holder), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def _status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _send_until_answered(port: int, head: bytes, chunks: Iterator[bytes]) -> tuple[int, int]:
    """Send ``head`` then ``chunks`` until the server answers; return (status, body bytes sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        answer = b""
        for chunk in chunks:
            with contextlib.suppress(BlockingIOError):
                answer += sock.recv(65_536)
            if answer:
                break
            try:
                sock.setblocking(True)
                sock.settimeout(5)
                sock.sendall(chunk)
                sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break  # the server stopped reading: it has answered or closed
            finally:
                sock.setblocking(False)
        sock.setblocking(True)
        sock.settimeout(20)
        while b"\r\n" not in answer:
            data = sock.recv(65_536)
            if not data:
                break
            answer += data
    return _status_of(answer), sent


TOTAL = 200 * 1024 * 1024  # the 200 MB body of the issue
CHUNK = 256 * 1024


def _chunked(total: int) -> Iterator[bytes]:
    piece = b" " * CHUNK
    for _ in range(total // CHUNK):
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


def test_a_declared_200_mb_body_is_refused_before_it_is_sent(uvicorn_port: int) -> None:
    head = (
        b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % TOTAL
    )
    status, sent = _send_until_answered(uvicorn_port, head, iter([b" " * CHUNK] * (TOTAL // CHUNK)))
    print(f"declared: {sent:,} body bytes sent before the 413")
    assert status == 413
    assert sent < 32 * 1024 * 1024, f"{sent:,} bytes went out before the 413"


def test_a_chunked_200_mb_body_is_refused_while_streaming(uvicorn_port: int) -> None:
    head = (
        b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    status, sent = _send_until_answered(uvicorn_port, head, _chunked(TOTAL))
    print(f"chunked: {sent:,} body bytes sent before the 413")
    assert status == 413
    # the limit is 64 KB; the rest is what socket buffers absorbed before the answer was read
    assert sent < 32 * 1024 * 1024, f"{sent:,} bytes went out before the 413"


def test_a_normal_request_still_scores_under_uvicorn(
    uvicorn_port: int, sample_claims: list[dict[str, Any]]
) -> None:
    import httpx

    response = httpx.post(
        f"http://127.0.0.1:{uvicorn_port}/v1/score",
        json={"claims": sample_claims[:3]},
        timeout=20,
    )
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3
