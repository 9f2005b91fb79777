"""Read-only model-store access for the API: a local folder or S3 through boto3, no pyarrow.

The library's :class:`fraud_mlops.store.ModelStore` goes through pyarrow's filesystems, which
would add ~100 MB to the Lambda zip. Serving only ever reads one version, so this module reads
the same layout (:mod:`fraud_mlops.store_layout`, stdlib only) with boto3, which the Lambda
Python runtime already provides. Like ``ModelStore.fetch``, it downloads into
``cache_dir/<model>/<version>`` through a staging folder, verifies every sha256 before the rename,
and reuses a cached copy only if it still verifies.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fraud_mlops import store_layout as layout
from fraud_mlops.artifact import load_artifact, read_manifest
from fraud_mlops.errors import ModelError
from fraud_mlops.store_layout import CHAMPION, MANIFEST


class _Local:
    def __init__(self, root: str):
        self.root = Path(root.removeprefix("file://")).expanduser()

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise ModelError(f"{self.root / key} does not exist in the model store") from None

    def download(self, key: str, dest: Path) -> None:
        dest.write_bytes(self.read(key))


class _S3:
    def __init__(self, uri: str):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        self.uri, self.bucket, self.prefix = uri, bucket, prefix.strip("/")
        import boto3  # in the Lambda runtime; imported only when the store is on S3

        self.client = boto3.client("s3")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise ModelError(f"{self.uri}/{key} does not exist in the model store") from None
            raise ModelError(f"cannot read {self.uri}/{key}: {code or exc}") from None
        except BotoCoreError as exc:
            raise ModelError(f"cannot read {self.uri}/{key}: {exc}") from None

    def download(self, key: str, dest: Path) -> None:
        dest.write_bytes(self.read(key))


def _reader(store_uri: str) -> Any:
    if store_uri.startswith("s3://"):
        return _S3(store_uri)
    if "://" in store_uri.removeprefix("file://"):
        raise ModelError(
            f"model store {store_uri!r}: the API reads local folders and s3:// stores only"
        )
    return _Local(store_uri)


def champion_version(store_uri: str, model_name: str) -> str:
    """The version ``champion.json`` points at."""
    reader = _reader(store_uri)
    key = layout.champion_key(model_name)
    try:
        raw = reader.read(key)
    except ModelError:
        raise ModelError(
            f"{model_name} has no champion in {store_uri} yet: train and promote a model first, "
            "or set MODEL_URI to a version."
        ) from None
    return layout.parse_champion(raw, f"{store_uri}/{key}")["version"]


def fetch_artifact(store_uri: str, model_name: str, ref: str, cache_dir: Path) -> Path:
    """Download ``model_name`` at ``ref`` (a version or ``champion``), verified, into the cache."""
    version = champion_version(store_uri, model_name) if ref == CHAMPION else ref
    prefix = layout.version_key(model_name, version)
    target = Path(cache_dir) / prefix
    if target.is_dir():
        with contextlib.suppress(ModelError):
            load_artifact(target)
            return target
        shutil.rmtree(target)  # a corrupt or partial copy: fetch it again
    reader = _reader(store_uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        (staging / MANIFEST).write_bytes(reader.read(f"{prefix}/{MANIFEST}"))
        for name in read_manifest(staging)["files"]:
            layout.check_file_name(name, prefix)
            reader.download(f"{prefix}/{name}", staging / name)
        load_artifact(staging)  # verifies every checksum before the copy becomes visible
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
