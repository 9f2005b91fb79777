"""Score capture from the API: one capture line per scored claim, with no network call.

Every scored claim becomes one ``fraud_mlops.capture_format`` record (hashed claim key, model
version, role, score, flag, reasons, the non-personal model inputs), written as one
``capture_format.log_line`` to stdout, which is the function's log on Lambda (a subscription
filter hands those lines to Firehose: infra/capture.py), and, when ``CAPTURE_SINK`` is set, to a
local file sink: a ``.jsonl`` file, or a folder taken as a lakehouse root and written in the
``scores/date=…/model_version=…/<writer>.jsonl`` layout.

Capture never fails a request: any error is counted (``/health`` shows the counters) and
logged once, with its type only (a message could quote claim data).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
from pydantic import Field

from fraud_mlops import capture_format as cf
from fraud_mlops.outcomes import ClaimKeySettings
from fraud_mlops.settings_base import BLANK_IS_UNSET, secret_value

logger = logging.getLogger("fraud_mlops.api")
_ORJSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class CaptureSettings(ClaimKeySettings):
    """Score capture (README: configuration reference). The salt (``CAPTURE_KEY_SALT``) is
    :class:`fraud_mlops.outcomes.ClaimKeySettings`'s, shared with outcomes."""

    enabled: Annotated[bool, BLANK_IS_UNSET] = Field(
        True,
        validation_alias="CAPTURE_ENABLED",
        description="capture every scored claim (needs CAPTURE_KEY_SALT)",
    )
    sink: Annotated[Path | None, BLANK_IS_UNSET] = Field(
        None,
        validation_alias="CAPTURE_SINK",
        description="also append capture lines locally: a .jsonl file, or a folder written as "
        "a lakehouse root (scores/date=…/model_version=…/)",
    )
    log: Annotated[bool, BLANK_IS_UNSET] = Field(
        True,
        validation_alias="CAPTURE_LOG",
        description="write capture lines to stdout (the function log Firehose reads)",
    )


class ModelCapture:
    """What a capture record says about one served model (champion or shadow)."""

    def __init__(self, artifact: Any, role: str):
        schema = artifact.schema
        self.model_name = artifact.model_name
        self.model_version = str(artifact.version)
        self.threshold = float(artifact.threshold)
        self.role = role
        self.id_column = schema.id_column
        self.features = cf.capture_features(
            schema.scoring_columns, schema.personal, schema.id_column
        )


class _Sink:
    """Append-only local files; one per partition folder, named uniquely for this writer."""

    def __init__(self, root: Path):
        self.root = root
        self.single = root.suffix == ".jsonl"
        self._files: dict[str, IO[str]] = {}
        self.renew()

    def renew(self) -> None:
        """A new writer name (and files): after a SnapStart restore, or a fork."""
        self.close()
        self.writer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def write(self, partition: str, text: str) -> None:
        key = "" if self.single else partition
        handle = self._files.get(key)
        if handle is None:
            path = self.root if self.single else self.root / partition / f"{self.writer}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._files[key] = path.open("a", encoding="utf-8")
        handle.write(text)
        handle.flush()

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()


class ScoreCapture:
    """Turns scored batches into capture lines on stdout and the optional file sink."""

    def __init__(self, settings: CaptureSettings, stream: IO[str] | None = None):
        self.salt = secret_value(settings.key_salt)
        self.active = settings.enabled and bool(self.salt)
        self.stream = (stream or sys.stdout) if settings.log else None
        self.sink = _Sink(settings.sink) if settings.sink is not None else None
        self.captured = 0
        self.errors = 0
        self.reason = None if self.active else _why_off(settings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScoreCapture:
        """Read the settings; invalid ones turn capture off with the reason (never raise)."""
        from fraud_mlops.errors import FraudMlopsError

        try:
            capture = cls(CaptureSettings.from_env(env))
        except FraudMlopsError as exc:
            capture = cls(CaptureSettings(enabled=False))
            capture.reason = f"bad capture settings: {exc}"
        if capture.reason:
            logger.warning("score capture off", extra={"fields": {"reason": capture.reason}})
        return capture

    def records(
        self,
        model: ModelCapture,
        claims: Sequence[Mapping[str, Any]],
        batch: Any,
        request_id: str = "",
        captured_at: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """One capture record per claim of a scored batch.

        The fields come from one ``capture_format.record`` per batch (the contract), copied
        per claim with that claim's values: the timestamp is formatted once, not per claim.
        """
        when = captured_at or datetime.now(UTC)
        salt, features, id_column = self.salt, model.features, model.id_column
        template = cf.record(
            claim_key="",
            model_name=model.model_name,
            model_version=model.model_version,
            role=model.role,
            score=0.0,
            flagged=False,
            threshold=model.threshold,
            reasons=[],
            features={},
            request_id=request_id,
            captured_at=when,
        )
        return [
            {
                **template,
                "claim_key": cf.claim_key(claim[id_column], salt),
                "score": prob,
                "flagged": flag,
                "reasons": reasons,
                "features": {c: claim.get(c) for c in features},
            }
            for claim, prob, flag, reasons in zip(
                claims,
                batch.probability.tolist(),
                batch.flagged.tolist(),
                batch.reason_records,  # the same records as the API's answer
                strict=True,
            )
        ]

    def capture(
        self,
        model: ModelCapture,
        claims: Sequence[Mapping[str, Any]],
        batch: Any,
        request_id: str = "",
    ) -> None:
        """Write the batch's capture lines; never raises (errors are counted, logged once)."""
        if not self.active:
            return
        try:
            records = self.records(model, claims, batch, request_id)
            text = "".join([_line(rec) for rec in records])
            if self.stream is not None:
                self.stream.write(text)
            if self.sink is not None and records:
                rec = records[0]  # one batch: one timestamp and one model version
                self.sink.write(cf.partition(rec["captured_at"], rec["model_version"]), text)
            self.captured += len(records)
        except Exception as exc:  # capture must never fail a request
            self.failed(exc)

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.errors == 1:  # once: a broken sink would otherwise log on every request
            logger.error(
                "score capture failed (counted in /health; later failures are not logged)",
                extra={"fields": {"error": type(exc).__name__}},
            )

    def health(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "captured": self.captured,
            "errors": self.errors,
            "reason": self.reason,
        }


def _line(rec: dict[str, Any]) -> str:
    """``capture_format.log_line`` + newline, serialised by orjson (~10x faster than json):
    the same prefix and compact JSON, so ``capture_format.parse_line`` reads both alike."""
    return cf.CAPTURE_PREFIX + orjson.dumps(rec, option=_ORJSON).decode() + "\n"


def _why_off(settings: CaptureSettings) -> str:
    if not settings.enabled:
        return "CAPTURE_ENABLED=false"
    return (
        "CAPTURE_KEY_SALT is unset: set it (the same salt as for outcomes) to capture scores, "
        "or CAPTURE_ENABLED=false to silence this"
    )
