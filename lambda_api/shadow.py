"""A shadow challenger: a second published model scored beside the champion, never answering.

``SHADOW_MODEL_URI`` (set by the stack's ``shadowVersion``, or ``promote --shadow VERSION``)
names a model-store version loaded at cold start like the served one. Each scored batch is
scored again by the shadow, after the champion's answer is built; its results are only
captured (role ``shadow``), so the monitoring flow can compare the two on outcomes. A shadow
that fails to load, or to score a batch (e.g. its schema needs a column the champion's does
not), changes nothing in the response: the failure is counted in ``/health`` and logged once.
The shadow runs only while capture is on (its scores are useless otherwise) and costs one more
scoring pass per request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field

from fraud_mlops.errors import FraudMlopsError
from fraud_mlops.settings_base import BLANK_IS_UNSET, EnvSettings, Text
from lambda_api.capture import ModelCapture, ScoreCapture

logger = logging.getLogger("fraud_mlops.api")


class ShadowSettings(EnvSettings):
    """The shadow challenger (README: configuration reference)."""

    model_uri: Annotated[Text | None, BLANK_IS_UNSET] = Field(
        None,
        validation_alias="SHADOW_MODEL_URI",
        description="a second model scored in shadow (captured with role shadow, never "
        "returned): `<store>/<model>/<version>`; unset = no shadow",
    )


class Shadow:
    """The loaded shadow model (or why it is not), scoring batches it is handed."""

    def __init__(
        self, uri: str, service: Any = None, model: ModelCapture | None = None, reason: str = ""
    ):
        self.uri = uri
        self.service = service  # a lambda_api.service.ScoringService
        self.model = model
        self.reason = reason or None
        self.scored = 0
        self.errors = 0

    @classmethod
    def load(cls, uri: str, api_settings: Any, champion_version: str) -> Shadow:
        """Load ``uri`` like the served model; never raises (the reason is kept instead)."""
        from lambda_api.loader import build_service

        try:
            artifact, service = build_service(uri, api_settings)
        except FraudMlopsError as exc:
            shadow = cls(uri, reason=str(exc))
        except Exception as exc:  # a broken shadow must not stop serving
            shadow = cls(uri, reason=f"unexpected error while loading {uri}: {exc!r}")
        else:
            shadow = cls(uri, service, ModelCapture(artifact, "shadow"))
            if service.model_version == champion_version:
                shadow.service, shadow.model = None, None
                shadow.reason = f"shadow {uri} is the champion ({champion_version}): not scored"
        if shadow.reason:
            logger.error("shadow model not loaded", extra={"fields": {"reason": shadow.reason}})
        else:
            logger.info(
                "shadow model loaded",
                extra={"fields": {"model_version": shadow.service.model_version}},
            )
        return shadow

    @property
    def loaded(self) -> bool:
        return self.service is not None

    def observe(
        self, claims: Sequence[Mapping[str, Any]], capture: ScoreCapture, request_id: str = ""
    ) -> None:
        """Score ``claims`` with the shadow and capture the results; never raises."""
        if self.service is None or not capture.active:
            return
        try:
            batch = self.service.scorer.score(self.service.columns(claims))
        except Exception as exc:  # the shadow never affects the response
            self.errors += 1
            if self.errors == 1:
                logger.error(
                    "shadow scoring failed (counted in /health; later failures are not logged)",
                    extra={"fields": {"error": type(exc).__name__}},
                )
            return
        self.scored += len(claims)
        capture.capture(self.model, claims, batch, request_id)

    def health(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "model_version": self.service.model_version if self.loaded else None,
            "scored": self.scored,
            "errors": self.errors,
            "reason": self.reason,
        }
