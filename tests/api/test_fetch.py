"""Serving fetches a version from the model store (local folder or S3 on moto) without pyarrow."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from fraud_mlops.errors import ModelError
from fraud_mlops.store import ModelStore
from lambda_api.fetch import fetch_artifact
from lambda_api.loader import resolve_artifact, split_store_uri

MODEL = "claims-fraud"


def _publish(store_uri: str, artifact_dir: Path, champion: bool = True) -> str:
    version = json.loads((artifact_dir / "manifest.json").read_text())["version"]
    store = ModelStore(store_uri)
    store.publish(artifact_dir, MODEL, version)
    if champion:
        store.set_champion(MODEL, version, gate={"passed": True}, metrics={"pr_auc": 0.42})
    return version


def test_local_champion_is_fetched_verified_and_cached(artifact_dir: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "models")
    version = _publish(store, artifact_dir)
    cache = tmp_path / "cache"
    got = fetch_artifact(store, MODEL, "champion", cache)
    assert got == cache / MODEL / version
    assert (got / "weights.npz").read_bytes() == (artifact_dir / "weights.npz").read_bytes()
    # a corrupted cached copy is replaced, not served
    (got / "weights.npz").write_bytes(b"garbage")
    again = fetch_artifact(store, MODEL, version, cache)
    assert (again / "weights.npz").read_bytes() == (artifact_dir / "weights.npz").read_bytes()


def test_missing_champion_and_version_are_clear_errors(artifact_dir: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "models")
    with pytest.raises(ModelError, match="has no champion"):
        fetch_artifact(store, MODEL, "champion", tmp_path / "cache")
    _publish(store, artifact_dir, champion=False)
    with pytest.raises(ModelError, match="does not exist"):
        fetch_artifact(store, MODEL, "20990101T000000Z-nope", tmp_path / "cache")
    with pytest.raises(ModelError, match="not valid"):
        fetch_artifact(store, MODEL, "../../etc", tmp_path / "cache")
    assert not any((tmp_path / "cache").rglob("weights.npz"))


def test_s3_champion_is_fetched_with_boto3(
    artifact_dir: Path, tmp_path: Path, s3_bucket: str
) -> None:
    store = f"s3://{s3_bucket}/models"
    version = _publish(store, artifact_dir)
    got = resolve_artifact(f"{store}/{MODEL}/champion", tmp_path / "cache")
    assert got == tmp_path / "cache" / MODEL / version
    assert (got / "manifest.json").is_file()


def test_tampered_s3_object_is_refused_and_nothing_is_cached(
    artifact_dir: Path, tmp_path: Path, s3_bucket: str
) -> None:
    store = f"s3://{s3_bucket}/models"
    version = _publish(store, artifact_dir)
    boto3.client("s3").put_object(
        Bucket=s3_bucket, Key=f"models/{MODEL}/{version}/weights.npz", Body=b"tampered"
    )
    with pytest.raises(ModelError, match="checksum"):
        fetch_artifact(store, MODEL, version, tmp_path / "cache")
    assert not (tmp_path / "cache" / MODEL / version).exists()
    assert not any((tmp_path / "cache").rglob("weights.npz"))


def test_model_uri_forms(artifact_dir: Path, tmp_path: Path) -> None:
    assert resolve_artifact(str(artifact_dir), tmp_path) == artifact_dir
    assert resolve_artifact(f"file://{artifact_dir}", tmp_path) == artifact_dir
    assert split_store_uri("s3://b/p/claims-fraud/champion") == ("s3://b/p", MODEL, "champion")
    with pytest.raises(Exception, match="neither an artifact folder"):
        split_store_uri("s3://bucket")
