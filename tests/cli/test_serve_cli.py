"""``fraud-mlops serve`` and ``score`` against real servers on 127.0.0.1.

``score`` talks to the real app under uvicorn; SigV4 signing is checked by a capture server on
127.0.0.1 that recomputes the signature of what it received with botocore.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fraud_mlops.cli import main
from tests.api.conftest import build_artifact, claims_json

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not become healthy")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The API tests' small real artifact (random MLP, fitted preprocessing) and its claims."""
    root = tmp_path_factory.mktemp("artifact")
    frame = build_artifact(root / "model")
    return root / "model", frame


@pytest.fixture(scope="module")
def api_url(model: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn in a thread, on a free port."""
    import uvicorn

    from lambda_api.app import create_app
    from lambda_api.loader import ModelHolder

    cache = tmp_path_factory.mktemp("cache")
    # no EMF metrics: the server shares this process's stdout with the CLI output under test
    env = {"MODEL_URI": str(model[0]), "MODEL_CACHE_DIR": str(cache)}
    holder = ModelHolder.load({**env, "POWERTOOLS_METRICS_DISABLED": "true"})
    port = _free_port()
    config = uvicorn.Config(create_app(holder), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def claims_file(model: tuple[Path, Any], tmp_path: Path) -> Path:
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(claims_json(model[1], 7)))
    return path


def test_score_posts_in_batches_and_keeps_order(
    api_url: str, claims_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "scores.json"
    code = main(
        ["score", "--file", str(claims_file), "--url", api_url, "--batch-size", "3",
         "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    results = json.loads(out.read_text())["results"]
    sent = json.loads(claims_file.read_text())
    assert [r["id"] for r in results] == [c["claim_id"] for c in sent]
    assert "scored 7 claims" in capsys.readouterr().err


def test_score_reads_jsonl_and_prints_to_stdout(
    api_url: str, claims_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lines = tmp_path / "claims.jsonl"
    lines.write_text("\n".join(json.dumps(c) for c in json.loads(claims_file.read_text())))
    assert main(["score", "--file", str(lines), "--url", api_url]) == 0
    assert len(json.loads(capsys.readouterr().out)["results"]) == 7


def test_server_refusal_is_a_clear_error(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"claim_id": "c1", "claim_amount": -3}]))
    assert main(["score", "--file", str(bad), "--url", api_url]) == 2
    err = capsys.readouterr().err
    assert "answered 422" in err and "claims[0].claim_amount" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "does not exist"), ("{oops", "not valid JSON"), ("[]", "holds no claims"),
     ('{"a": 1}', "expected a list of claim objects")],
)  # fmt: skip
def test_bad_claims_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: str | None, fragment: str
) -> None:
    path = tmp_path / "claims.json"
    if content is not None:
        path.write_text(content)
    assert main(["score", "--file", str(path)]) == 2
    assert fragment in capsys.readouterr().err


def test_unreachable_api_says_how_to_start_one(
    claims_file: Path, capsys: pytest.CaptureFixture
) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    assert main(["score", "--file", str(claims_file), "--url", url, "--timeout", "5"]) == 2
    assert "fraud-mlops serve" in capsys.readouterr().err


class _Capture(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Capture.seen.append(
            {"path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        answer = json.dumps({"model_version": "v-test", "results": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


def test_iam_auth_signs_with_sigv4_for_lambda(
    claims_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Capture.seen.clear()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        code = main(
            ["score", "--file", str(claims_file), "--url", url, "--auth", "iam",
             "--region", "eu-west-1"]
        )  # fmt: skip
    finally:
        server.shutdown()
    assert code == 0 and len(_Capture.seen) == 1
    got = _Capture.seen[0]
    authz = got["headers"]["Authorization"]
    scope = f"AKIDEXAMPLE/{got['headers']['X-Amz-Date'][:8]}/eu-west-1/lambda/aws4_request"
    assert authz.startswith(f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=")
    # Recompute the signature over what actually arrived: it must match.
    signed = authz.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {k: v for k, v in got["headers"].items() if k.lower() in signed}
    target = f"{url}{got['path']}"
    request = AWSRequest(method="POST", url=target, data=got["body"], headers=headers)
    request.context["timestamp"] = got["headers"]["X-Amz-Date"]
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # AWS's documentation example key
    auth = SigV4Auth(Credentials("AKIDEXAMPLE", secret), "lambda", "eu-west-1")
    string_to_sign = auth.string_to_sign(request, auth.canonical_request(request))
    assert authz.endswith(f"Signature={auth.signature(string_to_sign, request)}")


def test_function_url_region_comes_from_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from fraud_mlops.cli.serve import _is_function_url, _region

    host = "abcdefghij0123456789abcdefghij01.lambda-url.ap-southeast-2.on.aws"
    assert _is_function_url(host)
    assert _region(argparse.Namespace(region=None), host) == "ap-southeast-2"
    assert not _is_function_url("127.0.0.1")


@pytest.mark.timeout(120)
def test_serve_without_a_champion_exits_2(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MODEL_URI", raising=False)
    monkeypatch.setenv("MODEL_STORE_URI", str(tmp_path / "empty-store"))
    assert main(["serve", "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert "not serving" in err and "no champion" in err


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_serve_runs_the_champion_and_score_reaches_it(
    model: tuple[Path, Any], claims_file: Path, tmp_path: Path
) -> None:
    """The real command in a subprocess: publish a champion, serve it, score through it."""
    from fraud_mlops.store import ModelStore

    artifact_dir = model[0]
    store = ModelStore(str(tmp_path / "models"))
    version = json.loads((artifact_dir / "manifest.json").read_text())["version"]
    store.publish(artifact_dir, "claims-fraud", version)
    store.set_champion("claims-fraud", version, gate={}, metrics={})
    port = _free_port()
    env = {
        **os.environ,
        "MODEL_STORE_URI": str(tmp_path / "models"),
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("MODEL_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fraud_mlops.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        health = _wait_healthy(url, proc)
        assert health["model_version"] == version
        done = subprocess.run(
            [sys.executable, "-m", "fraud_mlops.cli", "score", "--file", str(claims_file),
             "--url", url],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)["results"]) == 7
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
