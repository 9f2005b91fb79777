"""The flow's start stage without Metaflow: claims loaded, refused early, or recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_mlops.errors import DataValidationError
from fraud_mlops.lakehouse import RAW_CLAIMS, Lakehouse
from fraud_mlops.pipeline import load_run_claims
from fraud_mlops.reports import run_summary
from fraud_mlops.settings import Settings
from fraud_mlops.synthetic import generate_claims, insurer_export, write_insurer_export


def _lake() -> Lakehouse:
    return Lakehouse(Settings.from_env().lakehouse_uri)


def test_one_class_claims_are_refused_before_the_partition_is_written(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    generate_claims(3000, seed=1).assign(is_fraud=0).to_csv(path, index=False)
    with pytest.raises(DataValidationError) as err:
        load_run_claims(str(path), "synthetic", 0, 1, "run-1", settings=Settings.from_env())
    assert "label 'is_fraud' has one class only" in str(err.value)
    assert _lake().runs(RAW_CLAIMS) == []


def test_an_export_is_recorded_with_its_data_warnings(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    export = insurer_export(generate_claims(3000, seed=2), seed=2).assign(adjuster_notes="x")
    write_insurer_export(export, str(path))
    loaded = load_run_claims(
        str(path), "insurer_export", 0, 2, "run-2", settings=Settings.from_env()
    )
    assert _lake().runs(RAW_CLAIMS) == ["run-2"] and loaded.raw_uri.endswith("part-0.parquet")
    assert loaded.schema_dict["name"] == "insurer_export"
    assert loaded.frame["policy_tenure_days"].notna().all()
    assert loaded.warnings[0].endswith("not in the schema and were left out: adjuster_notes")
    assert loaded.warnings[1].startswith("the test split holds ")


def test_the_run_summary_lists_data_warnings() -> None:
    metrics = {"pr_auc": 0.2, "roc_auc": 0.7}
    info = {
        "flow": "FraudDetectionFlow",
        "run_id": "7",
        "rows": 3000,
        "sizes": {"train": 2100, "validation": 450, "test": 450},
        "trials": 1,
        "test_metrics": {"mlp": metrics, "baseline": metrics},
        "gate": {"reasons": ["first model"]},
        "promoted": True,
        "model_name": "m",
        "version": "v",
        "artifact_uri": "a",
        "lakehouse_uri": "l",
        "datasets": ["metrics"],
        "data_warnings": ["the test split holds 12 frauds in 450 claims: ..."],
    }
    text = run_summary(info)
    assert text.endswith("Data warnings:\n  - the test split holds 12 frauds in 450 claims: ...")
    assert "Data warnings" not in run_summary({**info, "data_warnings": []})
