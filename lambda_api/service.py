"""The scoring service: bytes in, bytes out, vectorised over the whole batch.

One request costs one ``validate_json`` (parse + validate every claim in pydantic-core), one pass
to build column arrays, one ``Scorer.score`` call (numpy, whole batch) and one ``orjson.dumps``.
Bad input raises :class:`ApiError` with a 4xx status and a message that names the field; the
message never repeats a submitted value, because claims carry personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from pydantic import ValidationError

from fraud_mlops.errors import DataValidationError

if TYPE_CHECKING:
    from fraud_mlops.artifact import ModelArtifact
    from fraud_mlops.scoring import Scorer
    from lambda_api.models import RequestModels

MAX_LISTED_PROBLEMS = 20
_FRIENDLY = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field: not a column of the model's schema (see GET /model)",
}


@dataclass
class ApiError(Exception):
    """A request the API refuses; ``status`` is always 4xx or 503."""

    status: int
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)

    def body(self) -> bytes:
        return orjson.dumps({"detail": self.detail, "errors": self.errors})


def require_json(content_type: str | None) -> None:
    """Refuse a body declared as something other than JSON (no header: assume JSON)."""
    if content_type and "json" not in content_type.lower():
        raise ApiError(
            415, f"Content-Type {content_type[:64]!r} is not JSON: send application/json"
        )


def _where(loc: tuple[Any, ...]) -> str:
    """``("claims", 3, "claim_amount")`` -> ``claims[3].claim_amount``."""
    out = ""
    for part in loc[:3]:  # deeper parts only name a union branch ("str", "int")
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_problem(exc: ValidationError, max_batch_size: int) -> ApiError:
    """Turn pydantic's errors into one 400/413/422 answer listing the fields at fault."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return ApiError(400, f"request body is not valid JSON ({first['msg']})")
    for err in errors:
        if err["loc"] == ("claims",) and err["type"] == "too_long":
            return ApiError(
                413,
                f"too many claims in one request: the limit is {max_batch_size} "
                "(MAX_BATCH_SIZE); split the batch",
            )
        if err["loc"] == ("claims",) and err["type"] == "too_short":
            return ApiError(422, f"'claims' is empty: send 1 to {max_batch_size} claims")
    problems: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for err in errors:
        where, message = _where(err["loc"]), _FRIENDLY.get(err["type"], err["msg"])
        if (where, message) not in seen:
            seen.add((where, message))
            problems.append({"field": where, "message": message, "type": err["type"]})
    more = f" (and {len(problems) - 1} more problem(s), listed in 'errors')" if problems[1:] else ""
    detail = f"{problems[0]['field']}: {problems[0]['message']}{more}"
    if first["loc"] == () and first["type"] in ("dict_type", "model_type"):
        detail = 'the body must be a JSON object {"claims": [ {…}, … ]}'
    return ApiError(422, detail, problems[:MAX_LISTED_PROBLEMS])


class ScoringService:
    """Scores validated claims with one model; built once per container."""

    def __init__(self, artifact: ModelArtifact, scorer: Scorer, requests: RequestModels):
        schema = artifact.schema
        self.scorer = scorer
        self.requests = requests
        self.model_name = artifact.model_name
        self.model_version = artifact.version
        self.threshold = float(artifact.threshold)
        self.id_column = schema.id_column
        self.numeric = [(f.name, f.required) for f in schema.numeric]
        self.categorical = [(f.name, f.required) for f in schema.categorical]
        # Dates that feed derived features travel as strings; the scorer parses them.
        self.dates = [
            (name, column.required)
            for name, column in schema.date_columns.items()
            if name in schema.scoring_columns
        ]
        # A request body can never legitimately be larger than this; refuse before parsing.
        self.max_body_bytes = max(65_536, 4096 * requests.max_batch_size)
        # Called with (claims, batch, request_id) after each answer is built: score capture and
        # the shadow (lambda_api.loader.ScoreObserver). It never raises.
        self.after_score: Any = None

    def parse(self, body: bytes) -> list[dict[str, Any]]:
        """Validate a request body; raise :class:`ApiError` on anything wrong with it."""
        if not body:
            raise ApiError(422, 'empty body: send a JSON object {"claims": [ {…}, … ]}')
        if len(body) > self.max_body_bytes:
            raise ApiError(
                413,
                f"request body of {len(body):,} bytes is larger than {self.max_body_bytes:,}; "
                f"send at most {self.requests.max_batch_size} claims per request",
            )
        try:
            return self.requests.adapter.validate_json(body)["claims"]
        except ValidationError as exc:
            raise validation_problem(exc, self.requests.max_batch_size) from None

    def columns(self, claims: list[dict[str, Any]]) -> dict[str, Any]:
        """Columns for the scorer; missing optional values become NaN / None."""
        cols: dict[str, Any] = {}
        for name, required in self.numeric:
            values = [c[name] for c in claims] if required else [c.get(name) for c in claims]
            cols[name] = np.array(values, dtype=np.float64)  # None -> NaN
        for name, required in (*self.categorical, *self.dates):
            # Plain lists: all-string columns become a fast fixed-width str array downstream.
            cols[name] = [c[name] for c in claims] if required else [c.get(name) for c in claims]
        return cols

    def score(self, body: bytes, request_id: str = "") -> tuple[bytes, int]:
        """Score a request body; return the JSON response and the batch size."""
        claims = self.parse(body)
        try:
            batch = self.scorer.score(self.columns(claims))
        except DataValidationError as exc:  # e.g. a date that is not in the declared format
            errors = [
                {"field": "claims", "message": p, "type": "value_error"} for p in exc.problems
            ]
            raise ApiError(422, exc.problems[0], errors[:MAX_LISTED_PROBLEMS]) from None
        version = self.model_version
        results = [
            {
                "id": claim[self.id_column],
                "fraud_probability": prob,
                "flagged": flag,
                "reasons": [{"feature": f, "contribution": v} for f, v in reasons],
                "unknown_categories": unknown,
                "model_version": version,
            }
            for claim, prob, flag, reasons, unknown in zip(
                claims,
                batch.probability.tolist(),
                batch.flagged.tolist(),
                batch.reasons,
                batch.unknown,
                strict=True,
            )
        ]
        payload = {
            "model_name": self.model_name,
            "model_version": version,
            "threshold": self.threshold,
            "results": results,
        }
        answer = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
        if self.after_score is not None:
            self.after_score(claims, batch, request_id)
        return answer, len(claims)
