"""Parquet datasets on a local folder, S3 or ADLS Gen2, partitioned by run.

Layout under the lakehouse root (see docs/architecture.md)::

    raw/claims/run_id=<run>/part-0.parquet
    predictions/run_id=<run>/part-0.parquet
    metrics/run_id=<run>/part-0.parquet

A partition is one Parquet file. It is written to ``<dataset>/_staging/`` first and then moved
into place; a rename on a local disk and a copy on S3/ADLS both replace the object whole, so
readers see the old partition or the new one, never half of one, and writing a run id again
replaces its partition instead of adding rows. Readers skip ``_``-prefixed folders.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from fraud_mlops.errors import LakehouseError

if TYPE_CHECKING:
    import pandas as pd

RAW_CLAIMS = "raw/claims"
PREDICTIONS = "predictions"
METRICS = "metrics"
DRIFT = "drift"
SCORING_SUMMARY = "scoring_summary"

_DATASET = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
PARTITION_FILE = "part-0.parquet"


def resolve_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """Return a pyarrow filesystem and the path in it for a local path, s3:// or abfss:// URI."""
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        if not parsed.netloc:
            raise LakehouseError(f"{uri!r} has no bucket: use s3://bucket/prefix")
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        kwargs: dict = {
            "region": os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        }
        if endpoint:
            ep = urlparse(endpoint)
            kwargs["endpoint_override"] = ep.netloc or ep.path
            kwargs["scheme"] = ep.scheme or "https"
        return pafs.S3FileSystem(**kwargs), f"{parsed.netloc}{parsed.path}".rstrip("/")
    if uri.startswith(("abfss://", "abfs://")):
        return _azure_filesystem(uri)
    if uri.startswith("file://"):
        uri = urlparse(uri).path
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def _azure_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """ADLS Gen2: ``abfss://<container>@<account>.dfs.core.windows.net/<path>``.

    Credentials: ``AZURE_STORAGE_ACCOUNT_KEY`` or ``AZURE_STORAGE_SAS_TOKEN`` if set, otherwise
    Azure's DefaultAzureCredential chain (managed identity, ``az login``, service principal env).
    """
    parsed = urlparse(uri)
    container, _, host = parsed.netloc.partition("@")
    account, _, authority = host.partition(".")
    if not container or not account or not authority.startswith("dfs."):
        raise LakehouseError(
            f"{uri!r} is not an ADLS Gen2 URI: use "
            "abfss://<container>@<account>.dfs.core.windows.net/<path>"
        )
    kwargs: dict = {"account_name": account}
    if key := os.environ.get("AZURE_STORAGE_ACCOUNT_KEY"):
        kwargs["account_key"] = key
    elif sas := os.environ.get("AZURE_STORAGE_SAS_TOKEN"):
        kwargs["sas_token"] = sas
    if authority != "dfs.core.windows.net":  # sovereign clouds, emulators
        kwargs["dfs_storage_authority"] = authority
        kwargs["blob_storage_authority"] = authority.replace("dfs.", "blob.", 1)
    try:
        fs = pafs.AzureFileSystem(**kwargs)
    except (pa.ArrowException, ValueError) as exc:
        raise LakehouseError(f"cannot open {uri!r}: {exc}") from None
    return fs, f"{container}{parsed.path}".rstrip("/")


def _fail(action: str, target: str, exc: Exception) -> LakehouseError:
    return LakehouseError(
        f"could not {action} {target}: {exc}. Check that the location exists and that your "
        "credentials (AWS_PROFILE / AWS_* or AZURE_STORAGE_*) allow it."
    )


def write_file_atomic(uri: str, table: pa.Table, fmt: str = "parquet") -> int:
    """Write one Parquet/CSV file to ``uri`` so that it appears whole or not at all.

    Returns the bytes written.
    """
    fs, path = resolve_filesystem(uri)
    parent, _, name = path.rpartition("/")
    staging = f"{parent}/_staging-{uuid.uuid4().hex}-{name}"
    try:
        fs.create_dir(parent, recursive=True)
        if fmt == "parquet":
            pq.write_table(table, staging, filesystem=fs, compression="zstd")
        elif fmt == "csv":
            import pyarrow.csv as pacsv

            with fs.open_output_stream(staging) as out:
                pacsv.write_csv(table, out)
        else:
            raise LakehouseError(f"unknown output format {fmt!r}: use parquet or csv")
        size = fs.get_file_info(staging).size or 0
        fs.move(staging, path)
    except LakehouseError:
        raise
    except (OSError, pa.ArrowException) as exc:
        with contextlib.suppress(OSError, pa.ArrowException):
            fs.delete_file(staging)
        raise _fail("write", uri, exc) from None
    return size


@dataclass(frozen=True)
class WriteResult:
    uri: str
    rows: int
    bytes: int


class Lakehouse:
    """Run-partitioned Parquet datasets under one root URI."""

    def __init__(self, uri: str):
        self.uri = uri.rstrip("/")
        self.fs, self.root = resolve_filesystem(self.uri)

    def _dataset_path(self, dataset: str) -> str:
        if not _DATASET.match(dataset):
            raise LakehouseError(
                f"dataset name {dataset!r} must look like 'metrics' or 'raw/claims'"
            )
        return f"{self.root}/{dataset}"

    @staticmethod
    def check_run_id(run_id: str) -> str:
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise LakehouseError(
                f"run id {run_id!r} is not valid: use letters, digits, '.', '_', ':' or '-' "
                "(max 128 characters, starting with a letter or digit)."
            )
        return run_id

    def partition_uri(self, dataset: str, run_id: str) -> str:
        self._dataset_path(dataset)
        return f"{self.uri}/{dataset}/run_id={self.check_run_id(run_id)}/{PARTITION_FILE}"

    def write(self, dataset: str, run_id: str, data: pa.Table | pd.DataFrame) -> WriteResult:
        """Replace the partition of ``run_id`` in ``dataset`` with ``data`` (atomically)."""
        table = (
            data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
        )
        if "run_id" in table.column_names:  # the partition carries it; never store it twice
            table = table.drop(["run_id"])
        uri = self.partition_uri(dataset, run_id)
        size = write_file_atomic(uri, table)
        return WriteResult(uri=uri, rows=table.num_rows, bytes=size)

    def runs(self, dataset: str) -> list[str]:
        """Run ids that have a partition in ``dataset``, sorted."""
        base = self._dataset_path(dataset)
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        except (OSError, pa.ArrowException) as exc:
            raise _fail("list", f"{self.uri}/{dataset}", exc) from None
        return sorted(
            i.base_name.removeprefix("run_id=")
            for i in infos
            if i.type == pafs.FileType.Directory and i.base_name.startswith("run_id=")
        )

    def read(
        self, dataset: str, run_id: str | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        """Read one run's partition, or every run's (with a ``run_id`` column)."""
        if run_id is not None:
            uri = self.partition_uri(dataset, run_id)
            _, path = resolve_filesystem(uri)
            try:
                table = pq.read_table(path, filesystem=self.fs, columns=columns)
            except FileNotFoundError:
                raise LakehouseError(
                    f"no partition for run {run_id!r} in {self.uri}/{dataset}. "
                    f"Runs there: {', '.join(self.runs(dataset)) or 'none'}."
                ) from None
            except (OSError, pa.ArrowException) as exc:
                raise _fail("read", uri, exc) from None
            return table.append_column("run_id", pa.repeat(pa.scalar(run_id), table.num_rows))
        if not self.runs(dataset):
            raise LakehouseError(f"{self.uri}/{dataset} has no partitions yet")
        part = ds.partitioning(pa.schema([("run_id", pa.string())]), flavor="hive")
        try:
            dataset_ = ds.dataset(
                self._dataset_path(dataset), filesystem=self.fs, format="parquet", partitioning=part
            )
            return dataset_.to_table(columns=columns)
        except (OSError, pa.ArrowException) as exc:
            raise _fail("read", f"{self.uri}/{dataset}", exc) from None

    def read_pandas(self, dataset: str, run_id: str | None = None) -> pd.DataFrame:
        return self.read(dataset, run_id).to_pandas()
