"""The API's settings, read once from the environment and validated.

``MODEL_URI`` is one of: a local artifact directory (it holds ``manifest.json``); or a model-store
location ``<store>/<model name>/<version or champion>`` where ``<store>`` is a local folder or
``s3://bucket/prefix``. The variables, defaults and ranges are the fields below (README:
"Configuration reference").
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from fraud_mlops.settings_base import BLANK_IS_UNSET, EnvSettings, Text, environ


def _champion_of_the_library_store() -> str:
    # Locally the embedded model store's champion is the natural default; on Lambda the stack
    # always sets MODEL_URI, so this only runs on a laptop.
    from fraud_mlops.settings import Settings

    lib = Settings.from_env(environ())
    return f"{lib.model_store_uri}/{lib.model_name}/champion"


def _default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "fraud-mlops-models"


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


class ApiSettings(EnvSettings):
    """Everything the API reads from its environment. Build it with :meth:`from_env`."""

    model_uri: Text = Field(
        default_factory=_champion_of_the_library_store,
        validation_alias="MODEL_URI",
        description="the model to serve: a local artifact folder, `<store>/<model>/champion` "
        "or `<store>/<model>/<version>`",
        json_schema_extra={"shown_default": "$MODEL_STORE_URI/$MODEL_NAME/champion"},
    )
    cache_dir: Annotated[Path, BLANK_IS_UNSET] = Field(
        default_factory=_default_cache_dir,
        validation_alias="MODEL_CACHE_DIR",
        description="download cache of fetched models (Lambda: under /tmp)",
        json_schema_extra={"shown_default": "<tempdir>/fraud-mlops-models"},
    )
    max_batch_size: Annotated[int, BLANK_IS_UNSET] = Field(
        1000,
        ge=1,
        le=10_000,
        validation_alias="MAX_BATCH_SIZE",
        description="most claims one request may carry",
    )
    max_string_length: Annotated[int, BLANK_IS_UNSET] = Field(
        128,
        ge=1,
        le=4096,
        validation_alias="MAX_STRING_LENGTH",
        description="longest accepted id / category value",
    )
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = (
        Field("INFO", validation_alias="LOG_LEVEL", description="level of the JSON request log")
    )
    # Telemetry: Powertools' own variable names, so its documentation applies as written.
    service_name: Text = Field(
        "fraud-scoring",
        validation_alias="POWERTOOLS_SERVICE_NAME",
        description="`service` key of every log line (and the X-Ray service name)",
    )
    metrics_namespace: Text = Field(
        "FraudMlops",
        validation_alias="POWERTOOLS_METRICS_NAMESPACE",
        description="CloudWatch namespace of the EMF request metrics (dimension model_version)",
    )
    metrics_disabled: Annotated[bool, BLANK_IS_UNSET] = Field(
        False,
        validation_alias="POWERTOOLS_METRICS_DISABLED",
        description="`true` stops the per-request EMF metrics document",
    )
    trace_disabled: Annotated[bool, BLANK_IS_UNSET] = Field(
        True,
        validation_alias="POWERTOOLS_TRACE_DISABLED",
        description="`false` traces each invocation with X-Ray (needs Active tracing on the "
        "function); responses and errors are never captured",
    )
