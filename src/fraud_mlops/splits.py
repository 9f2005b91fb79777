"""Time-ordered train / validation / test split by the schema's event time.

Fraud models are judged on claims that arrive after the ones they learnt from, so the split is
chronological: the oldest claims train, the next ones validate (early stopping, threshold,
trial selection), the newest ones test. Ties in event time (e.g. claims dated only to the week)
are ordered by id so the split is deterministic.

When the data is small, :func:`expanding_window_folds` gives time-series cross-validation over
the train + validation part (expanding windows: each fold trains on everything older than its
validation block), so model selection does not rest on one small validation split.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fraud_mlops.errors import ConfigError, DataValidationError

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.schema import ClaimsSchema

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class TimeSplit:
    """Row positions of each split (into the frame given to :func:`time_split`), oldest first."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def indices(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        return getattr(self, split)

    def labels(self, n_rows: int) -> np.ndarray:
        """The split name of every row, as an object array of length ``n_rows``."""
        out = np.empty(n_rows, dtype=object)
        for name in SPLITS:
            out[self.indices(name)] = name
        return out

    def sizes(self) -> dict[str, int]:
        return {name: len(self.indices(name)) for name in SPLITS}


def time_split(
    frame: pd.DataFrame,
    schema: ClaimsSchema,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> TimeSplit:
    """Split a validated claims frame chronologically.

    Raises:
        ConfigError: the fractions leave no room for training.
        DataValidationError: a split would be empty or lack fraud / non-fraud claims.
    """
    from fraud_mlops.ingest import event_time_column

    for name, value in (("validation", validation_fraction), ("test", test_fraction)):
        if not 0.0 < value < 1.0:
            raise ConfigError(f"{name}_fraction must be between 0 and 1, got {value}")
    if validation_fraction + test_fraction >= 0.9:
        raise ConfigError(
            f"validation ({validation_fraction}) + test ({test_fraction}) fractions leave less "
            "than 10 % for training; lower them"
        )
    time_col = event_time_column(schema)
    missing = [c for c in (time_col, schema.id_column, schema.label_column) if c not in frame]
    if missing:
        raise DataValidationError("split", [f"column {c!r} is missing" for c in missing])
    n = len(frame)
    times = frame[time_col].to_numpy(dtype="datetime64[us]")
    ids = frame[schema.id_column].astype(str).to_numpy()
    order = np.lexsort((ids, times))  # last key is primary: time, then id
    n_test = round(n * test_fraction)
    n_val = round(n * validation_fraction)
    n_train = n - n_val - n_test
    result = TimeSplit(
        train=order[:n_train],
        validation=order[n_train : n_train + n_val],
        test=order[n_train + n_val :],
    )
    labels = frame[schema.label_column].to_numpy()
    problems = []
    for name in SPLITS:
        y = labels[result.indices(name)]
        if len(y) == 0 or y.min() == y.max():
            problems.append(
                f"the {name} split ({len(y)} rows) has "
                + ("no rows" if len(y) == 0 else f"only label {int(y[0])}")
                + ": every split needs fraud and non-fraud claims; use more rows"
            )
    if problems:
        raise DataValidationError(f"time split of {n} claims", problems)
    return result


@dataclass(frozen=True)
class Fold:
    """One expanding-window fold: row positions, oldest first."""

    train: np.ndarray
    validation: np.ndarray

    def describe(self, labels: np.ndarray) -> dict[str, int]:
        """Rows and frauds of each side, for run summaries."""
        y = np.asarray(labels)
        return {
            "train_rows": len(self.train),
            "train_frauds": int(y[self.train].sum()),
            "validation_rows": len(self.validation),
            "validation_frauds": int(y[self.validation].sum()),
        }


def expanding_window_folds(
    split: TimeSplit | np.ndarray,
    labels: np.ndarray,
    *,
    n_folds: int = 4,
    min_train_fraction: float = 0.5,
    min_frauds: int = 1,
) -> list[Fold]:
    """Time-series cross-validation folds over the train + validation part of a split.

    The pool is ``split.train`` then ``split.validation`` (already oldest first; a 1-D array of
    row positions in time order is accepted too); test rows are never touched. The oldest
    ``min_train_fraction`` of the pool always trains; the rest is cut into ``n_folds`` equal,
    consecutive blocks, and fold ``k`` trains on everything before block ``k`` and validates on
    it. A block with fewer than ``min_frauds`` frauds (or no honest claim) is merged into the
    next one (the last into the previous), so there may be fewer folds than asked.

    Args:
        split: the run's :class:`TimeSplit`, or row positions in time order.
        labels: 0/1 label of every row of the frame (indexed by row position).

    Raises:
        ConfigError: ``n_folds`` < 1, ``min_train_fraction`` outside (0, 1) or ``min_frauds`` < 1.
        DataValidationError: no fold can be formed (too few frauds after the training window),
            with the counts.
    """
    if int(n_folds) < 1:
        raise ConfigError(f"n_folds must be at least 1, got {n_folds}")
    if not 0.0 < min_train_fraction < 1.0:
        raise ConfigError(f"min_train_fraction must be between 0 and 1, got {min_train_fraction}")
    if int(min_frauds) < 1:
        raise ConfigError(f"min_frauds must be at least 1, got {min_frauds}")
    pool = (
        np.concatenate([split.train, split.validation])
        if isinstance(split, TimeSplit)
        else np.asarray(split, dtype=np.intp)
    )
    y = np.asarray(labels)[pool]
    start = round(len(pool) * min_train_fraction)
    bounds = np.linspace(start, len(pool), int(n_folds) + 1).round().astype(int)
    blocks = [[int(lo), int(hi)] for lo, hi in itertools.pairwise(bounds) if hi > lo]

    def ok(lo: int, hi: int) -> bool:
        frauds = int(y[lo:hi].sum())
        return frauds >= min_frauds and frauds < hi - lo

    merged: list[list[int]] = []
    for lo, hi in blocks:
        if merged and not ok(*merged[-1]):
            merged[-1][1] = hi  # the previous block was too thin: extend it
        else:
            merged.append([lo, hi])
    if len(merged) > 1 and not ok(*merged[-1]):
        last = merged.pop()
        merged[-1][1] = last[1]
    problems = []
    if start == 0 or y[:start].min(initial=0) == y[:start].max(initial=0):
        problems.append(
            f"the first training window ({start} rows, {int(y[:start].sum())} frauds) needs "
            "fraud and non-fraud claims"
        )
    if not merged or not ok(*merged[-1]):
        rest = y[start:]
        problems.append(
            f"the {len(rest)} rows after the first training window hold {int(rest.sum())} "
            f"fraud(s); each fold needs at least {min_frauds} and an honest claim"
        )
    if problems:
        raise DataValidationError(
            f"time-series folds of {len(pool)} claims",
            [
                p + ": use more claims, fewer folds or a smaller min_train_fraction"
                for p in problems
            ],
        )
    return [Fold(train=pool[:lo], validation=pool[lo:hi]) for lo, hi in merged]
