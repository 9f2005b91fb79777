"""The training flow on Metaflow's real local runtime, in subprocesses, on tiny data.

Each run gets its own datastore, FRAUD_MLOPS_HOME (lakehouse + model store) and user name; the
Client API is queried from a subprocess too, because Metaflow reads its datastore root at import.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.training_flow import REPO, TINY, read_run, run_flow

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict]:
    """A full run in which one trial fails once (test hook) and @retry recovers it."""
    root = tmp_path_factory.mktemp("flow")
    marker = root / "fail-once"
    proc, run_id = run_flow(root, "run", *TINY, FRAUD_MLOPS_FAIL_ONCE_MARKER=str(marker))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert marker.exists()
    info = read_run(root, run_id)
    info["output"] = proc.stdout + proc.stderr
    return root, run_id, info


def test_full_run_publishes_a_champion_and_writes_the_lakehouse(first_run):
    root, run_id, info = first_run
    assert info["successful"]
    summary = info["summary"]
    assert summary["promoted"] and summary["gate"]["passed"]
    assert summary["sizes"] == {"train": 2100, "validation": 450, "test": 450}
    # "mlp" is the published candidate (legacy key), "baseline" the run's best GBDT
    assert set(summary["test_metrics"]) == {"mlp", "baseline"}  # no champion before this run
    assert 0 < summary["test_metrics"]["mlp"]["pr_auc"] <= 1
    # every family was a candidate, with test intervals; the choice says how it was made
    assert set(summary["families"]) == {"mlp", "tabm", "gbdt", "blend"}
    for entry in summary["families"].values():
        pr = entry["intervals"]["pr_auc"]
        assert pr["low"] <= pr["value"] <= pr["high"] and entry["intervals"]["n_resamples"] >= 1000
    selection = summary["selection"]
    assert selection["method"] == "time-series cross-validation"  # 16 test frauds < 100
    assert any("test split holds only" in w for w in selection["warnings"])
    chosen = [c for c in selection["candidates"] if c["chosen"]]
    assert [c["candidate"] for c in chosen] == [summary["candidate"]]
    assert summary["family"] == summary["families"][summary["candidate"]]["family"]
    assert summary["threshold_rule"] in ("cost", "budget")
    assert (
        info["summary_text"].count("95 %") >= 1 and "chosen by time-series" in info["summary_text"]
    )

    from fraud_mlops.lakehouse import DRIFT, METRICS, PREDICTIONS, SCORING_SUMMARY, Lakehouse
    from fraud_mlops.store import ModelStore

    home = root / "home"
    store = ModelStore(str(home / "models"))
    champion = store.champion("claims-fraud")
    assert champion is not None and champion["version"] == summary["version"]
    assert champion["metrics"]["family"] == summary["family"]
    assert champion["metrics"]["intervals"]["pr_auc"]["high"] <= 1
    manifest = json.loads(
        (home / "models" / "claims-fraud" / summary["version"] / "manifest.json").read_text()
    )
    assert manifest["family"] == summary["family"]
    assert manifest["selection"]["candidate"] == summary["candidate"]
    lake = Lakehouse(str(home / "lakehouse"))
    predictions = lake.read(PREDICTIONS, run_id).to_pandas()
    assert len(predictions) == 3000 and set(predictions["split"]) == {"train", "validation", "test"}
    assert (predictions["model_version"] == summary["version"]).all()
    metrics = lake.read(METRICS, run_id).to_pandas()
    mlp_test = metrics[(metrics.model_kind == "mlp") & (metrics.split == "test")]
    pr_auc = mlp_test.loc[mlp_test.metric == "pr_auc", "value"].item()
    assert pr_auc == pytest.approx(summary["test_metrics"]["mlp"]["pr_auc"])
    assert mlp_test["is_champion"].all()
    assert lake.read(SCORING_SUMMARY, run_id).num_rows > 2
    assert lake.read(DRIFT, run_id).num_rows == 15  # one row per schema feature
    assert lake.read("raw/claims", run_id).num_rows == 3000


def test_every_run_prints_its_summary_at_the_end(first_run):
    from fraud_mlops.reports import run_summary

    _, run_id, info = first_run
    # Metaflow prefixes each line of a task's output with its pathspec and strips indentation.
    printed = {
        line.split("] ", 1)[-1].strip()
        for line in info["output"].splitlines()
        if f"[{run_id}/end/" in line
    }
    expected = [line.strip() for line in run_summary(info["summary"]).splitlines() if line.strip()]
    assert [line for line in expected if line not in printed] == []
    assert any(line.startswith("Champion decision: PROMOTED") for line in expected)


def test_a_trial_that_fails_once_succeeds_on_retry(first_run):
    _, _, info = first_run
    assert len(info["trial_attempts"]) == 3  # one trial per family
    assert max(info["trial_attempts"]) >= 1  # at least one trial needed a second attempt
    assert sorted(t["family"] for t in info["trials"]) == ["gbdt", "mlp", "tabm"]


@pytest.fixture(scope="module")
def resumed_run(first_run) -> tuple[str, subprocess.CompletedProcess, str, dict]:
    """A second run on the same seed and store, failed late (test hook), then resumed.

    Shared by the resume test and the same-seed test: the resumed run is the second run of the
    first run's store, so its evaluation re-scores the first run's champion.
    """
    root = first_run[0]
    failed, failed_id = run_flow(root, "run", *TINY, FRAUD_MLOPS_FAIL_AT_STEP="publish")
    resumed, resumed_id = run_flow(root, "resume", "--origin-run-id", failed_id)
    return failed_id, failed, resumed_id, {"proc": resumed, **read_run(root, resumed_id)}


def test_same_seed_same_metrics_and_the_gate_compares_with_the_champion(first_run, resumed_run):
    _, _, info = first_run
    _, _, _, second = resumed_run
    assert second["proc"].returncode == 0, second["proc"].stderr[-3000:]
    again = second["summary"]
    first = info["summary"]["test_metrics"]
    assert again["test_metrics"]["mlp"] == first["mlp"]
    assert again["test_metrics"]["baseline"] == first["baseline"]
    # The first run's model is now the champion, re-scored on the same test claims: identical.
    champion = again["test_metrics"]["champion"]
    assert champion["pr_auc"] == pytest.approx(first["mlp"]["pr_auc"], abs=1e-9)
    assert "champion" in again["gate"]["reasons"][0]


def test_a_late_failure_resumes_reusing_finished_trials(resumed_run):
    failed_id, proc, _, info = resumed_run
    assert proc.returncode != 0
    assert "injected failure at step 'publish'" in proc.stdout + proc.stderr
    proc = info["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert info["successful"] and info["summary"]["promoted"]
    assert info["trial_origin_runs"] == [failed_id] * 3  # cloned, not retrained
    # The resumed run writes to the original run's lakehouse partition (one logical run).
    assert info["summary"]["run_id"] == failed_id


BAD_FAMILY = str(REPO / "tests" / "flows" / "bad_family.yaml")


@pytest.mark.parametrize(
    ("args", "messages"),
    [
        (  # every bad parameter reported by one run, not just the first
            ["--trials", "0", "--alert-budget", "1.5", "--search-config", BAD_FAMILY],
            [
                "3 flow parameters are invalid",
                "--trials 0 is out of range",
                "alert budget must be a share between 0 and 1",
                "unknown family 'resnet'",
            ],
        ),
        (["--schema", "fraud_oracle"], ["pass --input-uri"]),
    ],
)
def test_bad_parameters_fail_fast_with_the_fix(tmp_path, args, messages):
    proc, _ = run_flow(tmp_path, "run", "--sample-size", "1000", *args)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    for message in messages:
        assert message in output
    assert "Traceback" not in output  # a user mistake, not a crash
    assert "train_trial" not in output  # failed in start, before any training


@pytest.mark.parametrize(
    ("rows", "change", "message"),
    [
        (600, lambda f: f.drop(columns=["severity"]), "column 'severity': missing from the input"),
        (3000, lambda f: f.assign(is_fraud=0), "label 'is_fraud' has one class only"),
    ],
)
def test_invalid_input_data_is_refused_in_start_and_leaves_no_partition(
    tmp_path, rows, change, message
):
    from fraud_mlops.synthetic import generate_claims

    broken = tmp_path / "claims.csv"
    change(generate_claims(rows, seed=1)).to_csv(broken, index=False)
    proc, run_id = run_flow(tmp_path, "run", "--input-uri", str(broken), "--schema", "synthetic")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert message in output
    assert "Traceback" not in output
    assert "prepare" not in output  # refused in start, before anything was written
    assert run_id and not (tmp_path / "home" / "lakehouse" / "raw" / "claims").exists()


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
