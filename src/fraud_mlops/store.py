"""Versioned model store with a champion pointer, on a local folder or S3 (or ADLS).

The layout under ``MODEL_STORE_URI`` (paths, name rules, ``champion.json``) is
:mod:`fraud_mlops.store_layout`, which the API's fetcher reads too. Versions are immutable:
:meth:`ModelStore.publish` refuses to overwrite one, uploads the data files first and
``manifest.json`` last, so a version without a manifest is an interrupted upload and is never
listed. ``champion.json`` is written to a staging name and published over the old
pointer, so readers see the old champion or the new one, never a torn file; a version is only
promoted after its files are downloaded and verified against their checksums.

Everything goes through the pyarrow filesystem of :func:`fraud_mlops.lakehouse.resolve_filesystem`,
so ``AWS_ENDPOINT_URL`` points it at moto or MinIO.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from fraud_mlops import adls
from fraud_mlops import store_layout as layout
from fraud_mlops.artifact import load_artifact, read_manifest
from fraud_mlops.errors import FraudMlopsError, ModelError
from fraud_mlops.lakehouse import publish_staged, resolve_filesystem
from fraud_mlops.store_layout import (  # noqa: F401  (re-exported: callers import them from here)
    CHAMPION,
    CHAMPION_FILE,
    MANIFEST,
    check_name,
    new_version,
)


class ModelStore:
    """Model versions and champion pointers under one root URI."""

    def __init__(self, uri: str):
        self.uri = uri.rstrip("/")
        try:
            self.fs, self.root = resolve_filesystem(self.uri)
        except FraudMlopsError as exc:
            raise ModelError(f"model store {uri!r}: {exc}") from None

    # -- paths -----------------------------------------------------------------------------
    def _model_path(self, model_name: str) -> str:
        return f"{self.root}/{check_name(model_name, 'model name')}"

    def _version_path(self, model_name: str, version: str) -> str:
        return f"{self.root}/{layout.version_key(model_name, version)}"

    def version_uri(self, model_name: str, version: str) -> str:
        return f"{self.uri}/{layout.version_key(model_name, version)}"

    def _fail(self, action: str, exc: Exception) -> ModelError:
        return ModelError(
            f"could not {action} in the model store {self.uri}: {adls.redact(str(exc))}. Check "
            "MODEL_STORE_URI and that your credentials allow it."
        )

    def _exists(self, path: str) -> bool:
        try:
            return self.fs.get_file_info(path).type == pafs.FileType.File
        except (OSError, pa.ArrowException) as exc:
            raise self._fail(f"check {path}", exc) from None

    # -- versions --------------------------------------------------------------------------
    def publish(self, artifact_dir: str | Path, model_name: str, version: str) -> str:
        """Upload a verified artifact as ``<model_name>/<version>``; return its URI.

        Raises:
            ModelError: the artifact does not verify, its manifest names another model/version,
                or that version already exists in the store (versions are immutable).
        """
        artifact = load_artifact(artifact_dir)  # verifies every checksum before anything moves
        if (artifact.model_name, artifact.version) != (model_name, version):
            raise ModelError(
                f"{artifact_dir} holds {artifact.model_name}/{artifact.version}, not "
                f"{model_name}/{version}: export it with the name and version you publish."
            )
        dest = self._version_path(model_name, version)
        if self._exists(f"{dest}/{MANIFEST}"):
            raise ModelError(
                f"{self.version_uri(model_name, version)} already exists and versions are "
                "immutable: publish under a new version (see new_version)."
            )
        try:
            self.fs.create_dir(dest, recursive=True)
            for name in artifact.manifest["files"]:
                source = Path(artifact_dir) / name
                with open(source, "rb") as src, self.fs.open_output_stream(f"{dest}/{name}") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        except (OSError, pa.ArrowException) as exc:
            raise self._fail(f"upload {model_name}/{version}", exc) from None
        # The manifest goes last and whole (staged, then published): it marks the version complete,
        # so a half-written one must never be visible (Azure commits a stream's bytes on error).
        manifest_bytes = (Path(artifact_dir) / MANIFEST).read_bytes()
        self._write_atomic(f"{dest}/{MANIFEST}", manifest_bytes)
        return self.version_uri(model_name, version)

    def versions(self, model_name: str) -> list[str]:
        """Complete versions of ``model_name`` (those with a manifest), oldest first."""
        base = self._model_path(model_name)
        # One recursive listing instead of a HEAD request per version (S3 pages 1,000 at a time).
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except (OSError, pa.ArrowException) as exc:
            raise self._fail(f"list versions of {model_name}", exc) from None
        found = {layout.version_of_listing(info.path[len(base) :]) for info in infos}
        return sorted(v for v in found if v is not None)

    def models(self) -> list[str]:
        """Model names that have at least one folder in the store."""
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True))
        except (OSError, pa.ArrowException) as exc:
            raise self._fail("list models", exc) from None
        return sorted(
            i.base_name
            for i in infos
            if i.type == pafs.FileType.Directory and layout.is_name(i.base_name)
        )

    def manifest(self, model_name: str, version: str) -> dict[str, Any]:
        """The manifest of a stored version (not verified against the files; see fetch)."""
        return json.loads(self._read_text(f"{self._version_path(model_name, version)}/{MANIFEST}"))

    # -- champion --------------------------------------------------------------------------
    def champion(self, model_name: str) -> dict[str, Any] | None:
        """The parsed ``champion.json`` of ``model_name``, or None before the first promotion."""
        key = layout.champion_key(model_name)
        path = f"{self.root}/{key}"
        if not self._exists(path):
            return None
        return layout.parse_champion(self._read_text(path), f"{self.uri}/{key}")

    def set_champion(
        self, model_name: str, version: str, gate: dict[str, Any], metrics: dict[str, Any]
    ) -> dict[str, Any]:
        """Point ``champion.json`` at ``version`` (atomic replace); return the new pointer.

        Raises:
            ModelError: the version does not exist or its files do not verify.
        """
        if version not in self.versions(model_name):
            known = ", ".join(self.versions(model_name)[-5:]) or "none"
            raise ModelError(
                f"cannot promote {model_name}/{version}: no such version in {self.uri} "
                f"(latest versions: {known})"
            )
        with tempfile.TemporaryDirectory(prefix="verify-") as tmp:
            local = self._download(model_name, version, Path(tmp) / version)
            manifest = load_artifact(local).manifest  # raises ModelError naming a bad file
        pointer = layout.champion_pointer(
            model_name,
            version,
            gate=gate,
            metrics=metrics,
            previous_version=self.champion_version_or_none(model_name),
            files=manifest["files"],
        )
        try:
            text = json.dumps(pointer, indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise ModelError(f"gate and metrics must be plain JSON values ({exc})") from None
        self._write_atomic(f"{self.root}/{layout.champion_key(model_name)}", text.encode())
        return pointer

    def champion_version_or_none(self, model_name: str) -> str | None:
        try:
            pointer = self.champion(model_name)
        except ModelError:
            return None  # a corrupt pointer is being replaced; nothing to record
        return pointer["version"] if pointer else None

    # -- fetching --------------------------------------------------------------------------
    def fetch(self, model_name: str, version: str, cache_dir: str | Path) -> Path:
        """Download ``version`` (or ``"champion"``) into ``cache_dir``, verify it, return its dir.

        A verified copy already in the cache is reused; a corrupt one is replaced.
        """
        if version == CHAMPION:
            pointer = self.champion(model_name)
            if pointer is None:
                raise ModelError(
                    f"{model_name} has no champion in {self.uri} yet: train and promote a model "
                    "first, or name a version (fraud-mlops models lists them)."
                )
            version = pointer["version"]
        target = Path(cache_dir) / layout.version_key(model_name, version)
        if target.is_dir():
            with contextlib.suppress(ModelError):
                load_artifact(target)
                return target
            shutil.rmtree(target)
        if version not in self.versions(model_name):
            raise ModelError(f"{model_name}/{version} does not exist in {self.uri}")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
        try:
            self._download(model_name, version, staging)
            load_artifact(staging)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def _download(self, model_name: str, version: str, dest: Path) -> Path:
        src = self._version_path(model_name, version)
        dest.mkdir(parents=True, exist_ok=True)
        try:
            manifest_bytes = self._read_bytes(f"{src}/{MANIFEST}")
            (dest / MANIFEST).write_bytes(manifest_bytes)
            for name in read_manifest(dest)["files"]:
                layout.check_file_name(name, f"{model_name}/{version}")
                with self.fs.open_input_stream(f"{src}/{name}") as f, open(dest / name, "wb") as o:
                    shutil.copyfileobj(f, o, 1 << 20)
        except FileNotFoundError as exc:
            raise ModelError(f"{model_name}/{version} is incomplete in {self.uri}: {exc}") from None
        except (OSError, pa.ArrowException) as exc:
            raise self._fail(f"download {model_name}/{version}", exc) from None
        return dest

    # -- bytes -----------------------------------------------------------------------------
    def _read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(path) as f:
            return f.read()

    def _read_text(self, path: str) -> str:
        try:
            return self._read_bytes(path).decode("utf-8")
        except FileNotFoundError:
            raise ModelError(f"{path} does not exist in the model store {self.uri}") from None
        except (OSError, pa.ArrowException, UnicodeDecodeError) as exc:
            raise self._fail(f"read {path}", exc) from None

    def _write_atomic(self, path: str, data: bytes) -> None:
        """Write to a staging name, then publish it over ``path`` in one step (any backend)."""
        parent, _, name = path.rpartition("/")
        staging = f"{parent}/_staging-{uuid.uuid4().hex}-{name}"
        try:
            self.fs.create_dir(parent, recursive=True)
            with self.fs.open_output_stream(staging) as out:
                out.write(data)
            publish_staged(self.fs, staging, path)
        except (OSError, pa.ArrowException) as exc:
            with contextlib.suppress(OSError, pa.ArrowException):
                self.fs.delete_file(staging)
            raise self._fail(f"write {path}", exc) from None
