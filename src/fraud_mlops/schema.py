"""The claims schema: which columns a dataset has and what values they may hold.

A schema is declared in YAML and describes the id, label and event-time columns, the numeric
and categorical feature columns (with ranges, allowed values, missing-value tokens and whether
they may be missing), further date columns and the features derived from them (``days_between``),
how a CSV export is written (delimiter, encoding, decimal mark), the segment columns that reports
group by and the personal columns that logs must never show. Every option is documented in
docs/bring-your-own-data.md.
Everything downstream (ingest, preprocessing, the model, the API request model, the warehouse
segments) reads the schema instead of assuming column names, so a user's own data works the same
way as the synthetic claims.

This module is on the scoring path: it imports numpy/pydantic/yaml only.
"""

from __future__ import annotations

import codecs
import difflib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from fraud_mlops.dates import format_problem
from fraud_mlops.errors import SchemaError

Identifier = Annotated[str, Field(min_length=1, max_length=128)]
# What a source writes for "unknown": text tokens ("?", "NA") and, for numeric columns only,
# sentinel numbers (Age = 0). Strict, so that YAML's unquoted `no` (a boolean) is refused.
TextToken = Annotated[StrictStr, Field(max_length=64)]

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericFeature(_Strict):
    """A numeric input column.

    ``transform: log`` marks amounts (log1p before robust scaling); ``missing_values`` lists what
    means "unknown" in the source, sentinel numbers (e.g. ``Age = 0``) or text (``"?"``); both
    become missing values.
    """

    name: Identifier
    dtype: Literal["int", "float"] = "float"
    min: float | None = None
    max: float | None = None
    transform: Literal["none", "log"] = "none"
    required: bool = True
    missing_values: tuple[TextToken | StrictFloat, ...] = ()
    description: str = ""

    @property
    def missing_numbers(self) -> tuple[float, ...]:
        """The sentinel numbers of ``missing_values`` (applied after parsing, also when scoring)."""
        return tuple(float(v) for v in self.missing_values if not isinstance(v, str))

    @property
    def missing_texts(self) -> tuple[str, ...]:
        """The text tokens of ``missing_values`` (matched against the raw text at ingest)."""
        return tuple(v for v in self.missing_values if isinstance(v, str))

    @model_validator(mode="after")
    def _range_is_ordered(self) -> NumericFeature:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.transform == "log" and (self.min is None or self.min < 0):
            raise ValueError("transform: log needs min >= 0 (amounts cannot be negative)")
        return self


class CategoricalFeature(_Strict):
    """A categorical input column; ``values`` (optional) is the closed set allowed at ingest.

    ``missing_values`` lists text tokens that mean "unknown" (``"?"``, ``"NA"``): they become
    missing at ingest and when scoring, so they never count as a category.
    """

    name: Identifier
    values: tuple[str, ...] | None = None
    required: bool = True
    missing_values: tuple[TextToken, ...] = ()
    description: str = ""

    @model_validator(mode="after")
    def _values_unique(self) -> CategoricalFeature:
        if self.values is not None:
            if not self.values:
                raise ValueError("values is empty: list the allowed values or leave it out")
            if len(set(self.values)) != len(self.values):
                raise ValueError("values has duplicates")
            both = [v for v in self.missing_values if v in self.values]
            if both:
                raise ValueError(
                    f"{both} is both an allowed value and a missing-value token; remove it from "
                    "one of them (a column's own missing_values replaces the file-level default, "
                    "so `missing_values: []` turns the default off for this column)"
                )
        return self


class DateColumn(_Strict):
    """A date column besides the event time, e.g. the policy's start; it feeds ``derived``.

    ``format`` is a strftime format (``"%d/%m/%Y"``); without it only ISO 8601 is accepted.
    """

    name: Identifier
    format: str | None = None
    required: bool = True
    missing_values: tuple[TextToken, ...] = ()
    description: str = ""

    @field_validator("format")
    @classmethod
    def _format_is_usable(cls, value: str | None) -> str | None:
        problem = None if value is None else format_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class DerivedFeature(_Strict):
    """A numeric model input computed from date columns, the same way in training and scoring.

    ``days_between: [start, end]`` is ``end - start`` in days (e.g. policy tenure at the incident);
    it is missing when either date is missing.
    """

    name: Identifier
    days_between: tuple[Identifier, Identifier]
    description: str = ""

    @model_validator(mode="after")
    def _two_columns(self) -> DerivedFeature:
        if self.days_between[0] == self.days_between[1]:
            raise ValueError(f"days_between names {self.days_between[0]!r} twice: give two dates")
        return self

    @property
    def source_columns(self) -> tuple[str, str]:
        return self.days_between


class CsvDialect(_Strict):
    """How a CSV export is written. Parquet files ignore it."""

    delimiter: str = ","
    encoding: str = "utf-8"
    decimal: Literal[".", ","] = "."

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ("\\t", "tab"):
            value = "\t"
        if isinstance(value, str) and (len(value) != 1 or value in '"\r\n'):
            raise ValueError(
                f"{value!r} is not a delimiter: give one character other than a quote or a "
                "line break (e.g. ',', ';', '|', or 'tab')"
            )
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"{value!r} is not an encoding Python knows; use e.g. utf-8, utf-8-sig, latin-1 "
                "or cp1252"
            ) from None
        return value

    @model_validator(mode="after")
    def _distinct_marks(self) -> CsvDialect:
        if self.delimiter == self.decimal:
            raise ValueError(
                f"delimiter and decimal are both {self.delimiter!r}: a ','-decimal export is "
                "usually ';'-separated (delimiter: ';')"
            )
        return self


class EventTimeParts(_Strict):
    """Columns that together give an approximate event date when there is no timestamp."""

    year: Identifier
    month: Identifier
    week_of_month: Identifier | None = None
    day_of_week: Identifier | None = None


class EventTime(_Strict):
    """Either one timestamp ``column`` (with an optional strftime ``format``; ISO 8601 without)
    or date ``parts`` (year, month, week of month, weekday)."""

    column: Identifier | None = None
    format: str | None = None
    parts: EventTimeParts | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EventTime:
        if (self.column is None) == (self.parts is None):
            raise ValueError("give exactly one of 'column' or 'parts'")
        if self.format is not None:
            if self.column is None:
                raise ValueError("format applies to a timestamp column, not to date parts")
            problem = format_problem(self.format)
            if problem:
                raise ValueError(problem)
        return self

    @property
    def source_columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        assert self.parts is not None
        p = self.parts
        return [c for c in (p.year, p.month, p.week_of_month, p.day_of_week) if c is not None]


class ClaimsSchema(_Strict):
    """A dataset's declared shape. Load one with :func:`load_schema`.

    ``missing_values`` at the top is the file-level default: the tokens apply to every numeric,
    categorical and date column that does not list its own (a column's own list replaces it).
    """

    name: Identifier
    version: int = 1
    description: str = ""
    id_column: Identifier
    label_column: Identifier
    event_time: EventTime
    missing_values: tuple[TextToken, ...] = ()
    csv: CsvDialect = CsvDialect()
    numeric: tuple[NumericFeature, ...] = ()
    categorical: tuple[CategoricalFeature, ...] = ()
    dates: tuple[DateColumn, ...] = ()
    derived: tuple[DerivedFeature, ...] = ()
    segments: tuple[Identifier, ...] = ()
    personal: tuple[Identifier, ...] = ()
    passthrough: tuple[Identifier, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _apply_default_tokens(cls, data: Any) -> Any:
        """Copy the file-level ``missing_values`` into every column that lists none of its own."""
        if not isinstance(data, dict) or not data.get("missing_values"):
            return data
        default = data["missing_values"]
        if not isinstance(default, list | tuple) or not all(isinstance(t, str) for t in default):
            return data  # reported once, at the top level, rather than once per column
        data = dict(data)
        for section in ("numeric", "categorical", "dates"):
            entries = data.get(section)
            if isinstance(entries, list | tuple):
                data[section] = [
                    {**e, "missing_values": default}
                    if isinstance(e, dict) and "missing_values" not in e
                    else e
                    for e in entries
                ]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ClaimsSchema:
        if not self.numeric and not self.categorical and not self.derived:
            raise ValueError("declare at least one numeric, categorical or derived feature")
        names = [f.name for f in (*self.numeric, *self.categorical)]
        dates = [d.name for d in self.dates]
        everything = names + dates + [d.name for d in self.derived]
        dupes = sorted({n for n in everything if everything.count(n) > 1})
        if dupes:
            raise ValueError(f"columns declared twice: {', '.join(dupes)}")
        special = {self.id_column, self.label_column, *self.event_time.source_columns}
        clash = sorted(special & set(everything))
        if clash:
            raise ValueError(
                f"id/label/event-time column also declared as a feature or date: {', '.join(clash)}"
            )
        passthrough_clash = sorted(set(self.passthrough) & set(everything))
        if passthrough_clash:
            raise ValueError(
                f"passthrough column also declared as a feature or date: "
                f"{', '.join(passthrough_clash)}"
            )
        date_columns = set(self.date_columns)
        for feat in self.derived:
            for col in feat.days_between:
                if col not in date_columns:
                    where = (
                        "the event-time column or one under `dates:`"
                        if self.event_time.column
                        else "a column under `dates:` (date parts cannot feed days_between)"
                    )
                    raise ValueError(
                        f"derived {feat.name!r}: days_between column {col!r} is not a date "
                        f"column; declare it as {where}"
                    )
        known = set(names) | set(self.passthrough) | set(dates)
        for seg in self.segments:
            if seg not in {f.name for f in self.categorical}:
                raise ValueError(f"segment {seg!r} must be a declared categorical feature")
        for col in self.personal:
            if col not in known and col != self.id_column:
                raise ValueError(
                    f"personal column {col!r} is not a feature, date or passthrough column"
                )
        return self

    # -- derived views used downstream ------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """Model features in model order: numeric, derived (numeric too), categorical."""
        return self.numeric_names + self.categorical_names

    @property
    def numeric_names(self) -> list[str]:
        """Numeric model features: the numeric columns, then the derived features."""
        return [f.name for f in self.numeric] + [d.name for d in self.derived]

    @property
    def categorical_names(self) -> list[str]:
        return [f.name for f in self.categorical]

    @property
    def date_columns(self) -> dict[str, DateColumn]:
        """Every timestamp column (the event time first, if it is one) with its format."""
        out: dict[str, DateColumn] = {}
        if self.event_time.column is not None:
            out[self.event_time.column] = DateColumn(
                name=self.event_time.column,
                format=self.event_time.format,
                missing_values=self.missing_values,
            )
        out.update({d.name: d for d in self.dates})
        return out

    @property
    def scoring_columns(self) -> list[str]:
        """The raw columns a claim must carry to be scored: features and the dates they need."""
        needed = {c for d in self.derived for c in d.days_between}
        dates = [c for c in self.date_columns if c in needed]
        return [f.name for f in self.numeric] + dates + self.categorical_names

    @property
    def input_columns(self) -> list[str]:
        """Every column the source must (or may) provide, in a stable order."""
        cols = [self.id_column, self.label_column, *self.event_time.source_columns]
        cols += [d.name for d in self.dates]
        cols += [f.name for f in (*self.numeric, *self.categorical)] + list(self.passthrough)
        seen: dict[str, None] = {}
        for c in cols:
            seen.setdefault(c, None)
        return list(seen)

    def feature(self, name: str) -> NumericFeature | CategoricalFeature | DerivedFeature:
        for f in (*self.numeric, *self.derived, *self.categorical):
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
        problems: list[str] = []
        for err in exc.errors():
            text = f"  - {_describe(err, data)}"
            if text not in problems:  # one line per place, not one per branch of a union
                problems.append(text)
        raise SchemaError(
            f"{source} is not a valid claims schema ({len(problems)} problem(s)):\n"
            + "\n".join(problems)
            + "\nEvery option is described in docs/bring-your-own-data.md; "
            "src/fraud_mlops/schemas/*.yaml are complete examples."
        ) from None


_SECTIONS: dict[str, tuple[str, type[BaseModel]]] = {
    "numeric": ("numeric", NumericFeature),
    "categorical": ("categorical", CategoricalFeature),
    "dates": ("date", DateColumn),
    "derived": ("derived", DerivedFeature),
}
_NESTED: dict[str, type[BaseModel]] = {"event_time": EventTime, "csv": CsvDialect}
_UNION_BRANCHES = {"str", "float", "int", "bool", "constrained-str", "function-after"}


def _describe(err: Any, data: dict[str, Any]) -> str:
    """One schema problem, named by column (``categorical 'x': missing_values[0]: ...``)."""
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_BRANCHES)]
    msg = err["msg"].removeprefix("Value error, ")
    model: type[BaseModel] = ClaimsSchema
    prefix = ""
    if len(loc) >= 2 and loc[0] in _SECTIONS and isinstance(loc[1], int):
        kind, model = _SECTIONS[loc[0]]
        entries = data.get(loc[0])
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        prefix = f"{kind} {name!r}" if name else f"{kind} column #{loc[1] + 1}"
        loc = loc[2:]
    elif loc and loc[0] in _NESTED:
        model, prefix, loc = _NESTED[str(loc[0])], str(loc[0]), loc[1:]
    field = loc[0] if loc else None
    if err["type"] == "extra_forbidden" and isinstance(field, str):
        allowed = list(model.model_fields)
        close = difflib.get_close_matches(field, allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        msg = f"unknown option {field!r}: {hint}allowed: {', '.join(allowed)}"
        loc = []
    elif field == "missing_values" and len(loc) >= 2 and isinstance(loc[1], int):
        value = err["input"]
        what = (
            "an unquoted ? (YAML reads it as a mapping key)"
            if value == {None: None}
            else f"{value!r} is not a token"
        )
        msg = (
            f"{what}: quote the tokens, e.g. "
            'missing_values: ["?", "NA", ""] (YAML also reads unquoted yes/no/on/off as booleans)'
        )
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    parts = [p for p in (prefix, where) if p]
    return (": ".join(parts) + ": " if parts else "") + msg


def load_schema(path: str | Path | None = None) -> ClaimsSchema:
    """Load a schema YAML file; ``None`` (or ``"synthetic"``) gives the built-in default.

    Names of bundled schemas (``synthetic``, ``fraud_oracle``, ``insurer_export``) are accepted
    as well as paths.
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
    import yaml  # here, not at import: the scoring API's cold start reads no YAML (~8 ms)

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError(f"{source} is not valid YAML: {exc}") from None
    return schema_from_dict(data, source)


BUNDLED = {
    "synthetic": "synthetic_claims.yaml",
    "fraud_oracle": "fraud_oracle.yaml",
    "insurer_export": "insurer_export.yaml",
}


def default_schema() -> ClaimsSchema:
    """The schema of the synthetic claims."""
    return load_schema(None)
