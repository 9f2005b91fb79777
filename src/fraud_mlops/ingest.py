"""Bring your own data: read CSV or Parquet, validate it against a schema, coerce types.

:func:`validate_claims` collects *every* problem (missing columns, wrong types, unparseable
dates, non-binary labels, out-of-range values, unknown categories, duplicate ids) and raises one
:class:`DataValidationError` naming columns and row counts; nothing is written unless the whole
table is valid. No row is ever dropped silently: a row with a problem is an error, not a skip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from fraud_mlops.adls import redact
from fraud_mlops.errors import DataValidationError, FraudMlopsError
from fraud_mlops.lakehouse import resolve_filesystem
from fraud_mlops.schema import MONTHS, WEEKDAYS, ClaimsSchema

if TYPE_CHECKING:
    import pandas as pd

EVENT_TIME = "event_time"  # name of the derived column when the schema builds time from parts
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def read_table(uri: str) -> pd.DataFrame:
    """Read a CSV or Parquet file (local, s3://, abfss://). CSV columns are read as text so that
    validation, not the parser, decides what a value means."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    fs, path = resolve_filesystem(uri)
    lower = path.lower()
    try:
        info = fs.get_file_info(path)
        if info.type == pa.fs.FileType.NotFound:
            raise FraudMlopsError(f"input {uri!r} does not exist")
        if info.type == pa.fs.FileType.Directory:
            raise FraudMlopsError(f"input {uri!r} is a folder: pass a .csv or .parquet file")
        if lower.endswith((".csv", ".csv.gz", ".txt")):
            with fs.open_input_stream(path, compression="detect") as f:
                names = pacsv.open_csv(f).schema.names
            with fs.open_input_stream(path, compression="detect") as f:
                table = pacsv.read_csv(
                    f,
                    convert_options=pacsv.ConvertOptions(
                        column_types={n: pa.string() for n in names},
                        strings_can_be_null=True,
                        null_values=[""],
                    ),
                )
        elif lower.endswith((".parquet", ".pq")):
            table = pq.read_table(path, filesystem=fs)
        else:
            raise FraudMlopsError(
                f"input {uri!r}: unknown file type. Use a .csv (or .csv.gz) or .parquet file."
            )
    except FraudMlopsError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise FraudMlopsError(f"could not read {uri!r}: {redact(str(exc))}") from None
    return table.to_pandas()


@dataclass
class _Problems:
    items: list[str] = field(default_factory=list)

    def add(self, column: str, what: str, bad: pd.Series | None = None) -> None:
        text = f"column {column!r}: {what}"
        if bad is not None and len(bad):
            examples = ", ".join(repr(v) for v in bad.astype(str).unique()[:3])
            text += f" ({len(bad)} row(s), e.g. {examples})"
        self.items.append(text)


def _as_text(s: pd.Series) -> pd.Series:
    import pandas as pd

    out = s.astype("string").str.strip()
    return out.mask(out == "", pd.NA)


def _numeric(frame: pd.DataFrame, feat, problems: _Problems) -> pd.Series:
    import pandas as pd

    raw = frame[feat.name]
    values = pd.to_numeric(raw, errors="coerce") if raw.dtype.kind not in "iufb" else raw
    values = values.astype("float64")
    unparseable = (
        values.isna()
        & raw.notna()
        & (_as_text(raw).notna() if raw.dtype.kind not in "iufb" else True)
    )
    if unparseable.any():
        problems.add(feat.name, f"expected a number ({feat.dtype})", raw[unparseable])
    if feat.missing_values:
        values = values.mask(values.isin(list(feat.missing_values)))
    present = values.dropna()
    if np.isinf(present.to_numpy()).any():
        problems.add(feat.name, "infinite values", present[np.isinf(present)])
    if feat.dtype == "int":
        frac = present[(present % 1) != 0]
        if len(frac):
            problems.add(feat.name, "expected whole numbers", frac)
    if feat.min is not None and (present < feat.min).any():
        problems.add(
            feat.name, f"values below the minimum {feat.min:g}", present[present < feat.min]
        )
    if feat.max is not None and (present > feat.max).any():
        problems.add(
            feat.name, f"values above the maximum {feat.max:g}", present[present > feat.max]
        )
    missing = values.isna() & ~unparseable
    if feat.required and missing.any():
        problems.add(
            feat.name,
            f"{int(missing.sum())} missing value(s) in a required column "
            "(declare `required: false` if missing is allowed)",
        )
    return values


def _categorical(frame: pd.DataFrame, feat, problems: _Problems) -> pd.Series:
    values = _as_text(frame[feat.name])
    if feat.required and values.isna().any():
        problems.add(
            feat.name,
            f"{int(values.isna().sum())} missing value(s) in a required column "
            "(declare `required: false` if missing is allowed)",
        )
    if feat.values is not None:
        bad = values.notna() & ~values.isin(list(feat.values))
        if bad.any():
            problems.add(
                feat.name,
                f"values outside the allowed set {list(feat.values)}",
                values[bad],
            )
    return values.astype(object).where(values.notna(), None)


def _label(frame: pd.DataFrame, column: str, problems: _Problems) -> pd.Series:
    text = _as_text(frame[column]).str.lower()
    text = text.str.replace(r"\.0+$", "", regex=True)
    is_true, is_false = text.isin(list(_TRUE)), text.isin(list(_FALSE))
    bad = ~(is_true | is_false)
    if bad.any():
        problems.add(
            column,
            "the label must be binary (0/1, true/false or yes/no)",
            frame[column][bad].fillna("<missing>"),
        )
    return is_true.astype("int64")


def _event_time(frame: pd.DataFrame, schema: ClaimsSchema, problems: _Problems) -> pd.Series:
    import pandas as pd

    et = schema.event_time
    if et.column is not None:
        raw = frame[et.column]
        if pd.api.types.is_datetime64_any_dtype(raw):
            parsed = raw if raw.dt.tz is not None else raw.dt.tz_localize("UTC")
        else:
            parsed = pd.to_datetime(_as_text(raw), errors="coerce", utc=True, format="mixed")
        bad = parsed.isna()
        if bad.any():
            problems.add(
                et.column,
                "unparseable or missing dates (use ISO 8601, e.g. 2024-03-01T14:30:00Z)",
                raw[bad].astype(str).fillna("<missing>"),
            )
        return parsed.astype("datetime64[us, UTC]")
    p = et.parts
    assert p is not None
    year = pd.to_numeric(frame[p.year], errors="coerce")
    month_text = _as_text(frame[p.month]).str.lower().str[:3]
    month = month_text.map({m: i + 1 for i, m in enumerate(MONTHS)})
    month = month.fillna(pd.to_numeric(frame[p.month], errors="coerce"))
    day = pd.Series(1.0, index=frame.index)
    if p.week_of_month is not None:
        week = pd.to_numeric(frame[p.week_of_month], errors="coerce")
        day = (week - 1) * 7 + 1
    if p.day_of_week is not None:
        wd = _as_text(frame[p.day_of_week]).str.lower().map({d: i for i, d in enumerate(WEEKDAYS)})
        day = day + wd
    day = day.clip(upper=28)
    parts = pd.DataFrame({"year": year, "month": month, "day": day})
    bad = parts.isna().any(axis=1) | ~month.between(1, 12) | ~year.between(1900, 2200)
    if bad.any():
        cols = ", ".join(et.source_columns)
        problems.add(
            cols,
            "cannot build a date from these columns",
            frame.loc[bad, et.source_columns[0]].astype(str),
        )
    parts = parts.where(~bad, pd.DataFrame({"year": 1970, "month": 1, "day": 1}, index=frame.index))
    return pd.to_datetime(parts.astype("int64")).dt.tz_localize("UTC").astype("datetime64[us, UTC]")


def event_time_column(schema: ClaimsSchema) -> str:
    """The column of a validated frame that holds the event time."""
    return schema.event_time.column or EVENT_TIME


def validate_claims(
    frame: pd.DataFrame, schema: ClaimsSchema, source: str = "input"
) -> pd.DataFrame:
    """Check ``frame`` against ``schema`` and return a typed copy with the schema's columns.

    Raises :class:`DataValidationError` with every problem found. Extra columns are left out of
    the result (they are listed by :func:`extra_columns`); rows are never dropped.
    """
    import pandas as pd

    problems = _Problems()
    if len(frame) == 0:
        raise DataValidationError(source, ["the table has no rows"])
    optional = {f.name for f in (*schema.numeric, *schema.categorical) if not f.required}
    missing = [c for c in schema.input_columns if c not in frame.columns and c not in optional]
    for col in missing:
        problems.add(col, "missing from the input (check the header or the schema file)")
    if missing:  # cannot check values of columns that are not there; report what we have
        raise DataValidationError(source, problems.items)

    out: dict[str, pd.Series] = {}
    ids = _as_text(frame[schema.id_column])
    if ids.isna().any():
        problems.add(schema.id_column, f"{int(ids.isna().sum())} missing id(s)")
    dup = ids[ids.duplicated(keep=False) & ids.notna()]
    if len(dup):
        problems.add(
            schema.id_column, f"duplicate ids ({dup.nunique()} distinct id(s) repeated)", dup
        )
    out[schema.id_column] = ids.astype(object)
    out[schema.label_column] = _label(frame, schema.label_column, problems)
    out[event_time_column(schema)] = _event_time(frame, schema, problems)
    for feat in schema.numeric:
        if feat.name in frame.columns:
            out[feat.name] = _numeric(frame, feat, problems)
        else:
            out[feat.name] = pd.Series(np.nan, index=frame.index)
    for feat in schema.categorical:
        if feat.name in frame.columns:
            out[feat.name] = _categorical(frame, feat, problems)
        else:
            out[feat.name] = pd.Series(None, index=frame.index, dtype=object)
    for col in schema.passthrough:
        out[col] = _as_text(frame[col]).astype(object)
    if problems.items:
        raise DataValidationError(source, problems.items)
    result = pd.DataFrame(out)
    for feat in schema.numeric:  # whole-number columns stay integers when nothing is missing
        if feat.dtype == "int" and result[feat.name].notna().all():
            result[feat.name] = result[feat.name].astype("int64")
    return result.reset_index(drop=True)


def extra_columns(frame: pd.DataFrame, schema: ClaimsSchema) -> list[str]:
    known = set(schema.input_columns)
    return [c for c in frame.columns if c not in known]


def load_claims(uri: str, schema: ClaimsSchema) -> pd.DataFrame:
    """Read and validate in one step."""
    return validate_claims(read_table(uri), schema, source=uri)
