from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from fraud_mlops.errors import LakehouseError
from fraud_mlops.lakehouse import METRICS, RAW_CLAIMS, Lakehouse, resolve_filesystem
from fraud_mlops.synthetic import generate_claims


def _table(n: int, value: float = 1.0) -> pa.Table:
    return pa.table({"metric": [f"m{i}" for i in range(n)], "value": [value] * n})


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lakehouse:
    if request.param == "local":
        return Lakehouse(str(tmp_path / "lake"))
    bucket = request.getfixturevalue("s3_bucket")
    return Lakehouse(f"s3://{bucket}/lakehouse")


def test_write_then_read_one_run(lake: Lakehouse) -> None:
    claims = generate_claims(300, seed=2)
    result = lake.write(RAW_CLAIMS, "run-1", claims)
    assert result.rows == 300 and result.bytes > 0
    assert result.uri == f"{lake.uri}/raw/claims/run_id=run-1/part-0.parquet"
    back = lake.read(RAW_CLAIMS, "run-1")
    assert back.num_rows == 300
    assert back.column("run_id").to_pylist() == ["run-1"] * 300
    assert back.column("claim_id").to_pylist() == claims["claim_id"].tolist()
    assert str(back.schema.field("claim_date").type) == "timestamp[us, tz=UTC]"


def test_rewriting_a_run_replaces_its_partition(lake: Lakehouse) -> None:
    lake.write(METRICS, "a", _table(3, 1.0))
    lake.write(METRICS, "b", _table(2, 5.0))
    lake.write(METRICS, "a", _table(4, 2.0))  # re-run of run "a"
    assert lake.runs(METRICS) == ["a", "b"]
    everything = lake.read(METRICS).to_pandas()
    assert len(everything) == 6  # 4 (new a) + 2 (b): the old rows of "a" are gone
    assert set(everything.loc[everything.run_id == "a", "value"]) == {2.0}


def test_a_failed_write_leaves_the_old_partition_intact(
    lake: Lakehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash half-way through writing must not replace or corrupt the visible partition."""
    lake.write(METRICS, "a", _table(3, 1.0))
    real_write = pq.write_table

    def crash_half_way(table: pa.Table, where: str, **kwargs: object) -> None:
        real_write(table.slice(0, 1), where, **kwargs)  # something reached storage …
        raise OSError("No space left on device")  # … then the disk filled up

    with monkeypatch.context() as patched, pytest.raises(LakehouseError, match="No space left"):
        patched.setattr(pq, "write_table", crash_half_way)
        lake.write(METRICS, "a", _table(10, 9.0))
    assert lake.read(METRICS, "a").column("value").to_pylist() == [1.0, 1.0, 1.0]
    assert len(lake.read(METRICS)) == 3  # readers see no staging leftovers
    staging = lake.fs.get_file_info(pafs.FileSelector(f"{lake.root}/{METRICS}", recursive=True))
    assert not [i.path for i in staging if "_staging" in i.path]


def test_missing_run_and_empty_dataset_explain_themselves(lake: Lakehouse) -> None:
    with pytest.raises(LakehouseError, match="has no partitions yet"):
        lake.read(METRICS)
    lake.write(METRICS, "only", _table(1))
    with pytest.raises(LakehouseError, match="Runs there: only"):
        lake.read(METRICS, "other")


@pytest.mark.parametrize("run_id", ["../etc", "a/b", "", "run id", "x" * 200])
def test_unsafe_run_ids_are_refused(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(LakehouseError, match="run id"):
        Lakehouse(str(tmp_path)).write(METRICS, run_id, _table(1))


def test_s3_uri_uses_the_configured_endpoint(aws_env: str) -> None:
    fs, path = resolve_filesystem("s3://bucket/some/prefix/")
    assert isinstance(fs, pafs.S3FileSystem)
    assert path == "bucket/some/prefix"
    assert fs.__reduce__()[1][0]["endpoint_override"] == aws_env.removeprefix("http://")


def test_abfss_filesystem_is_built_from_the_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", "c2VjcmV0")
    fs, path = resolve_filesystem("abfss://claims@fraudlake.dfs.core.windows.net/lakehouse/")
    assert isinstance(fs, pafs.AzureFileSystem)
    assert path == "claims/lakehouse"
    options = fs.__reduce__()[1][0]
    assert options["account_name"] == "fraudlake"
    assert options["account_key"] == "c2VjcmV0"
    assert options["dfs_storage_scheme"] == "https"


@pytest.mark.parametrize(
    "uri", ["abfss://fraudlake.dfs.core.windows.net/x", "abfss://c@acct.blob.core.windows.net/x"]
)
def test_malformed_abfss_uris_are_refused(uri: str) -> None:
    with pytest.raises(LakehouseError, match="ADLS Gen2"):
        resolve_filesystem(uri)
