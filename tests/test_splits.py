"""The split is chronological, complete, deterministic and refuses splits without fraud."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_mlops.errors import ConfigError, DataValidationError
from fraud_mlops.ingest import load_claims, validate_claims
from fraud_mlops.schema import default_schema, load_schema
from fraud_mlops.splits import time_split
from fraud_mlops.synthetic import generate_claims


@pytest.fixture(scope="module")
def claims():
    schema = default_schema()
    frame = validate_claims(generate_claims(3000, seed=5), schema)
    # Shuffle so the split has to sort by time itself.
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True), schema


def test_split_is_time_ordered_and_partitions_every_row(claims):
    frame, schema = claims
    s = time_split(frame, schema, validation_fraction=0.2, test_fraction=0.1)
    assert s.sizes() == {"train": 2100, "validation": 600, "test": 300}
    all_rows = np.concatenate([s.train, s.validation, s.test])
    assert sorted(all_rows.tolist()) == list(range(len(frame)))  # nothing dropped or repeated
    t = frame["claim_date"]
    assert t.iloc[s.train].max() <= t.iloc[s.validation].min()
    assert t.iloc[s.validation].max() <= t.iloc[s.test].min()
    labels = s.labels(len(frame))
    assert (labels[s.test] == "test").all() and (labels[s.train] == "train").all()


def test_split_is_deterministic_with_ties(claims):
    frame, schema = claims
    tied = frame.copy()
    tied["claim_date"] = tied["claim_date"].dt.floor("30D")  # many equal times
    a, b = time_split(tied, schema), time_split(tied.iloc[::-1].reset_index(drop=True), schema)
    ids_a = tied[schema.id_column].to_numpy()[a.test]
    ids_b = tied.iloc[::-1].reset_index(drop=True)[schema.id_column].to_numpy()[b.test]
    assert sorted(ids_a) == sorted(ids_b)


def test_split_without_fraud_in_a_split_is_refused(claims):
    frame, schema = claims
    no_fraud = frame.assign(**{schema.label_column: 0})
    with pytest.raises(DataValidationError, match="only label 0"):
        time_split(no_fraud, schema)


@pytest.mark.parametrize(("val", "test"), [(0.0, 0.1), (0.5, 0.45), (0.2, 1.2)])
def test_bad_fractions_are_refused(claims, val, test):
    frame, schema = claims
    with pytest.raises(ConfigError):
        time_split(frame, schema, validation_fraction=val, test_fraction=test)


def test_event_time_from_parts(fraud_oracle_path):
    schema = load_schema("fraud_oracle")
    frame = load_claims(str(fraud_oracle_path), schema)
    s = time_split(frame, schema)
    t = frame["event_time"]
    assert t.iloc[s.train].max() <= t.iloc[s.test].min()


# -- expanding-window folds -------------------------------------------------------------------
def test_folds_expand_in_time_and_never_touch_test(claims):
    from fraud_mlops.splits import expanding_window_folds

    frame, schema = claims
    s = time_split(frame, schema)
    labels = frame[schema.label_column].to_numpy()
    folds = expanding_window_folds(s, labels, n_folds=4, min_train_fraction=0.5)
    assert len(folds) == 4
    pool = np.concatenate([s.train, s.validation])
    t = frame["claim_date"].to_numpy()
    previous_train = 0
    for fold in folds:
        assert not set(fold.train) & set(s.test) and not set(fold.validation) & set(s.test)
        assert t[fold.train].max() <= t[fold.validation].min()  # validation is newer
        assert len(fold.train) > previous_train  # expanding
        previous_train = len(fold.train)
        np.testing.assert_array_equal(fold.train, pool[: len(fold.train)])
        d = fold.describe(labels)
        assert d["validation_frauds"] > 0 and d["train_frauds"] > 0
    # The validation blocks tile the pool after the first window, without overlap.
    tiled = np.concatenate([f.validation for f in folds])
    np.testing.assert_array_equal(tiled, pool[len(folds[0].train) :])


def test_thin_blocks_are_merged():
    from fraud_mlops.splits import expanding_window_folds

    labels = np.zeros(100, dtype=int)
    labels[[3, 10, 20, 30, 55, 97]] = 1  # blocks after row 50: [50,62) [62,75) [75,88) [88,100)
    folds = expanding_window_folds(np.arange(100), labels, n_folds=4, min_train_fraction=0.5)
    sizes = [(len(f.train), len(f.validation)) for f in folds]
    assert sizes == [(50, 12), (62, 38)]  # the two fraud-free blocks joined the last one
    assert all(labels[f.validation].sum() >= 1 for f in folds)


def test_no_fold_possible_is_refused_with_counts():
    from fraud_mlops.splits import expanding_window_folds

    labels = np.zeros(100, dtype=int)
    labels[[3, 10]] = 1
    with pytest.raises(DataValidationError, match="the 50 rows after the first training window"):
        expanding_window_folds(np.arange(100), labels)
    with pytest.raises(ConfigError, match="n_folds"):
        expanding_window_folds(np.arange(100), labels, n_folds=0)
    with pytest.raises(ConfigError, match="min_train_fraction"):
        expanding_window_folds(np.arange(100), labels, min_train_fraction=1.0)
