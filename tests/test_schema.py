from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fraud_mlops.errors import SchemaError
from fraud_mlops.schema import BUNDLED, default_schema, load_schema, schema_from_dict


def _minimal() -> dict:
    return {
        "name": "mini",
        "id_column": "id",
        "label_column": "y",
        "event_time": {"column": "ts"},
        "numeric": [{"name": "amount", "min": 0, "transform": "log"}],
        "categorical": [{"name": "region", "values": ["a", "b"]}],
        "segments": ["region"],
    }


def test_default_schema_describes_the_synthetic_claims() -> None:
    schema = default_schema()
    assert schema.id_column == "claim_id"
    assert schema.label_column == "is_fraud"
    assert "claim_amount" in schema.numeric_names
    assert schema.feature("claim_amount").transform == "log"
    assert set(schema.segments) <= set(schema.categorical_names)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_schemas_load(name: str) -> None:
    schema = load_schema(name)
    assert schema.feature_names
    assert schema.input_columns[0] == schema.id_column


def test_schema_loads_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_minimal()))
    schema = load_schema(path)
    assert schema.input_columns == ["id", "y", "ts", "amount", "region"]


def test_event_time_from_parts_lists_its_source_columns() -> None:
    data = _minimal() | {"event_time": {"parts": {"year": "Y", "month": "M"}}}
    assert schema_from_dict(data).event_time.source_columns == ["Y", "M"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id_column": None}, "id_column"),
        ({"event_time": {"column": "ts", "parts": {"year": "y", "month": "m"}}}, "exactly one"),
        ({"numeric": [{"name": "amount", "min": 5, "max": 1}]}, "greater than max"),
        ({"numeric": [{"name": "amount", "transform": "log"}]}, "min >= 0"),
        ({"numeric": [{"name": "region"}]}, "declared twice"),
        ({"segments": ["nope"]}, "segment 'nope'"),
        ({"surprise": 1}, "surprise"),
        ({"numeric": [{"name": "amount", "dtype": "decimal"}]}, "dtype"),
    ],
)
def test_invalid_schemas_say_what_is_wrong(change: dict, message: str) -> None:
    with pytest.raises(SchemaError) as err:
        schema_from_dict(_minimal() | change, "my.yaml")
    assert "my.yaml" in str(err.value)
    assert message in str(err.value)


def test_missing_and_unparseable_schema_files(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="does not exist"):
        load_schema(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(SchemaError, match="not valid YAML"):
        load_schema(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(SchemaError, match="mapping"):
        load_schema(listy)


def _with_dates() -> dict:
    return _minimal() | {
        "event_time": {"column": "ts", "format": "%d/%m/%Y"},
        "dates": [{"name": "bind", "format": "%d/%m/%Y"}],
        "derived": [{"name": "tenure", "days_between": ["bind", "ts"]}],
    }


def test_bundled_schemas_load_unchanged_and_the_export_schema_has_every_option() -> None:
    synthetic = load_schema("synthetic")
    assert synthetic.csv.delimiter == "," and not synthetic.derived and not synthetic.dates
    oracle = load_schema("fraud_oracle")
    assert oracle.feature("Age").missing_numbers == (0.0,)
    export = load_schema("insurer_export")
    assert (export.csv.delimiter, export.csv.decimal) == (";", ",")
    assert export.event_time.format == "%d/%m/%Y"
    assert export.derived[0].days_between == ("policy_bind_date", "incident_date")
    assert export.feature("auto_age").missing_texts == ("?", "N/A", "")  # the file-level default


def test_derived_features_are_numeric_model_features_and_dates_are_inputs() -> None:
    schema = schema_from_dict(_with_dates())
    assert schema.numeric_names == ["amount", "tenure"]
    assert schema.feature_names == ["amount", "tenure", "region"]
    assert schema.input_columns == ["id", "y", "ts", "bind", "amount", "region"]
    assert schema.scoring_columns == ["amount", "ts", "bind", "region"]
    assert list(schema.date_columns) == ["ts", "bind"]
    assert schema.date_columns["ts"].format == "%d/%m/%Y"


def test_file_level_missing_values_apply_unless_a_column_lists_its_own() -> None:
    data = _minimal() | {
        "missing_values": ["?", "NA"],
        "numeric": [{"name": "amount", "min": 0, "missing_values": [0, "-"]}],
        "categorical": [{"name": "region"}, {"name": "kind", "missing_values": []}],
        "segments": [],
    }
    schema = schema_from_dict(data)
    assert schema.feature("amount").missing_numbers == (0.0,)
    assert schema.feature("amount").missing_texts == ("-",)  # its own list replaces the default
    assert schema.feature("region").missing_values == ("?", "NA")
    assert schema.feature("kind").missing_values == ()  # turned off for this column
    assert schema_from_dict(schema.to_dict()) == schema  # the manifest round trip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"categorical": [{"name": "region", "missing_value": ["?"]}]},
            "categorical 'region': unknown option 'missing_value': did you mean 'missing_values'?",
        ),
        (
            {"categorical": [{"name": "region", "missing_values": [False]}]},
            "categorical 'region': missing_values[0]: False is not a token: quote the tokens",
        ),
        (
            {"numeric": [{"name": "amount", "missing_values": [{None: None}]}]},
            "numeric 'amount': missing_values[0]: an unquoted ? (YAML reads it as a mapping key)",
        ),
        (
            {"categorical": [{"name": "region", "values": ["a", "NA"], "missing_values": ["NA"]}]},
            "categorical 'region': ['NA'] is both an allowed value and a missing-value token",
        ),
        ({"csv": {"delimiter": ";;"}}, "csv: delimiter: ';;' is not a delimiter"),
        ({"csv": {"encoding": "klingon"}}, "csv: encoding: 'klingon' is not an encoding"),
        ({"csv": {"decimal": ","}}, "delimiter and decimal are both ','"),
        ({"event_time": {"column": "ts", "format": "%d/%m"}}, "does not give a full date"),
        (
            {"event_time": {"parts": {"year": "y", "month": "m"}, "format": "%Y"}},
            "format applies to a timestamp column",
        ),
        (
            {"derived": [{"name": "tenure", "days_between": ["bind", "ts"]}]},
            "derived 'tenure': days_between column 'bind' is not a date column",
        ),
        (
            {"dates": [{"name": "amount"}]},
            "columns declared twice: amount",
        ),
        (
            {"dates": [{"name": "bind", "format": "%Y-%m-%d %Q"}]},
            "date 'bind': format: format '%Y-%m-%d %Q' uses %Q",
        ),
    ],
)
def test_schema_errors_name_the_column_and_say_how_to_fix(change: dict, message: str) -> None:
    with pytest.raises(SchemaError) as err:
        schema_from_dict(_minimal() | change, "my.yaml")
    assert message in str(err.value)


def test_an_unquoted_question_mark_in_yaml_gets_a_quoting_hint(tmp_path: Path) -> None:
    text = yaml.safe_dump(_minimal()) + "missing_values: [?, NA]\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(
        SchemaError,
        match=r'missing_values\[0\]: an unquoted \? .* e\.g\. missing_values: \["\?", "NA", ""\]',
    ):
        load_schema(path)
