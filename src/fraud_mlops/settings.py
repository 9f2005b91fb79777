"""One validated settings object for the library, read from the environment.

Every location has an embedded default under ``$FRAUD_MLOPS_HOME`` (default: ``./.local``), so
``make demo`` needs no cloud account; in the cloud the same variables point at S3 or ADLS. The
variables, defaults and meanings are the fields below (README: "Configuration reference").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from fraud_mlops.settings_base import EnvSettings, key_of

_SUPPORTED = ("s3://", "abfss://", "abfs://", "file://")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def validate_uri(value: str, variable: str) -> str:
    """Accept a local path or a supported URI; refuse unknown schemes with a clear message."""
    value = value.strip()
    if not value:
        raise ValueError(f"{variable} is empty: set it to a local folder, s3://… or abfss://…")
    if "://" in value and not value.startswith(_SUPPORTED):
        scheme = value.split("://", 1)[0]
        raise ValueError(
            f"{variable}={value!r}: scheme {scheme!r} is not supported. "
            "Use a local folder, s3://bucket/prefix or abfss://container@account.dfs.core.windows.net/path."
        )
    return value.rstrip("/") if "://" in value else str(Path(value).expanduser().resolve())


def _under_home(folder: str) -> Any:
    """A default of ``<home>/<folder>``, from the already validated home."""
    return lambda data: f"{data.get('home', '.local')}/{folder}"


class Settings(EnvSettings):
    """Where things live. Build it with :meth:`from_env`; tests pass values directly."""

    home: str = Field(
        ".local",
        validation_alias="FRAUD_MLOPS_HOME",
        validate_default=True,
        description="where embedded state lives",
    )
    lakehouse_uri: str = Field(
        default_factory=_under_home("lakehouse"),
        validation_alias="LAKEHOUSE_URI",
        validate_default=True,
        description="Parquet datasets: a folder, `s3://bucket/prefix` or "
        "`abfss://container@account.dfs.core.windows.net/path`",
        json_schema_extra={"shown_default": "$FRAUD_MLOPS_HOME/lakehouse"},
    )
    model_store_uri: str = Field(
        default_factory=_under_home("models"),
        validation_alias="MODEL_STORE_URI",
        validate_default=True,
        description="versioned model artifacts and the champion pointer",
        json_schema_extra={"shown_default": "$FRAUD_MLOPS_HOME/models"},
    )
    model_name: str = Field(
        "claims-fraud", validation_alias="MODEL_NAME", description="model name inside the store"
    )

    @field_validator("home", "lakehouse_uri", "model_store_uri")
    @classmethod
    def _location(cls, value: str, info: ValidationInfo) -> str:
        field = cls.model_fields[info.field_name or ""]
        return validate_uri(value, key_of(field, info.field_name or ""))

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"MODEL_NAME={value!r} is not a valid model name: use lowercase letters, digits, "
                "'.', '_' or '-', starting with a letter or digit (max 63 characters)."
            )
        return value
