"""One lakehouse suite on three real backends: a local folder, S3 (moto server) and ADLS (Azurite).

Azurite has a flat namespace, so the abfss runs cover the copy-based publish; the rename on a
hierarchical namespace needs a real ADLS Gen2 account (docs/lakehouse.md).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from fraud_mlops.errors import LakehouseError
from fraud_mlops.lakehouse import (
    METRICS,
    PREDICTIONS,
    RAW_CLAIMS,
    Lakehouse,
    date_partitions,
    partition_date,
    resolve_filesystem,
    write_file_atomic,
)
from fraud_mlops.synthetic import generate_claims

BACKENDS = ["local", "s3", "abfss"]


def _table(n: int, value: float = 1.0) -> pa.Table:
    return pa.table({"metric": [f"m{i}" for i in range(n)], "value": [value] * n})


def _files(lake: Lakehouse, dataset: str) -> list[str]:
    """Every file under ``dataset``, relative to it: what a reader could stumble on."""
    base = f"{lake.root}/{dataset}"
    infos = lake.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    return sorted(i.path.removeprefix(f"{base}/") for i in infos if i.type == pafs.FileType.File)


@pytest.fixture(params=BACKENDS)
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lakehouse:
    if request.param == "local":
        return Lakehouse(str(tmp_path / "lake"))
    if request.param == "s3":
        return Lakehouse(f"s3://{request.getfixturevalue('s3_bucket')}/lakehouse")
    return Lakehouse(f"{request.getfixturevalue('adls_root')}/lakehouse")


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
    assert _files(lake, RAW_CLAIMS) == ["run_id=run-1/part-0.parquet"]


def test_a_runs_claims_predictions_and_metrics_round_trip(lake: Lakehouse) -> None:
    predictions = pa.table(
        {
            "claim_id": ["c1", "c2", "c3"],
            "fraud_probability": [0.1, 0.8, 0.4],
            "flagged": [False, True, False],
        }
    )
    lake.write(RAW_CLAIMS, "r", generate_claims(50, seed=1))
    lake.write(PREDICTIONS, "r", predictions)
    lake.write(METRICS, "r", _table(2, 0.5).append_column("run_id", pa.array(["x", "x"])))
    assert lake.read(PREDICTIONS, "r").drop(["run_id"]).equals(predictions)
    metrics = lake.read(METRICS, "r")
    assert metrics.column_names == ["metric", "value", "run_id"]  # the stored run_id was dropped
    assert metrics.column("run_id").to_pylist() == ["r", "r"]
    assert [lake.runs(d) for d in (RAW_CLAIMS, PREDICTIONS, METRICS)] == [["r"]] * 3


def test_listing_and_reading_by_run_id(lake: Lakehouse) -> None:
    for run_id, rows in (("r2", 2), ("r10", 10), ("r1", 1)):
        lake.write(METRICS, run_id, _table(rows, float(rows)))
    assert lake.runs(METRICS) == ["r1", "r10", "r2"]
    assert lake.runs(PREDICTIONS) == []
    for run_id, rows in (("r1", 1), ("r2", 2), ("r10", 10)):
        assert lake.read(METRICS, run_id).column("value").to_pylist() == [float(rows)] * rows
    everything = lake.read(METRICS).to_pandas()
    assert everything.groupby("run_id").size().to_dict() == {"r1": 1, "r10": 10, "r2": 2}


def test_rewriting_a_run_replaces_its_partition(lake: Lakehouse) -> None:
    lake.write(METRICS, "a", _table(3, 1.0))
    lake.write(METRICS, "b", _table(2, 5.0))
    lake.write(METRICS, "a", _table(4, 2.0))  # re-run of run "a"
    assert lake.runs(METRICS) == ["a", "b"]
    everything = lake.read(METRICS).to_pandas()
    assert len(everything) == 6  # 4 (new a) + 2 (b): the old rows of "a" are gone
    assert set(everything.loc[everything.run_id == "a", "value"]) == {2.0}
    assert _files(lake, METRICS) == ["run_id=a/part-0.parquet", "run_id=b/part-0.parquet"]


def test_readers_see_the_old_partition_until_the_new_one_is_whole(
    lake: Lakehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing straight to the final name would fail this: on Azure it empties the blob first."""
    lake.write(METRICS, "a", _table(3, 1.0))
    real_write, seen = pq.write_table, []

    def write_then_look(table: pa.Table, where: str, **kwargs: object) -> None:
        real_write(table, where, **kwargs)  # the new file is complete, but not yet published
        seen.append(Lakehouse(lake.uri).read(METRICS, "a").column("value").to_pylist())

    monkeypatch.setattr(pq, "write_table", write_then_look)
    lake.write(METRICS, "a", _table(4, 2.0))
    assert seen == [[1.0, 1.0, 1.0]]
    assert lake.read(METRICS, "a").column("value").to_pylist() == [2.0] * 4


def _crash_half_way(monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = pq.write_table

    def crash(table: pa.Table, where: str, **kwargs: object) -> None:
        real_write(table.slice(0, 1), where, **kwargs)  # something reached storage …
        raise OSError("No space left on device")  # … then the disk filled up

    monkeypatch.setattr(pq, "write_table", crash)


def test_a_failed_write_leaves_the_old_partition_intact(
    lake: Lakehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash half-way through writing must not replace or corrupt the visible partition."""
    lake.write(METRICS, "a", _table(3, 1.0))
    with monkeypatch.context() as patched, pytest.raises(LakehouseError, match="No space left"):
        _crash_half_way(patched)
        lake.write(METRICS, "a", _table(10, 9.0))
    assert lake.read(METRICS, "a").column("value").to_pylist() == [1.0, 1.0, 1.0]
    assert len(lake.read(METRICS)) == 3
    assert _files(lake, METRICS) == ["run_id=a/part-0.parquet"]  # no staged file left behind


def test_a_new_run_that_fails_half_way_shows_no_run(
    lake: Lakehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.write(METRICS, "old", _table(2))
    with monkeypatch.context() as patched, pytest.raises(LakehouseError, match="No space left"):
        _crash_half_way(patched)
        lake.write(METRICS, "new", _table(10, 9.0))
    assert lake.runs(METRICS) == ["old"]
    with pytest.raises(LakehouseError, match=r"no partition for run 'new'.*Runs there: old\."):
        lake.read(METRICS, "new")
    assert _files(lake, METRICS) == ["run_id=old/part-0.parquet"]


def test_what_a_killed_writer_leaves_is_invisible(lake: Lakehouse) -> None:
    """A process killed mid-write cannot clean up: its staged file and empty folder stay unread."""
    lake.write(METRICS, "a", _table(3))
    base = f"{lake.root}/{METRICS}"
    lake.fs.create_dir(f"{base}/_staging", recursive=True)
    pq.write_table(_table(1, 7.0), f"{base}/_staging/a-dead.parquet", filesystem=lake.fs)
    lake.fs.create_dir(f"{base}/run_id=ghost", recursive=True)
    assert lake.runs(METRICS) == ["a"]
    assert lake.read(METRICS).column("value").to_pylist() == [1.0] * 3


def test_missing_run_and_empty_dataset_explain_themselves(lake: Lakehouse) -> None:
    with pytest.raises(LakehouseError, match="has no partitions yet"):
        lake.read(METRICS)
    lake.write(METRICS, "only", _table(1))
    with pytest.raises(LakehouseError, match="Runs there: only"):
        lake.read(METRICS, "other")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_one_file_outputs_are_written_whole(
    backend: str, fmt: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """``generate --out`` / ``ingest --out``: one file, staged beside its final name."""
    root = {
        "local": lambda: str(tmp_path),
        "s3": lambda: f"s3://{request.getfixturevalue('s3_bucket')}",
        "abfss": lambda: request.getfixturevalue("adls_root"),
    }[backend]()
    uri = f"{root}/exports/claims.{fmt}"
    for rows in (5, 3):  # the second write replaces the first
        assert write_file_atomic(uri, _table(rows), fmt) > 0
    fs, path = resolve_filesystem(uri)
    infos = fs.get_file_info(pafs.FileSelector(path.rpartition("/")[0]))
    assert [i.base_name for i in infos if i.type == pafs.FileType.File] == [f"claims.{fmt}"]
    with fs.open_input_stream(path) as f:
        data = pa.BufferReader(f.read())
    back = pacsv.read_csv(data) if fmt == "csv" else pq.read_table(data)
    assert back.column("metric").to_pylist() == ["m0", "m1", "m2"]


def test_an_unknown_output_format_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(LakehouseError, match="unknown output format 'xlsx'"):
        write_file_atomic(str(tmp_path / "x.xlsx"), _table(1), "xlsx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("run_id", ["../etc", "a/b", "", "run id", "x" * 200])
def test_unsafe_run_ids_are_refused(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(LakehouseError, match="run id"):
        Lakehouse(str(tmp_path)).write(METRICS, run_id, _table(1))


def test_s3_uri_uses_the_configured_endpoint(aws_env: str) -> None:
    fs, path = resolve_filesystem("s3://bucket/some/prefix/")
    assert isinstance(fs, pafs.S3FileSystem)
    assert path == "bucket/some/prefix"
    assert fs.__reduce__()[1][0]["endpoint_override"] == aws_env.removeprefix("http://")


def test_date_partitions_lists_the_days_in_the_window_in_order(tmp_path):
    base = tmp_path / "scores"
    for name in ("date=2026-12-03", "date=2026-12-01", "date=2026-11-30", "date=2026-13-01"):
        (base / name).mkdir(parents=True)
    (base / "date=2026-12-02").write_text("a file, not a partition")
    (base / "_staging").mkdir()
    fs = pafs.LocalFileSystem()
    names = [p.rpartition("/")[2] for p in date_partitions(fs, str(base))]
    assert names == ["date=2026-11-30", "date=2026-12-01", "date=2026-12-03"]
    window = date_partitions(fs, str(base), date(2026, 12, 1), date(2026, 12, 2))
    assert [p.rpartition("/")[2] for p in window] == ["date=2026-12-01"]
    assert date_partitions(fs, str(tmp_path / "nothing-yet")) == []
    assert partition_date("date=2026-02-30") is None and partition_date("run_id=x") is None
