"""Claims that cannot train are refused up front, with the counts per split."""

from __future__ import annotations

import pytest

from fraud_mlops.errors import DataValidationError
from fraud_mlops.ingest import validate_claims
from fraud_mlops.readiness import MIN_PER_CLASS, MIN_ROWS, check_trainable, split_counts
from fraud_mlops.schema import default_schema
from fraud_mlops.synthetic import generate_claims


@pytest.fixture(scope="module")
def claims():
    return validate_claims(generate_claims(3000, seed=4), default_schema())


def _refusal(frame) -> str:
    with pytest.raises(DataValidationError) as err:
        check_trainable(frame, default_schema(), "claims.csv")
    assert "nothing was written" in str(err.value)
    return str(err.value)


def test_enough_claims_pass_with_a_warning_when_the_test_split_has_few_frauds(claims) -> None:
    counts = split_counts(claims, default_schema())
    assert {k: v[0] for k, v in counts.items()} == {"train": 2100, "validation": 450, "test": 450}
    warnings = check_trainable(claims, default_schema(), "claims.csv")
    assert counts["test"][1] < 30
    assert warnings == [
        f"the test split holds {counts['test'][1]} frauds in 450 claims: its metrics are noisy "
        "below 30 frauds; read their intervals, and add newer claims when you can"
    ]


def test_one_class_only_is_refused(claims) -> None:
    text = _refusal(claims.assign(is_fraud=0))
    assert "label 'is_fraud' has one class only: all 3,000 claims are not fraud (0)" in text


def test_a_tiny_file_is_refused_below_the_documented_minimum(claims) -> None:
    text = _refusal(claims.iloc[:400])
    assert f"400 claims are fewer than the {MIN_ROWS} needed to train" in text
    assert "(60 claims) would be the whole test split" in text


def test_too_few_frauds_in_a_split_shows_the_counts_per_split(claims) -> None:
    order = claims.sort_values(["claim_date", "claim_id"]).index
    late = claims.index.isin(order[-450:])
    frame = claims.assign(is_fraud=claims["is_fraud"].where(~late, 0))  # no fraud in test
    frame.loc[frame.index[late][:2], "is_fraud"] = 1
    text = _refusal(frame)
    counts = split_counts(frame, default_schema())
    assert counts["test"] == (450, 2)
    assert "too few frauds for the time-ordered split (train 2,100 claims / " in text
    assert "test 450 claims / 2 frauds): test needs at least " in text
    assert f"{MIN_PER_CLASS} frauds and {MIN_PER_CLASS} non-frauds each" in text


def test_a_train_split_too_thin_for_any_family_is_refused(claims) -> None:
    from fraud_mlops.readiness import MIN_TRAIN_FRAUDS

    order = claims.sort_values(["claim_date", "claim_id"]).index
    train = claims.index.isin(order[:2100])
    frame = claims.assign(is_fraud=claims["is_fraud"].where(~train, 0))
    frame.loc[frame.index[train][: MIN_TRAIN_FRAUDS - 1], "is_fraud"] = 1
    counts = split_counts(frame, default_schema())
    assert counts["train"][1] == MIN_TRAIN_FRAUDS - 1
    assert min(counts["validation"][1], counts["test"][1]) >= MIN_PER_CLASS
    text = _refusal(frame)
    assert "too few frauds to train any model family (train 2,100 claims / 9 frauds" in text
    assert f"train needs at least {MIN_TRAIN_FRAUDS} frauds" in text
