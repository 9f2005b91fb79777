from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fraud_mlops.errors import DataValidationError, FraudMlopsError
from fraud_mlops.ingest import event_time_column, load_claims, read_table, validate_claims
from fraud_mlops.schema import default_schema, load_schema
from fraud_mlops.synthetic import generate_claims


@pytest.fixture
def claims_csv(tmp_path: Path) -> Path:
    path = tmp_path / "claims.csv"
    generate_claims(400, seed=5).to_csv(path, index=False)
    return path


def _problems(frame: pd.DataFrame) -> list[str]:
    with pytest.raises(DataValidationError) as err:
        validate_claims(frame, default_schema(), source="claims.csv")
    assert "nothing was written" in str(err.value)
    return err.value.problems


def test_csv_round_trip_coerces_types(claims_csv: Path) -> None:
    frame = load_claims(str(claims_csv), default_schema())
    assert len(frame) == 400
    assert str(frame["claim_date"].dtype).startswith("datetime64")
    assert frame["claim_amount"].dtype == "float64"
    assert frame["witnesses"].dtype == "int64"
    assert set(frame["is_fraud"].unique()) <= {0, 1}
    assert frame["vehicle_age"].isna().any()  # optional column keeps its missing values


def test_parquet_input_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "claims.parquet"
    generate_claims(100, seed=1).to_parquet(path)
    assert len(load_claims(str(path), default_schema())) == 100


def test_every_problem_is_reported_at_once(claims_csv: Path) -> None:
    frame = read_table(str(claims_csv))
    frame.loc[0:2, "claim_amount"] = "lots"  # wrong type
    frame.loc[3, "claim_date"] = "31/31/2024"  # unparseable date
    frame.loc[4:5, "is_fraud"] = "maybe"  # non-binary label
    frame.loc[6, "customer_age"] = "7"  # out of range
    frame.loc[7, "claim_id"] = frame.loc[8, "claim_id"]  # duplicate id
    frame.loc[9, "region"] = "atlantis"  # not an allowed value
    frame.loc[10, "channel"] = None  # missing in a required column
    problems = _problems(frame)
    text = "\n".join(problems)
    assert len(problems) == 7, text
    assert "'claim_amount': expected a number (float) (3 row(s), e.g. 'lots')" in text
    assert "'claim_date': unparseable" in text and "31/31/2024" in text
    assert "'is_fraud': the label must be binary" in text and "(2 row(s)" in text
    assert "'customer_age': values below the minimum 18" in text
    assert "'claim_id': duplicate ids (1 distinct id(s) repeated)" in text
    assert "'region': values outside the allowed set" in text and "atlantis" in text
    assert "'channel': 1 missing value(s) in a required column" in text


def test_missing_columns_are_named(claims_csv: Path) -> None:
    frame = read_table(str(claims_csv)).drop(columns=["severity", "claim_amount"])
    text = "\n".join(_problems(frame))
    assert "'severity': missing from the input" in text
    assert "'claim_amount': missing from the input" in text


def test_optional_column_may_be_absent(claims_csv: Path) -> None:
    frame = read_table(str(claims_csv)).drop(columns=["vehicle_age"])
    out = validate_claims(frame, default_schema())
    assert out["vehicle_age"].isna().all()


def test_empty_table_and_bad_files(tmp_path: Path) -> None:
    header_only = tmp_path / "empty.csv"
    header_only.write_text(",".join(default_schema().input_columns) + "\n")
    with pytest.raises(DataValidationError, match="no rows"):
        load_claims(str(header_only), default_schema())
    with pytest.raises(FraudMlopsError, match="does not exist"):
        read_table(str(tmp_path / "nope.csv"))
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(FraudMlopsError, match="unknown file type"):
        read_table(str(tmp_path / "x.json"))
    with pytest.raises(FraudMlopsError, match="is a folder"):
        read_table(str(tmp_path))


def test_no_row_is_dropped_and_extra_columns_are_left_out(claims_csv: Path) -> None:
    frame = read_table(str(claims_csv))
    frame["notes"] = "free text"
    out = validate_claims(frame, default_schema())
    assert len(out) == len(frame)
    assert "notes" not in out.columns


def test_fraud_oracle_ingests_with_its_schema(fraud_oracle_path: Path) -> None:
    schema = load_schema("fraud_oracle")
    frame = load_claims(str(fraud_oracle_path), schema)
    assert len(frame) == 15_420
    assert int(frame["FraudFound_P"].sum()) == 923
    assert frame["Age"].isna().sum() == 320  # Age = 0 means unknown
    times = frame[event_time_column(schema)]
    assert times.min().year == 1994 and times.max().year == 1996
    assert frame["PolicyNumber"].is_unique


def test_fraud_oracle_broken_copy_reports_problems(fraud_oracle_path: Path, tmp_path: Path) -> None:
    frame = read_table(str(fraud_oracle_path))
    frame.loc[0, "FraudFound_P"] = "2"
    frame.loc[1, "Month"] = "Smarch"
    frame.loc[2, "Deductible"] = "-300"
    broken = tmp_path / "broken.csv"
    frame.to_csv(broken, index=False)
    with pytest.raises(DataValidationError) as err:
        load_claims(str(broken), load_schema("fraud_oracle"))
    text = str(err.value)
    assert "FraudFound_P" in text and "Year, Month, WeekOfMonth, DayOfWeek" in text
    assert "'Deductible': values below the minimum 0" in text
