"""Score capture from the API (#14 item 4): one capture line per scored claim, to stdout and the
file sink, never failing a request; a round trip through uvicorn read back with parse_line."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from fraud_mlops import capture_format as cf
from fraud_mlops.schema import default_schema

SALT = "test-salt-0123456789"


def _lines(root: Path) -> list[dict]:
    files = sorted(root.rglob("*.jsonl")) if root.is_dir() else [root]
    out = []
    for file in files:
        for line in file.read_text().splitlines():
            rec = cf.parse_line(line)
            assert rec is not None, line[:80]
            out.append(rec)
    return out


def _post(client, claims):
    return client.post("/v1/score", json={"claims": claims})


def test_every_scored_claim_is_captured_in_the_lakehouse_layout(
    make_client, sample_claims, tmp_path, capsys
):
    sink = tmp_path / "lakehouse"
    client = make_client(CAPTURE_KEY_SALT=SALT, CAPTURE_SINK=str(sink))
    claims = sample_claims[:7]
    response = _post(client, claims)
    assert response.status_code == 200
    body = response.json()
    records = _lines(sink)
    assert len(records) == 7
    (folder,) = {p.parent for p in sink.rglob("*.jsonl")}
    version = body["model_version"]
    assert folder.relative_to(sink).as_posix() == cf.partition(records[0]["captured_at"], version)

    schema = default_schema()
    allowed = set(cf.capture_features(schema.scoring_columns, schema.personal, schema.id_column))
    for claim, result, rec in zip(claims, body["results"], records, strict=True):
        assert rec["claim_key"] == cf.claim_key(claim["claim_id"], SALT)
        assert str(claim["claim_id"]) not in json.dumps(rec)  # the raw id is never stored
        assert (rec["role"], rec["model_version"], rec["model_name"]) == (
            "champion",
            version,
            "claims-fraud",
        )
        assert rec["score"] == pytest.approx(result["fraud_probability"])
        assert rec["flagged"] is result["flagged"] and rec["threshold"] == body["threshold"]
        assert rec["reasons"] == result["reasons"]
        assert set(rec["features"]) == allowed
        assert not set(rec["features"]) & {*schema.personal, schema.id_column}
        assert rec["request_id"] == response.headers["x-request-id"]

    stdout = [cf.parse_line(line) for line in capsys.readouterr().out.splitlines()]
    assert [r for r in stdout if r] == records  # the same lines reach the function log


def test_capture_leaves_the_answer_unchanged(make_client, sample_claims, tmp_path):
    plain = _post(make_client(), sample_claims[:5]).json()
    captured = _post(
        make_client(CAPTURE_KEY_SALT=SALT, CAPTURE_SINK=str(tmp_path)), sample_claims[:5]
    )
    assert captured.json() == plain


def test_a_jsonl_file_sink_appends_across_requests(make_client, sample_claims, tmp_path):
    sink = tmp_path / "scores.jsonl"
    client = make_client(CAPTURE_KEY_SALT=SALT, CAPTURE_SINK=str(sink), CAPTURE_LOG="false")
    _post(client, sample_claims[:3])
    _post(client, sample_claims[3:5])
    assert [r["claim_key"] for r in _lines(sink)] == [
        cf.claim_key(c["claim_id"], SALT) for c in sample_claims[:5]
    ]
    health = client.get("/health").json()["capture"]
    assert health == {"active": True, "captured": 5, "errors": 0, "reason": None}


def test_without_a_salt_capture_is_off_and_says_why(make_client, sample_claims, tmp_path, capsys):
    client = make_client(CAPTURE_SINK=str(tmp_path / "sink"))
    assert _post(client, sample_claims[:2]).status_code == 200
    capture = client.get("/health").json()["capture"]
    assert capture["active"] is False and "CAPTURE_KEY_SALT is unset" in capture["reason"]
    assert not (tmp_path / "sink").exists()
    assert cf.CAPTURE_PREFIX not in capsys.readouterr().out


def test_a_broken_sink_never_fails_a_request_and_is_logged_once(
    make_client, sample_claims, tmp_path, caplog
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the sink folder should be")
    client = make_client(CAPTURE_KEY_SALT=SALT, CAPTURE_SINK=str(blocker / "lake"))
    with caplog.at_level(logging.ERROR, logger="fraud_mlops.api"):
        for _ in range(3):
            assert _post(client, sample_claims[:2]).status_code == 200
    failures = [r for r in caplog.records if r.getMessage().startswith("score capture failed")]
    assert len(failures) == 1
    assert client.get("/health").json()["capture"]["errors"] == 3


def test_bad_capture_settings_turn_capture_off_naming_the_variable(make_client, sample_claims):
    client = make_client(CAPTURE_KEY_SALT=SALT, CAPTURE_LOG="sometimes")
    assert _post(client, sample_claims[:1]).status_code == 200
    reason = client.get("/health").json()["capture"]["reason"]
    assert "CAPTURE_LOG" in reason


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_round_trip_through_uvicorn_with_the_file_sink(artifact_dir, sample_claims, tmp_path):
    """Score over HTTP against the real app under uvicorn; read the sink back with parse_line."""
    import uvicorn

    from lambda_api.app import create_app
    from lambda_api.loader import ModelHolder

    sink = tmp_path / "lakehouse"
    holder = ModelHolder.load(
        {
            "MODEL_URI": str(artifact_dir),
            "MODEL_CACHE_DIR": str(tmp_path / "cache"),
            "CAPTURE_KEY_SALT": SALT,
            "CAPTURE_SINK": str(sink),
            "CAPTURE_LOG": "false",
        }
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(holder), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/score",
            data=json.dumps({"claims": sample_claims[:20]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    records = _lines(sink)
    assert [r["claim_key"] for r in records] == [
        cf.claim_key(c["claim_id"], SALT) for c in sample_claims[:20]
    ]
    assert [r["score"] for r in records] == pytest.approx(
        [r["fraud_probability"] for r in body["results"]]
    )
    assert {r["model_version"] for r in records} == {body["model_version"]}


def test_the_fast_line_reads_back_like_the_contracts_log_line(artifact_dir, sample_claims):
    from lambda_api.capture import ModelCapture, ScoreCapture, _line
    from lambda_api.loader import build_service
    from lambda_api.settings import ApiSettings

    settings = ApiSettings.from_env({"MODEL_URI": str(artifact_dir)})
    artifact, service = build_service(settings.model_uri, settings)
    claims = service.parse(json.dumps({"claims": sample_claims[:4]}).encode())
    batch = service.scorer.score(service.columns(claims))
    capture = ScoreCapture.from_env({"CAPTURE_KEY_SALT": SALT})
    records = capture.records(ModelCapture(artifact, "champion"), claims, batch, "r-1")
    assert len(records) == 4
    for rec in records:
        line = _line(rec)
        assert line.endswith("\n") and "\n" not in line[:-1]
        assert cf.parse_line(line) == cf.parse_line(cf.log_line(rec)) == json.loads(json.dumps(rec))


def test_capture_that_cannot_be_set_up_never_takes_the_model_down(
    make_client, sample_claims, monkeypatch
):
    import lambda_api.capture

    def broken(cls, env=None):
        raise ImportError("a module the package lacks")

    monkeypatch.setattr(lambda_api.capture.ScoreCapture, "from_env", classmethod(broken))
    client = make_client(CAPTURE_KEY_SALT=SALT)
    health = client.get("/health").json()
    assert health["loaded"] is True and health["capture"] is None
    assert _post(client, sample_claims[:2]).status_code == 200
