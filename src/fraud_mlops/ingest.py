"""Bring your own data: read CSV or Parquet, validate it against a schema, coerce types.

:func:`read_table` reads a CSV in the schema's dialect (delimiter, encoding; a UTF-8 BOM is
skipped) and stops early, with a hint, when the header is one column holding another delimiter.
:func:`validate_claims` collects *every* problem (missing columns, wrong types, dates that do not
match their format or read two ways, non-binary labels, out-of-range values, unknown categories,
duplicate ids) and raises one :class:`DataValidationError` naming columns and row counts; nothing
is written unless the whole table is valid. Missing-value tokens (``"?"``, ``"NA"``) become
missing values, date columns become UTC timestamps and the schema's derived features (e.g.
``days_between``) are added as numeric columns, computed as the scorer computes them. No row is
ever dropped silently: a row with a problem is an error, not a skip.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from fraud_mlops.adls import redact
from fraud_mlops.dates import days_between, parse_dates, reading_hint
from fraud_mlops.errors import DataValidationError, FraudMlopsError
from fraud_mlops.lakehouse import resolve_filesystem
from fraud_mlops.schema import MONTHS, WEEKDAYS, ClaimsSchema, CsvDialect, DateColumn

if TYPE_CHECKING:
    import pandas as pd

EVENT_TIME = "event_time"  # name of the derived column when the schema builds time from parts
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
LABEL_VALUES = "1/0, true/false, yes/no, y/n or t/f (any case)"
_OTHER_DELIMITERS = (",", ";", "\t", "|")
_HEADER_BYTES = 1 << 16


class CsvDialectError(FraudMlopsError):
    """A CSV is not written the way the schema's ``csv:`` section (or the flags) say."""


def read_table(uri: str, dialect: CsvDialect | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file (local, s3://, abfss://). CSV columns are read as text so that
    validation, not the parser, decides what a value means."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    dialect = dialect or CsvDialect()
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
                names = _header(f.read(_HEADER_BYTES), uri, dialect)
            with fs.open_input_stream(path, compression="detect") as f:
                table = pacsv.read_csv(
                    f,
                    read_options=pacsv.ReadOptions(encoding=dialect.encoding),
                    parse_options=pacsv.ParseOptions(delimiter=dialect.delimiter),
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
        message = redact(str(exc))
        if "utf8" in message.lower().replace("-", ""):
            hint = _ENCODING_HINT.format(encoding=dialect.encoding)
            raise CsvDialectError(f"could not read {uri!r}: {message}{hint}") from None
        raise FraudMlopsError(f"could not read {uri!r}: {message}") from None
    return table.to_pandas()


_ENCODING_HINT = (
    "\nThe file is not valid {encoding}: pass its encoding, e.g. --encoding latin-1 (cp1252 for "
    "Windows exports), or declare csv: {{encoding: latin-1}} in the schema."
)


def _header(head: bytes, uri: str, dialect: CsvDialect) -> list[str]:
    """Column names from the first line; a one-column header holding a delimiter is refused."""
    try:
        # A header cut at _HEADER_BYTES may end inside a character: only then ignore errors.
        strict = len(head) < _HEADER_BYTES
        text = head.decode(dialect.encoding, errors="strict" if strict else "ignore")
    except UnicodeDecodeError:
        raise CsvDialectError(
            f"could not read {uri!r}: its header is not {dialect.encoding}."
            + _ENCODING_HINT.format(encoding=dialect.encoding)
        ) from None
    line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    names = next(csv.reader(io.StringIO(line), delimiter=dialect.delimiter), [])
    if len(names) == 1:
        found = [d for d in _OTHER_DELIMITERS if d != dialect.delimiter and d in names[0]]
        if found:
            shown = "tab" if found[0] == "\t" else found[0]
            raise CsvDialectError(
                f"input {uri!r}: the header parsed to one column, {names[0][:80]!r}, which "
                f"contains {shown!r}: the file looks {shown!r}-separated. Pass --delimiter "
                f"'{shown}' to `fraud-mlops ingest`, or declare csv: {{delimiter: \"{shown}\"}} "
                "in the schema."
            )
    return names


@dataclass
class _Problems:
    items: list[str] = field(default_factory=list)

    def add(self, column: str, what: str, bad: pd.Series | None = None) -> None:
        text = f"column {column!r}: {what}"
        if bad is not None and len(bad):
            examples = ", ".join(repr(v) for v in bad.astype(str).unique()[:3])
            text += f" ({len(bad)} row(s), e.g. {examples})"
        self.items.append(text)


def _as_text(s: pd.Series, tokens: tuple[str, ...] = ()) -> pd.Series:
    """Stripped text; empty cells and the missing-value ``tokens`` become missing."""
    import pandas as pd

    out = s.astype("string").str.strip()
    gone = out == ""
    if tokens:
        gone |= out.isin([t.strip() for t in tokens])
    return out.mask(gone, pd.NA)


def _numeric(frame: pd.DataFrame, feat, problems: _Problems, decimal: str) -> pd.Series:
    import pandas as pd

    raw = frame[feat.name]
    if raw.dtype.kind in "iufb":
        values, unparseable = raw.astype("float64"), pd.Series(False, index=raw.index)
    else:
        text = _as_text(raw, feat.missing_texts)
        if decimal == ",":
            dotted = text.str.contains(".", regex=False).fillna(False).astype(bool)
            if dotted.any():
                problems.add(
                    feat.name,
                    "numbers with '.' while the decimal mark is ',' (remove thousands "
                    "separators from the export)",
                    text[dotted],
                )
            text = text.mask(dotted, pd.NA).str.replace(",", ".", regex=False)
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        unparseable = (values.isna() & text.notna()).astype(bool)
        if unparseable.any():
            problems.add(
                feat.name,
                f"expected a number ({feat.dtype}){_number_hint(text[unparseable], decimal)}",
                raw[unparseable],
            )
    if feat.missing_numbers:
        values = values.mask(values.isin(list(feat.missing_numbers)))
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


def _number_hint(bad: pd.Series, decimal: str) -> str:
    """Say how to declare what the unparseable values probably are."""
    if decimal == "." and bad.str.fullmatch(r"-?\d+,\d+").any():
        return (
            "; if ',' is the decimal mark, declare csv: {decimal: \",\"} in the schema "
            "(or pass --decimal ,)"
        )
    words = [v for v in bad.unique()[:3] if not any(c.isdigit() for c in v)]
    if words:
        return (
            f"; if {words[0]!r} means unknown, list it in this column's missing_values "
            f'(e.g. missing_values: ["{words[0]}"]) or in the file-level missing_values'
        )
    return ""


def _categorical(frame: pd.DataFrame, feat, problems: _Problems) -> pd.Series:
    values = _as_text(frame[feat.name], feat.missing_values)
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
            f"the label must be binary: {LABEL_VALUES}",
            frame[column][bad].fillna("<missing>"),
        )
    return is_true.astype("int64")


def _dates(
    frame: pd.DataFrame, spec: DateColumn, problems: _Problems, event_time: bool
) -> pd.Series:
    """One timestamp column, parsed with its format (ISO 8601 without one), as UTC."""
    import pandas as pd

    raw = frame[spec.name]
    parsed = parse_dates(raw, spec.format, spec.missing_values)
    if parsed.bad.any():
        bad = raw[parsed.bad].astype(str).str.strip()
        problems.add(
            spec.name,
            f"unparseable dates: {reading_hint(list(bad.unique()), spec.format)}",
            bad,
        )
    if spec.required and parsed.absent.any():
        problems.add(
            spec.name,
            f"{int(parsed.absent.sum())} missing date(s) in "
            + (
                "the event-time column (every claim needs one)"
                if event_time
                else "a required column (declare `required: false` if missing is allowed)"
            ),
        )
    return pd.Series(parsed.values, index=frame.index).dt.tz_localize("UTC")


def _event_time_from_parts(frame: pd.DataFrame, schema: ClaimsSchema, problems: _Problems):
    import pandas as pd

    p = schema.event_time.parts
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
        cols = ", ".join(schema.event_time.source_columns)
        problems.add(
            cols,
            "cannot build a date from these columns",
            frame.loc[bad, schema.event_time.source_columns[0]].astype(str),
        )
    parts = parts.where(~bad, pd.DataFrame({"year": 1970, "month": 1, "day": 1}, index=frame.index))
    return pd.to_datetime(parts.astype("int64")).dt.tz_localize("UTC").astype("datetime64[us, UTC]")


def event_time_column(schema: ClaimsSchema) -> str:
    """The column of a validated frame that holds the event time."""
    return schema.event_time.column or EVENT_TIME


def _missing_columns(frame: pd.DataFrame, wanted: list[str], problems: _Problems) -> bool:
    missing = [c for c in wanted if c not in frame.columns]
    for col in missing:
        problems.add(col, "missing from the input (check the header or the schema file)")
    return bool(missing)


def _features(
    frame: pd.DataFrame, schema: ClaimsSchema, problems: _Problems, dates: list[str]
) -> dict[str, pd.Series]:
    """Typed feature columns, the ``dates`` columns and the derived features computed from them."""
    import pandas as pd

    out: dict[str, pd.Series] = {}
    specs = schema.date_columns
    for name in dates:
        if name in frame.columns:
            event_time = name == schema.event_time.column
            out[name] = _dates(frame, specs[name], problems, event_time)
        else:  # an optional date left out: missing on every row
            out[name] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    for feat in schema.numeric:
        if feat.name in frame.columns:
            out[feat.name] = _numeric(frame, feat, problems, schema.csv.decimal)
        else:
            out[feat.name] = pd.Series(np.nan, index=frame.index)
    for feat in schema.derived:
        start, end = (out[c].to_numpy(dtype="datetime64[us]") for c in feat.days_between)
        out[feat.name] = pd.Series(days_between(start, end), index=frame.index)
    for feat in schema.categorical:
        if feat.name in frame.columns:
            out[feat.name] = _categorical(frame, feat, problems)
        else:
            out[feat.name] = pd.Series(None, index=frame.index, dtype=object)
    return out


def _optional(schema: ClaimsSchema) -> set[str]:
    return {f.name for f in (*schema.numeric, *schema.categorical, *schema.dates) if not f.required}


def validate_claims(
    frame: pd.DataFrame, schema: ClaimsSchema, source: str = "input"
) -> pd.DataFrame:
    """Check ``frame`` against ``schema`` and return a typed copy with the schema's columns.

    The copy holds the id, label (0/1), event time (UTC), date columns (UTC), features, derived
    features and passthrough columns. Raises :class:`DataValidationError` with every problem
    found. Extra columns are left out (see :func:`extra_columns`); rows are never dropped.
    """
    import pandas as pd

    problems = _Problems()
    if len(frame) == 0:
        raise DataValidationError(source, ["the table has no rows"])
    optional = _optional(schema)
    if _missing_columns(frame, [c for c in schema.input_columns if c not in optional], problems):
        raise DataValidationError(source, problems.items)  # cannot check values of absent columns

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
    if schema.event_time.column is None:
        out[EVENT_TIME] = _event_time_from_parts(frame, schema, problems)
    out.update(_features(frame, schema, problems, list(schema.date_columns)))
    for col in schema.passthrough:
        out[col] = _as_text(frame[col]).astype(object)
    if problems.items:
        raise DataValidationError(source, problems.items)
    return _typed(pd.DataFrame(out), schema)


def validate_features(
    frame: pd.DataFrame, schema: ClaimsSchema, source: str = "input"
) -> pd.DataFrame:
    """Validate only what scoring and drift read: features and the dates derived features need.

    For new claims that have no label yet; ids, labels and other columns are not checked.
    """
    import pandas as pd

    problems = _Problems()
    if len(frame) == 0:
        raise DataValidationError(source, ["the table has no rows"])
    optional = _optional(schema)
    wanted = [c for c in schema.scoring_columns if c not in optional]
    if _missing_columns(frame, wanted, problems):
        raise DataValidationError(source, problems.items)
    needed = [c for c in schema.date_columns if c in schema.scoring_columns]
    out = _features(frame, schema, problems, needed)
    if problems.items:
        raise DataValidationError(source, problems.items)
    return _typed(pd.DataFrame(out), schema)


def _typed(result: pd.DataFrame, schema: ClaimsSchema) -> pd.DataFrame:
    for feat in schema.numeric:  # whole-number columns stay integers when nothing is missing
        if feat.dtype == "int" and result[feat.name].notna().all():
            result[feat.name] = result[feat.name].astype("int64")
    for name in result.columns:
        if str(result[name].dtype).startswith("datetime64"):
            result[name] = result[name].astype("datetime64[us, UTC]")
    return result.reset_index(drop=True)


def extra_columns(frame: pd.DataFrame, schema: ClaimsSchema) -> list[str]:
    known = set(schema.input_columns)
    return [c for c in frame.columns if c not in known]


def load_claims(uri: str, schema: ClaimsSchema) -> pd.DataFrame:
    """Read (in the schema's CSV dialect) and validate in one step."""
    return validate_claims(read_table(uri, schema.csv), schema, source=uri)
