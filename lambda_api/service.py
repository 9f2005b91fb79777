"""The scoring service: bytes in, bytes out, vectorised over the whole batch.

One request costs one ``validate_json`` (parse + validate every claim in pydantic-core), one pass
to build column arrays, one ``Scorer.score`` call (numpy, whole batch) and one ``orjson.dumps``.
Bad input raises :class:`ApiError` with a 4xx status and a message that names the field; the
message never repeats a submitted value, because claims carry personal data, and every part of
it is bounded (field names cut to :data:`MAX_NAME_CHARS`, messages to :data:`MAX_MESSAGE_CHARS`,
at most :data:`MAX_LISTED_PROBLEMS` problems): a hostile body cannot make an error answer large.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import repeat
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
MAX_NAME_CHARS = 64  # a field name or id quoted in an error is cut to this
MAX_MESSAGE_CHARS = 300
# RFC 9110 media type: type "/" subtype *( OWS ";" OWS parameter ); parameter values are tokens
# or quoted strings. Anything else is not a media type at all.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_MEDIA_TYPE = re.compile(
    rf"\s*({_TOKEN})/({_TOKEN})((?:\s*;\s*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*)\s*;?\s*"
)
_PARAMETER = re.compile(rf";\s*({_TOKEN})=({_TOKEN}|{_QUOTED})")
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


def clip(text: str, limit: int = MAX_NAME_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    suffix = f"…({len(text):,} chars)"
    return text[: max(0, limit - len(suffix))] + suffix


def require_json(content_type: str | None) -> None:
    """Refuse a body declared as anything but JSON: ``application/json`` or
    ``application/<something>+json``, with at most a ``charset=utf-8`` parameter (RFC 8259:
    JSON is UTF-8). No header at all: assume JSON."""
    if not content_type or content_type == "application/json":
        return
    match = _MEDIA_TYPE.fullmatch(content_type)
    shown = clip(content_type)
    if match is None:
        raise ApiError(
            415,
            f"Content-Type {shown!r} is not a media type: send application/json",
            [
                {
                    "field": "headers.content-type",
                    "message": "not a media type",
                    "type": "media_type",
                }
            ],
        )
    kind, subtype = match.group(1).lower(), match.group(2).lower()
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        raise ApiError(
            415,
            f"Content-Type {shown!r} is not JSON: send application/json",
            [{"field": "headers.content-type", "message": "not JSON", "type": "media_type"}],
        )
    for name, value in _PARAMETER.findall(match.group(3)):
        value = value[1:-1] if value.startswith('"') else value
        if name.lower() == "charset" and value.lower() not in ("utf-8", "utf8"):
            raise ApiError(
                415,
                f"Content-Type charset {clip(value)!r} is not supported: JSON is sent as utf-8",
                [{"field": "headers.content-type", "message": "charset", "type": "media_type"}],
            )


def too_large(size: str, limit: int) -> ApiError:
    return ApiError(
        413,
        f"request body of {size} bytes is larger than {limit:,}: send fewer claims per request",
        [{"field": "body", "message": f"at most {limit:,} bytes", "type": "too_large"}],
    )


async def read_body(request: Any, limit: int) -> bytes:
    """The request body, refused with a 413 as soon as it passes ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading anything; a chunked
    body is read chunk by chunk and dropped the moment it passes the limit, so a 200 MB upload
    to the container server never sits in memory. (On Lambda the body is already in the event.)
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(
                400,
                "Content-Length is not a number of bytes",
                [{"field": "headers.content-length", "message": "not a number", "type": "header"}],
            )
        if int(declared) > limit:
            raise too_large(f"{int(declared):,}", limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"more than {limit:,}", limit)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _where(loc: tuple[Any, ...]) -> str:
    """``("claims", 3, "claim_amount")`` -> ``claims[3].claim_amount``."""
    out = ""
    for part in loc[:3]:  # deeper parts only name a union branch ("str", "int")
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = clip(str(part))  # an unknown key is the client's text, of any length
            out += f".{name}" if out else name
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
        where = _where(err["loc"])
        message = clip(_FRIENDLY.get(err["type"], err["msg"]), MAX_MESSAGE_CHARS)
        if (where, message) not in seen:
            seen.add((where, message))
            problems.append({"field": where, "message": message, "type": err["type"]})
    more = ""
    if problems[1:]:
        listed = min(len(problems), MAX_LISTED_PROBLEMS) - 1
        more = f" (and {len(problems) - 1} more problem(s), {listed} listed in 'errors')"
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
        self.columns_read = [*self.numeric, *self.categorical, *self.dates]
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
            raise too_large(f"{len(body):,}", self.max_body_bytes)
        try:
            claims = self.requests.adapter.validate_json(body)["claims"]
        except ValidationError as exc:
            raise validation_problem(exc, self.requests.max_batch_size) from None
        if len(claims) > 1:
            self.refuse_duplicate_ids(claims)
        return claims

    def refuse_duplicate_ids(self, claims: list[dict[str, Any]]) -> None:
        """Two results with one id could not be told apart: a batch's ids must be unique."""
        key = self.id_column
        ids = [c[key] for c in claims]
        if len(set(ids)) == len(ids):
            return
        first: dict[Any, int] = {}
        errors = []
        for i, value in enumerate(ids):
            if value in first:
                errors.append(
                    {
                        "field": f"claims[{i}].{key}",
                        "message": f"duplicate of claims[{first[value]}].{key} "
                        f"({clip(str(value))!r}): each claim in a batch needs its own id",
                        "type": "duplicate_id",
                    }
                )
            else:
                first[value] = i
        more = f" ({len(errors)} duplicate(s) in all)" if len(errors) > 1 else ""
        raise ApiError(
            422, f"{errors[0]['field']}: {errors[0]['message']}{more}", errors[:MAX_LISTED_PROBLEMS]
        )

    def columns(self, claims: list[dict[str, Any]]) -> dict[str, Any]:
        """Columns for the scorer: plain lists, None for a missing optional value.

        Plain lists for every column: the preprocessor turns a batch's into arrays in one call
        each (numbers to float64, None to NaN; all-string columns to a fixed-width str array),
        and scores a single claim of plain values on its scalar path, with no arrays at all.
        """
        return {
            name: [c[name] for c in claims] if required else [c.get(name) for c in claims]
            for name, required in self.columns_read
        }

    def score(self, body: bytes, request_id: str = "") -> tuple[bytes, int, int]:
        """Score a request body; return the JSON response, the batch size and claims flagged."""
        claims = self.parse(body)
        try:
            batch = self.scorer.score(self.columns(claims))
        except DataValidationError as exc:  # e.g. a date that is not in the declared format
            errors = [
                {"field": "claims", "message": p, "type": "value_error"} for p in exc.problems
            ]
            errors = [{**e, "message": clip(e["message"], MAX_MESSAGE_CHARS)} for e in errors]
            detail = clip(exc.problems[0], MAX_MESSAGE_CHARS)
            raise ApiError(422, detail, errors[:MAX_LISTED_PROBLEMS]) from None
        version = self.model_version
        # Claims with no unknown category (all, usually) share one empty tuple, which orjson
        # writes as [] like an empty list.
        unknown = batch.unknown if batch.unknown_mask.any() else repeat((), len(claims))
        results = [
            {
                "id": claim[self.id_column],
                "fraud_probability": prob,
                "flagged": flag,
                "reasons": reasons,
                "unknown_categories": unknown_categories,
                "model_version": version,
            }
            for claim, prob, flag, reasons, unknown_categories in zip(
                claims,
                batch.probability.tolist(),
                batch.flagged.tolist(),
                batch.reason_records,
                unknown,
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
        return answer, len(claims), int(np.count_nonzero(batch.flagged))
