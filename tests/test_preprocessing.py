"""Preprocessing: training and serving must produce the very same features."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_mlops.errors import DataValidationError, ModelError
from fraud_mlops.preprocessing import MISSING_SUFFIX, Preprocessor, fit_preprocessing
from fraud_mlops.schema import default_schema, load_schema
from fraud_mlops.synthetic import generate_claims


@pytest.fixture(scope="module")
def schema():
    return default_schema()


@pytest.fixture(scope="module")
def claims():
    return generate_claims(3000, seed=7)


@pytest.fixture(scope="module")
def pre(claims, schema) -> Preprocessor:
    return fit_preprocessing(claims, schema, min_frequency=10)


def _as_python_lists(frame, schema) -> dict[str, list]:
    """What the API hands over: plain Python lists, None for missing."""
    out = {}
    for name in schema.feature_names:
        values = frame[name].tolist()
        out[name] = [None if isinstance(v, float) and math.isnan(v) else v for v in values]
    return out


def test_training_and_serving_features_are_identical(pre, claims, schema):
    rows = claims.iloc[100:400]
    from_frame = pre.transform(rows)
    from_lists = pre.transform(_as_python_lists(rows, schema))
    from_arrays = pre.transform({c: rows[c].to_numpy() for c in schema.feature_names})
    for other in (from_lists, from_arrays):
        np.testing.assert_array_equal(from_frame.numeric, other.numeric)
        np.testing.assert_array_equal(from_frame.categorical, other.categorical)
        np.testing.assert_array_equal(from_frame.unknown, other.unknown)
    assert from_frame.numeric.dtype == np.float32
    assert from_frame.categorical.dtype == np.int64
    assert from_frame.unknown.dtype == bool
    assert from_frame.numeric.shape == (300, pre.numeric_dim)
    assert from_frame.categorical.shape == (300, len(schema.categorical))


def test_json_round_trip_gives_identical_transform(pre, claims):
    clone = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert clone == pre
    a, b = pre.transform(claims), clone.transform(claims)
    np.testing.assert_array_equal(a.numeric, b.numeric)
    np.testing.assert_array_equal(a.categorical, b.categorical)


def test_robust_scaling_log_and_missing_indicator(pre, claims, schema):
    names = pre.numeric_columns
    # vehicle_age is `required: false` and missing for non-motor claims: it gets an indicator.
    assert "vehicle_age" + MISSING_SUFFIX in names
    assert pre.source_of_numeric_dim[names.index("vehicle_age" + MISSING_SUFFIX)] == "vehicle_age"
    assert pre.numeric_dim == len(names) == len(schema.numeric) + 1
    batch = pre.transform(claims)
    amount = batch.numeric[:, names.index("claim_amount")]
    # log1p then robust scaling: the training median maps to 0, the IQR to width 1.
    assert abs(np.median(amount)) < 1e-6
    q1, q3 = np.percentile(amount, [25, 75])
    assert q3 - q1 == pytest.approx(1.0, abs=1e-5)
    expected = (np.log1p(claims["claim_amount"].to_numpy()) - pre.numeric[0].median) / (
        pre.numeric[0].iqr
    )
    np.testing.assert_allclose(amount, expected, rtol=1e-5, atol=1e-5)
    missing = claims["vehicle_age"].isna().to_numpy()
    assert missing.any()
    np.testing.assert_array_equal(batch.numeric[:, names.index("vehicle_age__missing")], missing)
    assert (batch.numeric[missing, names.index("vehicle_age")] == 0).all()  # the median


def test_unknown_rare_and_missing_categories_go_to_bucket_zero(pre):
    row = {
        "claim_amount": [1000.0] * 3,
        "policy_premium": [800.0] * 3,
        "deductible": [500.0] * 3,
        "customer_age": [40] * 3,
        "days_since_policy_start": [400] * 3,
        "incident_hour": [12] * 3,
        "witnesses": [1] * 3,
        "prior_claims": [0] * 3,
        "vehicle_age": [None, 3, None],
        "incident_type": ["collision", "meteor_strike", None],
        "severity": ["minor"] * 3,
        "region": ["north"] * 3,
        "channel": ["app"] * 3,
        "police_report": ["yes"] * 3,
        "provider_id": ["PRV9999-new", "PRV0001", None],
    }
    batch = pre.transform(row)
    col = pre.categorical_names.index("incident_type")
    assert batch.categorical[0, col] > 0
    assert batch.categorical[1, col] == 0 and batch.unknown[1, col]  # unseen value: flagged
    assert batch.categorical[2, col] == 0 and not batch.unknown[2, col]  # missing: not "unknown"
    prov = pre.categorical_names.index("provider_id")
    assert batch.categorical[0, prov] == 0 and batch.unknown[0, prov]


def test_rare_values_share_the_unknown_bucket(schema):
    data = {name: np.zeros(30) for name in schema.numeric_names}
    for name in schema.categorical_names:
        data[name] = ["a"] * 25 + ["b"] * 5
    pre = fit_preprocessing(data, schema, min_frequency=10)
    cat = pre.categorical[0]
    assert cat.vocabulary == ("a",) and cat.counts == (5, 25)
    assert pre.cardinalities == [2] * len(schema.categorical)
    batch = pre.transform({k: v[-6:] for k, v in data.items()})
    assert batch.categorical[:, 0].tolist() == [1, 0, 0, 0, 0, 0]
    assert batch.unknown[:, 0].tolist() == [False, True, True, True, True, True]
    # constant numerics: IQR 0 becomes 1 instead of a division by zero
    assert all(f.iqr == 1.0 for f in pre.numeric)


def test_sentinel_missing_values_from_the_schema():
    schema = load_schema("fraud_oracle")
    n = 40
    data = {name: ["x"] * n for name in schema.categorical_names}
    data.update({name: np.full(n, 2.0) for name in schema.numeric_names})
    data["Age"] = np.array([0.0] * 10 + list(range(20, 50)))
    pre = fit_preprocessing(data, schema)
    age = pre.numeric_columns.index("Age")
    flag = pre.numeric_columns.index("Age" + MISSING_SUFFIX)
    # Age = 0 means "unknown" in this dataset: at serving time it is missing, as at ingest
    rows = {k: v[:3] for k, v in data.items()} | {"Age": [0, 35, None]}
    batch = pre.transform(rows)
    assert batch.numeric[:, flag].tolist() == [1.0, 0.0, 1.0]
    assert batch.numeric[0, age] == 0.0  # imputed with the median of the real ages
    assert pre.numeric[0].median == pytest.approx(34.5)  # the ten zeros did not count


def test_bad_input_is_refused_with_the_column_named(pre, claims, schema):
    rows = _as_python_lists(claims.iloc[:3], schema)
    with pytest.raises(DataValidationError, match=r"claim_amount.*expected numbers"):
        pre.transform({**rows, "claim_amount": ["12", "lots", 3.0]})
    with pytest.raises(DataValidationError, match=r"claim_amount.*negative"):
        pre.transform({**rows, "claim_amount": [-5.0, 1.0, 2.0]})
    with pytest.raises(DataValidationError, match=r"claim_amount.*infinite"):
        pre.transform({**rows, "claim_amount": [math.inf, 1.0, 2.0]})
    with pytest.raises(DataValidationError, match="different lengths"):
        pre.transform({**rows, "severity": ["minor"]})
    missing_required = {k: v for k, v in rows.items() if k != "severity"}
    with pytest.raises(DataValidationError, match=r"'severity': missing.*required"):
        pre.transform(missing_required)
    # an optional feature may be absent entirely: it is treated as missing
    batch = pre.transform({k: v for k, v in rows.items() if k != "vehicle_age"})
    assert batch.numeric[:, pre.numeric_columns.index("vehicle_age__missing")].tolist() == [1] * 3


def test_fit_refuses_missing_columns_and_malformed_dicts(schema, claims):
    with pytest.raises(DataValidationError, match="claim_amount"):
        fit_preprocessing(claims.drop(columns=["claim_amount"]), schema)
    with pytest.raises(ModelError, match="malformed"):
        Preprocessor.from_dict({"format_version": 1, "numeric": [{"name": "x"}]})


def test_pandas_nullable_and_string_dtypes_read_as_missing(pre, claims, schema):
    """Validated frames carry pd.NA (nullable ints, string dtype): same features as None lists."""
    import pandas as pd

    rows = claims.iloc[:4].reset_index(drop=True)
    known = pre.categorical[pre.categorical_names.index("provider_id")].vocabulary[0]
    typed = rows.copy()
    typed["vehicle_age"] = pd.array([pd.NA, 3, pd.NA, 7], dtype="Int64")
    typed["provider_id"] = pd.array([None, known, "x", None], dtype="string")
    plain = _as_python_lists(rows, schema) | {
        "vehicle_age": [None, 3, None, 7],
        "provider_id": [None, known, "x", None],
    }
    a, b = pre.transform(typed), pre.transform(plain)
    np.testing.assert_array_equal(a.numeric, b.numeric)
    np.testing.assert_array_equal(a.categorical, b.categorical)
    np.testing.assert_array_equal(a.unknown, b.unknown)
    prov = pre.categorical_names.index("provider_id")
    assert a.unknown[:, prov].tolist() == [False, False, True, False]


@settings(max_examples=40, deadline=None)
@given(
    amounts=st.lists(
        st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False), st.just(float("nan"))),
        min_size=1,
        max_size=20,
    ),
    categories=st.data(),
)
def test_any_container_gives_the_same_features(pre, amounts, categories):
    """Lists with None, object arrays and pandas Series of the same values agree exactly."""
    import pandas as pd

    n = len(amounts)
    values = ["collision", "theft", "meteor", None, float("nan")]
    incident = categories.draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))
    base = {f.name: [1.0] * n for f in pre.numeric}
    base |= {name: ["x"] * n for name in pre.categorical_names}
    as_lists = base | {"claim_amount": amounts, "incident_type": incident}
    as_arrays = {k: np.array(v, dtype=object) for k, v in as_lists.items()}
    as_pandas = {k: pd.Series(v) for k, v in as_lists.items()}
    a, b, c = (pre.transform(x) for x in (as_lists, as_arrays, as_pandas))
    for other in (b, c):
        np.testing.assert_array_equal(a.numeric, other.numeric)
        np.testing.assert_array_equal(a.categorical, other.categorical)
        np.testing.assert_array_equal(a.unknown, other.unknown)
    col = pre.categorical_names.index("incident_type")
    absent = [v is None or v != v for v in incident]
    assert a.unknown[:, col].tolist() == [v == "meteor" for v in incident]
    assert all(a.categorical[i, col] == 0 for i in range(n) if absent[i])
    flag = pre.numeric_columns.index("claim_amount")
    assert np.isfinite(a.numeric).all() and a.numeric[:, flag].dtype == np.float32


# -- an insurer's export: derived date features and missing-value tokens ----------------------
@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """The example export written to disk, its raw text and its validated claims."""
    from fraud_mlops.ingest import load_claims, read_table
    from fraud_mlops.synthetic import insurer_export, write_insurer_export

    path = tmp_path_factory.mktemp("export") / "insurer_export.csv"
    write_insurer_export(insurer_export(generate_claims(1500, seed=11), seed=11), str(path))
    schema = load_schema("insurer_export")
    return schema, read_table(str(path), schema.csv), load_claims(str(path), schema)


def _api_columns(raw, schema) -> dict[str, list]:
    """What the scoring API hands over for the export: JSON numbers, date strings, None."""
    out: dict[str, list] = {}
    for feat in schema.numeric:
        text = raw[feat.name].str.replace(",", ".", regex=False)
        out[feat.name] = [None if v in ("?", None) else float(v) for v in text]
    for name in schema.scoring_columns:
        if name not in out:
            out[name] = raw[name].tolist()  # dates as written, categorical '?' as sent
    return out


def test_derived_days_between_is_the_same_in_training_and_from_raw_strings(export):
    schema, raw, claims = export
    pre = fit_preprocessing(claims, schema)
    assert pre.feature_names == schema.feature_names
    tenure = pre.numeric_columns.index("policy_tenure_days")
    assert pre.source_of_numeric_dim[tenure] == "policy_tenure_days"
    assert "policy_bind_date" in pre.input_columns and "policy_tenure_days" not in pre.input_columns
    trained = pre.transform(claims)  # what training feeds the model
    served = pre.transform(_api_columns(raw, schema))  # what the API feeds it
    np.testing.assert_array_equal(trained.numeric, served.numeric)
    np.testing.assert_array_equal(trained.categorical, served.categorical)
    np.testing.assert_array_equal(trained.unknown, served.unknown)
    # and the feature is the policy's age at the incident, robust-scaled
    days = claims["policy_tenure_days"].to_numpy()
    p = pre.numeric[tenure]
    np.testing.assert_allclose(trained.numeric[:, tenure], (days - p.median) / p.iqr, rtol=1e-6)


def test_question_marks_reach_the_model_as_missing(export):
    schema, raw, claims = export
    pre = fit_preprocessing(claims, schema)
    names = pre.numeric_columns
    unknown_age = (raw["auto_age"] == "?").to_numpy()
    batch = pre.transform(_api_columns(raw, schema))
    np.testing.assert_array_equal(batch.numeric[:, names.index("auto_age__missing")], unknown_age)
    police = pre.categorical_names.index("police_report_available")
    asked = (raw["police_report_available"] == "?").to_numpy()
    assert "?" not in pre.categorical[police].vocabulary
    assert (batch.categorical[asked, police] == 0).all() and not batch.unknown[asked, police].any()


def test_derived_preprocessing_survives_the_manifest_and_bad_dates_are_named(export):
    schema, raw, claims = export
    pre = fit_preprocessing(claims, schema)
    clone = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert clone == pre
    columns = _api_columns(raw.iloc[:3], schema)
    columns["policy_bind_date"] = ["2024-01-05", "31/02/2024", columns["policy_bind_date"][2]]
    with pytest.raises(DataValidationError) as err:
        pre.transform(columns)
    assert "column 'policy_bind_date': 2 value(s) are not dates in format '%d/%m/%Y'" in str(
        err.value
    )
    assert "31/02/2024" not in str(err.value)  # values never echoed: they may be personal
    absent = {k: v for k, v in columns.items() if k != "incident_date"}
    with pytest.raises(DataValidationError, match="'incident_date': missing"):
        pre.transform(absent)


def test_version_1_preprocessing_still_loads(pre):
    old = pre.to_dict() | {"format_version": 1}
    for f in old["categorical"]:
        del f["missing_values"]
    assert Preprocessor.from_dict(old) == pre
