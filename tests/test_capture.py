"""Captured scores read back (#14 item 4, #15): every writer's layout, the window, the filters,
malformed lines counted and named, bounded batches, and the local, s3:// and abfss:// roots."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from fraud_mlops import capture_format as cf
from fraud_mlops.capture import BASE_COLUMNS, ScanStats, iter_scores, read_scores
from fraud_mlops.errors import ConfigError, LakehouseError

SALT = "test-salt-0123456789"
DAY1 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def rec(i: int, when: datetime, version: str = "3", role: str = "champion", **features) -> dict:
    return cf.record(
        claim_key=cf.claim_key(f"C{i}", SALT),
        model_name="fraud",
        model_version=version,
        role=role,
        score=i / 100,
        flagged=i % 2 == 0,
        threshold=0.3,
        reasons=[{"feature": "amount", "contribution": 0.1 * i}],
        features=features or {"amount": 100.0 + i, "region": "north"},
        request_id=f"r{i}",
        captured_at=when,
    )


def sink_file(root: Path, records: list[dict], name: str = "host-1-abc.jsonl") -> Path:
    """Write like the API's file sink: scores/date=…/model_version=…/<writer>.jsonl."""
    first = records[0]
    path = root / cf.partition(first["captured_at"], first["model_version"]) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(cf.log_line(r) + "\n" for r in records))
    return path


def test_sink_layout_reads_back_with_the_documented_columns_and_types(tmp_path: Path) -> None:
    sink_file(tmp_path, [rec(i, DAY1 + timedelta(minutes=i)) for i in range(5)])
    frame = read_scores(str(tmp_path))
    assert list(frame.columns) == [*BASE_COLUMNS, "amount", "region"]
    assert len(frame) == 5
    assert str(frame["captured_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["score"].dtype == "float64" and frame["flagged"].dtype == bool
    assert frame["claim_key"].iloc[0] == cf.claim_key("C0", SALT)
    assert json.loads(frame["reasons"].iloc[2]) == [{"feature": "amount", "contribution": 0.2}]
    assert frame["amount"].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert frame["captured_at"].iloc[1] == pd.Timestamp("2026-11-30T10:01:00Z")


def test_window_version_and_role_select_records(tmp_path: Path) -> None:
    day2, day3 = DAY1 + timedelta(days=1), DAY1 + timedelta(days=2)
    sink_file(tmp_path, [rec(1, DAY1), rec(2, DAY1)])
    sink_file(tmp_path, [rec(3, day2), rec(4, day2)])
    sink_file(tmp_path, [rec(5, day2, version="4", role="shadow")])
    sink_file(tmp_path, [rec(6, day3)])
    keys = lambda **kw: sorted(read_scores(str(tmp_path), **kw)["request_id"])  # noqa: E731
    assert keys() == ["r1", "r2", "r3", "r4", "r5", "r6"]
    assert keys(start=date(2026, 12, 1)) == ["r3", "r4", "r5", "r6"]
    assert keys(start=date(2026, 12, 1), end=date(2026, 12, 1)) == ["r3", "r4", "r5"]
    assert keys(end=date(2026, 11, 30)) == ["r1", "r2"]
    assert keys(model_version="4") == ["r5"]
    assert keys(role="shadow") == ["r5"]
    assert keys(role="champion", start=date(2026, 12, 2)) == ["r6"]
    assert keys(model_version="9") == []


def test_firehose_objects_without_extension_gzip_or_not_filtered_by_captured_at(
    tmp_path: Path,
) -> None:
    # Firehose partitions by delivery time: a score captured just before midnight on 30 Nov is
    # delivered into the 1 Dec folder, and belongs to 30 Nov.
    late = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    folder = tmp_path / "scores" / "date=2026-12-01"
    folder.mkdir(parents=True)
    lines = [cf.log_line(rec(1, late)), cf.log_line(rec(2, late - timedelta(hours=1)))]
    (folder / "fraud-scores-1-2026-12-01-00-00-01-abcd").write_bytes(
        gzip.compress(("\n".join(lines) + "\n").encode())
    )
    (folder / "fraud-scores-1-2026-12-01-00-05-00-efgh").write_text(
        cf.log_line(rec(3, late + timedelta(minutes=5))) + "\n"
    )
    stats = ScanStats()
    assert sorted(read_scores(str(tmp_path), stats=stats)["request_id"]) == ["r1", "r2", "r3"]
    assert stats.files == 2 and stats.skipped == 0
    on_30 = read_scores(str(tmp_path), start=date(2026, 11, 30), end=date(2026, 11, 30))
    assert on_30.empty  # the 30 Nov folder does not exist: folder selection comes first
    on_1 = read_scores(str(tmp_path), start=date(2026, 12, 1), end=date(2026, 12, 1))
    assert on_1["request_id"].tolist() == ["r3"]  # r1 and r2 were captured on 30 Nov


def test_malformed_lines_are_counted_and_named_never_crashing_the_read(tmp_path: Path) -> None:
    good = [cf.log_line(rec(i, DAY1)) for i in range(3)]
    bad_score = cf.log_line({**rec(9, DAY1), "score": "high"})
    naive = cf.log_line({**rec(8, DAY1), "captured_at": "2026-11-30T10:00:00"})
    path = tmp_path / "scores/date=2026-11-30/model_version=3/w.jsonl"
    path.parent.mkdir(parents=True)
    body = [good[0], good[1][:50], "", "INFO some other log line", bad_score, naive, good[2]]
    path.write_text("\n".join(body) + "\n")
    # A truncated gzip object: the lines before the cut are read, the cut is reported.
    many = [cf.log_line(rec(i, DAY1, amount=i * 7.31, note=f"n{i * 7919}")) for i in range(150)]
    whole = gzip.compress(("\n".join(many) + "\n").encode())
    (path.parent / "cut").write_bytes(whole[: len(whole) // 2])
    stats = ScanStats()
    frame = read_scores(str(tmp_path), stats=stats)
    assert stats.skipped == 5
    assert stats.skipped_by_file == {
        "scores/date=2026-11-30/model_version=3/w.jsonl": 4,
        "scores/date=2026-11-30/model_version=3/cut": 1,
    }
    reasons = {(s.line, s.reason) for s in stats.examples if s.file.endswith("w.jsonl")}
    assert reasons == {
        (2, "not valid JSON (truncated or corrupt line)"),
        (4, "not a capture line (no capture prefix, not JSON)"),
        (5, "score is not a finite number"),
        (6, "captured_at has no UTC offset"),
    }
    (cut,) = [s for s in stats.examples if s.file.endswith("cut")]
    assert cut.reason.startswith("file unreadable from here on")
    assert len(frame) == stats.selected and 40 < len(frame) - 2 < 150  # much of the cut file
    text = stats.summary()
    assert "skipped 5 malformed line(s)" in text and "4 in scores/date=2026-11-30" in text


def test_batches_are_bounded(tmp_path: Path) -> None:
    for n in range(3):  # three writer files of 4 records
        sink_file(tmp_path, [rec(4 * n + i, DAY1) for i in range(4)], name=f"w{n}.jsonl")
    sizes = [len(b) for b in iter_scores(str(tmp_path), batch_rows=5)]
    assert sizes == [5, 5, 2]


def test_features_may_differ_between_versions(tmp_path: Path) -> None:
    sink_file(tmp_path, [rec(1, DAY1, version="3", amount=1.0)])
    sink_file(tmp_path, [rec(2, DAY1, version="4", amount=2.0, age=40)])
    frame = read_scores(str(tmp_path)).sort_values("request_id")
    assert frame["age"].isna().tolist() == [True, False]


def test_parquet_capture_files_are_read(tmp_path: Path) -> None:
    rows = [rec(i, DAY1) for i in range(3)]
    table = pd.DataFrame(
        {
            "captured_at": [pd.Timestamp(r["captured_at"]) for r in rows],
            **{k: [r[k] for r in rows] for k in BASE_COLUMNS[1:] if k != "reasons"},
            "reasons": [json.dumps(r["reasons"]) for r in rows],
            "features": [json.dumps(r["features"]) for r in rows],
        }
    )
    path = tmp_path / "scores/date=2026-11-30/model_version=3/part-0.parquet"
    path.parent.mkdir(parents=True)
    table.to_parquet(path)
    frame = read_scores(str(tmp_path))
    assert frame["request_id"].tolist() == ["r0", "r1", "r2"]
    assert frame["amount"].tolist() == [100.0, 101.0, 102.0]


def test_one_sink_file_is_a_valid_root(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    path.write_text("".join(cf.log_line(rec(i, DAY1)) + "\n" for i in range(2)))
    assert len(read_scores(str(path))) == 2
    with pytest.raises(LakehouseError, match="no capture file at"):
        read_scores(str(tmp_path / "missing.jsonl"))


def test_an_empty_lakehouse_reads_as_an_empty_typed_frame(tmp_path: Path) -> None:
    frame = read_scores(str(tmp_path))
    assert frame.empty and list(frame.columns) == list(BASE_COLUMNS)
    assert str(frame["captured_at"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": date(2026, 12, 2), "end": date(2026, 12, 1)}, "swap the dates"),
        ({"start": "2026-12-01"}, "start must be a date"),
        ({"role": "challenger"}, "role 'challenger' is not one of champion, shadow"),
        ({"batch_rows": 0}, "batch_rows must be at least 1"),
    ],
)
def test_bad_arguments_are_refused_clearly(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_scores(str(tmp_path), **kwargs)


def test_s3_root_on_the_moto_server(s3_bucket: str, aws_env: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env)
    lines = "".join(cf.log_line(rec(i, DAY1)) + "\n" for i in range(4))
    key = "lakehouse/scores/date=2026-11-30/fraud-scores-1-2026-11-30-10-00-00-abcd"
    s3.put_object(Bucket=s3_bucket, Key=key, Body=gzip.compress(lines.encode()))
    s3.put_object(Bucket=s3_bucket, Key=key + "-2", Body=b"{broken\n")
    stats = ScanStats()
    frame = read_scores(f"s3://{s3_bucket}/lakehouse", stats=stats)
    assert frame["request_id"].tolist() == ["r0", "r1", "r2", "r3"]
    assert stats.skipped_by_file == {f"scores/date=2026-11-30/{key.rpartition('/')[2]}-2": 1}


def test_abfss_root_on_azurite(adls_root: str) -> None:
    from fraud_mlops.lakehouse import resolve_filesystem

    fs, root = resolve_filesystem(adls_root)
    folder = f"{root}/scores/date=2026-11-30/model_version=3"
    fs.create_dir(folder, recursive=True)
    with fs.open_output_stream(f"{folder}/w.jsonl") as out:
        out.write("".join(cf.log_line(rec(i, DAY1)) + "\n" for i in range(3)).encode())
    assert read_scores(adls_root)["request_id"].tolist() == ["r0", "r1", "r2"]


def test_claim_keys_are_the_stored_hmac_sha256_prefix() -> None:
    """Keys already in scores/ and outcomes/ must keep matching: HMAC-SHA256(salt, str(id)),
    its first 32 hex digits, pinned here and checked against the standard library's HMAC."""
    import hashlib
    import hmac

    salt = "a-salt-of-16-chars"
    assert cf.claim_key("C000000001", salt) == "0f5d6b8535b2dc416238e80a26b5245b"
    assert cf.claim_key(1042, salt) == cf.claim_key("1042", salt)
    for claim_id in ("C000000001", "ü-ß-🚗", "x" * 5000):
        expected = hmac.new(salt.encode(), claim_id.encode(), hashlib.sha256).hexdigest()[:32]
        assert cf.claim_key(claim_id, salt) == expected
