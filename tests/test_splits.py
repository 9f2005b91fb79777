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
