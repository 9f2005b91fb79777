"""The claims schema: which columns a dataset has and what values they may hold.

A schema is declared in YAML and describes the id, label and event-time columns, the numeric
and categorical feature columns (with ranges, allowed values and whether they may be missing),
the segment columns that reports group by and the personal columns that logs must never show.
Everything downstream (ingest, preprocessing, the model, the API request model, the warehouse
segments) reads the schema instead of assuming column names, so a user's own data works the same
way as the synthetic claims.

This module is on the scoring path: it imports numpy/pydantic/yaml only.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fraud_mlops.errors import SchemaError

Identifier = Annotated[str, Field(min_length=1, max_length=128)]

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericFeature(_Strict):
    """A numeric input column.

    ``transform: log`` marks amounts (log1p before robust scaling); ``missing_values`` lists
    sentinel values that mean "unknown" in the source (e.g. ``Age = 0``) and become missing.
    """

    name: Identifier
    dtype: Literal["int", "float"] = "float"
    min: float | None = None
    max: float | None = None
    transform: Literal["none", "log"] = "none"
    required: bool = True
    missing_values: tuple[float, ...] = ()
    description: str = ""

    @model_validator(mode="after")
    def _range_is_ordered(self) -> NumericFeature:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.transform == "log" and (self.min is None or self.min < 0):
            raise ValueError("transform: log needs min >= 0 (amounts cannot be negative)")
        return self


class CategoricalFeature(_Strict):
    """A categorical input column; ``values`` (optional) is the closed set allowed at ingest."""

    name: Identifier
    values: tuple[str, ...] | None = None
    required: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _values_unique(self) -> CategoricalFeature:
        if self.values is not None:
            if not self.values:
                raise ValueError("values is empty: list the allowed values or leave it out")
            if len(set(self.values)) != len(self.values):
                raise ValueError("values has duplicates")
        return self


class EventTimeParts(_Strict):
    """Columns that together give an approximate event date when there is no timestamp."""

    year: Identifier
    month: Identifier
    week_of_month: Identifier | None = None
    day_of_week: Identifier | None = None


class EventTime(_Strict):
    """Either one timestamp ``column`` or date ``parts`` (year, month, week of month, weekday)."""

    column: Identifier | None = None
    parts: EventTimeParts | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EventTime:
        if (self.column is None) == (self.parts is None):
            raise ValueError("give exactly one of 'column' or 'parts'")
        return self

    @property
    def source_columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        assert self.parts is not None
        p = self.parts
        return [c for c in (p.year, p.month, p.week_of_month, p.day_of_week) if c is not None]


class ClaimsSchema(_Strict):
    """A dataset's declared shape. Load one with :func:`load_schema`."""

    name: Identifier
    version: int = 1
    description: str = ""
    id_column: Identifier
    label_column: Identifier
    event_time: EventTime
    numeric: tuple[NumericFeature, ...] = ()
    categorical: tuple[CategoricalFeature, ...] = ()
    segments: tuple[Identifier, ...] = ()
    personal: tuple[Identifier, ...] = ()
    passthrough: tuple[Identifier, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ClaimsSchema:
        if not self.numeric and not self.categorical:
            raise ValueError("declare at least one numeric or categorical feature")
        names = [f.name for f in self.numeric] + [f.name for f in self.categorical]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature columns declared twice: {', '.join(dupes)}")
        special = {self.id_column, self.label_column}
        clash = sorted(special & set(names))
        if clash:
            raise ValueError(f"id/label column also declared as a feature: {', '.join(clash)}")
        known = set(names) | set(self.passthrough)
        for seg in self.segments:
            if seg not in {f.name for f in self.categorical}:
                raise ValueError(f"segment {seg!r} must be a declared categorical feature")
        for col in self.personal:
            if col not in known and col != self.id_column:
                raise ValueError(f"personal column {col!r} is not a feature or passthrough column")
        return self

    # -- derived views used downstream ------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.numeric] + [f.name for f in self.categorical]

    @property
    def numeric_names(self) -> list[str]:
        return [f.name for f in self.numeric]

    @property
    def categorical_names(self) -> list[str]:
        return [f.name for f in self.categorical]

    @property
    def input_columns(self) -> list[str]:
        """Every column the source must (or may) provide, in a stable order."""
        cols = [self.id_column, self.label_column, *self.event_time.source_columns]
        cols += self.feature_names + list(self.passthrough)
        seen: dict[str, None] = {}
        for c in cols:
            seen.setdefault(c, None)
        return list(seen)

    def feature(self, name: str) -> NumericFeature | CategoricalFeature:
        for f in (*self.numeric, *self.categorical):
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)


def schema_from_dict(data: Any, source: str = "schema") -> ClaimsSchema:
    """Validate a parsed schema document; raise :class:`SchemaError` listing every problem."""
    if not isinstance(data, dict):
        raise SchemaError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return ClaimsSchema.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"  - {where}: {msg}")
        raise SchemaError(
            f"{source} is not a valid claims schema ({len(problems)} problem(s)):\n"
            + "\n".join(problems)
            + "\nSee src/fraud_mlops/schemas/synthetic_claims.yaml for a complete example."
        ) from None


def load_schema(path: str | Path | None = None) -> ClaimsSchema:
    """Load a schema YAML file; ``None`` (or ``"synthetic"``) gives the built-in default.

    Names of bundled schemas (``synthetic``, ``fraud_oracle``) are accepted as well as paths.
    """
    if path is None or str(path) in BUNDLED:
        name = BUNDLED[str(path or "synthetic")]
        text = resources.files("fraud_mlops.schemas").joinpath(name).read_text(encoding="utf-8")
        source = f"bundled schema {name}"
    else:
        p = Path(path)
        if not p.is_file():
            raise SchemaError(
                f"schema file {str(path)!r} does not exist. Pass a YAML schema file, or one of the "
                f"bundled names: {', '.join(sorted(BUNDLED))}."
            )
        text = p.read_text(encoding="utf-8")
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError(f"{source} is not valid YAML: {exc}") from None
    return schema_from_dict(data, source)


BUNDLED = {"synthetic": "synthetic_claims.yaml", "fraud_oracle": "fraud_oracle.yaml"}


def default_schema() -> ClaimsSchema:
    """The schema of the synthetic claims."""
    return load_schema(None)
