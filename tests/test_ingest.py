from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fraud_mlops.errors import DataValidationError, FraudMlopsError
from fraud_mlops.ingest import (
    event_time_column,
    load_claims,
    read_table,
    validate_claims,
    validate_features,
)
from fraud_mlops.schema import ClaimsSchema, default_schema, load_schema, schema_from_dict
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
    assert "'claim_amount': expected a number (float); if 'lots' means unknown, list it" in text
    assert "(3 row(s), e.g. 'lots')" in text
    assert "'claim_date': unparseable dates: they are not dates" in text and "31/31/2024" in text
    assert "'is_fraud': the label must be binary: 1/0, true/false, yes/no, y/n" in text
    assert "(2 row(s)" in text
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


# -- your own export: dates, tokens, dialects -------------------------------------------------
def _schema(**extra) -> ClaimsSchema:
    data = {
        "name": "export",
        "id_column": "ref",
        "label_column": "fraud",
        "event_time": {"column": "incident"},
        "numeric": [{"name": "amount", "min": 0}, {"name": "age", "dtype": "int"}],
        "categorical": [{"name": "damage", "values": ["YES", "NO"], "required": False}],
    }
    return schema_from_dict(data | extra)


def _csv(tmp_path: Path, text: str, name: str = "export.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


HEADER = "ref,fraud,incident,amount,age,damage\n"


def test_day_first_and_month_first_formats_give_different_dates(tmp_path: Path) -> None:
    uri = _csv(tmp_path, HEADER + "a,N,03/04/2024,10,30,YES\nb,Y,12/01/2024,20,40,NO\n")
    day_first = _schema(event_time={"column": "incident", "format": "%d/%m/%Y"})
    month_first = _schema(event_time={"column": "incident", "format": "%m/%d/%Y"})
    a = load_claims(uri, day_first)["incident"].dt.strftime("%Y-%m-%d").tolist()
    b = load_claims(uri, month_first)["incident"].dt.strftime("%Y-%m-%d").tolist()
    assert a == ["2024-04-03", "2024-01-12"] and b == ["2024-03-04", "2024-12-01"]


def test_dates_that_read_both_ways_are_refused_without_a_format(tmp_path: Path) -> None:
    uri = _csv(tmp_path, HEADER + "a,N,03/04/2024,10,30,YES\nb,Y,12/01/2024,20,40,NO\n")
    with pytest.raises(DataValidationError) as err:
        load_claims(uri, _schema())
    text = str(err.value)
    assert "column 'incident': unparseable dates: they are not ISO 8601 and read two ways" in text
    assert "'03/04/2024' is 2024-04-03 day-first or 2024-03-04 month-first" in text
    assert "declare format: '%d/%m/%Y' or format: '%m/%d/%Y'" in text


def test_question_marks_are_missing_in_numeric_and_categorical_columns(tmp_path: Path) -> None:
    uri = _csv(tmp_path, HEADER + "a,N,2024-01-01,10,?,?\nb,Y,2024-01-02,20,40,NO\n")
    schema = _schema(
        missing_values=["?"],
        numeric=[{"name": "amount", "min": 0}, {"name": "age", "dtype": "int", "required": False}],
    )
    frame = load_claims(uri, schema)
    assert frame["age"].isna().tolist() == [True, False]
    assert frame["damage"].tolist() == [None, "NO"]
    # Without the token, '?' is an error that says how to declare it, not a silent category.
    with pytest.raises(DataValidationError) as err:
        load_claims(uri, _schema(numeric=[{"name": "amount"}, {"name": "age", "dtype": "int"}]))
    text = str(err.value)
    assert "column 'age': expected a number (int); if '?' means unknown, list it in this " in text
    assert (
        "column 'damage': values outside the allowed set ['YES', 'NO'] (1 row(s), e.g. '?')" in text
    )


def test_a_semicolon_file_read_with_commas_gets_a_delimiter_hint(tmp_path: Path) -> None:
    uri = _csv(tmp_path, HEADER.replace(",", ";") + "a;N;2024-01-01;10,5;30;YES\n")
    with pytest.raises(FraudMlopsError) as err:
        read_table(uri)
    text = str(err.value)
    assert "the header parsed to one column, 'ref;fraud;incident;amount;age;damage'" in text
    assert "looks ';'-separated. Pass --delimiter ';'" in text
    assert 'csv: {delimiter: ";"}' in text
    # Declared, the same file reads, decimal commas included.
    schema = _schema(csv={"delimiter": ";", "decimal": ","})
    assert load_claims(uri, schema)["amount"].tolist() == [10.5]


def test_decimal_mark_mistakes_are_named_not_guessed(tmp_path: Path) -> None:
    uri = _csv(tmp_path, HEADER.replace(",", ";") + "a;N;2024-01-01;10,5;30;YES\n")
    with pytest.raises(DataValidationError, match=r"if ',' is the decimal mark, declare csv"):
        load_claims(uri, _schema(csv={"delimiter": ";"}))
    thousands = _csv(
        tmp_path, HEADER.replace(",", ";") + "a;N;2024-01-01;1.234,5;30;YES\n", "t.csv"
    )
    with pytest.raises(
        DataValidationError, match=r"numbers with '\.' while the decimal mark is ','"
    ):
        load_claims(thousands, _schema(csv={"delimiter": ";", "decimal": ","}))


def test_a_utf8_bom_is_skipped_and_other_encodings_are_declared(tmp_path: Path) -> None:
    row = "a,N,2024-01-01,10,30,YES\n"
    bom = _csv(tmp_path, "\ufeff" + HEADER + row, "bom.csv")
    assert load_claims(bom, _schema())["ref"].tolist() == ["a"]  # not '\ufeffref' missing
    latin = _csv(tmp_path, HEADER + row.replace("a,", "Zürich,"), "latin.csv", "latin-1")
    with pytest.raises(FraudMlopsError, match=r"pass its encoding, e\.g\. --encoding latin-1"):
        read_table(latin)
    frame = load_claims(latin, _schema(csv={"encoding": "latin-1"}))
    assert frame["ref"].tolist() == ["Zürich"]


def test_y_n_labels_and_derived_days_between(tmp_path: Path) -> None:
    uri = _csv(
        tmp_path,
        "ref,fraud,incident,bind,amount,age,damage\n"
        "a,Y,15/03/2024,01/03/2024,10,30,YES\nb,n,02/01/2024,?,20,40,NO\n",
    )
    schema = _schema(
        missing_values=["?"],
        event_time={"column": "incident", "format": "%d/%m/%Y"},
        dates=[{"name": "bind", "format": "%d/%m/%Y", "required": False}],
        derived=[{"name": "tenure", "days_between": ["bind", "incident"]}],
    )
    frame = load_claims(uri, schema)
    assert frame["fraud"].tolist() == [1, 0]
    assert frame["tenure"].iloc[0] == 14.0 and pd.isna(frame["tenure"].iloc[1])
    assert str(frame["bind"].dtype) == "datetime64[us, UTC]"


def test_features_only_validation_for_unlabelled_claims(tmp_path: Path) -> None:
    uri = _csv(tmp_path, "amount,age,damage,incident\n10,?,?,2024-01-01\n")
    schema = _schema(
        missing_values=["?"], numeric=[{"name": "amount"}, {"name": "age", "required": False}]
    )
    frame = validate_features(read_table(uri), schema)
    assert list(frame.columns) == ["amount", "age", "damage"]
    assert frame["age"].isna().all()
    with pytest.raises(DataValidationError, match="column 'amount': missing from the input"):
        validate_features(read_table(uri).drop(columns=["amount"]), schema)
