"""One connection type for both warehouses: Snowflake, or fakesnow on a DuckDB file.

Both speak the Snowflake connector's DB-API and the same SQL. The embedded store uses a private
:class:`fakesnow.instance.FakeSnow` rather than ``fakesnow.patch()``: no process-wide mock of
``snowflake.connector.connect``, so a real Snowflake connection can coexist in the same process.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraud_mlops.errors import FraudMlopsError
from fraud_mlops.warehouse.settings import WarehouseSettings

if TYPE_CHECKING:
    import pandas as pd


class WarehouseError(FraudMlopsError):
    """A warehouse statement failed or the warehouse cannot be reached."""


class Warehouse:
    """An open warehouse session: run SQL, load frames, group statements into a transaction."""

    def __init__(
        self, conn: Any, settings: WarehouseSettings, errors: tuple[type[BaseException], ...]
    ):
        self._conn = conn
        self.settings = settings
        # exceptions that mean "the statement failed" (vs. a bug in this code)
        self.errors = errors

    def qualified(self, name: str) -> str:
        return f"{self.settings.database}.{self.settings.schema}.{name}"

    def execute(self, sql: str, params: tuple | None = None) -> int:
        """Run one statement; return the rows it affected (Snowflake's rowcount)."""
        cur = self._conn.cursor()
        try:
            cur.execute(sql, params)
            return int(cur.rowcount or 0)
        except self.errors as exc:
            raise WarehouseError(_explain(exc, sql)) from None
        finally:
            cur.close()

    def query(self, sql: str, params: tuple | None = None) -> tuple[list[str], list[tuple]]:
        """Run a query; return its column names and rows."""
        cur = self._conn.cursor()
        try:
            cur.execute(sql, params)
            columns = [d[0] for d in cur.description or ()]
            return columns, [tuple(r) for r in cur.fetchall()] if columns else []
        except self.errors as exc:
            raise WarehouseError(_explain(exc, sql)) from None
        finally:
            cur.close()

    def write_frame(self, frame: pd.DataFrame, table: str) -> int:
        """Append ``frame`` to an existing table (columns by name); return the rows loaded.

        Uses the connector's ``write_pandas`` (Parquet + COPY INTO on Snowflake); timestamps keep
        their time zone because of ``use_logical_type=True``.
        """
        if self.settings.is_embedded:
            from fakesnow.pandas_tools import write_pandas
        else:
            from snowflake.connector.pandas_tools import write_pandas
        try:
            ok, _, rows, _ = write_pandas(
                self._conn, frame, table, quote_identifiers=False, use_logical_type=True
            )
        except self.errors as exc:
            raise WarehouseError(_explain(exc, f"write_pandas into {table}")) from None
        if not ok:
            raise WarehouseError(f"loading {len(frame)} rows into {table} failed")
        return int(rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN … COMMIT; any exception rolls back everything done inside, then propagates.

        Snowflake commits implicitly before DDL, so only DML belongs inside.
        """
        self.execute("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(*self.errors, WarehouseError):
                self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")


def _explain(exc: BaseException, sql: str) -> str:
    first = " ".join(sql.split())[:160]
    return f"warehouse statement failed: {str(exc).strip()}\n  statement: {first}"


@contextlib.contextmanager
def connect(settings: WarehouseSettings | None = None) -> Iterator[Warehouse]:
    """Open the configured warehouse (``WarehouseSettings.from_env()`` by default)."""
    settings = settings or WarehouseSettings.from_env()
    if settings.is_embedded:
        with _embedded(settings) as wh:
            yield wh
        return
    import snowflake.connector

    try:
        conn = snowflake.connector.connect(**settings.connect_kwargs())
    except snowflake.connector.errors.Error as exc:
        raise WarehouseError(
            f"cannot connect to {settings.describe()}: {exc}. Check the account, that the "
            "user's RSA_PUBLIC_KEY matches the private key, and the role's grants."
        ) from None
    try:
        yield Warehouse(conn, settings, (snowflake.connector.errors.Error,))
    finally:
        conn.close()


@contextlib.contextmanager
def _embedded(settings: WarehouseSettings) -> Iterator[Warehouse]:
    import duckdb
    import snowflake.connector
    import sqlglot.errors
    from fakesnow.instance import FakeSnow

    folder = Path(settings.embedded_path)
    folder.mkdir(parents=True, exist_ok=True)
    fake = FakeSnow(db_path=folder)
    try:
        conn = fake.connect(database=settings.database, schema=settings.schema)
    except duckdb.IOException as exc:  # another process holds DuckDB's write lock
        fake.duck_conn.close()
        raise WarehouseError(
            f"cannot open the embedded warehouse at {folder}: {exc}. Is another fraud-mlops "
            "command using it? Retry when it has finished."
        ) from None
    errors = (snowflake.connector.errors.Error, duckdb.Error, sqlglot.errors.SqlglotError)
    try:
        with warnings.catch_warnings():
            # fakesnow's own use of DuckDB's DB-API arrow output; nothing the user can act on
            warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning)
            warnings.filterwarnings("ignore", "For backward compatibility, 'str' dtypes")
            yield Warehouse(conn, settings, errors)
    finally:
        conn.close()
        fake.duck_conn.close()
