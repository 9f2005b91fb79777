"""The specs are the single source of the warehouse layout; Pulumi imports them."""

from __future__ import annotations

import json
import subprocess
import sys

from fraud_mlops.warehouse import specs

SNOWFLAKE_TYPES = {"VARCHAR", "NUMBER(38,0)", "FLOAT", "BOOLEAN", "TIMESTAMP_TZ", "VARIANT"}


def test_every_table_is_keyed_by_run_and_well_formed() -> None:
    assert [t.name for t in specs.TRAINING_TABLES] == [
        "MODEL_METRICS",
        "SCORING_SUMMARY",
        "FEATURE_DRIFT",
    ]
    assert specs.TABLES == specs.TRAINING_TABLES + specs.MONITORING_TABLES
    for table in specs.TABLES:
        names = [c.name for c in table.columns]
        assert len(names) == len(set(names)), table.name
        assert table.key[0] == "RUN_ID"
        assert set(table.key) <= set(names)
        assert all(not table.column(k).nullable for k in table.key), table.name
        assert all(n == n.upper() for n in names)
        assert {c.type for c in table.columns} <= SNOWFLAKE_TYPES
        assert table.dataset and table.comment
        assert all(c.comment for c in table.columns)


def test_model_metrics_loads_parameters_as_variant_from_params_json() -> None:
    col = specs.MODEL_METRICS.column("PARAMETERS")
    assert (col.type, col.source_column) == ("VARIANT", "params_json")
    assert specs.MODEL_METRICS.column("CREATED_AT").type == "TIMESTAMP_TZ"


def test_table_and_view_comments_have_no_quotes() -> None:
    # fakesnow stores table comments without escaping; a quote breaks the embedded DDL
    for obj in (*specs.TABLES, *specs.VIEWS):
        assert "'" not in obj.comment, obj.name


def test_qualified_select_rewrites_only_table_references() -> None:
    sql = specs.qualified_select(specs.RUN_OVERVIEW, "DB", "S")
    assert "FROM DB.S.MODEL_METRICS m" in sql
    assert "FROM DB.S.FEATURE_DRIFT GROUP BY" in sql
    assert "MAX_PSI" in sql and "DB.S.MAX_PSI" not in sql
    assert sql.count("DB.S.") == 2


def test_sync_privileges_are_minimal_and_cover_temp_staging() -> None:
    privileges = specs.sync_privileges()
    assert privileges["tables"] == ["SELECT", "INSERT", "UPDATE", "DELETE"]
    assert "CREATE TABLE" in privileges["schema"]  # TEMPORARY stage tables need it
    assert "OWNERSHIP" not in json.dumps(privileges)
    assert specs.reader_privileges()["tables"] == ["SELECT"]


def test_specs_import_only_the_standard_library() -> None:
    code = (
        "import sys, fraud_mlops.warehouse.specs\n"
        "heavy = {'pandas', 'pyarrow', 'numpy', 'snowflake', 'fakesnow', 'duckdb', 'pulumi'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
