"""The warehouse commands, run through the real CLI entry point on the embedded store."""

from __future__ import annotations

import subprocess
import sys

from fraud_mlops.cli import main
from fraud_mlops.warehouse import specs


def test_sync_metrics_reports_counts_then_nothing_to_do(run_outputs, capsys) -> None:
    assert main(["sync-metrics"]) == 0  # defaults to the latest run
    first = capsys.readouterr()
    assert f"latest run with metrics: {run_outputs}" in first.err
    assert "MODEL_METRICS" in first.out and "18 inserted" in first.out
    assert main(["sync-metrics", "--run-id", run_outputs]) == 0
    second = capsys.readouterr().out
    assert "total: 0 inserted, 0 updated, 0 deleted (already up to date)" in second


def test_query_prints_the_rows(run_outputs, capsys) -> None:
    main(["sync-metrics", "--run-id", run_outputs])
    capsys.readouterr()
    sql = (
        "SELECT RUN_ID, CANDIDATE_FAMILY, CANDIDATE_TEST_PR_AUC, CHAMPION_TEST_PR_AUC, PROMOTED,"
        " MAX_PSI FROM RUN_OVERVIEW"
    )
    assert main(["warehouse", "query", sql]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "RUN_ID",
        "CANDIDATE_FAMILY",
        "CANDIDATE_TEST_PR_AUC",
        "CHAMPION_TEST_PR_AUC",
        "PROMOTED",
        "MAX_PSI",
    ]
    assert lines[2].split() == [run_outputs, "blend", "0.61", "0.5795", "True", "0.23"]
    assert lines[-1] == "(1 row)"


def test_query_as_csv(run_outputs, capsys) -> None:
    main(["sync-metrics", "--run-id", run_outputs])
    capsys.readouterr()
    sql = "SELECT FEATURE, KS FROM FEATURE_DRIFT ORDER BY FEATURE"
    assert main(["warehouse", "query", sql, "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "FEATURE,KS" and len(out) == 6
    assert any(line.endswith(",") for line in out[1:])  # NULL KS prints empty


def test_bad_sql_is_a_clear_error_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fraud_mlops.cli", "warehouse", "query", "SELEC * FROM nowhere"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: warehouse statement failed")
    assert "SELEC * FROM nowhere" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sync_with_no_runs_exits_2(capsys) -> None:
    assert main(["sync-metrics"]) == 2
    assert "has no runs yet" in capsys.readouterr().err


def test_ddl_prints_every_table_and_view(capsys) -> None:
    assert main(["warehouse", "ddl", "--database", "prod"]) == 0
    out = capsys.readouterr().out
    for obj in (*specs.TABLES, *specs.VIEWS):
        assert f"PROD.FRAUD_MLOPS.{obj.name}" in out
