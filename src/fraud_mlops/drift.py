"""Data drift between the training reference and new claims: PSI per feature, KS for numerics.

A :class:`ReferenceProfile` is built from the training split when a model is trained and travels
inside the model artifact as ``reference.npz`` (numpy arrays only, no pickle). It holds, per
numeric feature, the decile bin edges of the training values with the share of rows in each bin
(plus a "missing" bin) and a sample of up to 2,000 values for the Kolmogorov–Smirnov statistic;
per categorical feature, the share of each frequent value (at most 50, each >= 0.5 % of rows), of
"other" values and of missing ones.

PSI (population stability index) reads ``< 0.1`` stable, ``0.1–0.25`` moderate shift and
``>= 0.25`` major shift (the usual credit-risk rule of thumb); empty bins get a small epsilon.

Numpy only, so the scoring Lambda could use it too.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fraud_mlops.errors import DataValidationError, ModelError
from fraud_mlops.preprocessing import DateSource, derived_days, numeric_column, text_column
from fraud_mlops.schema import ClaimsSchema, DerivedFeature

PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
EPSILON = 1e-4
SAMPLE_SIZE = 2_000
# Categories kept as their own PSI bin: the most frequent, each at least MIN_SHARE of the rows;
# the rest share "other". PSI's sampling noise grows with the bin count (about
# (bins - 1) * (1/n_ref + 1/n_cur) with no drift at all), so many tiny bins would read as drift.
MAX_CATEGORIES = 50
MIN_SHARE = 0.005
FORMAT_VERSION = 1


@dataclass(frozen=True)
class NumericReference:
    """Training distribution of one numeric feature (missing values excluded from the bins)."""

    edges: np.ndarray  # inner bin edges (deciles, de-duplicated)
    proportions: np.ndarray  # share of ALL rows per bin, then the missing share as the last entry
    sample: np.ndarray  # up to SAMPLE_SIZE present values, for KS


@dataclass(frozen=True)
class CategoricalReference:
    """Training distribution of one categorical feature."""

    values: np.ndarray  # str, the most frequent values
    proportions: np.ndarray  # share per value, then "other", then "missing"


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature; ``ks`` is None for categorical features."""

    feature: str
    kind: Literal["numeric", "categorical"]
    psi: float
    ks: float | None

    @property
    def verdict(self) -> str:
        return psi_verdict(self.psi)


def psi_verdict(psi: float) -> str:
    """``stable`` below 0.1, ``moderate`` below 0.25, ``major`` from 0.25."""
    if psi >= PSI_MAJOR:
        return "major"
    return "moderate" if psi >= PSI_MODERATE else "stable"


@dataclass(frozen=True)
class ReferenceProfile:
    """Per-feature training distributions; save with :meth:`save`, read with :meth:`load`."""

    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    rows: int

    def save(self, path: str | Path) -> Path:
        """Write ``reference.npz`` (plain arrays, readable with ``allow_pickle=False``)."""
        path = Path(path)
        path.write_bytes(self.to_bytes())
        return path

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(FORMAT_VERSION),
            "rows": np.array(self.rows, dtype=np.int64),
            "numeric_names": np.array(list(self.numeric), dtype=str),
            "categorical_names": np.array(list(self.categorical), dtype=str),
        }
        # Index-based keys: feature names may hold characters a zip member name should not.
        for i, ref in enumerate(self.numeric.values()):
            arrays[f"num{i}_edges"] = ref.edges
            arrays[f"num{i}_proportions"] = ref.proportions
            arrays[f"num{i}_sample"] = ref.sample
        for i, ref in enumerate(self.categorical.values()):
            arrays[f"cat{i}_values"] = ref.values.astype(str)
            arrays[f"cat{i}_proportions"] = ref.proportions
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def load(cls, path: str | Path) -> ReferenceProfile:
        """Read a profile written by :meth:`save`; raise ModelError if it is unreadable."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["format_version"]) != FORMAT_VERSION:
                    raise ModelError(
                        f"{path}: reference profile format {int(z['format_version'])} is not "
                        f"supported (expected {FORMAT_VERSION})"
                    )
                numeric = {
                    str(name): NumericReference(
                        z[f"num{i}_edges"], z[f"num{i}_proportions"], z[f"num{i}_sample"]
                    )
                    for i, name in enumerate(z["numeric_names"])
                }
                categorical = {
                    str(name): CategoricalReference(z[f"cat{i}_values"], z[f"cat{i}_proportions"])
                    for i, name in enumerate(z["categorical_names"])
                }
                return cls(numeric, categorical, rows=int(z["rows"]))
        except ModelError:
            raise
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{path}: not a readable reference profile ({exc})") from None


def build_reference(
    columns: Mapping[str, Any],
    schema: ClaimsSchema,
    *,
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
) -> ReferenceProfile:
    """Profile the TRAINING split of ``columns`` (a DataFrame or a dict of arrays)."""
    rng = np.random.default_rng(seed)
    numeric: dict[str, NumericReference] = {}
    categorical: dict[str, CategoricalReference] = {}
    rows = 0
    for name in schema.numeric_names:
        x = _numeric_values(columns, name, schema)
        rows = len(x)
        present = x[~np.isnan(x)]
        if present.size:
            edges = np.unique(np.quantile(present, np.linspace(0.1, 0.9, 9)))
        else:
            edges = np.empty(0)
        take = min(sample_size, present.size)
        sample = np.sort(rng.choice(present, take, replace=False)) if take else np.empty(0)
        numeric[name] = NumericReference(edges, _numeric_shares(x, edges), sample)
    for feat in schema.categorical:
        text, absent = _categorical_values(columns, feat.name)
        rows = len(text)
        values, counts = np.unique(text[~absent], return_counts=True)
        order = np.lexsort((values, -counts))[:MAX_CATEGORIES]
        order = order[counts[order] >= MIN_SHARE * len(text)]
        kept = values[order]
        categorical[feat.name] = CategoricalReference(kept, _categorical_shares(text, absent, kept))
    if rows == 0:
        raise DataValidationError("reference data", ["no rows to build a reference profile from"])
    return ReferenceProfile(numeric, categorical, rows=rows)


def compute_drift(
    reference: ReferenceProfile, columns: Mapping[str, Any], schema: ClaimsSchema
) -> list[FeatureDrift]:
    """PSI (and KS for numerics) of every schema feature the reference profiles, schema order."""
    out: list[FeatureDrift] = []
    missing = [
        f for f in schema.feature_names if f not in reference.numeric | reference.categorical
    ]
    if missing:
        raise ModelError(
            f"the reference profile has no distribution for {missing}: it was built with another "
            "schema. Pass the schema the model was trained with (--schema)."
        )
    for name in schema.numeric_names:
        ref = reference.numeric[name]
        x = _numeric_values(columns, name, schema)
        if len(x) == 0:
            raise DataValidationError("current data", ["no rows to compare with the reference"])
        psi = population_stability_index(ref.proportions, _numeric_shares(x, ref.edges))
        present = x[~np.isnan(x)]
        ks = ks_statistic(ref.sample, present) if present.size and ref.sample.size else 1.0
        out.append(FeatureDrift(name, "numeric", psi, ks))
    for feat in schema.categorical:
        ref_c = reference.categorical[feat.name]
        text, absent = _categorical_values(columns, feat.name)
        psi = population_stability_index(
            ref_c.proportions, _categorical_shares(text, absent, ref_c.values)
        )
        out.append(FeatureDrift(feat.name, "categorical", psi, None))
    return out


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI = sum((a - e) * ln(a / e)) over bins; empty bins are raised to EPSILON."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), EPSILON)
    a = np.maximum(np.asarray(actual, dtype=np.float64), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic: the largest gap between the two ECDFs."""
    a = np.sort(np.asarray(a, dtype=np.float64))
    b = np.sort(np.asarray(b, dtype=np.float64))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


# -- helpers -------------------------------------------------------------------------------
def _numeric_values(columns: Mapping[str, Any], name: str, schema: ClaimsSchema) -> np.ndarray:
    """A numeric feature's values; a derived one is computed from its dates if not a column."""
    feat = schema.feature(name)
    problems: list[str] = []
    if name in columns:
        x = numeric_column(columns[name], name, problems)
    elif isinstance(feat, DerivedFeature):
        specs = schema.date_columns
        sources = tuple(
            DateSource(c, specs[c].format, specs[c].missing_values, specs[c].required)
            for c in feat.days_between
        )
        present = [s.column for s in sources if s.column in columns]
        if not present:
            raise DataValidationError("drift", [f"columns {list(feat.days_between)}: missing"])
        x = derived_days(columns, (sources[0], sources[1]), len(columns[present[0]]), problems)
    else:
        raise DataValidationError("drift", [f"column {name!r}: missing"])
    if problems:
        raise DataValidationError("drift", problems)
    sentinels = getattr(feat, "missing_numbers", ())
    if sentinels:
        x = np.where(np.isin(x, np.array(sentinels, dtype=np.float64)), np.nan, x)
    return x


def _categorical_values(columns: Mapping[str, Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in columns:
        raise DataValidationError("drift", [f"column {name!r}: missing"])
    return text_column(columns[name])


def _numeric_shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of all rows per bin (``len(edges) + 1`` bins), then the missing share."""
    missing = np.isnan(x)
    bins = np.searchsorted(edges, x[~missing], side="right")
    counts = np.bincount(bins, minlength=edges.size + 1).astype(np.float64)
    return np.append(counts, missing.sum()) / max(len(x), 1)


def _categorical_shares(text: np.ndarray, absent: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share of all rows per known value, then "other", then "missing"."""
    k = values.size
    counts = np.zeros(k + 2, dtype=np.float64)
    if k:
        order = np.argsort(values)
        keys = values[order]
        pos = np.minimum(np.searchsorted(keys, text), k - 1)
        found = (keys[pos] == text) & ~absent
        counts[:k] = np.bincount(order[pos[found]], minlength=k)
    else:
        found = np.zeros(len(text), dtype=bool)
    counts[k] = np.count_nonzero(~found & ~absent)
    counts[k + 1] = np.count_nonzero(absent)
    return counts / max(len(text), 1)
