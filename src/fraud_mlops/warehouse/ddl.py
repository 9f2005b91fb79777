"""CREATE statements generated from the specs, and a check that a warehouse matches them.

Snowflake's tables are created by Pulumi (``infra/snowflake.py``) from the same specs; the
embedded store runs :func:`apply`. :func:`check` compares either against the specs, so a
warehouse that drifted from the code is reported before a sync writes anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraud_mlops.warehouse.specs import (
    SCHEMA_NAME_DEFAULT,
    TABLES,
    VIEWS,
    TableSpec,
    ViewSpec,
    qualified_select,
)

if TYPE_CHECKING:
    from fraud_mlops.warehouse.connection import Warehouse

# DATA_TYPE as INFORMATION_SCHEMA.COLUMNS reports it (Snowflake and fakesnow agree).
_INFO_TYPE = {"VARCHAR": "TEXT", "STRING": "TEXT", "TEXT": "TEXT", "DOUBLE": "FLOAT"}


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def create_table_sql(
    spec: TableSpec,
    database: str,
    schema: str = SCHEMA_NAME_DEFAULT,
    *,
    column_comments: bool = True,
) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one spec, with its key as an (informational) PRIMARY KEY.

    ``column_comments=False`` leaves out inline column comments, which fakesnow cannot store (it
    drops them with a warning); the table comment is kept in both.
    """
    lines = []
    for col in spec.columns:
        line = f"  {col.name} {col.type}{'' if col.nullable else ' NOT NULL'}"
        if column_comments and col.comment:
            line += f" COMMENT {_quote(col.comment)}"
        lines.append(line)
    lines.append(f"  PRIMARY KEY ({', '.join(spec.key)})")
    body = ",\n".join(lines)
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.{schema}.{spec.name} (\n{body}\n)"
        f" COMMENT = {_quote(spec.comment)}"
    )


def create_view_sql(view: ViewSpec, database: str, schema: str = SCHEMA_NAME_DEFAULT) -> str:
    """``CREATE OR REPLACE VIEW`` with the tables qualified, so it resolves from any session."""
    return (
        f"CREATE OR REPLACE VIEW {database}.{schema}.{view.name}"
        f" COMMENT = {_quote(view.comment)} AS\n{qualified_select(view, database, schema)}"
    )


def statements(
    database: str, schema: str = SCHEMA_NAME_DEFAULT, *, column_comments: bool = True
) -> list[str]:
    """Every table, then every view (views depend on the tables)."""
    return [
        *(create_table_sql(t, database, schema, column_comments=column_comments) for t in TABLES),
        *(create_view_sql(v, database, schema) for v in VIEWS),
    ]


def render(database: str, schema: str = SCHEMA_NAME_DEFAULT) -> str:
    """The full DDL as one script, for review (``fraud-mlops warehouse ddl``)."""
    header = f"CREATE SCHEMA IF NOT EXISTS {database}.{schema};\n\n"
    return header + ";\n\n".join(statements(database, schema)) + ";\n"


def apply(wh: Warehouse) -> None:
    """Create the schema's tables and views if missing (embedded store; Pulumi owns Snowflake's)."""
    s = wh.settings
    for sql in statements(s.database, s.schema, column_comments=not s.is_embedded):
        wh.execute(sql)


def _expected_type(spec_type: str) -> tuple[str, int | None]:
    base, _, args = spec_type.upper().partition("(")
    base = _INFO_TYPE.get(base.strip(), base.strip())
    scale = int(args.rstrip(")").split(",")[1]) if base == "NUMBER" and "," in args else None
    return base, scale


def check(wh: Warehouse) -> list[str]:
    """Problems that make the warehouse differ from the specs (empty when it matches)."""
    s = wh.settings
    _, rows = wh.query(
        "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_NULLABLE, NUMERIC_SCALE "
        f"FROM {s.database}.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = %s",
        (s.schema,),
    )
    found = {(r[0].upper(), r[1].upper()): (str(r[2]).upper(), r[3], r[4]) for r in rows}
    tables = {t for t, _ in found}
    problems: list[str] = []
    for spec in TABLES:
        if spec.name not in tables:
            problems.append(f"table {s.database}.{s.schema}.{spec.name} does not exist")
            continue
        for col in spec.columns:
            got = found.get((spec.name, col.name))
            if got is None:
                problems.append(f"{spec.name}.{col.name} is missing (expected {col.type})")
                continue
            data_type, nullable, scale = got
            want, want_scale = _expected_type(col.type)
            if data_type != want or (want_scale is not None and scale != want_scale):
                problems.append(f"{spec.name}.{col.name} is {data_type}, expected {col.type}")
            if not col.nullable and str(nullable).upper() == "YES":
                problems.append(f"{spec.name}.{col.name} allows NULL, expected NOT NULL")
    for view in VIEWS:
        if view.name not in tables:
            problems.append(f"view {s.database}.{s.schema}.{view.name} does not exist")
    return problems
