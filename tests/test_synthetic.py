from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_mlops.errors import ConfigError
from fraud_mlops.ingest import validate_claims
from fraud_mlops.schema import default_schema
from fraud_mlops.synthetic import generate_claims


@pytest.fixture(scope="module")
def claims() -> pd.DataFrame:
    return generate_claims(60_000, seed=7)


def test_same_seed_same_claims() -> None:
    pd.testing.assert_frame_equal(generate_claims(500, seed=3), generate_claims(500, seed=3))
    assert not generate_claims(500, seed=3).equals(generate_claims(500, seed=4))


def test_claims_validate_against_the_default_schema(claims: pd.DataFrame) -> None:
    validated = validate_claims(claims, default_schema())
    assert len(validated) == len(claims)


def test_fraud_rate_is_realistic(claims: pd.DataFrame) -> None:
    assert 0.01 <= claims["is_fraud"].mean() <= 0.05


def _lift(claims: pd.DataFrame, mask: pd.Series) -> float:
    return claims.loc[mask, "is_fraud"].mean() / claims.loc[~mask, "is_fraud"].mean()


def test_each_fraud_mechanism_raises_the_fraud_rate(claims: pd.DataFrame) -> None:
    early = claims["days_since_policy_start"] < 30
    night = claims["incident_hour"].isin([23, 0, 1, 2, 3, 4]) & (claims["police_report"] == "no")
    repeat = claims["prior_claims"] >= 3
    provider_rate = claims.groupby("provider_id")["is_fraud"].transform("mean")
    provider_n = claims.groupby("provider_id")["is_fraud"].transform("size")
    bad_provider = (provider_rate > 0.2) & (provider_n >= 30)
    for name, mask in {"early": early, "night": night, "repeat": repeat}.items():
        assert _lift(claims, mask) > 1.8, name
    assert bad_provider.any(), "colluding providers should stand out"
    # amounts are inflated for fraud relative to what severity would predict
    ratio = claims["claim_amount"] / claims.groupby(["incident_type", "severity"])[
        "claim_amount"
    ].transform("median")
    assert ratio[claims["is_fraud"] == 1].median() > 1.3 * ratio[claims["is_fraud"] == 0].median()


def test_labels_are_noisy_not_a_deterministic_rule(claims: pd.DataFrame) -> None:
    # even the riskiest combination is far from always fraud, and plain claims are sometimes fraud
    risky = (claims["days_since_policy_start"] < 30) & (claims["prior_claims"] >= 3)
    assert claims.loc[risky, "is_fraud"].mean() < 0.9
    plain = (claims["days_since_policy_start"] > 365) & (claims["prior_claims"] == 0)
    assert claims.loc[plain, "is_fraud"].sum() > 0


def test_drift_shifts_period_and_mix() -> None:
    base, later = generate_claims(20_000, seed=1), generate_claims(20_000, seed=1, drift=1.0)
    assert later["claim_date"].min() > base["claim_date"].min() + pd.Timedelta(days=300)
    assert later["claim_amount"].median() > 1.15 * base["claim_amount"].median()
    online = lambda f: f["channel"].isin(["online", "app"]).mean()  # noqa: E731
    assert online(later) > online(base) + 0.1


def test_optional_column_is_missing_only_for_non_motor_claims(claims: pd.DataFrame) -> None:
    missing = claims["vehicle_age"].isna()
    assert missing.any()
    assert not claims.loc[missing, "incident_type"].isin(["collision", "theft", "glass"]).any()
    assert np.isfinite(claims.loc[~missing, "vehicle_age"]).all()


@pytest.mark.parametrize(("rows", "drift"), [(0, 0.0), (-5, 0.0), (10, 1.5), (10, -0.1)])
def test_bad_arguments_are_refused(rows: int, drift: float) -> None:
    with pytest.raises(ConfigError):
        generate_claims(rows, drift=drift)
