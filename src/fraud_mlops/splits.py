"""Time-ordered train / validation / test split by the schema's event time.

Fraud models are judged on claims that arrive after the ones they learnt from, so the split is
chronological: the oldest claims train, the next ones validate (early stopping, threshold,
trial selection), the newest ones test. Ties in event time (e.g. claims dated only to the week)
are ordered by id so the split is deterministic.
"""

from __future__ import annotations

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
    require_both_classes: bool = True,
) -> TimeSplit:
    """Split a validated claims frame chronologically.

    ``require_both_classes=False`` skips the class check, for callers that report the counts
    per split themselves (``fraud_mlops.readiness``).

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
    if not require_both_classes:
        return result
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
