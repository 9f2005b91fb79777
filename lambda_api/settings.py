"""The API's settings, read once from the environment and validated.

| variable | default | meaning |
|---|---|---|
| ``MODEL_URI`` | ``$MODEL_STORE_URI/$MODEL_NAME/champion`` | the model to serve (see below) |
| ``MODEL_CACHE_DIR`` | ``<tempdir>/fraud-mlops-models`` | download cache (Lambda: ``/tmp``) |
| ``MAX_BATCH_SIZE`` | ``1000`` | most claims one request may carry |
| ``MAX_STRING_LENGTH`` | ``128`` | longest accepted id / category value |
| ``LOG_LEVEL`` | ``INFO`` | level of the JSON request log |

``MODEL_URI`` is one of: a local artifact directory (it holds ``manifest.json``); or a model-store
location ``<store>/<model name>/<version or champion>`` where ``<store>`` is a local folder or
``s3://bucket/prefix``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fraud_mlops.errors import ConfigError

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _bounded_int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a whole number; set it to {low}..{high}"
        ) from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range; set it to {low}..{high}")
    return value


@dataclass(frozen=True)
class ApiSettings:
    """Everything the API reads from its environment. Build it with :meth:`from_env`."""

    model_uri: str
    cache_dir: Path
    max_batch_size: int = 1000
    max_string_length: int = 128
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ApiSettings:
        env = dict(os.environ if env is None else env)
        model_uri = env.get("MODEL_URI", "").strip()
        if not model_uri:
            # Locally the embedded model store's champion is the natural default; on Lambda the
            # stack always sets MODEL_URI, so this branch only runs on a laptop.
            from fraud_mlops.settings import Settings

            lib = Settings.from_env(env)
            model_uri = f"{lib.model_store_uri}/{lib.model_name}/champion"
        cache = env.get("MODEL_CACHE_DIR", "").strip()
        cache_dir = Path(cache) if cache else Path(tempfile.gettempdir()) / "fraud-mlops-models"
        level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
        if level not in _LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL={level!r} is not one of {', '.join(_LOG_LEVELS)}")
        return cls(
            model_uri=model_uri,
            cache_dir=cache_dir,
            max_batch_size=_bounded_int(env, "MAX_BATCH_SIZE", 1000, 1, 10_000),
            max_string_length=_bounded_int(env, "MAX_STRING_LENGTH", 128, 1, 4096),
            log_level=level,
        )
