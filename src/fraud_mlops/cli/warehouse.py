"""Warehouse commands: ``sync-metrics``, ``warehouse query`` and ``warehouse ddl``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from fraud_mlops.cli._args import positive_int
from fraud_mlops.errors import ConfigError

_WHERE = (
    "The warehouse is Snowflake when SNOWFLAKE_ACCOUNT is set (key-pair auth, see "
    "docs/warehouse.md),\notherwise the embedded store (fakesnow on DuckDB) under "
    "$FRAUD_MLOPS_HOME/warehouse."
)


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    sync = sub.add_parser(
        "sync-metrics",
        help="replicate a run's metrics, scoring summary and drift into the warehouse",
        formatter_class=fmt,
        description="Read one run's metrics, scoring_summary and drift partitions from the "
        "lakehouse and merge\nthem into the warehouse in one transaction, keyed by run: running "
        f"it twice changes nothing.\n{_WHERE}",
        epilog="examples:\n"
        "  fraud-mlops sync-metrics                 # the most recently written run\n"
        "  fraud-mlops sync-metrics --run-id 1718000000123456",
    )
    sync.add_argument(
        "--run-id", default=None, help="run to sync (default: the latest run with metrics)"
    )
    sync.set_defaults(func=_sync)

    wh = sub.add_parser(
        "warehouse",
        help="query the metrics warehouse or print its DDL",
        formatter_class=fmt,
        description=f"Inspect the metrics warehouse.\n{_WHERE}",
    )
    wh_sub = wh.add_subparsers(dest="warehouse_command", metavar="<subcommand>", required=True)
    query = wh_sub.add_parser(
        "query",
        help="run one SQL statement and print the rows as a table",
        formatter_class=fmt,
        description="Run one SQL statement (Snowflake dialect) and print its result.",
        epilog="examples:\n"
        '  fraud-mlops warehouse query "SELECT * FROM RUN_OVERVIEW"\n'
        '  fraud-mlops warehouse query "SELECT METRIC, VALUE FROM MODEL_METRICS WHERE SPLIT = '
        "'test'\" --format csv",
    )
    query.add_argument("sql", help="the statement (tables resolve in the warehouse schema)")
    query.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output (table)"
    )
    query.add_argument(
        "--max-rows", type=positive_int, default=200, help="rows to print at most (200)"
    )
    query.set_defaults(func=_query)

    ddl = wh_sub.add_parser(
        "ddl",
        help="print the CREATE statements generated from the table specs",
        formatter_class=fmt,
        description="Print the DDL of every warehouse table and view, as generated from\n"
        "fraud_mlops.warehouse.specs (the same specs Pulumi uses), for review.",
    )
    ddl.add_argument("--database", default=None, help="database (default: SNOWFLAKE_DATABASE)")
    ddl.add_argument("--schema", default=None, help="schema (default: SNOWFLAKE_SCHEMA)")
    ddl.set_defaults(func=_ddl)


def _sync(args: argparse.Namespace) -> int:
    from fraud_mlops.lakehouse import METRICS, Lakehouse
    from fraud_mlops.progress import say, step
    from fraud_mlops.settings import Settings
    from fraud_mlops.warehouse.settings import WarehouseSettings
    from fraud_mlops.warehouse.sync import latest_run, sync_run

    lake = Lakehouse(Settings.from_env().lakehouse_uri)
    warehouse = WarehouseSettings.from_env()
    run_id = args.run_id
    if run_id is None:
        run_id = latest_run(lake, METRICS)
        say(f"latest run with metrics: {run_id}")
    with step(f"syncing run {run_id} into {warehouse.describe()}"):
        report = sync_run(run_id, lakehouse_uri=lake.uri, settings=warehouse)
    print(report.format())
    return 0


def _query(args: argparse.Namespace) -> int:
    from fraud_mlops.warehouse.connection import connect

    sql = args.sql.strip().rstrip(";").strip()
    if not sql:
        raise ConfigError('the SQL statement is empty: e.g. "SELECT * FROM RUN_OVERVIEW"')
    with connect() as wh:
        columns, rows = wh.query(sql)
    if not columns:
        print("statement executed (no result set)")
        return 0
    shown = rows[: args.max_rows]
    if args.format == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in shown], default=_cell))
    elif args.format == "csv":
        import csv
        import sys

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in r] for r in shown])
    else:
        print(format_table(columns, shown))
    more = f", showing the first {len(shown)}" if len(rows) > len(shown) else ""
    if args.format == "table":
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''}{more})")
    return 0


def _ddl(args: argparse.Namespace) -> int:
    from fraud_mlops.warehouse import ddl
    from fraud_mlops.warehouse.settings import WarehouseSettings

    settings = WarehouseSettings.from_env()
    database = (args.database or settings.database).upper()
    schema = (args.schema or settings.schema).upper()
    print(ddl.render(database, schema), end="")
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def format_table(columns: list[str], rows: list[tuple]) -> str:
    """A plain-text table: header, rule, one line per row; NULL shows as empty."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [
        all(
            isinstance(row[i], int | float) and not isinstance(row[i], bool)
            for row in rows
            if row[i] is not None
        )
        and any(row[i] is not None for row in rows)
        for i in range(len(columns))
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(list(columns)), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)
