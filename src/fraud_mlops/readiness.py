"""Can these claims train a model? Decided before anything is written, with the counts.

``fraud-mlops ingest`` and the flow's ``start`` call :func:`check_trainable` on the validated
claims before they write the run's ``raw/claims`` partition, so data that cannot train fails
in seconds instead of in ``prepare``, and leaves nothing behind. Refused:

* fewer than :data:`MIN_ROWS` claims (the newest 15 % are the test split: 500 claims give 75);
* one class only (every claim fraud, or none);
* a time-ordered split (``fraud_mlops.splits.time_split``, the one training uses) in which
  train, validation or test has fewer than :data:`MIN_PER_CLASS` frauds or non-frauds, or
  train has fewer than :data:`MIN_TRAIN_FRAUDS` frauds (the least any model family learns from;
  ``fraud_mlops.candidates`` and ``fraud_mlops.gbdt`` refuse below it too).

A test split with fewer than :data:`FEW_TEST_FRAUDS` frauds trains, with a warning that its
metrics rest on few frauds (read their intervals).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fraud_mlops.errors import DataValidationError

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.schema import ClaimsSchema

MIN_ROWS = 500
MIN_PER_CLASS = 5
MIN_TRAIN_FRAUDS = 10
FEW_TEST_FRAUDS = 30


def split_counts(frame: pd.DataFrame, schema: ClaimsSchema) -> dict[str, tuple[int, int]]:
    """(claims, frauds) per split of the time-ordered split that training will use."""
    from fraud_mlops.splits import SPLITS, time_split

    split = time_split(frame, schema, require_both_classes=False)
    labels = frame[schema.label_column].to_numpy()
    return {
        name: (len(split.indices(name)), int(labels[split.indices(name)].sum())) for name in SPLITS
    }


def format_counts(counts: dict[str, tuple[int, int]]) -> str:
    """``train 700 claims / 3 frauds, validation ...``."""
    return ", ".join(
        f"{name} {rows:,} claims / {frauds:,} fraud{'' if frauds == 1 else 's'}"
        for name, (rows, frauds) in counts.items()
    )


def check_trainable(frame: pd.DataFrame, schema: ClaimsSchema, source: str) -> list[str]:
    """Refuse claims that cannot train a model; return warnings for ones that train poorly.

    Raises:
        DataValidationError: too few claims, one class only, or a split short of a class; the
            message gives the counts per split and what to do.
    """
    labels = np.asarray(frame[schema.label_column].to_numpy(), dtype=np.int64)
    n, frauds = len(labels), int(labels.sum())
    problems = []
    counts: dict[str, tuple[int, int]] = {}
    if n < MIN_ROWS:
        problems.append(
            f"{n:,} claims are fewer than the {MIN_ROWS:,} needed to train: the newest 15 % "
            f"({round(n * 0.15):,} claims) would be the whole test split. Add claims (a longer "
            "period or more lines of business)"
        )
    if frauds in (0, n):
        only = "not fraud (0)" if frauds == 0 else "fraud (1)"
        problems.append(
            f"label {schema.label_column!r} has one class only: all {n:,} claims are {only}. A "
            "fraud model needs both; check that the label column is the right one and that its "
            "values are 1/0, true/false, yes/no, y/n or t/f"
        )
    else:
        counts = split_counts(frame, schema)
        short = [
            name
            for name, (rows, k) in counts.items()
            if k < MIN_PER_CLASS or rows - k < MIN_PER_CLASS
        ]
        if short:
            who = " and ".join(short) + (" needs" if len(short) == 1 else " need")
            problems.append(
                f"too few frauds for the time-ordered split ({format_counts(counts)}): "
                f"{who} at least {MIN_PER_CLASS} frauds and {MIN_PER_CLASS} non-frauds each "
                f"({frauds:,} frauds in {n:,} claims overall). Add claims: validation and test "
                "are the newest 15 % each, so newer claims help most"
            )
        elif counts["train"][1] < MIN_TRAIN_FRAUDS:
            problems.append(
                f"too few frauds to train any model family ({format_counts(counts)}): train "
                f"needs at least {MIN_TRAIN_FRAUDS} frauds. Add claims (a longer period), or "
                "check the label column"
            )
    if problems:
        raise DataValidationError(source, problems)
    test_rows, test_frauds = counts["test"]
    if test_frauds < FEW_TEST_FRAUDS:
        return [
            f"the test split holds {test_frauds} frauds in {test_rows:,} claims: its metrics "
            f"are noisy below {FEW_TEST_FRAUDS} frauds; read their intervals, and add newer "
            "claims when you can"
        ]
    return []
