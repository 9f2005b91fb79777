"""``fraud-mlops scores`` and ``fraud-mlops outcomes ingest`` (#14 item 4, #15 item 1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from fraud_mlops import capture_format as cf
from fraud_mlops.outcome_reader import read_outcomes

SALT = "test-salt-0123456789"
DAY = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _rec(i: int, when: datetime, version: str = "3", role: str = "champion") -> dict:
    return cf.record(
        claim_key=cf.claim_key(f"C{i}", SALT), model_name="fraud", model_version=version,
        role=role, score=(i % 10) / 10 + 0.05, flagged=i % 10 >= 7, threshold=0.7,
        reasons=[{"feature": "amount", "contribution": 0.1}],
        features={"amount": float(i)}, request_id=f"r{i}", captured_at=when,
    )  # fmt: skip


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """20 champion scores on 30 Nov, 10 more and 5 shadow on 1 Dec, one broken line."""
    root = tmp_path / "lake"
    monkeypatch.setenv("LAKEHOUSE_URI", str(root))
    groups = [
        ([_rec(i, DAY) for i in range(20)], "a"),
        ([_rec(i, DAY + timedelta(days=1)) for i in range(20, 30)], "b"),
        ([_rec(i, DAY + timedelta(days=1), "4", "shadow") for i in range(30, 35)], "c"),
    ]
    for records, name in groups:
        first = records[0]
        path = root / cf.partition(first["captured_at"], first["model_version"]) / f"{name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(cf.log_line(r) + "\n" for r in records))
    with (root / "scores/date=2026-11-30/model_version=3/a.jsonl").open("a") as f:
        f.write('FRAUD_MLOPS_CAPTURE {"capture": "fraud-mlops/score/v1", "cut\n')
    return root


def test_scores_table_with_a_window_and_the_skipped_line_reported(lake, cli) -> None:
    code, out, err = cli("scores", "--from", "2026-11-30", "--to", "2026-11-30", "--limit", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "captured_at",
        "model_version",
        "role",
        "claim_key",
        "score",
        "flagged",
    ]
    assert len(lines) == 5 and lines[2].startswith("2026-11-30T10:00:00Z  3")
    assert "skipped 1 malformed line(s)" in err
    assert "scores/date=2026-11-30/model_version=3/a.jsonl line 21: not valid JSON" in err


def test_scores_summary_counts_per_day_version_and_role(lake, cli) -> None:
    code, out, err = cli("scores", "--summary", "--format", "jsonl")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["date"], r["model_version"], r["role"], r["scores"]) for r in rows] == [
        ("2026-11-30", "3", "champion", 20),
        ("2026-12-01", "3", "champion", 10),
        ("2026-12-01", "4", "shadow", 5),
    ]
    assert rows[0]["flagged"] == 6 and rows[0]["flag_rate"] == pytest.approx(0.3)
    # scores are 0.05, 0.15, ... 0.95, twice each: the median bin holds 0.45
    assert rows[0]["score_p50"] == pytest.approx(0.45, abs=1e-4)
    assert rows[0]["score_p99"] == pytest.approx(0.95, abs=1e-4)
    code, out, _ = cli("scores", "--summary", "--role", "shadow")
    assert code == 0 and "shadow" in out and "champion" not in out and "50.00%" not in out


def test_scores_csv_and_jsonl_carry_every_column(lake, cli) -> None:
    code, out, _ = cli("scores", "--format", "csv", "--model-version", "4")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("captured_at,request_id,claim_key") and lines[0].endswith("amount")
    assert len(lines) == 6 and lines[1].startswith("2026-12-01T10:00:00.000000Z,r30,")
    code, out, _ = cli("scores", "--format", "jsonl", "--role", "shadow", "--limit", "2")
    first, *rest = [json.loads(line) for line in out.splitlines()]
    assert len(rest) == 1 and first["reasons"] == [{"feature": "amount", "contribution": 0.1}]
    assert first["amount"] == 30.0 and first["captured_at"] == "2026-12-01T10:00:00.000000Z"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scores", "--from", "01/12/2026"], "is not an ISO date: write YYYY-MM-DD"),
        (["scores", "--from", "2026-13-01"], "is not a calendar date"),
        (["scores", "--from", "2026-12-02", "--to", "2026-12-01"], "swap the dates"),
        (["scores", "--summary", "--limit", "5"], "drop --limit"),
        (["scores", "--role", "challenger"], "invalid choice"),
        (["outcomes", "ingest", "--input", "x.csv", "--outcome-map", "fraud"], "OUTCOME=CODE"),
        (["outcomes", "ingest", "--input", "x.csv", "--outcome-map", "fraud=Y,legitimate=Y"],
         "mapped to both outcomes"),
    ],
)  # fmt: skip
def test_bad_flags_are_refused_clearly(lake, capsys, argv, message, exit_code) -> None:
    assert exit_code(argv) == 2
    assert message in capsys.readouterr().err


def test_an_empty_window_says_so(lake, cli) -> None:
    code, out, err = cli("scores", "--from", "2027-01-01")
    assert code == 0 and "(no scores)" in out and "no captured scores matched" in err


# -- outcomes ingest ---------------------------------------------------------------------------
@pytest.fixture
def salted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("CAPTURE_KEY_SALT", SALT)
    root = tmp_path / "lake"
    monkeypatch.setenv("LAKEHOUSE_URI", str(root))
    return root


def test_ingest_a_csv_export_twice(salted: Path, tmp_path: Path, cli) -> None:
    export = tmp_path / "cases.csv"
    export.write_text(
        "claim_id,outcome,decided_at,reason,investigator\n"
        "C1,Y,2026-11-30T09:00:00Z,staged,ann\n"
        "00042,N,2026-12-01T10:00:00+01:00,,bob\n"
    )
    argv = ("outcomes", "ingest", "--input", str(export), "--outcome-map", "fraud=Y,legitimate=N")
    code, out, err = cli(*argv)
    assert code == 0, err
    assert "2 outcome(s) valid (1 fraud, 1 legitimate): recorded 2 new, 0 already recorded" in out
    assert "ignored column(s): investigator" in err
    code, out, _ = cli(*argv)
    assert "recorded 0 new, 2 already recorded" in out
    frame = read_outcomes(str(salted)).set_index("claim_key")
    assert frame.loc[cf.claim_key("00042", SALT), "outcome"] == "legitimate"  # id kept as text
    assert frame.loc[cf.claim_key("00042", SALT), "reason"] is None
    assert frame.loc[cf.claim_key("C1", SALT), "reason"] == "staged"


def test_ingest_refuses_the_whole_file_with_every_problem_by_line(salted, tmp_path, cli) -> None:
    export = tmp_path / "cases.csv"
    export.write_text(
        "claim_id,outcome,decided_at\n"
        "C1,fraud,2026-11-30T09:00:00Z\n"
        "C2,fraud,2026-11-30 09:00\n"
        ",legitimate,2026-11-30T09:00:00Z\n"
        "C4,unknown,2026-11-30T09:00:00Z\n"
    )
    code, out, err = cli("outcomes", "ingest", "--input", str(export))
    assert code == 2 and out == ""
    assert "3 problem(s) found, nothing was written" in err
    assert "line 3: decided_at: '2026-11-30 09:00' has no UTC offset" in err
    assert "line 4: claim_id: is missing" in err
    assert "line 5: outcome: 'unknown' is not fraud or legitimate" in err
    assert not salted.exists()


def test_ingest_parquet_with_typed_columns_and_check_only(salted, tmp_path, cli) -> None:
    export = tmp_path / "cases.parquet"
    pd.DataFrame(
        {
            "claim_id": ["C1", "C2"],
            "outcome": ["fraud", "legitimate"],
            "decided_at": pd.to_datetime(["2026-11-30T09:00Z", "2026-12-01T09:00Z"], utc=True),
        }
    ).to_parquet(export)
    code, out, _ = cli("outcomes", "ingest", "--input", str(export), "--check")
    assert code == 0 and "--check: nothing recorded" in out and not salted.exists()
    code, out, _ = cli("outcomes", "ingest", "--input", str(export))
    assert code == 0 and "recorded 2 new" in out


def test_ingest_needs_the_salt_and_the_columns(tmp_path, monkeypatch, cli) -> None:
    export = tmp_path / "cases.csv"
    export.write_text("id,result,when\nC1,fraud,2026-11-30T09:00:00Z\n")
    monkeypatch.delenv("CAPTURE_KEY_SALT", raising=False)
    code, _, err = cli("outcomes", "ingest", "--input", str(export))
    assert code == 2 and "CAPTURE_KEY_SALT is unset" in err
    monkeypatch.setenv("CAPTURE_KEY_SALT", SALT)
    code, _, err = cli("outcomes", "ingest", "--input", str(export))
    assert code == 2 and "no column(s) claim_id, outcome, decided_at" in err
