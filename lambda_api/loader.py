"""Load the served model once per container and remember why, if it could not be loaded.

``MODEL_URI`` names either a local artifact directory or a model-store location
``<store>/<model name>/<version or champion>``; store locations are fetched into the cache
folder (Lambda's ``/tmp``) and every file is verified against its sha256 before use. A model that
cannot be loaded does not take the API down: :class:`ModelHolder` keeps the reason, ``/health``
reports ``loaded: false`` and the scoring route answers 503 with that reason.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fraud_mlops.errors import ConfigError, FraudMlopsError
from fraud_mlops.store_layout import MANIFEST, split_location
from lambda_api.settings import ApiSettings

logger = logging.getLogger("fraud_mlops.api")


def split_store_uri(uri: str) -> tuple[str, str, str]:
    """``<store>/<model>/<version|champion>`` -> ``(store, model, ref)``."""
    parts = split_location(uri)
    if parts is None:
        raise ConfigError(
            f"MODEL_URI={uri!r} is neither an artifact folder (with {MANIFEST}) nor a model-store "
            "location. Use <store>/<model name>/<version or champion>, e.g. "
            "s3://models-bucket/models/claims-fraud/champion, or a local artifact folder."
        )
    return parts


def resolve_artifact(uri: str, cache_dir: Path) -> Path:
    """Return a local, verified-on-load artifact folder for ``uri`` (fetching it if remote)."""
    local = uri.removeprefix("file://")
    if "://" not in local:
        path = Path(local).expanduser()
        if (path / MANIFEST).is_file():
            return path
    store, model, ref = split_store_uri(uri)
    from lambda_api.fetch import fetch_artifact

    return fetch_artifact(store, model, ref, cache_dir)


@dataclass
class ModelHolder:
    """The loaded model (or the reason there is none) plus the container's start time."""

    settings: ApiSettings
    service: Any = None  # lambda_api.service.ScoringService once loaded
    reason: str | None = None
    summary: bytes = b""
    load_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def loaded(self) -> bool:
        return self.service is not None

    @classmethod
    def load(cls, env: dict[str, str] | None = None) -> ModelHolder:
        """Read the settings and load the model; never raises (the reason is kept instead)."""
        start = time.perf_counter()
        try:
            settings = ApiSettings.from_env(env)
        except FraudMlopsError as exc:
            # model_construct: the environment just failed validation, so do not read it again
            blank = ApiSettings.model_construct(model_uri="", cache_dir=Path("/tmp"))
            holder = cls(settings=blank, reason=f"bad settings: {exc}")
            logger.error("settings invalid", extra={"fields": {"reason": holder.reason}})
            return holder
        holder = cls(settings=settings)
        try:
            holder._load(settings)
        except FraudMlopsError as exc:
            holder.reason = str(exc)
        except Exception as exc:  # keep serving /health; the log has the traceback
            holder.reason = f"unexpected error while loading {settings.model_uri}: {exc!r}"
            logger.exception("model load failed", extra={"fields": {"reason": holder.reason}})
        holder.load_seconds = time.perf_counter() - start
        if holder.reason:
            logger.error("model not loaded", extra={"fields": {"reason": holder.reason}})
        else:
            logger.info(
                "model loaded",
                extra={
                    "fields": {
                        "model_name": holder.service.model_name,
                        "model_version": holder.service.model_version,
                        "load_ms": round(holder.load_seconds * 1000, 1),
                    }
                },
            )
        return holder

    def _load(self, settings: ApiSettings) -> None:
        from fraud_mlops.artifact import load_artifact
        from fraud_mlops.scoring import Scorer
        from lambda_api.models import build_request_models
        from lambda_api.service import ScoringService

        artifact = load_artifact(resolve_artifact(settings.model_uri, settings.cache_dir))
        requests = build_request_models(
            artifact.schema,
            max_batch_size=settings.max_batch_size,
            max_string_length=settings.max_string_length,
        )
        self.service = ScoringService(artifact, Scorer(artifact), requests)
        self.summary = orjson.dumps(model_summary(artifact.manifest, settings))

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.loaded else "unavailable",
            "loaded": self.loaded,
            "model_name": self.service.model_name if self.loaded else None,
            "model_version": self.service.model_version if self.loaded else None,
            "uptime_seconds": round(time.monotonic() - self.started, 3),
            "reason": self.reason,
        }


def model_summary(manifest: dict[str, Any], settings: ApiSettings) -> dict[str, Any]:
    """What ``GET /model`` shows: everything in the manifest but the fitted preprocessing."""
    keep = (
        "model_name",
        "version",
        "created_at",
        "threshold",
        "metrics",
        "params",
        "architecture",
        "data_fingerprint",
        "code_version",
        "schema",
    )
    summary = {key: manifest.get(key) for key in keep}
    summary["max_batch_size"] = settings.max_batch_size
    summary["max_string_length"] = settings.max_string_length
    return summary
