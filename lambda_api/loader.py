"""Load the served model once per container and remember why, if it could not be loaded.

``MODEL_URI`` names either a local artifact directory or a model-store location
``<store>/<model name>/<version or champion>``; store locations are fetched into the cache
folder (Lambda's ``/tmp``) and every file is verified against its sha256 before use. A model that
cannot be loaded does not take the API down: :class:`ModelHolder` keeps the reason, ``/health``
reports ``loaded: false`` and the scoring route answers 503 with that reason.

Beside the model: score capture (``lambda_api.capture``) and an optional shadow challenger
(``lambda_api.shadow``), attached to the service as its ``after_score`` hook. On Lambda with
SnapStart the model is loaded during init, i.e. before the snapshot;
:func:`register_snapstart` makes the snapshot refuse a container without a model and
re-verifies the model after every restore (docs/releases.md).
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


def build_service(uri: str, settings: ApiSettings) -> tuple[Any, Any]:
    """Load the artifact at ``uri`` (verified) and its scoring service: (artifact, service)."""
    from fraud_mlops.artifact import load_artifact
    from fraud_mlops.scoring import Scorer
    from lambda_api.models import build_request_models
    from lambda_api.service import ScoringService

    artifact = load_artifact(resolve_artifact(uri, settings.cache_dir))
    requests = build_request_models(
        artifact.schema,
        max_batch_size=settings.max_batch_size,
        max_string_length=settings.max_string_length,
    )
    return artifact, ScoringService(artifact, Scorer(artifact), requests)


class ScoreObserver:
    """The service's ``after_score`` hook: capture the champion's batch, then the shadow's."""

    def __init__(self, capture: Any, champion: Any, shadow: Any = None):
        self.capture = capture  # lambda_api.capture.ScoreCapture
        self.champion = champion  # lambda_api.capture.ModelCapture
        self.shadow = shadow  # lambda_api.shadow.Shadow | None

    def __call__(self, claims: list[dict[str, Any]], batch: Any, request_id: str = "") -> None:
        try:  # both already swallow their errors; this guards the request against a bug here
            self.capture.capture(self.champion, claims, batch, request_id)
            if self.shadow is not None:
                self.shadow.observe(claims, self.capture, request_id)
        except Exception as exc:
            self.capture.failed(exc)


@dataclass
class ModelHolder:
    """The loaded model (or the reason there is none) plus the container's start time."""

    settings: ApiSettings
    service: Any = None  # lambda_api.service.ScoringService once loaded
    reason: str | None = None
    summary: bytes = b""
    load_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    capture: Any = None  # lambda_api.capture.ScoreCapture once the model is loaded
    shadow: Any = None  # lambda_api.shadow.Shadow when SHADOW_MODEL_URI is set

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
            holder._load(settings, env)
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

    def _load(self, settings: ApiSettings, env: dict[str, str] | None = None) -> None:
        artifact, service = build_service(settings.model_uri, settings)
        self.service = service
        self.summary = orjson.dumps(model_summary(artifact.manifest, settings))
        try:
            self._attach_capture(artifact, service, settings, env)
        except Exception as exc:  # capture and the shadow never take the model down
            logger.exception(
                "score capture not set up", extra={"fields": {"error": type(exc).__name__}}
            )

    def _attach_capture(
        self, artifact: Any, service: Any, settings: ApiSettings, env: dict[str, str] | None
    ) -> None:
        from lambda_api.capture import ModelCapture, ScoreCapture
        from lambda_api.shadow import Shadow, ShadowSettings

        self.capture = ScoreCapture.from_env(env)
        try:
            shadow_uri = ShadowSettings.from_env(env).model_uri
        except FraudMlopsError as exc:
            logger.error("shadow settings invalid", extra={"fields": {"reason": str(exc)}})
            shadow_uri = None
        if shadow_uri:
            self.shadow = Shadow.load(shadow_uri, settings, service.model_version)
        service.after_score = ScoreObserver(
            self.capture, ModelCapture(artifact, "champion"), self.shadow
        )

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.loaded else "unavailable",
            "loaded": self.loaded,
            "model_name": self.service.model_name if self.loaded else None,
            "model_version": self.service.model_version if self.loaded else None,
            "uptime_seconds": round(time.monotonic() - self.started, 3),
            "reason": self.reason,
            "capture": self.capture.health() if self.capture is not None else None,
            "shadow": self.shadow.health() if self.shadow is not None else None,
        }

    def before_snapshot(self) -> None:
        """SnapStart: refuse to snapshot a container that has no model (publishing fails)."""
        if not self.loaded:
            raise RuntimeError(f"no model loaded, refusing the SnapStart snapshot: {self.reason}")
        logger.info("snapshot", extra={"fields": {"model_version": self.service.model_version}})

    def after_restore(self) -> None:
        """SnapStart: re-verify the restored model; give this container its own identity."""
        self.started = time.monotonic()
        if self.capture is not None and self.capture.sink is not None:
            self.capture.sink.renew()  # restored containers must not share one sink file name
        problem = restored_problem(self)
        if problem:
            self.reason = problem
            self.service = None  # /health says why; scoring answers 503
            logger.error("model re-verification failed", extra={"fields": {"reason": problem}})
        else:
            logger.info("restored", extra={"fields": {"model_version": self.service.model_version}})


def restored_problem(holder: ModelHolder) -> str | None:
    """Why a restored container may not serve, or None: the model must still be loaded, be the
    version MODEL_URI names (unless it names champion), and score a probe claim (every value
    missing) to a probability in [0, 1]."""
    service = holder.service
    if service is None:
        return f"no model after restore: {holder.reason}"
    expected = expected_version(holder.settings.model_uri)
    if expected is not None and expected != service.model_version:
        return f"restored model {service.model_version} is not MODEL_URI's {expected}"
    try:
        probe = service.scorer.score(probe_columns(service))
        value = float(probe.probability[0])
    except Exception as exc:  # reported, the container then answers 503
        return f"restored model failed its probe score: {type(exc).__name__}"
    if not 0.0 <= value <= 1.0:
        return f"restored model scored the probe claim {value!r}, outside [0, 1]"
    return None


def expected_version(uri: str) -> str | None:
    """The version a store location names (None for an artifact folder or ``champion``)."""
    local = Path(uri.removeprefix("file://")).expanduser()
    if "://" not in uri.removeprefix("file://") and (local / MANIFEST).is_file():
        return None
    parts = split_location(uri)
    return parts[2] if parts and parts[2] != "champion" else None


def probe_columns(service: Any) -> dict[str, Any]:
    """One claim with every value missing: the scorer's imputation must still give a score."""
    import numpy as np

    cols: dict[str, Any] = {name: np.array([np.nan]) for name, _ in service.numeric}
    cols.update({name: [None] for name, _ in (*service.categorical, *service.dates)})
    return cols


def register_snapstart(holder: ModelHolder) -> bool:
    """Register the SnapStart runtime hooks when running where they exist (Lambda python3.12
    ships ``snapshot_restore_py``); elsewhere do nothing. True when registered."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(holder.before_snapshot)
    register_after_restore(holder.after_restore)
    return True


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
