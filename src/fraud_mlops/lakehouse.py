"""Parquet datasets on a local folder, S3 or ADLS Gen2, partitioned by run.

Layout under the lakehouse root (see docs/lakehouse.md)::

    raw/claims/run_id=<run>/part-0.parquet
    predictions/run_id=<run>/part-0.parquet
    metrics/run_id=<run>/part-0.parquet

A partition is one Parquet file. It is written whole to ``<dataset>/_staging/`` first and then
published onto its final name in one step: a rename on a local disk and on ADLS Gen2 with a
hierarchical namespace, a server-side copy on S3 and on flat-namespace Azure storage (see
:mod:`fraud_mlops.adls`). Readers see the old partition or the new one, never half of one, a
failed write leaves the old one as it was, and writing a run id again replaces its partition
instead of adding rows. Readers skip ``_``-prefixed names, and a run exists once its partition
file does.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from fraud_mlops import adls
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
        return adls.azure_filesystem(uri)
    if uri.startswith("file://"):
        uri = urlparse(uri).path
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def _fail(action: str, target: str, exc: Exception) -> LakehouseError:
    return LakehouseError(
        f"could not {action} {target}: {adls.redact(str(exc))}. Check that the location exists "
        "and that your credentials (AWS_PROFILE / AWS_* or AZURE_STORAGE_*) allow it."
    )


def list_folder(
    fs: pafs.FileSystem, path: str, *, recursive: bool = False, shown: str | None = None
) -> list[pafs.FileInfo]:
    """What is under ``path`` (nothing if it does not exist), with a listing error said as a
    :class:`LakehouseError` naming ``shown`` (default: the path) and what to check."""
    try:
        return fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=recursive))
    except (OSError, pa.ArrowException) as exc:
        raise _fail("list", shown or path, exc) from None


def partition_date(name: str) -> date | None:
    """The day of a ``date=YYYY-MM-DD`` folder name, or None for any other name."""
    if not name.startswith("date="):
        return None
    try:
        return date.fromisoformat(name.removeprefix("date="))
    except ValueError:
        return None


def date_partitions(
    fs: pafs.FileSystem, base: str, start: date | None = None, end: date | None = None
) -> list[str]:
    """The ``date=`` folders directly under ``base`` from ``start`` to ``end`` (inclusive; None:
    unbounded), sorted by day; names that are not such a folder are not partitions and are
    skipped. No ``base`` at all: no partitions."""
    days = []
    for info in list_folder(fs, base):
        day = partition_date(info.base_name)
        if info.type != pafs.FileType.Directory or day is None:
            continue
        if (start is None or day >= start) and (end is None or day <= end):
            days.append((day, info.path))
    return [path for _, path in sorted(days)]


def write_file_atomic(uri: str, table: pa.Table, fmt: str = "parquet") -> int:
    """Write one Parquet/CSV file to ``uri`` so that it appears whole or not at all.

    Returns the bytes written.
    """
    fs, path = resolve_filesystem(uri)
    parent, _, name = path.rpartition("/")
    staging = f"{parent}/_staging-{uuid.uuid4().hex}-{name}"
    return _write_atomic(fs, path, staging, table, fmt, uri)


def _write_atomic(
    fs: pafs.FileSystem, path: str, staging: str, table: pa.Table, fmt: str, uri: str
) -> int:
    """Write ``table`` to ``staging`` and publish it onto ``path``; on failure drop ``staging``."""
    if fmt not in ("parquet", "csv"):
        raise LakehouseError(f"unknown output format {fmt!r}: use parquet or csv")
    try:
        fs.create_dir(staging.rpartition("/")[0], recursive=True)
        if fmt == "parquet":
            pq.write_table(table, staging, filesystem=fs, compression="zstd")
        else:
            import pyarrow.csv as pacsv

            with fs.open_output_stream(staging) as out:
                pacsv.write_csv(table, out)
        size = fs.get_file_info(staging).size or 0
        fs.create_dir(path.rpartition("/")[0], recursive=True)
        publish_staged(fs, staging, path)
    except BaseException as exc:  # whatever stopped the write, no staged file is left behind
        with contextlib.suppress(OSError, pa.ArrowException):
            fs.delete_file(staging)
        if isinstance(exc, (OSError, pa.ArrowException)):
            raise _fail("write", uri, exc) from None
        raise
    return size


def publish_staged(fs: pafs.FileSystem, staging: str, path: str) -> None:
    """Put the finished file ``staging`` at ``path`` in one step, on any of the filesystems."""
    if isinstance(fs, pafs.AzureFileSystem):
        adls.publish(fs, staging, path)  # rename on a hierarchical namespace, copy on flat
    else:
        fs.move(staging, path)  # a rename on a local disk; copy + delete on S3


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

    def _partition_path(self, dataset: str, run_id: str) -> str:
        return f"{self._dataset_path(dataset)}/run_id={self.check_run_id(run_id)}/{PARTITION_FILE}"

    def write(self, dataset: str, run_id: str, data: pa.Table | pd.DataFrame) -> WriteResult:
        """Replace the partition of ``run_id`` in ``dataset`` with ``data`` (atomically)."""
        table = (
            data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
        )
        if "run_id" in table.column_names:  # the partition carries it; never store it twice
            table = table.drop(["run_id"])
        uri, path = self.partition_uri(dataset, run_id), self._partition_path(dataset, run_id)
        # Staged outside the run's folder, so a write that dies half-way shows no run at all.
        staging = f"{self._dataset_path(dataset)}/_staging/{run_id}-{uuid.uuid4().hex}.parquet"
        size = _write_atomic(self.fs, path, staging, table, "parquet", uri)
        return WriteResult(uri=uri, rows=table.num_rows, bytes=size)

    def runs(self, dataset: str) -> list[str]:
        """Run ids that have a partition file in ``dataset``, sorted."""
        base = self._dataset_path(dataset)
        infos = list_folder(self.fs, base, recursive=True, shown=f"{self.uri}/{dataset}")
        # A run is a partition file, not a folder: an empty or staging-only folder is no run.
        runs = set()
        for info in infos:
            folder, _, name = info.path.removeprefix(f"{base}/").partition("/")
            is_partition = info.type == pafs.FileType.File and name == PARTITION_FILE
            if is_partition and folder.startswith("run_id="):
                runs.add(folder.removeprefix("run_id="))
        return sorted(runs)

    def read(
        self, dataset: str, run_id: str | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        """Read one run's partition, or every run's (with a ``run_id`` column)."""
        if run_id is not None:
            uri, path = self.partition_uri(dataset, run_id), self._partition_path(dataset, run_id)
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
