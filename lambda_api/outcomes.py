"""``POST /v1/outcomes``: investigators' outcomes recorded in the lakehouse ``outcomes/``.

Body ``{"outcomes": [{"claim_id", "outcome": "fraud"|"legitimate", "decided_at", "reason"?}]}``.
Validation is the library's (:func:`fraud_mlops.outcomes.validate_outcomes`): the batch is
recorded whole or refused whole (422, every problem with its row in ``errors``); a decision that
contradicts one already recorded is a 409. Re-sending a batch changes nothing: the answer counts
what was new and what was already recorded. Same limits as scoring (MAX_BATCH_SIZE outcomes, the
same body-size rule) and the same auth (the Function URL's AWS_IAM).

Configuration: the claim-key salt (``CAPTURE_KEY_SALT``, the one setting score capture uses) and
``LAKEHOUSE_URI`` (a folder, or ``s3://``: written with boto3). Without either the endpoint
answers 503 saying what to set. The salt and claim ids are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from fraud_mlops.errors import FraudMlopsError, LakehouseError
from fraud_mlops.outcomes import ClaimKeySettings, OutcomeBatchError, validate_outcomes
from fraud_mlops.settings_base import BLANK_IS_UNSET, EnvSettings
from lambda_api.models import ErrorResponse
from lambda_api.openapi import response_doc
from lambda_api.service import (
    MAX_LISTED_PROBLEMS,
    MAX_MESSAGE_CHARS,
    ApiError,
    clip,
    read_body,
    require_json,
    too_large,
)
from lambda_api.settings import ApiSettings

logger = logging.getLogger("fraud_mlops.api")
JSON = "application/json"
_SHAPE = 'the body must be a JSON object {"outcomes": [ {"claim_id", "outcome", "decided_at"} ]}'


class OutcomeApiSettings(EnvSettings):
    """Where ``POST /v1/outcomes`` records (README: configuration reference)."""

    lakehouse_uri: Annotated[str | None, BLANK_IS_UNSET] = Field(
        None,
        validation_alias="LAKEHOUSE_URI",
        description="where POST /v1/outcomes records outcomes: a folder or `s3://bucket/prefix` "
        "(with CAPTURE_KEY_SALT). Unset = the endpoint answers 503",
    )


class OutcomeIntake:
    """The endpoint's configuration, read once; ``reason`` says why it is off."""

    def __init__(self, env: Mapping[str, str] | None = None):
        self.salt = self.lakehouse = ""
        self.max_batch = 1000
        self.reason: str | None = None
        try:
            self.max_batch = ApiSettings.from_env(env).max_batch_size
            self.salt = ClaimKeySettings.from_env(env).salt()
            self.lakehouse = OutcomeApiSettings.from_env(env).lakehouse_uri or ""
            if not self.lakehouse:
                self.reason = (
                    "LAKEHOUSE_URI is unset: set it to the lakehouse (s3://bucket/prefix) "
                    "where outcomes/ is recorded"
                )
        except FraudMlopsError as exc:  # names the variable, never a secret's value
            self.reason = str(exc)
        self.max_body_bytes = max(65_536, 4096 * self.max_batch)

    def record(self, body: bytes) -> dict[str, Any]:
        if not body:
            raise ApiError(422, f"empty body: {_SHAPE}")
        if len(body) > self.max_body_bytes:
            raise too_large(f"{len(body):,}", self.max_body_bytes)
        # here, not at import: the outcome writer (with concurrent.futures) is not needed
        # before the first outcome, and the scoring container's cold start skips it
        from fraud_mlops.outcome_store import OutcomeConflictError, record_outcomes

        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"request body is not valid JSON ({clip(str(exc), 120)})") from None
        rows = payload.get("outcomes") if isinstance(payload, dict) else None
        if not isinstance(rows, list) or set(payload) - {"outcomes"}:
            raise ApiError(
                422, _SHAPE, [{"field": "body", "message": _SHAPE, "type": "body_shape"}]
            )
        if len(rows) > self.max_batch:
            raise ApiError(
                413,
                f"too many outcomes in one request: the limit is {self.max_batch} "
                "(MAX_BATCH_SIZE); split the batch",
                [{"field": "outcomes", "message": "too many", "type": "too_long"}],
            )
        try:
            outcomes = validate_outcomes(rows, self.salt, source="outcomes", echo=False)
            result = record_outcomes(self.lakehouse, outcomes, source="outcomes")
        except OutcomeBatchError as exc:
            errors = [
                {
                    "field": f"outcomes[{p.row}]" + ("" if p.field == "row" else f".{p.field}"),
                    "message": clip(p.message, MAX_MESSAGE_CHARS),
                    "type": "outcome",
                }
                for p in exc.items
            ]
            raise ApiError(
                422, _summary(errors, "nothing was recorded"), errors[:MAX_LISTED_PROBLEMS]
            ) from None
        except OutcomeConflictError as exc:
            errors = [
                {
                    "field": f"outcomes[{row}]",
                    "message": clip(p, MAX_MESSAGE_CHARS),
                    "type": "conflict",
                }
                for row, p in zip(exc.rows, exc.problems, strict=True)
            ]
            raise ApiError(
                409, _summary(errors, "nothing was recorded"), errors[:MAX_LISTED_PROBLEMS]
            ) from None
        except LakehouseError as exc:
            logger.error("outcomes not recorded", extra={"fields": {"error": type(exc).__name__}})
            raise ApiError(
                503, f"outcomes could not be recorded: {clip(str(exc), MAX_MESSAGE_CHARS)}"
            ) from None
        logger.info("outcomes recorded", extra={"fields": result.counts()})
        return {**result.counts(), "message": result.message}


def _summary(errors: list[dict[str, str]], tail: str) -> str:
    listed = min(len(errors), MAX_LISTED_PROBLEMS) - 1
    more = f" (and {len(errors) - 1} more problem(s), {listed} listed in 'errors')"
    first = f"{errors[0]['field']}: {errors[0]['message']}"
    return f"{first}{more if len(errors) > 1 else ''}; {tail}"


def router(env: Mapping[str, str] | None = None) -> APIRouter:
    """The outcomes route, configured from ``env`` (default: the process environment)."""
    intake = OutcomeIntake(env)
    if intake.reason:
        logger.warning("outcomes endpoint off", extra={"fields": {"reason": intake.reason}})
    api = APIRouter()

    @api.post(
        "/v1/outcomes",
        summary="record investigators' outcomes (1 to MAX_BATCH_SIZE)",
        responses={
            200: {"description": '{"recorded": N, "already_recorded": M, "message": "…"}'},
            **{code: response_doc(ErrorResponse, code) for code in (400, 409, 413, 415, 422, 503)},
        },
    )
    async def outcomes(request: Request) -> Response:
        try:
            if intake.reason:
                raise ApiError(503, f"outcomes are not configured: {intake.reason}")
            require_json(request.headers.get("content-type"))
            body = await read_body(request, intake.max_body_bytes)
            answer = await run_in_threadpool(intake.record, body)  # file / S3 I/O
        except ApiError as err:
            return Response(err.body(), err.status, media_type=JSON)
        return Response(orjson.dumps(answer), 200, media_type=JSON)

    return api
