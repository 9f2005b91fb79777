"""Drift: PSI and KS against the training reference profile."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_mlops.drift import (
    FeatureDrift,
    ReferenceProfile,
    build_reference,
    compute_drift,
    ks_statistic,
    population_stability_index,
    psi_verdict,
)
from fraud_mlops.errors import DataValidationError, ModelError
from fraud_mlops.schema import default_schema, load_schema
from fraud_mlops.synthetic import generate_claims


@pytest.fixture(scope="module")
def schema():
    return default_schema()


@pytest.fixture(scope="module")
def reference(schema) -> ReferenceProfile:
    return build_reference(generate_claims(8000, seed=1, drift=0.0), schema)


def _by_feature(results: list[FeatureDrift]) -> dict[str, FeatureDrift]:
    return {r.feature: r for r in results}


def test_same_distribution_has_no_drift(reference, schema):
    fresh = generate_claims(8000, seed=2, drift=0.0)  # same process, different sample
    results = compute_drift(reference, fresh, schema)
    assert [r.feature for r in results] == schema.feature_names
    for r in results:
        assert r.psi < 0.05, r  # sampling noise only (provider_id has many small bins)
        assert r.verdict == "stable"
        if r.kind == "numeric":
            assert r.ks is not None and r.ks < 0.06, r
        else:
            assert r.ks is None


def test_drifted_claims_show_on_the_drifted_features(reference, schema):
    drifted = _by_feature(
        compute_drift(reference, generate_claims(8000, seed=3, drift=1.0), schema)
    )
    # the generator's drift knob: more online/app claims, higher amounts, younger customers
    assert drifted["channel"].psi > 0.25 and drifted["channel"].verdict == "major"
    assert drifted["customer_age"].psi > 0.1 and drifted["customer_age"].verdict != "stable"
    assert drifted["customer_age"].ks > 0.1
    # +30 % claims inflation is a small shift on a lognormal spread: KS sees it more than PSI
    assert drifted["claim_amount"].psi > 0.03
    assert drifted["claim_amount"].ks > 0.06
    # untouched features stay put
    assert drifted["region"].psi < 0.05
    assert drifted["witnesses"].psi < 0.05


def test_profile_round_trips_without_pickle(reference, schema, tmp_path):
    path = reference.save(tmp_path / "reference.npz")
    loaded = ReferenceProfile.load(path)
    assert loaded.rows == reference.rows == 8000
    assert set(loaded.numeric) == set(schema.numeric_names)
    for name, ref in reference.numeric.items():
        np.testing.assert_array_equal(loaded.numeric[name].edges, ref.edges)
        np.testing.assert_array_equal(loaded.numeric[name].proportions, ref.proportions)
        assert loaded.numeric[name].sample.size == min(2000, ref.sample.size)
    for name, ref in reference.categorical.items():
        np.testing.assert_array_equal(loaded.categorical[name].values, ref.values)
    with np.load(path, allow_pickle=False) as z:  # nothing in it needs pickle
        assert all(z[k].dtype != object for k in z.files)
    claims = generate_claims(2000, seed=9)
    assert compute_drift(loaded, claims, schema) == compute_drift(reference, claims, schema)


def test_missing_values_are_their_own_bin(reference, schema):
    claims = generate_claims(4000, seed=4)
    ref = reference.numeric["vehicle_age"]
    assert 0.2 < ref.proportions[-1] < 0.6  # the missing share (non-motor claims)
    assert ref.proportions.sum() == pytest.approx(1.0)
    claims["vehicle_age"] = np.nan  # an upstream bug drops the column's values
    result = _by_feature(compute_drift(reference, claims, schema))["vehicle_age"]
    assert result.verdict == "major"


def test_psi_and_ks_helpers():
    even = np.full(10, 0.1)
    assert population_stability_index(even, even) == 0.0
    skewed = np.array([0.5] + [0.5 / 9] * 9)
    assert population_stability_index(even, skewed) > 0.25
    # an empty bin costs a finite amount thanks to the epsilon
    assert np.isfinite(population_stability_index(even, np.array([0.0] + [1 / 9] * 9)))
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 3000), rng.normal(0, 1, 3000)
    assert ks_statistic(a, b) < 0.05
    assert ks_statistic(a, b + 1.0) > 0.3
    from scipy.stats import ks_2samp

    assert ks_statistic(a, b + 0.2) == pytest.approx(ks_2samp(a, b + 0.2).statistic)
    assert [psi_verdict(x) for x in (0.05, 0.1, 0.2, 0.25, 1.0)] == [
        "stable",
        "moderate",
        "moderate",
        "major",
        "major",
    ]


def test_schema_mismatch_and_missing_columns_are_reported(reference, schema):
    other = load_schema("fraud_oracle")
    with pytest.raises(ModelError, match="another schema"):
        compute_drift(reference, {}, other)
    claims = generate_claims(200, seed=5).drop(columns=["severity"])
    with pytest.raises(DataValidationError, match="severity"):
        compute_drift(reference, claims, schema)


def test_derived_features_are_profiled_and_computed_from_dates_when_absent(tmp_path):
    from fraud_mlops.ingest import load_claims
    from fraud_mlops.schema import load_schema
    from fraud_mlops.synthetic import insurer_export, write_insurer_export

    schema = load_schema("insurer_export")
    paths = {}
    for name, drift in (("early", 0.0), ("late", 1.0)):
        paths[name] = tmp_path / f"{name}.csv"
        export = insurer_export(generate_claims(2000, seed=3, drift=drift), seed=3)
        write_insurer_export(export, str(paths[name]))
    early = load_claims(str(paths["early"]), schema)
    reference = build_reference(early, schema)
    assert "policy_tenure_days" in reference.numeric
    late = load_claims(str(paths["late"]), schema)
    with_column = compute_drift(reference, late, schema)
    from_dates = compute_drift(reference, late.drop(columns=["policy_tenure_days"]), schema)
    assert [d.feature for d in with_column] == schema.feature_names
    assert with_column == from_dates
    assert compute_drift(reference, early, schema)[-1].psi < 1e-9  # same data, no drift
