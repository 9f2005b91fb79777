"""The library's validated settings, read from the environment.

:class:`Settings`: where things live. Every location has an embedded default under
``$FRAUD_MLOPS_HOME`` (default: ``./.local``), so ``make demo`` needs no cloud account; in the
cloud the same variables point at S3 or ADLS. No secrets: a training run stores it as an artifact.

:class:`AdlsSettings`: how ``abfss://`` locations are reached (credentials, emulator endpoint,
namespace); read where a filesystem is opened (:mod:`fraud_mlops.adls`), never stored.

The variables, defaults and meanings are the fields below (README: "Configuration reference").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from fraud_mlops.settings_base import BLANK_IS_UNSET, EnvSettings, Text, key_of

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


ADLS_NAMESPACES = ("auto", "hierarchical", "flat")
OptionalSecret = Annotated[SecretStr | None, BLANK_IS_UNSET]


class AdlsSettings(EnvSettings):
    """How ``abfss://`` locations are reached. Without a key or SAS token, pyarrow uses Azure's
    ``DefaultAzureCredential`` chain (service principal, workload or managed identity, az)."""

    account_key: OptionalSecret = Field(
        None,
        validation_alias="AZURE_STORAGE_ACCOUNT_KEY",
        description="the storage account's shared key (or set the SAS token, or neither)",
    )
    sas_token: OptionalSecret = Field(
        None,
        validation_alias="AZURE_STORAGE_SAS_TOKEN",
        description="a SAS token, with or without its leading `?` (or the key, or neither)",
    )
    endpoint: Text = Field(
        "",
        validation_alias="AZURE_STORAGE_ENDPOINT",
        description="`http://host:port` of an emulator such as Azurite (the account name then "
        "goes in the URL path); unset for Azure itself",
    )
    namespace: Text = Field(
        "auto",
        validation_alias="LAKEHOUSE_ADLS_NAMESPACE",
        description="the account's namespace: `hierarchical` (ADLS Gen2: atomic renames), "
        "`flat` (Blob storage, Azurite) or `auto` (detected)",
        json_schema_extra={"allowed": ", ".join(ADLS_NAMESPACES)},
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        parsed = urlparse(value)
        if value and (
            parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path.strip("/")
        ):
            raise ValueError(
                f"AZURE_STORAGE_ENDPOINT={value!r} must be the scheme, host and port of an "
                "emulator, e.g. http://127.0.0.1:10000 (the account name goes in the path)."
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        value = value.lower()
        if value not in ADLS_NAMESPACES:
            raise ValueError(
                f"LAKEHOUSE_ADLS_NAMESPACE={value!r} is not a namespace: use hierarchical "
                "(ADLS Gen2), flat (Blob storage, Azurite) or auto, or unset it to detect the "
                "account's."
            )
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> AdlsSettings:
        if self.account_key is not None and self.sas_token is not None:
            raise ValueError(
                "both AZURE_STORAGE_ACCOUNT_KEY and AZURE_STORAGE_SAS_TOKEN are set: set one of "
                "them, or neither to use Azure's DefaultAzureCredential chain (service principal, "
                "managed identity, az)."
            )
        return self
