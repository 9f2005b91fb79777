"""One validated settings object for the library, read from the environment.

Every location has an embedded default under ``$FRAUD_MLOPS_HOME`` (default: ``./.local``), so
``make demo`` needs no cloud account; in the cloud the same variables point at S3 or ADLS.

| variable | default | meaning |
|---|---|---|
| ``FRAUD_MLOPS_HOME`` | ``./.local`` | where embedded state lives |
| ``LAKEHOUSE_URI`` | ``$FRAUD_MLOPS_HOME/lakehouse`` | Parquet datasets (path, s3://, abfss://) |
| ``MODEL_STORE_URI`` | ``$FRAUD_MLOPS_HOME/models`` | model artifacts + champion pointer |
| ``MODEL_NAME`` | ``claims-fraud`` | model name inside the store |
| ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` | unset | S3-compatible endpoint (moto, MinIO) |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from fraud_mlops.errors import ConfigError

_SUPPORTED = ("s3://", "abfss://", "abfs://", "file://")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def validate_uri(value: str, variable: str) -> str:
    """Accept a local path or a supported URI; refuse unknown schemes with a clear message."""
    value = value.strip()
    if not value:
        raise ConfigError(f"{variable} is empty: set it to a local folder, s3://… or abfss://…")
    if "://" in value and not value.startswith(_SUPPORTED):
        scheme = value.split("://", 1)[0]
        raise ConfigError(
            f"{variable}={value!r}: scheme {scheme!r} is not supported. "
            "Use a local folder, s3://bucket/prefix or abfss://container@account.dfs.core.windows.net/path."
        )
    return value.rstrip("/") if "://" in value else str(Path(value).expanduser().resolve())


@dataclass(frozen=True)
class Settings:
    """Where things live. Build it with :meth:`from_env`; tests pass values directly."""

    home: str
    lakehouse_uri: str
    model_store_uri: str
    model_name: str = "claims-fraud"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = validate_uri(env.get("FRAUD_MLOPS_HOME") or ".local", "FRAUD_MLOPS_HOME")
        lakehouse = validate_uri(env.get("LAKEHOUSE_URI") or f"{home}/lakehouse", "LAKEHOUSE_URI")
        store = validate_uri(env.get("MODEL_STORE_URI") or f"{home}/models", "MODEL_STORE_URI")
        name = env.get("MODEL_NAME") or "claims-fraud"
        if not _NAME.match(name):
            raise ConfigError(
                f"MODEL_NAME={name!r} is not a valid model name: use lowercase letters, digits, "
                "'.', '_' or '-', starting with a letter or digit (max 63 characters)."
            )
        return cls(home=home, lakehouse_uri=lakehouse, model_store_uri=store, model_name=name)
