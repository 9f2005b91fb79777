"""Request and response models built from the model manifest's claims schema.

The request model is made at startup from the schema the model was trained with, so validation
and the OpenAPI page both describe the real fields: numeric features are finite JSON numbers
within the schema's range (integral for ``dtype: int``), categorical features are strings of
bounded length (values never seen in training are accepted and scored through the unknown
bucket), the id column is required. Fields marked ``required: false`` may be null or absent.
Date columns that feed a derived feature (``days_between``) are strings in the column's declared
format (ISO 8601 without one); the scorer parses them, as training did, and a value that is not
such a date gets a 422 naming the field.

Claims are validated as ``TypedDict``s through one ``TypeAdapter.validate_json`` call: parsing
and validation of a whole batch happen in pydantic-core (Rust), with no per-field Python code.

Unknown fields are rejected (``extra="forbid"``) so that a misspelt optional feature cannot be
silently scored as missing; the schema's label, event-time and passthrough columns are accepted
and ignored, so a whole claim record can be posted as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, NotRequired, Required

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from fraud_mlops.schema import CategoricalFeature, ClaimsSchema, DateColumn, NumericFeature

# ids are echoed back through orjson, which only serialises 64-bit integers.
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class RequestModels:
    """The validators and JSON schemas for one served model."""

    claim_type: type
    request_type: type
    adapter: TypeAdapter
    max_batch_size: int

    def openapi_components(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The request body schema and the component schemas it refers to (OpenAPI 3.1)."""
        schema = self.adapter.json_schema(ref_template="#/components/schemas/{model}")
        defs = schema.pop("$defs", {})
        defs["ScoreRequest"] = schema
        return {"$ref": "#/components/schemas/ScoreRequest"}, defs


def _numeric_type(feature: NumericFeature) -> Any:
    constraints: dict[str, Any] = {"strict": True, "allow_inf_nan": False}
    if feature.min is not None:
        constraints["ge"] = feature.min
    if feature.max is not None:
        constraints["le"] = feature.max
    desc = feature.description or f"numeric feature ({feature.dtype})"
    if feature.dtype == "int":
        # Integral floats (34.0, as pandas writes an int column with gaps) are fine; 34.5 is not.
        # pydantic's float multiple_of has a tolerance (it passes 1e-300), hence the validator;
        # plain JSON integers match the first branch and never reach Python code.
        bounds = {k: v for k, v in constraints.items() if k in ("ge", "le")}
        integral = Annotated[
            float, Field(multiple_of=1, **constraints), AfterValidator(_require_integral)
        ]
        return Annotated[
            Annotated[int, Field(strict=True, **bounds)] | integral, Field(description=desc)
        ]
    return Annotated[float, Field(description=desc, **constraints)]


def _require_integral(value: float) -> float:
    if not value.is_integer():
        raise ValueError("Input should be a whole number")
    return value


def _categorical_type(feature: CategoricalFeature, max_length: int) -> Any:
    desc = feature.description or "categorical feature"
    if feature.values:
        desc += f". Known values: {', '.join(feature.values)}; others are scored as unknown."
    return Annotated[str, Field(strict=True, min_length=1, max_length=max_length, description=desc)]


def _date_type(column: DateColumn) -> Any:
    how = f"format {column.format}" if column.format else "ISO 8601, e.g. 2024-03-01"
    desc = column.description or "date"
    return Annotated[
        str,
        Field(strict=True, min_length=1, max_length=64, description=f"{desc} ({how})"),
    ]


def _ignored_type(max_length: int) -> Any:
    scalar = (
        Annotated[str, Field(strict=True, max_length=max_length)]
        | Annotated[float, Field(strict=True, allow_inf_nan=False)]
        | bool
        | None
    )
    return Annotated[scalar, Field(description="accepted and ignored by scoring")]


def _field(tp: Any, required: bool) -> Any:
    return Required[tp] if required else NotRequired[tp | None]


def build_request_models(
    schema: ClaimsSchema, *, max_batch_size: int, max_string_length: int
) -> RequestModels:
    """Build the claim and request validators for ``schema``."""
    id_type = Annotated[
        Annotated[str, Field(strict=True, min_length=1, max_length=max_string_length)]
        | Annotated[int, Field(strict=True, ge=_INT64[0], le=_INT64[1])]
        # JSON Schema calls 7.0 an integer too; it is accepted (and echoed) as a number, within
        # the range where floats hold integers exactly (else -2**63 - 1 would pass as -2**63).
        | Annotated[
            float,
            Field(strict=True, multiple_of=1, ge=-(2**53), le=2**53),
            AfterValidator(_require_integral),
        ],
        Field(description="claim id, echoed back in the result"),
    ]
    fields: dict[str, Any] = {}
    dates = {n: d for n, d in schema.date_columns.items() if n in schema.scoring_columns}
    ignored = [
        schema.label_column,
        *schema.event_time.source_columns,
        *(d.name for d in schema.dates),
        *schema.passthrough,
    ]
    for name in ignored:
        if name not in dates:
            fields[name] = NotRequired[_ignored_type(max_string_length)]
    for name, column in dates.items():
        fields[name] = _field(_date_type(column), column.required)
    for feature in schema.numeric:
        fields[feature.name] = _field(_numeric_type(feature), feature.required)
    for feature in schema.categorical:
        fields[feature.name] = _field(
            _categorical_type(feature, max_string_length), feature.required
        )
    fields[schema.id_column] = Required[id_type]

    claim = TypedDict("Claim", fields)  # type: ignore[misc]
    claim.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    batch = Annotated[
        list[claim],  # type: ignore[valid-type]
        Field(
            min_length=1,
            max_length=max_batch_size,
            description=f"1 to {max_batch_size} claims; one claim is a batch of one",
        ),
    ]
    # Functional syntax: the field type is built at run time (class syntax would need it global).
    request = TypedDict("ScoreRequest", {"claims": Required[batch]})  # type: ignore[misc]  # noqa: UP013
    request.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    return RequestModels(
        claim_type=claim,
        request_type=request,
        adapter=TypeAdapter(request),
        max_batch_size=max_batch_size,
    )


# -- response models: documentation only (responses are serialised once, with orjson) ---------
class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reason(_Doc):
    feature: str = Field(description="schema feature")
    contribution: float = Field(description="contribution to the logit; > 0 pushes to fraud")


class ClaimScore(_Doc):
    id: str | int = Field(description="the claim's id, as sent")
    fraud_probability: float = Field(ge=0, le=1)
    flagged: bool = Field(description="fraud_probability >= the model's threshold")
    reasons: list[Reason] = Field(description="top features by contribution, strongest first")
    unknown_categories: list[str] = Field(
        description="categorical features whose value was not seen in training"
    )
    model_version: str


class ScoreResponse(_Doc):
    model_name: str
    model_version: str
    threshold: float
    results: list[ClaimScore]


class Problem(_Doc):
    field: str = Field(description="where, e.g. claims[3].claim_amount")
    message: str
    type: str


class ErrorResponse(_Doc):
    detail: str = Field(description="what was wrong and how to fix it")
    errors: list[Problem] = Field(default_factory=list)


class Health(_Doc):
    status: str = Field(description="ok, or unavailable when no model is loaded")
    loaded: bool
    model_name: str | None
    model_version: str | None
    uptime_seconds: float
    reason: str | None = Field(description="why no model is loaded")
    capture: dict[str, Any] | None = Field(
        None, description="score capture: active, captured, errors, reason (lambda_api.capture)"
    )
    shadow: dict[str, Any] | None = Field(
        None, description="the shadow challenger, when SHADOW_MODEL_URI is set (lambda_api.shadow)"
    )
