"""Model store: versions, champion pointer and verified fetches, on a folder and on S3 (moto)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fraud_mlops.artifact import (
    MANIFEST,
    WEIGHTS,
    build_architecture,
    export_artifact,
    load_artifact,
    random_weights,
)
from fraud_mlops.drift import build_reference
from fraud_mlops.errors import ModelError
from fraud_mlops.preprocessing import fit_preprocessing
from fraud_mlops.schema import default_schema
from fraud_mlops.store import CHAMPION_FILE, ModelStore, new_version
from fraud_mlops.synthetic import generate_claims

MODEL = "claims-fraud"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """Two small artifacts, v1 and v2, exported once for the module."""
    schema = default_schema()
    claims = generate_claims(1500, seed=2)
    pre = fit_preprocessing(claims, schema)
    arch = build_architecture(pre, hidden=(8,))
    root = tmp_path_factory.mktemp("artifacts")
    out = {}
    for i, version in enumerate(("v1", "v2")):
        out[version] = export_artifact(
            root / version,
            model_name=MODEL,
            version=version,
            schema=schema,
            preprocessor=pre,
            architecture=arch,
            weights=random_weights(arch, seed=i),
            threshold=0.5,
            metrics={"test": {"pr_auc": 0.5 + i / 10}},
            data_fingerprint="f" * 64,
            code_version="test",
            reference=build_reference(claims, schema),
        )
    return out


@pytest.fixture(params=["local", "s3", "abfss"])
def store(request, tmp_path) -> ModelStore:
    """One store contract on a folder, S3 (moto) and a flat-namespace ADLS account (Azurite)."""
    if request.param == "local":
        return ModelStore(str(tmp_path / "models"))
    if request.param == "abfss":
        return ModelStore(f"{request.getfixturevalue('adls_root')}/models")
    bucket = request.getfixturevalue("s3_bucket")
    return ModelStore(f"s3://{bucket}/models")


def test_publish_list_promote_fetch(store, exported, tmp_path):
    assert store.versions(MODEL) == []
    assert store.champion(MODEL) is None
    uri = store.publish(exported["v1"], MODEL, "v1")
    assert uri == f"{store.uri}/{MODEL}/v1"
    store.publish(exported["v2"], MODEL, "v2")
    assert store.versions(MODEL) == ["v1", "v2"]
    assert store.models() == [MODEL]

    pointer = store.set_champion(MODEL, "v1", gate={"passed": True}, metrics={"pr_auc": 0.5})
    assert store.champion(MODEL) == pointer
    assert pointer["version"] == "v1" and pointer["gate"] == {"passed": True}
    assert pointer["previous_version"] is None
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", pointer["promoted_at"])
    second = store.set_champion(MODEL, "v2", gate={"passed": True}, metrics={"pr_auc": 0.6})
    assert store.champion(MODEL)["version"] == "v2" and second["previous_version"] == "v1"

    cache = tmp_path / "cache"
    path = store.fetch(MODEL, "champion", cache)
    assert path == cache / MODEL / "v2"
    art = load_artifact(path)
    assert art.version == "v2" and art.metrics["test"]["pr_auc"] == 0.6
    assert store.fetch(MODEL, "v1", cache) == cache / MODEL / "v1"
    # no staging files are left next to the pointer, and listing ignores them anyway
    assert store.versions(MODEL) == ["v1", "v2"]


def test_versions_are_immutable(store, exported):
    store.publish(exported["v1"], MODEL, "v1")
    with pytest.raises(ModelError, match="already exists and versions are immutable"):
        store.publish(exported["v1"], MODEL, "v1")
    with pytest.raises(ModelError, match="holds claims-fraud/v1, not claims-fraud/v9"):
        store.publish(exported["v1"], MODEL, "v9")


def test_set_champion_refuses_unknown_and_corrupt_versions(store, exported):
    store.publish(exported["v1"], MODEL, "v1")
    store.publish(exported["v2"], MODEL, "v2")
    store.set_champion(MODEL, "v1", gate={}, metrics={})
    with pytest.raises(ModelError, match="no such version"):
        store.set_champion(MODEL, "v7", gate={}, metrics={})
    # corrupt v2's weights in the store itself
    weights = f"{store.root}/{MODEL}/v2/{WEIGHTS}"
    with store.fs.open_input_stream(weights) as f:
        data = bytearray(f.read())
    data[-50] ^= 0xFF
    with store.fs.open_output_stream(weights) as f:
        f.write(bytes(data))
    with pytest.raises(ModelError, match=r"weights\.npz does not match its checksum"):
        store.set_champion(MODEL, "v2", gate={}, metrics={})
    assert store.champion(MODEL)["version"] == "v1"  # the pointer did not move


def test_fetch_refuses_corrupt_files_and_repairs_the_cache(store, exported, tmp_path):
    store.publish(exported["v1"], MODEL, "v1")
    cache = tmp_path / "cache"
    path = store.fetch(MODEL, "v1", cache)
    (path / WEIGHTS).write_bytes(b"tampered")  # a corrupt cached copy is replaced, not used
    assert load_artifact(store.fetch(MODEL, "v1", cache)).version == "v1"
    with pytest.raises(ModelError, match="no champion"):
        store.fetch(MODEL, "champion", cache)
    with pytest.raises(ModelError, match="does not exist"):
        store.fetch(MODEL, "v5", cache)


def test_incomplete_upload_is_not_a_version(store, exported):
    """Files without a manifest (an interrupted publish) are invisible and can be re-published."""
    dest = f"{store.root}/{MODEL}/v1"
    store.fs.create_dir(dest, recursive=True)
    with store.fs.open_output_stream(f"{dest}/{WEIGHTS}") as f:
        f.write(b"half an upload")
    assert store.versions(MODEL) == []
    with pytest.raises(ModelError, match="no such version"):
        store.set_champion(MODEL, "v1", gate={}, metrics={})
    store.publish(exported["v1"], MODEL, "v1")
    assert store.versions(MODEL) == ["v1"]


def test_corrupt_champion_pointer_is_reported(store, exported):
    store.publish(exported["v1"], MODEL, "v1")
    with store.fs.open_output_stream(f"{store.root}/{MODEL}/{CHAMPION_FILE}") as f:
        f.write(b"{not json")
    with pytest.raises(ModelError, match="is corrupt"):
        store.champion(MODEL)
    store.set_champion(MODEL, "v1", gate={}, metrics={})  # promotion repairs it
    assert store.champion(MODEL)["version"] == "v1"


def test_local_store_layout_matches_the_contract(tmp_path, exported):
    store = ModelStore(str(tmp_path / "models"))
    store.publish(exported["v1"], MODEL, "v1")
    store.set_champion(MODEL, "v1", gate={"passed": True}, metrics={"pr_auc": 0.5})
    root = tmp_path / "models" / MODEL
    assert sorted(p.name for p in root.iterdir()) == [CHAMPION_FILE, "v1"]
    assert sorted(p.name for p in (root / "v1").iterdir()) == sorted(
        [MANIFEST, WEIGHTS, "reference.npz"]
    )
    pointer = json.loads((root / CHAMPION_FILE).read_text())
    assert {"model_name", "version", "promoted_at", "gate", "metrics"} <= set(pointer)


def test_names_are_checked_and_versions_generated():
    version = new_version("sfn-run/42: retry #2")
    assert re.match(r"^\d{8}T\d{6}Z-sfn-run-42-retry-2$", version), version
    store = ModelStore("/tmp/unused-store")
    with pytest.raises(ModelError, match="not valid"):
        store.versions("../etc")
    with pytest.raises(ModelError, match="'champion' is reserved"):
        store.version_uri(MODEL, "champion")
