"""Fitted, serialisable feature preprocessing shared by training and serving.

Training fits a :class:`Preprocessor` on the training split; the artifact stores it as JSON and the
scoring API rebuilds it, so both sides run the very same numpy code on the same parameters:

* numeric features: schema sentinels (``missing_values``) become missing, ``transform: log``
  features get ``log1p``, then robust scaling ``(x - median) / IQR`` (IQR 0 -> 1). A missing value
  becomes the median (0 after scaling) and, when the feature had missing values in training or is
  ``required: false``, a ``<name>__missing`` indicator column is set.
* derived features (``days_between: [start, end]``) are numeric features computed here from the
  raw date columns with :mod:`fraud_mlops.dates` (strings in the schema's format, or timestamps),
  so training and serving compute them the same way; they follow the schema's numeric features.
* categorical features: a vocabulary of the values seen at least ``min_frequency`` times in
  training; index 0 is the shared "unknown / rare / missing" bucket, which the schema's
  missing-value tokens (``"?"``) join too. A present value outside the vocabulary is flagged in
  :attr:`FeatureBatch.unknown` so the API can say so.

Inputs are any mapping of column name -> 1-D array-like: a pandas DataFrame, a dict of lists
(``None`` = missing) or of numpy arrays. Everything is vectorised over rows.

This module is on the scoring path: numpy only (never pandas or torch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fraud_mlops.dates import days_between, parse_dates
from fraud_mlops.errors import DataValidationError, ModelError
from fraud_mlops.schema import ClaimsSchema

MISSING_SUFFIX = "__missing"
FORMAT_VERSION = 2  # 2: derived date features and categorical missing-value tokens
READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class DateSource:
    """A raw date column a derived feature reads, with how it is written."""

    column: str
    format: str | None = None
    missing_values: tuple[str, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class NumericParams:
    """Fitted parameters of one numeric feature; ``days_between`` is set for a derived one."""

    name: str
    log: bool
    median: float
    iqr: float
    indicator: bool
    required: bool = True
    missing_values: tuple[float, ...] = ()
    days_between: tuple[DateSource, DateSource] | None = None


@dataclass(frozen=True)
class CategoricalParams:
    """Fitted vocabulary of one categorical feature; ``counts[0]`` counts the unknown bucket."""

    name: str
    vocabulary: tuple[str, ...]
    counts: tuple[int, ...]
    required: bool = True
    missing_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureBatch:
    """Model inputs for ``n`` rows."""

    numeric: np.ndarray  # float32 [n, numeric_dim]
    categorical: np.ndarray  # int64 [n, n_categorical]; 0 = unknown / rare / missing
    unknown: np.ndarray  # bool [n, n_categorical]; a present value outside the vocabulary

    def __len__(self) -> int:
        return int(self.numeric.shape[0])


@dataclass(frozen=True)
class Preprocessor:
    """Fitted preprocessing. Build with :func:`fit_preprocessing` or :meth:`from_dict`."""

    numeric: tuple[NumericParams, ...]
    categorical: tuple[CategoricalParams, ...]
    min_frequency: int = 10
    # Derived lookup arrays, built once so that transform() only does array work.
    _lookup: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        p = len(self.numeric)
        lk = self._lookup
        lk["median"] = np.array([f.median for f in self.numeric], dtype=np.float64)
        lk["iqr"] = np.array([f.iqr for f in self.numeric], dtype=np.float64)
        lk["log"] = np.array([f.log for f in self.numeric], dtype=bool).reshape(p)
        lk["log_idx"] = np.flatnonzero(lk["log"])
        lk["ind_idx"] = np.array([i for i, f in enumerate(self.numeric) if f.indicator], np.intp)
        lk["sentinels"] = [
            (i, np.array(f.missing_values, dtype=np.float64))
            for i, f in enumerate(self.numeric)
            if f.missing_values
        ]
        # Sorted vocabulary + the index each sorted entry maps to, for searchsorted lookups.
        vocabs = []
        for f in self.categorical:
            keys = np.array(f.vocabulary, dtype=str)
            order = np.argsort(keys, kind="stable")
            vocabs.append((keys[order], (order + 1).astype(np.int64)))
        lk["vocabs"] = vocabs
        lk["tokens"] = [np.array(f.missing_values, dtype=str) for f in self.categorical]
        lk["codes"] = [_code_table(k, i, t) for (k, i), t in zip(vocabs, lk["tokens"], strict=True)]
        lk["one"] = _OneRowPlan.build(self, vocabs, lk["tokens"])

    # -- shape of the model inputs ---------------------------------------------------------
    @property
    def numeric_columns(self) -> list[str]:
        """Names of the numeric input dims: values first, then missing indicators."""
        names = [f.name for f in self.numeric]
        return names + [self.numeric[i].name + MISSING_SUFFIX for i in self._lookup["ind_idx"]]

    @property
    def source_of_numeric_dim(self) -> list[str]:
        """The schema feature each numeric input dim belongs to."""
        names = [f.name for f in self.numeric]
        return names + [self.numeric[i].name for i in self._lookup["ind_idx"]]

    @property
    def numeric_dim(self) -> int:
        return len(self.numeric) + len(self._lookup["ind_idx"])

    @property
    def categorical_names(self) -> list[str]:
        return [f.name for f in self.categorical]

    @property
    def cardinalities(self) -> list[int]:
        """Vocabulary size + 1 (the unknown bucket) per categorical feature."""
        return [len(f.vocabulary) + 1 for f in self.categorical]

    @property
    def feature_names(self) -> list[str]:
        """Schema features in model order: numeric (derived ones last), then categorical."""
        return [f.name for f in self.numeric] + self.categorical_names

    @property
    def input_columns(self) -> list[str]:
        """The raw columns :meth:`transform` reads (dates instead of the features they feed)."""
        cols: dict[str, None] = {}
        for f in self.numeric:
            for c in [s.column for s in f.days_between] if f.days_between else [f.name]:
                cols.setdefault(c, None)
        for name in self.categorical_names:
            cols.setdefault(name, None)
        return list(cols)

    # -- transform -------------------------------------------------------------------------
    def _codes(self, j: int, values: Any) -> tuple[np.ndarray, np.ndarray]:
        """Codes and unknown flags of categorical feature ``j``'s column.

        A list (what the API sends) is looked up value by value in a dict of the exact strings
        the vocabulary and missing-value tokens hold; values not in it (unseen, NaN, other types,
        text that numpy's fixed-width strings would read differently) take the array path,
        which is the definition. Both give the same codes (tests/test_fast_paths.py).
        """
        if type(values) is not list:
            return self._searched_codes(j, values)
        get = self._lookup["codes"][j].get
        try:
            codes = np.array([get(v, -1) for v in values], dtype=np.int64)
        except TypeError:  # an unhashable value: the array path says what it is
            return self._searched_codes(j, values)
        unknown = np.zeros(codes.shape[0], dtype=bool)
        missed = np.flatnonzero(codes < 0)
        if missed.size:
            codes[missed], unknown[missed] = self._searched_codes(j, [values[i] for i in missed])
        return codes, unknown

    def _searched_codes(self, j: int, values: Any) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_codes` by arrays: text, missing mask, then a search of the sorted vocabulary."""
        lk = self._lookup
        text, absent = text_column(values)
        if self.categorical[j].missing_values:
            absent = absent | np.isin(text, lk["tokens"][j])
        keys, index = lk["vocabs"][j]
        if keys.size == 0:
            return np.zeros(text.shape[0], dtype=np.int64), ~absent
        pos = np.searchsorted(keys, text)
        np.minimum(pos, keys.size - 1, out=pos)
        found = (keys[pos] == text) & ~absent
        return np.where(found, index[pos], 0), ~found & ~absent

    def transform(self, columns: Mapping[str, Any]) -> FeatureBatch:
        """Turn raw columns into model inputs (vectorised; no loop over rows).

        Raises:
            DataValidationError: a required column is absent, lengths differ, a numeric column
                holds text or infinities, or a log-transformed amount is negative.
        """
        lk = self._lookup
        one = lk["one"].transform(columns)
        if one is not None:  # one claim of plain values: the scalar path, same numbers
            return one
        n = _batch_length(columns, self)
        problems: list[str] = []
        x = np.empty((n, len(self.numeric)), dtype=np.float64)
        absent = [
            f"column {name!r}: missing (it is a required feature; send null if unknown)"
            for name, required in self._required_inputs()
            if required and name not in columns
        ]
        if absent:
            raise DataValidationError("features", absent)
        for j, f in enumerate(self.numeric):
            if f.days_between is not None:
                x[:, j] = derived_days(columns, f.days_between, n, problems)
            elif f.name in columns:
                x[:, j] = numeric_column(columns[f.name], f.name, problems)
            else:
                x[:, j] = np.nan
        for j, sentinels in lk["sentinels"]:
            x[np.isin(x[:, j], sentinels), j] = np.nan
        if problems:
            raise DataValidationError("features", problems)
        missing = np.isnan(x)
        if np.isinf(x).any():
            bad = sorted({self.numeric[j].name for j in np.flatnonzero(np.isinf(x).any(axis=0))})
            raise DataValidationError("features", [f"column {b!r}: infinite values" for b in bad])
        log_idx = lk["log_idx"]
        if log_idx.size:
            logged = x[:, log_idx]
            if (logged < 0).any():
                bad = [self.numeric[log_idx[j]].name for j in np.flatnonzero((logged < 0).any(0))]
                raise DataValidationError(
                    "features",
                    [
                        f"column {b!r}: negative amounts (it is log-transformed, so >= 0)"
                        for b in bad
                    ],
                )
            x[:, log_idx] = np.log1p(logged)
        x -= lk["median"]
        x /= lk["iqr"]
        x[missing] = 0.0  # the (transformed) median
        numeric = np.empty((n, self.numeric_dim), dtype=np.float32)
        p = len(self.numeric)
        numeric[:, :p] = x
        numeric[:, p:] = missing[:, lk["ind_idx"]]

        k = len(self.categorical)
        categorical = np.zeros((n, k), dtype=np.int64)
        unknown = np.zeros((n, k), dtype=bool)
        for j, f in enumerate(self.categorical):
            if f.name not in columns:
                continue  # an optional feature left out: missing on every row (bucket 0)
            categorical[:, j], unknown[:, j] = self._codes(j, columns[f.name])
        return FeatureBatch(numeric=numeric, categorical=categorical, unknown=unknown)

    def _required_inputs(self) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        for f in self.numeric:
            if f.days_between is not None:
                out += [(s.column, s.required) for s in f.days_between]
            else:
                out.append((f.name, f.required))
        return out + [(f.name, f.required) for f in self.categorical]

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description that :meth:`from_dict` turns back into the same transform."""
        return {
            "format_version": FORMAT_VERSION,
            "min_frequency": self.min_frequency,
            "numeric": [_numeric_dict(f) for f in self.numeric],
            "categorical": [
                {
                    "name": f.name,
                    "vocabulary": list(f.vocabulary),
                    "counts": [int(c) for c in f.counts],
                    "required": f.required,
                    "missing_values": list(f.missing_values),
                }
                for f in self.categorical
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessor:
        """Rebuild a preprocessor from :meth:`to_dict` output; raise ModelError if malformed."""
        try:
            if data["format_version"] not in READABLE_VERSIONS:
                raise ModelError(
                    f"preprocessing format_version {data['format_version']!r} is not supported "
                    f"(this code reads {', '.join(map(str, READABLE_VERSIONS))}); re-export the "
                    "model with this version."
                )
            numeric = tuple(
                NumericParams(
                    name=str(d["name"]),
                    log=bool(d["log"]),
                    median=float(d["median"]),
                    iqr=float(d["iqr"]),
                    indicator=bool(d["indicator"]),
                    required=bool(d.get("required", True)),
                    missing_values=tuple(float(v) for v in d.get("missing_values", ())),
                    days_between=_sources(d["days_between"]) if d.get("days_between") else None,
                )
                for d in data["numeric"]
            )
            categorical = tuple(
                CategoricalParams(
                    name=str(d["name"]),
                    vocabulary=tuple(str(v) for v in d["vocabulary"]),
                    counts=tuple(int(c) for c in d["counts"]),
                    required=bool(d.get("required", True)),
                    missing_values=tuple(str(v) for v in d.get("missing_values", ())),
                )
                for d in data["categorical"]
            )
            return cls(numeric, categorical, min_frequency=int(data["min_frequency"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"the preprocessing section of the model manifest is malformed ({exc!r}); "
                "the artifact was not written by fraud_mlops.artifact.export_artifact."
            ) from None


_PLAIN_NUMBERS = (int, float)


@dataclass(frozen=True)
class _OneRowPlan:
    """The scalar path of :meth:`Preprocessor.transform` for a single row of plain values.

    At one row, the vectorised path is a few dozen numpy calls on one-element arrays, each
    dominated by array creation. This path does the same arithmetic on Python floats (IEEE
    double, like numpy's elementwise ``-`` and ``/``), ``log1p`` through numpy's own ufunc, and
    vocabulary lookups in a dict built from the very keys the vectorised path searches, so its
    output is bit-identical (tests/test_preprocessing.py holds the two paths to equality).

    It only takes the easy case: every column a list (or tuple) of length 1, numbers that are
    ``int``/``float``/None, categories that are ``str``/None. Anything else (a DataFrame, numpy
    columns, a missing required column, an infinite or negative-log value, dates that do not
    parse, ...) returns None and the vectorised path handles it, with its errors.
    """

    # Tuples, not sets: a plan pickles to the same bytes in every process (string hashing is
    # salted per process, so a set's order is not), and Metaflow compares artifacts by bytes.
    # (name, log, median, iqr, sentinels, derived sources or None)
    numeric: tuple[tuple[str, bool, float, float, tuple[float, ...], Any], ...]
    indicators: tuple[int, ...]
    # (name, missing tokens, value -> code)
    categorical: tuple[tuple[str, tuple[str, ...], dict[str, int]], ...]
    required: tuple[str, ...]
    inputs: tuple[str, ...]
    log_positions: tuple[int, ...]
    numeric_dim: int

    @classmethod
    def build(cls, pre: Preprocessor, vocabs: list, tokens: list) -> _OneRowPlan:
        numeric = tuple(
            (
                f.name,
                f.log,
                float(f.median),
                float(f.iqr),
                # the batch path's np.isin on float64 sentinels: the same values as floats
                tuple(float(v) for v in np.array(f.missing_values, dtype=np.float64)),
                f.days_between,
            )
            for f in pre.numeric
        )
        categorical = []
        for f, (keys, index), tok in zip(pre.categorical, vocabs, tokens, strict=True):
            lookup: dict[str, int] = {}
            for key, code in zip(keys.tolist(), index.tolist(), strict=True):
                lookup.setdefault(key, code)  # searchsorted finds the first of equal keys
            categorical.append((f.name, tuple(tok.tolist()), lookup))
        return cls(
            numeric=numeric,
            indicators=tuple(int(i) for i in pre._lookup["ind_idx"]),
            categorical=tuple(categorical),
            required=tuple(name for name, req in pre._required_inputs() if req),
            inputs=tuple(pre.input_columns),
            log_positions=tuple(j for j, f in enumerate(pre.numeric) if f.log),
            numeric_dim=pre.numeric_dim,
        )

    def transform(self, columns: Mapping[str, Any]) -> FeatureBatch | None:
        """The one row's model inputs, or None when the vectorised path must handle it."""
        if not isinstance(columns, dict):
            return None
        present = 0
        for name in self.inputs:
            col = columns.get(name)
            if col is None:
                if name in columns:
                    return None
                continue
            if type(col) not in (list, tuple) or len(col) != 1:
                return None
            present += 1
        if not present:
            return None
        for name in self.required:
            if name not in columns:
                return None
        values: list[float] = []
        missing: list[bool] = []
        nan = math.nan
        for name, _log, _median, _iqr, sentinels, derived in self.numeric:
            if derived is not None:
                problems: list[str] = []
                v = float(derived_days(columns, derived, 1, problems)[0])
                if problems:
                    return None
            else:
                col = columns.get(name)
                if col is None:
                    v = nan
                else:
                    raw = col[0]
                    if raw is None:
                        v = nan
                    elif type(raw) in _PLAIN_NUMBERS:
                        try:
                            v = float(raw)
                        except OverflowError:
                            return None
                    else:
                        return None
                if v in sentinels:
                    v = nan
            if v != v:
                missing.append(True)
            elif v in (math.inf, -math.inf):
                return None
            else:
                missing.append(False)
            values.append(v)
        if self.log_positions:
            logged = [values[j] for j in self.log_positions]
            if any(v < 0 for v in logged):
                return None
            for j, v in zip(self.log_positions, np.log1p(logged).tolist(), strict=True):
                values[j] = v
        row = [
            0.0 if gone else (v - spec[2]) / spec[3]
            for v, gone, spec in zip(values, missing, self.numeric, strict=True)
        ]
        row += [1.0 if missing[i] else 0.0 for i in self.indicators]
        codes: list[int] = []
        unknown: list[bool] = []
        for name, tokens, lookup in self.categorical:
            col = columns.get(name)
            raw = None if col is None else col[0]
            if raw is None:
                codes.append(0)
                unknown.append(False)
                continue
            if type(raw) is not str or raw.endswith("\x00"):  # numpy's str drops trailing NULs
                return None
            if raw in tokens:
                codes.append(0)
                unknown.append(False)
                continue
            code = lookup.get(raw)
            codes.append(0 if code is None else code)
            unknown.append(code is None)
        return FeatureBatch(
            numeric=np.array([row], dtype=np.float32).reshape(1, self.numeric_dim),
            categorical=np.array([codes], dtype=np.int64).reshape(1, len(codes)),
            unknown=np.array([unknown], dtype=bool).reshape(1, len(unknown)),
        )


def fit_preprocessing(
    columns: Mapping[str, Any], schema: ClaimsSchema, *, min_frequency: int = 10
) -> Preprocessor:
    """Fit preprocessing on the TRAINING split only (never on validation or test rows).

    Args:
        columns: column name -> 1-D values; a pandas DataFrame or a dict of lists/arrays. Derived
            features are computed from the date columns they name.
        schema: the claims schema naming the numeric, derived and categorical features.
        min_frequency: a category seen fewer times than this shares the unknown bucket.
    """
    if min_frequency < 1:
        raise DataValidationError(
            "preprocessing", [f"min_frequency must be at least 1, got {min_frequency}"]
        )
    problems: list[str] = []
    lengths: set[int] = set()
    numeric: list[NumericParams] = []
    for feat in schema.numeric:
        if feat.name not in columns:
            problems.append(f"column {feat.name!r}: missing from the training data")
            continue
        x = numeric_column(columns[feat.name], feat.name, problems)
        lengths.add(len(x))
        sentinels = feat.missing_numbers
        if sentinels:
            x = np.where(np.isin(x, np.array(sentinels, dtype=np.float64)), np.nan, x)
        params = _fit_numeric(feat.name, x, feat.transform == "log", feat.required, problems)
        if params is not None:
            numeric.append(replace(params, missing_values=sentinels))
    specs = schema.date_columns
    for feat in schema.derived:
        a, b = (
            DateSource(c, specs[c].format, specs[c].missing_values, specs[c].required)
            for c in feat.days_between
        )
        absent = [s.column for s in (a, b) if s.column not in columns]
        if absent:
            problems += [
                f"column {c!r}: missing from the training data (derived {feat.name!r} needs it)"
                for c in absent
            ]
            continue
        x = derived_days(columns, (a, b), len(columns[a.column]), problems)
        lengths.add(len(x))
        params = _fit_numeric(feat.name, x, False, a.required and b.required, problems)
        if params is not None:
            numeric.append(replace(params, days_between=(a, b)))
    categorical: list[CategoricalParams] = []
    for feat in schema.categorical:
        if feat.name not in columns:
            problems.append(f"column {feat.name!r}: missing from the training data")
            continue
        text, absent = text_column(columns[feat.name])
        lengths.add(len(text))
        if feat.missing_values:
            absent = absent | np.isin(text, np.array(feat.missing_values, dtype=str))
        values, counts = np.unique(text[~absent], return_counts=True)
        keep = counts >= min_frequency
        # Most frequent first (ties by value) so the vocabulary reads well in the manifest.
        order = np.lexsort((values[keep], -counts[keep]))
        vocab = values[keep][order]
        kept_counts = counts[keep][order]
        bucket = int(len(text) - kept_counts.sum())
        categorical.append(
            CategoricalParams(
                name=feat.name,
                vocabulary=tuple(str(v) for v in vocab),
                counts=(bucket, *(int(c) for c in kept_counts)),
                required=feat.required,
                missing_values=feat.missing_values,
            )
        )
    if problems:
        raise DataValidationError("training data", problems)
    if lengths == {0}:
        raise DataValidationError("training data", ["no rows to fit preprocessing on"])
    return Preprocessor(tuple(numeric), tuple(categorical), min_frequency=min_frequency)


def _fit_numeric(
    name: str, x: np.ndarray, log: bool, required: bool, problems: list[str]
) -> NumericParams | None:
    """Median/IQR (after log1p for amounts) of one numeric column; None if it cannot be fitted."""
    missing = np.isnan(x)
    present = x[~missing]
    if log:
        if (present < 0).any():
            problems.append(f"column {name!r}: negative values in a log-scaled amount")
            return None
        present = np.log1p(present)
    if present.size:
        q1, median, q3 = np.percentile(present, [25, 50, 75])
    else:
        q1 = median = q3 = 0.0
    iqr = float(q3 - q1)
    return NumericParams(
        name=name,
        log=log,
        median=float(median),
        iqr=iqr if iqr > 0 and np.isfinite(iqr) else 1.0,
        indicator=bool(missing.any()) or not required,
        required=required,
    )


def _numeric_dict(f: NumericParams) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f.name,
        "log": f.log,
        "median": float(f.median),
        "iqr": float(f.iqr),
        "indicator": f.indicator,
        "required": f.required,
        "missing_values": [float(v) for v in f.missing_values],
    }
    if f.days_between is not None:
        out["days_between"] = [
            {
                "column": s.column,
                "format": s.format,
                "missing_values": list(s.missing_values),
                "required": s.required,
            }
            for s in f.days_between
        ]
    return out


def _sources(data: Any) -> tuple[DateSource, DateSource]:
    a, b = (
        DateSource(
            column=str(d["column"]),
            format=None if d.get("format") is None else str(d["format"]),
            missing_values=tuple(str(v) for v in d.get("missing_values", ())),
            required=bool(d.get("required", True)),
        )
        for d in data
    )
    return a, b


def derived_days(
    columns: Mapping[str, Any],
    sources: tuple[DateSource, DateSource],
    n: int,
    problems: list[str],
) -> np.ndarray:
    """``days_between`` of two raw date columns (an absent optional column is all missing)."""
    ends = []
    for s in sources:
        if s.column not in columns:
            ends.append(np.full(n, np.datetime64("NaT", "us")))
            continue
        parsed = parse_dates(columns[s.column], s.format, s.missing_values)
        if parsed.bad.any():
            rows = np.flatnonzero(parsed.bad)
            shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
            how = f"format {s.format!r}" if s.format else "ISO 8601 (e.g. 2024-03-01)"
            # No values in the message: claims carry personal data and errors reach logs.
            problems.append(
                f"column {s.column!r}: {rows.size} value(s) are not dates in {how} (row(s) {shown})"
            )
        ends.append(parsed.values)
    return days_between(ends[0], ends[1])


# -- column coercion (shared with drift) ---------------------------------------------------
def numeric_column(values: Any, name: str, problems: list[str]) -> np.ndarray:
    """1-D float64 with NaN for missing; ``None``/``pd.NA`` are missing, text is a problem."""
    try:
        if hasattr(values, "to_numpy"):  # pandas Series / arrow-backed arrays
            arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            arr = np.asarray(values, dtype=np.float64)  # None -> nan
    except (TypeError, ValueError):
        sample = [v for v in np.asarray(values, dtype=object).ravel()[:1000] if _not_number(v)]
        problems.append(f"column {name!r}: expected numbers, got e.g. {sample[:3]!r}")
        return np.full(len(values), np.nan)
    if arr.ndim != 1:
        problems.append(f"column {name!r}: expected a 1-D column, got shape {arr.shape}")
        return np.full(max(len(arr), 0), np.nan)
    return arr


def _not_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return v is not None
    return False


def text_column(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """1-D str array (missing -> "") and its missing mask; None, NaN and pd.NA are missing."""
    if hasattr(values, "to_numpy"):
        arr = values.to_numpy(dtype=object, na_value=None)
    elif isinstance(values, np.ndarray):
        arr = values
    else:  # a list: as object, because np.asarray(["a", nan]) would make nan the text "nan"
        arr = np.array(values, dtype=object)
    if arr.dtype.kind == "U":
        return arr, np.zeros(arr.shape[0], dtype=bool)
    if arr.dtype.kind == "f":
        absent = np.isnan(arr)
        text = arr.astype(str)
    else:
        obj = arr.astype(object, copy=False)
        # `obj != obj` is True only for float NaN; `== None` compares element-wise on object arrays.
        absent = np.asarray((obj == None) | (obj != obj), dtype=bool)  # noqa: E711
        text = obj.astype(str)
    text[absent] = ""
    return text, absent


def _code_table(keys: np.ndarray, index: np.ndarray, tokens: np.ndarray) -> dict[Any, int]:
    """Exact value -> code for a list's values: the vocabulary's strings (as numpy holds them)
    to their codes, its first entry winning as in a search; missing (None, a missing-value
    token) -> 0. Built in a fixed order, so it pickles to the same bytes in every process."""
    table: dict[Any, int] = {}
    for key, code in zip(keys.tolist(), index.tolist(), strict=True):
        table.setdefault(key, code)
    for token in tokens.tolist():
        table[token] = 0
    table[None] = 0
    return table


def _batch_length(columns: Mapping[str, Any], pre: Preprocessor) -> int:
    lengths = {}
    for name in pre.input_columns:
        if name in columns:
            lengths[name] = len(columns[name])
    if not lengths:
        raise DataValidationError(
            "features", [f"none of the feature columns are present; expected {pre.input_columns}"]
        )
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise DataValidationError("features", [f"columns have different lengths: {detail}"])
    return next(iter(lengths.values()))
