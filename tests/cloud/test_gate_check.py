"""``fraud-mlops gate``: a run's gate verdict from the real lakehouse and model store."""

from __future__ import annotations

import json

import pytest

from tests.support.release_world import MODEL, build_world


@pytest.fixture
def world(tmp_path):
    return build_world(tmp_path / "world")


def test_a_passed_run_exits_0_with_its_reasons(world, cli):
    code, out, err = cli(
        "gate", "--stack", "dev", "--stack-outputs", str(world.outputs_file), "--run-id", "run2"
    )
    assert code == 0, err
    assert f"run run2: model {MODEL}/{world.version('run2')}" in out
    assert "gate: PASSED" in out
    assert "pass: test PR-AUC 0.4100 >= baseline" in out
    assert "champion after the run: yes" in out


def test_a_failed_run_exits_1_and_says_why(world, cli):
    code, out, _ = cli(
        "gate", "--stack", "dev", "--stack-outputs", str(world.outputs_file), "--run-id", "run3"
    )
    assert code == 1
    assert "gate: FAILED" in out and "FAIL: test PR-AUC 0.4100 < baseline" in out
    assert "champion after the run: no" in out


def test_without_a_stack_the_environment_locates_the_run(world, cli, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_URI", world.lakehouse_uri)
    monkeypatch.setenv("MODEL_STORE_URI", world.store_uri)
    code, out, _ = cli("gate", "--run-id", "run1")
    assert code == 0 and world.version("run1") in out


def test_an_unknown_run_is_a_clear_usage_error(world, cli):
    code, out, err = cli(
        "gate", "--stack", "dev", "--stack-outputs", str(world.outputs_file), "--run-id", "nope"
    )
    assert code == 2 and out == ""
    assert "run 'nope' has no metrics" in err and "run1, run2, run3" in err
    assert "Traceback" not in err


def test_a_run_whose_version_is_missing_from_the_store_is_reported(world, cli, tmp_path):
    outputs = json.loads(world.outputs_file.read_text())
    outputs["flow_environment"]["MODEL_STORE_URI"] = str(tmp_path / "empty-store")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(outputs))
    code, _, err = cli("gate", "--stack", "dev", "--stack-outputs", str(other), "--run-id", "run2")
    assert code == 2
    assert f"{MODEL}/{world.version('run2')}, which is not in the model store" in err


def test_a_manifest_without_a_gate_record_does_not_pass():
    from fraud_mlops.cloud.gate_check import gate_of_version

    verdict = gate_of_version({"metrics": {"mlp": {"test": {"pr_auc": 0.9}}}}, MODEL, "v1")
    assert not verdict.passed and "no gate decision" in verdict.reasons[0]
    assert verdict.metrics == {"pr_auc": 0.9}


def test_stack_outputs_without_locations_are_refused(tmp_path, cli):
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"region": "eu-west-1"}))
    code, _, err = cli("gate", "--stack", "dev", "--stack-outputs", str(bare), "--run-id", "r")
    assert code == 2 and "lacks LAKEHOUSE_URI, MODEL_STORE_URI" in err
