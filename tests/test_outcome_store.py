"""Outcomes recorded once and read back (#15 item 1): idempotent on (claim key, decided_at), a
contradicting re-send refused whole, the latest decision per claim, on a folder, S3 and ADLS."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from fraud_mlops.capture_format import claim_key
from fraud_mlops.errors import ConfigError
from fraud_mlops.outcome_reader import open_store, read_outcomes
from fraud_mlops.outcome_store import OutcomeConflictError, record_outcomes
from fraud_mlops.outcomes import validate_outcomes

SALT = "test-salt-0123456789"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def batch(*rows: tuple[str, str, str]) -> list:
    return validate_outcomes(
        [{"claim_id": c, "outcome": o, "decided_at": d, "reason": f"r-{c}"} for c, o, d in rows],
        SALT,
        now=NOW,
    )


FIRST = batch(
    ("C1", "fraud", "2026-11-30T09:00:00Z"),
    ("C2", "legitimate", "2026-12-01T10:00:00+01:00"),
    ("C3", "legitimate", "2026-12-01T23:30:00-02:00"),  # 2 Dec in UTC
)


def test_layout_and_a_resent_batch_changes_nothing(tmp_path: Path) -> None:
    result = record_outcomes(str(tmp_path), FIRST, now=NOW)
    assert result.message == "recorded 3 new, 0 already recorded"
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    key = claim_key("C1", SALT)
    assert files[0] == f"outcomes/date=2026-11-30/{key}_20261130T090000.000000Z_fraud.json"
    assert [f.split("/")[1] for f in files] == [
        "date=2026-11-30",
        "date=2026-12-01",
        "date=2026-12-02",
    ]
    doc = json.loads((tmp_path / files[0]).read_text())
    assert doc == {
        "claim_key": key, "outcome": "fraud", "decided_at": "2026-11-30T09:00:00.000000Z",
        "reason": "r-C1", "recorded_at": "2026-12-02T12:00:00.000000Z",
    }  # fmt: skip
    assert "C1" not in json.dumps({k: v for k, v in doc.items() if k != "reason"})  # no raw id
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")}
    again = record_outcomes(str(tmp_path), FIRST)
    assert again.message == "recorded 0 new, 3 already recorded"
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")} == before
    more = record_outcomes(str(tmp_path), [*FIRST, *batch(("C4", "fraud", "2026-12-01T08:00Z"))])
    assert more.counts() == {"recorded": 1, "already_recorded": 3}


def test_a_contradicting_resend_is_refused_whole(tmp_path: Path) -> None:
    record_outcomes(str(tmp_path), FIRST)
    flipped = batch(
        ("C9", "fraud", "2026-12-01T08:00:00Z"),
        ("C2", "fraud", "2026-12-01T09:00:00Z"),  # was legitimate at that moment
    )
    with pytest.raises(OutcomeConflictError) as caught:
        record_outcomes(str(tmp_path), flipped, rows=[2, 3], label="line")
    assert caught.value.rows == [3]
    assert (
        "line 3: this claim's decision at 2026-12-01T09:00:00Z is already recorded as "
        "legitimate, not fraud" in str(caught.value)
    )
    assert len(list(tmp_path.rglob("*.json"))) == 3  # C9 was not written either


def test_read_back_latest_or_every_decision_within_dates(tmp_path: Path) -> None:
    record_outcomes(str(tmp_path), FIRST, now=NOW)
    later = batch(("C1", "legitimate", "2026-12-02T08:00:00Z"))  # the decision was revised
    record_outcomes(str(tmp_path), later, now=NOW)
    latest = read_outcomes(str(tmp_path))
    assert list(latest.columns) == ["claim_key", "outcome", "decided_at", "reason", "recorded_at"]
    by_key = latest.set_index("claim_key")["outcome"].to_dict()
    assert by_key == {
        claim_key("C1", SALT): "legitimate",
        claim_key("C2", SALT): "legitimate",
        claim_key("C3", SALT): "legitimate",
    }
    assert str(latest["decided_at"].dtype) == "datetime64[ns, UTC]"
    every = read_outcomes(str(tmp_path), latest=False)
    assert len(every) == 4
    window = read_outcomes(
        str(tmp_path), decided_from=date(2026, 12, 1), decided_to=date(2026, 12, 1)
    )
    assert window["claim_key"].tolist() == [claim_key("C2", SALT)]
    assert read_outcomes(str(tmp_path / "empty")).empty
    with pytest.raises(ConfigError, match="swap the dates"):
        read_outcomes(str(tmp_path), decided_from=date(2026, 12, 2), decided_to=date(2026, 12, 1))


def test_s3_on_the_moto_server(s3_bucket: str, aws_env: str) -> None:
    import boto3

    root = f"s3://{s3_bucket}/lakehouse"
    assert record_outcomes(root, FIRST).message == "recorded 3 new, 0 already recorded"
    assert record_outcomes(root, FIRST).message == "recorded 0 new, 3 already recorded"
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert len(keys) == 3 and all(k.startswith("lakehouse/outcomes/date=") for k in keys)
    assert sorted(read_outcomes(root)["reason"]) == ["r-C1", "r-C2", "r-C3"]


def test_abfss_on_azurite(adls_root: str) -> None:
    store = open_store(adls_root)
    assert record_outcomes(adls_root, FIRST, store=store).new == 3
    assert record_outcomes(adls_root, FIRST, store=store).already == 3
    assert len(read_outcomes(adls_root)) == 3


def test_the_lambda_writer_refuses_abfss_with_the_way_out() -> None:
    with pytest.raises(ConfigError, match="fraud-mlops outcomes ingest"):
        record_outcomes("abfss://c@a.dfs.core.windows.net/l", FIRST)


def test_a_day_of_other_decisions_and_staging_files_does_not_confuse_the_check(
    tmp_path: Path,
) -> None:
    """The check looks decisions up by name prefix: neighbours, staging files and a decision
    recorded twice by racing writers (same name) leave a re-send 'already recorded'."""
    from fraud_mlops.outcomes import Outcome

    when = datetime(2026, 11, 2, 9, tzinfo=UTC)
    day = [Outcome(f"{i:032x}", "legitimate", when) for i in range(300)]
    assert record_outcomes(str(tmp_path), day).new == 300
    folder = tmp_path / "outcomes" / "date=2026-11-02"
    (folder / "_staging-0123").write_text("{}")  # a writer cut short
    again = record_outcomes(str(tmp_path), day[::7])
    assert (again.new, again.already) == (0, len(day[::7]))
    flipped = Outcome(day[5].claim_key, "fraud", when)
    newcomer = Outcome(f"{999:032x}", "fraud", when)
    with pytest.raises(OutcomeConflictError, match="already recorded as legitimate, not fraud"):
        record_outcomes(str(tmp_path), [newcomer, flipped])
    assert len(list(folder.iterdir())) == 301  # refused whole: the newcomer was not written
