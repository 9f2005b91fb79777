"""Replicate one run's lakehouse outputs into the warehouse, exactly and repeatably.

For every table spec, the run's partition of its lakehouse dataset is validated, staged into a
session-scoped TEMPORARY table, and then, inside ONE transaction for all tables, merged into the
target keyed by the spec's key:

- ``UPDATE … FROM stage`` the rows whose key exists and whose values differ (``IS DISTINCT FROM``,
  so NULLs compare), which makes a repeated sync a no-op that reports 0 updated;
- ``INSERT … SELECT … WHERE NOT EXISTS`` the new keys;
- ``DELETE`` this run's rows whose key is no longer in the lakehouse.

Why not one ``MERGE`` statement: fakesnow 0.12 cannot run ``MERGE`` inside an explicit
transaction (its emulation writes bookkeeping to a second DuckDB catalog, which DuckDB forbids in
one transaction), and the three-table sync must be atomic. The three statements are standard
Snowflake SQL, run unchanged on both warehouses, and give exact inserted/updated/deleted counts.
Staging happens before ``BEGIN`` because Snowflake commits implicitly before any DDL.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fraud_mlops.errors import DataValidationError, LakehouseError
from fraud_mlops.warehouse.specs import MONITORING_TABLES, TRAINING_TABLES, Column, TableSpec

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from fraud_mlops.lakehouse import Lakehouse
    from fraud_mlops.warehouse.connection import Warehouse
    from fraud_mlops.warehouse.settings import WarehouseSettings

STAGE_PREFIX = "SYNC_STAGE_"
REQUIRED_TABLES = ("MODEL_METRICS",)  # a run without metrics has nothing to sync
# A monitoring run (flows/monitoring_flow.py) always writes monitoring/metrics.
MONITORING_REQUIRED = ("MONITORING_METRICS",)


@dataclass(frozen=True)
class TableSync:
    """What a sync did to one table. ``staged`` is the run's row count in the lakehouse."""

    table: str
    staged: int
    inserted: int
    updated: int
    deleted: int
    skipped: bool = False  # the run has no partition for this table's dataset

    @property
    def unchanged(self) -> int:
        return self.staged - self.inserted - self.updated


@dataclass(frozen=True)
class SyncReport:
    """Counts per table for one run; ``changed`` is False when the sync was a no-op."""

    run_id: str
    warehouse: str
    tables: tuple[TableSync, ...]

    @property
    def inserted(self) -> int:
        return sum(t.inserted for t in self.tables)

    @property
    def updated(self) -> int:
        return sum(t.updated for t in self.tables)

    @property
    def deleted(self) -> int:
        return sum(t.deleted for t in self.tables)

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted)

    def format(self) -> str:
        lines = [f"synced run {self.run_id} into {self.warehouse}"]
        width = max(len(t.table) for t in self.tables)
        for t in self.tables:
            if t.skipped:
                lines.append(f"  {t.table:<{width}}  skipped: no partition for this run")
                continue
            lines.append(
                f"  {t.table:<{width}}  {t.staged:>6} rows: {t.inserted} inserted, "
                f"{t.updated} updated, {t.deleted} deleted, {t.unchanged} unchanged"
            )
        lines.append(
            f"  total: {self.inserted} inserted, {self.updated} updated, {self.deleted} deleted"
            + ("" if self.changed else " (already up to date)")
        )
        return "\n".join(lines)


def latest_run(lake: Lakehouse, dataset: str = "metrics") -> str:
    """The run whose ``dataset`` partition was written most recently."""
    import pyarrow.fs as pafs

    runs = lake.runs(dataset)
    if not runs:
        raise LakehouseError(
            f"{lake.uri}/{dataset} has no runs yet: train a model first (make demo), or pass "
            "--run-id."
        )
    paths = [lake.partition_uri(dataset, r).removeprefix(lake.uri) for r in runs]
    infos = lake.fs.get_file_info([f"{lake.root}{p}" for p in paths])
    stamps = [i.mtime_ns or 0 if i.type == pafs.FileType.File else -1 for i in infos]
    return max(zip(stamps, runs, strict=True))[1]


def sync_run(
    run_id: str,
    *,
    lakehouse_uri: str | None = None,
    settings: WarehouseSettings | None = None,
    tables: tuple[TableSpec, ...] = TRAINING_TABLES,
    required: tuple[str, ...] = REQUIRED_TABLES,
) -> SyncReport:
    """Merge run ``run_id``'s metrics, scoring summary and drift into the warehouse.

    ``tables=MONITORING_TABLES, required=MONITORING_REQUIRED`` syncs a monitoring run instead
    (see :func:`sync_monitoring_run`).

    Every frame is validated before the warehouse is touched; all tables change in one
    transaction, so a failure half-way commits nothing. Running it twice changes nothing.

    Raises:
        LakehouseError: the run has no ``metrics`` partition, or the lakehouse is unreadable.
        DataValidationError: a partition does not match its table spec (every problem listed).
        WarehouseError: the warehouse differs from the specs, or a statement failed (rolled back).
    """
    from fraud_mlops.lakehouse import Lakehouse
    from fraud_mlops.settings import Settings
    from fraud_mlops.warehouse import ddl
    from fraud_mlops.warehouse.connection import WarehouseError, connect
    from fraud_mlops.warehouse.settings import WarehouseSettings

    lake = Lakehouse(lakehouse_uri or Settings.from_env().lakehouse_uri)
    run_id = lake.check_run_id(run_id)
    settings = settings or WarehouseSettings.from_env()
    frames = {spec.name: _read(lake, spec, run_id, required) for spec in tables}

    with connect(settings) as wh:
        if settings.is_embedded:
            ddl.apply(wh)
        problems = ddl.check(wh)
        if problems:
            fix = (
                "delete the embedded warehouse folder to recreate it"
                if settings.is_embedded
                else "run `pulumi up` for the stack (it creates the tables from the same specs)"
            )
            raise WarehouseError(
                f"{settings.describe()} does not match the table specs; {fix}:\n  - "
                + "\n  - ".join(problems)
            )
        staged = [spec for spec in tables if frames[spec.name] is not None]
        try:
            for spec in staged:
                _stage(wh, spec, frames[spec.name])
            counts: dict[str, tuple[int, int, int]] = {}
            with wh.transaction():
                for spec in staged:
                    counts[spec.name] = _merge(wh, spec, run_id)
        finally:
            for spec in staged:
                _drop_stage(wh, spec)
    results = []
    for spec in tables:
        frame = frames[spec.name]
        if frame is None:
            results.append(TableSync(spec.name, 0, 0, 0, 0, skipped=True))
        else:
            results.append(TableSync(spec.name, len(frame), *counts[spec.name]))
    return SyncReport(run_id=run_id, warehouse=settings.describe(), tables=tuple(results))


def sync_monitoring_run(
    run_id: str,
    *,
    lakehouse_uri: str | None = None,
    settings: WarehouseSettings | None = None,
) -> SyncReport:
    """Merge a monitoring run's drift, metrics, shadow comparison and alerts (like sync_run)."""
    return sync_run(
        run_id,
        lakehouse_uri=lakehouse_uri,
        settings=settings,
        tables=MONITORING_TABLES,
        required=MONITORING_REQUIRED,
    )


def _read(
    lake: Lakehouse, spec: TableSpec, run_id: str, required: tuple[str, ...] = REQUIRED_TABLES
) -> pd.DataFrame | None:
    if spec.name not in required and run_id not in lake.runs(spec.dataset):
        return None
    table = lake.read(spec.dataset, run_id)
    return to_frame(spec, table, source=f"{lake.uri}/{spec.dataset} (run {run_id})")


def to_frame(spec: TableSpec, table: pa.Table, *, source: str) -> pd.DataFrame:
    """Validate a lakehouse table against ``spec`` and return it with warehouse column names.

    Raises:
        DataValidationError: missing columns, wrong types, NULLs in NOT NULL columns, invalid JSON
            in a VARIANT column or duplicate keys, all reported together.
    """
    import pandas as pd

    missing = [c.source_column for c in spec.columns if c.source_column not in table.column_names]
    if missing:
        raise DataValidationError(
            source,
            [f"column {m!r} is missing (have: {', '.join(table.column_names)})" for m in missing],
        )
    problems: list[str] = []
    data: dict[str, Any] = {}
    for col in spec.columns:
        data[col.name] = _convert(col, table.column(col.source_column), problems)
        if not col.nullable and table.column(col.source_column).null_count:
            nulls = table.column(col.source_column).null_count
            problems.append(f"column {col.source_column!r} has {nulls} NULL(s) but is required")
    if problems:
        raise DataValidationError(source, problems)
    frame = pd.DataFrame(data)
    dupes = frame[frame.duplicated(list(spec.key), keep=False)]
    if len(dupes):
        sample = dupes[list(spec.key)].head(3).to_dict("records")
        raise DataValidationError(
            source,
            [f"{len(dupes)} rows share a key {spec.key}; each key must appear once, e.g. {sample}"],
        )
    return frame


def _convert(col: Column, values: pa.ChunkedArray, problems: list[str]) -> Any:
    """One lakehouse column as the pandas values ``write_pandas`` loads into ``col.type``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = col.type.split("(")[0].upper()
    t = values.type
    ok = {
        "VARCHAR": pa.types.is_string(t) or pa.types.is_large_string(t),
        "VARIANT": pa.types.is_string(t) or pa.types.is_large_string(t),
        "NUMBER": pa.types.is_integer(t),
        "FLOAT": pa.types.is_floating(t) or pa.types.is_integer(t),
        "BOOLEAN": pa.types.is_boolean(t),
        "TIMESTAMP_TZ": pa.types.is_timestamp(t) and t.tz is not None,
    }.get(kind)
    if ok is None:
        raise NotImplementedError(f"no loader for Snowflake type {col.type} ({col.name})")
    if not ok:
        want = {"TIMESTAMP_TZ": "a timezone-aware timestamp"}.get(kind, kind.lower())
        problems.append(f"column {col.source_column!r} is {t}, expected {want}")
        return None
    if kind == "TIMESTAMP_TZ":
        return values.cast(pa.timestamp("us", tz="UTC")).to_pandas()
    if kind == "FLOAT":
        return values.cast(pa.float64()).to_pandas()
    if kind == "NUMBER":
        return (
            values.to_pandas(integer_object_nulls=True) if values.null_count else values.to_pandas()
        )
    if kind == "VARIANT":
        return [_canonical_json(v, col, i, problems) for i, v in enumerate(values.to_pylist())]
    if kind == "BOOLEAN" and values.null_count:
        return pc.cast(values, pa.bool_()).to_pandas().astype("boolean")
    return values.to_pandas()


def _canonical_json(text: str | None, col: Column, row: int, problems: list[str]) -> str | None:
    """Sorted keys, no spaces: the same object always stages as the same text."""
    if text is None:
        return None
    try:
        value = json.loads(text, parse_constant=lambda c: math.nan)
    except json.JSONDecodeError as exc:
        problems.append(
            f"column {col.source_column!r} row {row}: not JSON ({exc.msg}): {text[:60]!r}"
        )
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _stage_name(spec: TableSpec) -> str:
    return f"{STAGE_PREFIX}{spec.name}"


def _stage(wh: Warehouse, spec: TableSpec, frame: pd.DataFrame) -> None:
    """Load the frame into a fresh TEMPORARY table (VARIANT staged as text, parsed on merge)."""
    cols = ", ".join(
        f"{c.name} {'VARCHAR' if c.type.upper() == 'VARIANT' else c.type}" for c in spec.columns
    )
    wh.execute(f"CREATE OR REPLACE TEMPORARY TABLE {_stage_name(spec)} ({cols})")
    if len(frame):
        wh.write_frame(frame, _stage_name(spec))


def _drop_stage(wh: Warehouse, spec: TableSpec) -> None:
    import contextlib

    from fraud_mlops.warehouse.connection import WarehouseError

    with contextlib.suppress(WarehouseError):  # temporary anyway: it ends with the session
        wh.execute(f"DROP TABLE IF EXISTS {_stage_name(spec)}")


def merge_statements(spec: TableSpec, target: str) -> tuple[str, str, str]:
    """The UPDATE, INSERT and DELETE that merge the stage of ``spec`` into ``target``.

    The DELETE takes the run id as its one parameter. Columns of the target are qualified by its
    bare table name, which both Snowflake and DuckDB resolve for a qualified target.
    """
    stage = _stage_name(spec)
    t = spec.name
    source = "SELECT " + ", ".join(
        f"PARSE_JSON({c.name}) AS {c.name}" if c.type.upper() == "VARIANT" else c.name
        for c in spec.columns
    )
    source += f" FROM {stage}"
    on = " AND ".join(f"{t}.{k} = s.{k}" for k in spec.key)
    values = spec.value_columns
    update = (
        f"UPDATE {target} SET "
        + ", ".join(f"{c.name} = s.{c.name}" for c in values)
        + f" FROM ({source}) s WHERE {on} AND ("
        + " OR ".join(f"{t}.{c.name} IS DISTINCT FROM s.{c.name}" for c in values)
        + ")"
    )
    names = ", ".join(c.name for c in spec.columns)
    insert = (
        f"INSERT INTO {target} ({names}) SELECT "
        + ", ".join(f"s.{c.name}" for c in spec.columns)
        + f" FROM ({source}) s WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {on})"
    )
    stale = " AND ".join(f"s.{k} = {t}.{k}" for k in spec.key)
    delete = (
        f"DELETE FROM {target} WHERE {t}.RUN_ID = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE {stale})"
    )
    return update, insert, delete


def _merge(wh: Warehouse, spec: TableSpec, run_id: str) -> tuple[int, int, int]:
    update, insert, delete = merge_statements(spec, wh.qualified(spec.name))
    updated = wh.execute(update)
    inserted = wh.execute(insert)
    deleted = wh.execute(delete, (run_id,))
    return inserted, updated, deleted
