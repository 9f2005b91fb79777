"""The model store's layout, written once: paths, name rules and the champion pointer.

Under a store root (a local folder, ``s3://bucket/prefix`` or ``abfss://…``)::

    <model>/<version>/manifest.json, and the files the manifest lists
    <model>/champion.json    {"model_name", "version", "promoted_at", "gate", "metrics", ...}

Model names and versions become path segments, so they are plain names; ``champion`` is not a
version but the reference to whichever version ``champion.json`` points at. Standard library
only: :class:`fraud_mlops.store.ModelStore` (pyarrow filesystems) and the API's fetcher
(``lambda_api.fetch``, boto3, inside the Lambda zip) both read the store through this module.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from fraud_mlops.errors import ModelError

MANIFEST = "manifest.json"
CHAMPION = "champion"
CHAMPION_FILE = "champion.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_name(value: object) -> bool:
    """Whether ``value`` may be a model name or version folder."""
    return isinstance(value, str) and bool(_NAME.match(value))


def check_name(value: str, what: str, *, allow_champion: bool = False) -> str:
    """Return ``value`` if it is a plain name; ``'champion'`` only where it is a reference.

    Raises:
        ModelError: naming ``what`` (e.g. "model name", "version"), the value and the rule.
    """
    reserved = value == CHAMPION and not allow_champion
    if not is_name(value) or reserved:
        note = "; 'champion' is reserved" if reserved else ""
        raise ModelError(
            f"{what} {value!r} is not valid: use letters, digits, '.', '_' or '-' (max 128, "
            f"starting with a letter or digit){note}"
        )
    return value


def new_version(run_id: str) -> str:
    """``<UTC now:%Y%m%dT%H%M%SZ>-<run_id>``, with characters a path should not hold replaced."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", str(run_id)).strip("-.") or "run"
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{clean}"[:128]


def version_key(model_name: str, version: str) -> str:
    """``<model>/<version>``, relative to the store root; both names checked."""
    return f"{check_name(model_name, 'model name')}/{check_name(version, 'version')}"


def champion_key(model_name: str) -> str:
    """``<model>/champion.json``, relative to the store root."""
    return f"{check_name(model_name, 'model name')}/{CHAMPION_FILE}"


def check_file_name(name: object, where: str) -> str:
    """A file listed in a manifest must be a plain name inside its version folder."""
    if not isinstance(name, str) or "/" in name or "\\" in name or name in ("", ".", ".."):
        raise ModelError(f"{where}: bad file name {name!r} in the manifest")
    return name


def version_of_listing(relative: str) -> str | None:
    """The version whose manifest ``relative`` (a path under ``<model>/``) is, else None.

    A version without its manifest is an interrupted upload and is never listed.
    """
    parts = relative.strip("/").split("/")
    if len(parts) == 2 and parts[1] == MANIFEST and is_name(parts[0]):
        return parts[0]
    return None


def parse_champion(raw: bytes | str, where: str) -> dict[str, Any]:
    """Parse a ``champion.json``; it must name a valid version.

    Raises:
        ModelError: ``where`` is corrupt (not JSON, or no valid version field).
    """
    try:
        pointer = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{where} is corrupt: {exc}") from None
    if not isinstance(pointer, dict) or not is_name(pointer.get("version")):
        raise ModelError(f"{where} is corrupt: it has no valid version field")
    return pointer


def champion_pointer(
    model_name: str,
    version: str,
    *,
    gate: dict[str, Any],
    metrics: dict[str, Any],
    previous_version: str | None,
    files: dict[str, Any],
) -> dict[str, Any]:
    """The content of ``champion.json`` when ``version`` is promoted now."""
    return {
        "model_name": model_name,
        "version": version,
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "gate": gate,
        "metrics": metrics,
        "previous_version": previous_version,
        "files": files,
    }


def split_location(uri: str) -> tuple[str, str, str] | None:
    """``<store>/<model>/<version|champion>`` -> ``(store, model, ref)``; None if not that shape."""
    parts = uri.rstrip("/").rsplit("/", 2)
    if len(parts) != 3 or not all(parts) or parts[0].endswith(":/"):
        return None
    return parts[0], parts[1], parts[2]
