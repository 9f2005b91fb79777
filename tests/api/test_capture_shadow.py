"""The shadow challenger (#15 item 3, API half) and the SnapStart hooks (#14 item 2).

The shadow is a second real artifact; the SnapStart hooks are driven through the documented
interface of ``snapshot_restore_py`` (``register_before_snapshot`` / ``register_after_restore``),
which only Lambda's managed runtime ships: a stand-in module records what is registered.
"""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest

from fraud_mlops import capture_format as cf
from tests.api.conftest import build_artifact

SALT = "shadow-salt-0123456789"
SHADOW_VERSION = "20260301T000000Z-shadow"


@pytest.fixture(scope="module")
def shadow_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shadow")
    build_artifact(root / "model", version=SHADOW_VERSION, n=600)
    return root / "model"


def _records(root: Path) -> list[dict]:
    return [
        cf.parse_line(line)
        for file in sorted(root.rglob("*.jsonl"))
        for line in file.read_text().splitlines()
    ]


def test_the_shadow_is_captured_beside_the_champion_without_changing_the_answer(
    make_client, sample_claims, shadow_dir, tmp_path
):
    claims = sample_claims[:6]
    plain = make_client().post("/v1/score", json={"claims": claims}).json()
    sink = tmp_path / "lake"
    client = make_client(
        CAPTURE_KEY_SALT=SALT, CAPTURE_SINK=str(sink), SHADOW_MODEL_URI=str(shadow_dir)
    )
    response = client.post("/v1/score", json={"claims": claims})
    assert response.json() == plain  # the shadow never answers
    records = _records(sink)
    champion = [r for r in records if r["role"] == "champion"]
    shadow = [r for r in records if r["role"] == "shadow"]
    assert len(champion) == len(shadow) == 6
    assert {r["model_version"] for r in shadow} == {SHADOW_VERSION}
    assert {r["model_version"] for r in champion} == {plain["model_version"]}
    assert [r["claim_key"] for r in shadow] == [r["claim_key"] for r in champion]
    assert {r["request_id"] for r in records} == {response.headers["x-request-id"]}
    versions = {p.parent.name for p in sink.rglob("*.jsonl")}
    assert versions == {
        f"model_version={SHADOW_VERSION}",
        f"model_version={plain['model_version']}",
    }
    health = client.get("/health").json()["shadow"]
    assert health["loaded"] is True and health["scored"] == 6 and health["errors"] == 0


def test_a_shadow_that_cannot_load_changes_nothing(make_client, sample_claims, tmp_path):
    client = make_client(CAPTURE_KEY_SALT=SALT, SHADOW_MODEL_URI=str(tmp_path / "nowhere/m/v1"))
    assert client.get("/health").json()["loaded"] is True
    assert client.post("/v1/score", json={"claims": sample_claims[:2]}).status_code == 200
    shadow = client.get("/health").json()["shadow"]
    assert shadow["loaded"] is False and shadow["reason"]


def test_a_shadow_failing_to_score_is_counted_and_logged_once(
    artifact_dir, sample_claims, shadow_dir, tmp_path, caplog
):
    from fastapi.testclient import TestClient

    from lambda_api.app import create_app

    holder = _holder(
        artifact_dir,
        tmp_path,
        CAPTURE_KEY_SALT=SALT,
        CAPTURE_SINK=str(tmp_path / "lake"),
        SHADOW_MODEL_URI=str(shadow_dir),
    )
    client = TestClient(create_app(holder), raise_server_exceptions=False)

    def broken(columns):  # e.g. a shadow whose schema needs a column the champion's lacks
        raise KeyError("region_code")

    holder.shadow.service.scorer.score = broken
    with caplog.at_level(logging.ERROR, logger="fraud_mlops.api"):
        for _ in range(3):
            ok = client.post("/v1/score", json={"claims": sample_claims[:2]})
            assert ok.status_code == 200
    assert len([r for r in caplog.records if "shadow scoring failed" in r.getMessage()]) == 1
    health = client.get("/health").json()
    assert health["shadow"]["errors"] == 3 and health["capture"]["captured"] == 6  # champion's
    assert {r["role"] for r in _records(tmp_path / "lake")} == {"champion"}


def test_the_champion_is_never_its_own_shadow(make_client, artifact_dir, sample_claims):
    client = make_client(CAPTURE_KEY_SALT=SALT, SHADOW_MODEL_URI=str(artifact_dir))
    shadow = client.get("/health").json()["shadow"]
    assert shadow["loaded"] is False and "is the champion" in shadow["reason"]


@pytest.fixture
def snapstart(monkeypatch):
    """A stand-in for Lambda's snapshot_restore_py that records the registered hooks."""
    hooks: dict[str, list] = {"before": [], "after": []}
    module = types.ModuleType("snapshot_restore_py")
    module.register_before_snapshot = lambda fn, *a, **k: hooks["before"].append(fn)
    module.register_after_restore = lambda fn, *a, **k: hooks["after"].append(fn)
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    return hooks


def _holder(artifact_dir, tmp_path, **env):
    from lambda_api.loader import ModelHolder

    full = {"MODEL_URI": str(artifact_dir), "MODEL_CACHE_DIR": str(tmp_path / "cache"), **env}
    return ModelHolder.load(full)


def test_snapstart_hooks_are_registered_only_where_the_runtime_has_them(
    artifact_dir, tmp_path, monkeypatch
):
    from lambda_api.loader import register_snapstart

    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as locally
    assert register_snapstart(_holder(artifact_dir, tmp_path)) is False


def test_the_snapshot_is_refused_without_a_model(snapstart, tmp_path):
    from lambda_api.loader import ModelHolder, register_snapstart

    broken = ModelHolder.load({"MODEL_URI": str(tmp_path / "missing-model")})
    assert register_snapstart(broken) is True
    (before,) = snapstart["before"]
    with pytest.raises(RuntimeError, match="refusing the SnapStart snapshot"):
        before()


def test_a_restored_container_reverifies_its_model_and_renews_its_identity(
    snapstart, artifact_dir, tmp_path
):
    from lambda_api.loader import register_snapstart

    holder = _holder(
        artifact_dir, tmp_path, CAPTURE_KEY_SALT=SALT, CAPTURE_SINK=str(tmp_path / "l")
    )
    register_snapstart(holder)
    (before,), (after,) = snapstart["before"], snapstart["after"]
    before()  # a loaded model: the snapshot may be taken
    writer = holder.capture.sink.writer
    after()
    assert holder.loaded and holder.reason is None
    assert holder.capture.sink.writer != writer  # restored copies must not share a sink file


def test_a_restored_model_that_is_not_the_configured_version_stops_serving(
    snapstart, artifact_dir, tmp_path
):
    from lambda_api.loader import register_snapstart

    holder = _holder(artifact_dir, tmp_path)
    register_snapstart(holder)
    # What the restored container should serve, per its environment, is another version.
    uri = str(tmp_path / "store/claims-fraud/v9")
    holder.settings = holder.settings.model_copy(update={"model_uri": uri})
    snapstart["after"][0]()
    assert not holder.loaded and "is not MODEL_URI's v9" in holder.reason
