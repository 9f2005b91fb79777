"""DDL generated from the specs creates exactly the specified tables in the embedded store."""

from __future__ import annotations

from fraud_mlops.warehouse import ddl, specs
from fraud_mlops.warehouse.connection import connect
from fraud_mlops.warehouse.settings import WarehouseSettings

# INFORMATION_SCHEMA.COLUMNS.DATA_TYPE for each spec type (Snowflake's names)
INFO_TYPES = {
    "VARCHAR": "TEXT",
    "NUMBER(38,0)": "NUMBER",
    "FLOAT": "FLOAT",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP_TZ": "TIMESTAMP_TZ",
    "VARIANT": "VARIANT",
}


def _columns(wh, table: str) -> dict[str, tuple]:
    _, rows = wh.query(
        "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, NUMERIC_SCALE FROM INFORMATION_SCHEMA.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (wh.settings.schema, table),
    )
    return {r[0]: r[1:] for r in rows}


def test_apply_creates_every_column_with_its_type(embedded: WarehouseSettings) -> None:
    with connect(embedded) as wh:
        ddl.apply(wh)
        for table in specs.TABLES:
            found = _columns(wh, table.name)
            assert list(found) == [c.name for c in table.columns]
            for col in table.columns:
                data_type, nullable, scale = found[col.name]
                assert data_type == INFO_TYPES[col.type], (table.name, col.name)
                assert (nullable == "YES") == col.nullable, (table.name, col.name)
                if col.type.startswith("NUMBER"):
                    assert scale == 0
        assert ddl.check(wh) == []


def test_view_selects_its_declared_columns(embedded: WarehouseSettings) -> None:
    with connect(embedded) as wh:
        ddl.apply(wh)
        for view in specs.VIEWS:
            columns, rows = wh.query(f"SELECT * FROM {view.name}")
            assert tuple(columns) == view.columns
            assert rows == []


def test_apply_is_idempotent_and_persists_across_connections(embedded: WarehouseSettings) -> None:
    with connect(embedded) as wh:
        ddl.apply(wh)
        wh.execute(
            "INSERT INTO FEATURE_DRIFT (RUN_ID, FEATURE, KIND, CREATED_AT) "
            "VALUES ('r', 'f', 'numeric', '2024-01-01 00:00:00+00:00')"
        )
    with connect(embedded) as wh:
        ddl.apply(wh)
        assert wh.query("SELECT RUN_ID, FEATURE FROM FEATURE_DRIFT")[1] == [("r", "f")]


def test_check_reports_a_table_that_drifted_from_the_specs(embedded: WarehouseSettings) -> None:
    with connect(embedded) as wh:
        wh.execute(
            f"CREATE TABLE {wh.qualified('FEATURE_DRIFT')} (RUN_ID VARCHAR NOT NULL, "
            "FEATURE VARCHAR, KIND VARCHAR NOT NULL, PSI VARCHAR)"
        )
        problems = ddl.check(wh)
    assert "FEATURE_DRIFT.FEATURE allows NULL, expected NOT NULL" in problems
    assert "FEATURE_DRIFT.PSI is TEXT, expected FLOAT" in problems
    assert "FEATURE_DRIFT.KS is missing (expected FLOAT)" in problems
    assert any("MODEL_METRICS does not exist" in p for p in problems)
    assert any("RUN_OVERVIEW does not exist" in p for p in problems)


def test_rendered_ddl_is_what_snowflake_gets() -> None:
    text = ddl.render("PROD_DB", "FRAUD_MLOPS")
    for table in specs.TABLES:
        assert f"CREATE TABLE IF NOT EXISTS PROD_DB.FRAUD_MLOPS.{table.name} (" in text
        assert f"PRIMARY KEY ({', '.join(table.key)})" in text
    assert "IS_CHAMPION BOOLEAN NOT NULL COMMENT 'The run''s model became the champion'" in text
    assert "CREATE OR REPLACE VIEW PROD_DB.FRAUD_MLOPS.RUN_OVERVIEW" in text
    assert "FROM PROD_DB.FRAUD_MLOPS.MODEL_METRICS m" in text
