"""SageMaker's container contract: GET /ping and POST /invocations on the same app."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_ping_is_200_only_when_the_model_can_serve(make_client: Any, tmp_path: Path) -> None:
    assert make_client().get("/ping").status_code == 200
    missing = make_client(MODEL_URI=str(tmp_path / "store" / "claims-fraud" / "champion"))
    response = missing.get("/ping")
    assert response.status_code == 503
    assert "no model loaded" in response.json()["detail"]


def test_invocations_answers_exactly_like_v1_score(make_client: Any, sample_claims: list) -> None:
    client = make_client()
    body = {"claims": sample_claims[:5]}
    invoked = client.post("/invocations", json=body)
    scored = client.post("/v1/score", json=body)
    assert invoked.status_code == scored.status_code == 200
    assert invoked.json() == scored.json()
    assert len(invoked.json()["results"]) == 5


def test_invocations_refuses_bad_input_with_a_4xx(make_client: Any) -> None:
    client = make_client()
    assert client.post("/invocations", json={"claims": []}).status_code in (400, 422)
    response = client.post(
        "/invocations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert (
        client.post("/invocations", content=b"x", headers={"content-type": "text/csv"}).status_code
        == 415
    )
