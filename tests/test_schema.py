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
