"""The training flow on real-shaped data: the public fraud_oracle claims and an insurer export."""

from __future__ import annotations

import pytest

from tests.support.training_flow import REPO, read_run, run_flow

pytestmark = pytest.mark.slow


def test_trains_on_fraud_oracle_with_its_schema_file(tmp_path, fraud_oracle_path):
    schema = REPO / "src" / "fraud_mlops" / "schemas" / "fraud_oracle.yaml"
    proc, run_id = run_flow(
        tmp_path,
        "run",
        "--input-uri",
        str(fraud_oracle_path),
        "--schema",
        str(schema),
        "--trials",
        "1",
        "--max-epochs",
        "3",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = read_run(tmp_path, run_id)["summary"]
    assert summary["rows"] == 15420
    fraud_rate = 923 / 15420
    for name, entry in summary["families"].items():
        assert entry["test_pr_auc"] > fraud_rate, name  # every family learns on real claims
    assert summary["selection"]["method"] == "validation"  # ~180 test frauds: enough to judge


def test_trains_on_an_insurer_export_with_dates_and_question_marks(tmp_path):
    """Day-first dates, '?' tokens, a Y/N label, ';' and decimal commas, a derived feature."""
    from fraud_mlops.cli import main
    from fraud_mlops.lakehouse import DRIFT, Lakehouse

    export = tmp_path / "insurer_export.csv"
    assert main(["generate", "--rows", "3000", "--format", "export", "--out", str(export)]) == 0
    proc, run_id = run_flow(
        tmp_path,
        "run",
        "--input-uri",
        str(export),
        "--schema",
        "insurer_export",
        "--trials",
        "1",
        "--max-epochs",
        "2",
        "--baseline-margin",
        "1",
        MODEL_NAME="insurer-export",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = read_run(tmp_path, run_id)["summary"]
    assert summary["rows"] == 3000 and summary["promoted"]
    assert summary["data_warnings"][0].startswith("the test split holds")
    drift = Lakehouse(str(tmp_path / "home" / "lakehouse")).read(DRIFT, run_id).to_pandas()
    assert "policy_tenure_days" in set(drift["feature"])
