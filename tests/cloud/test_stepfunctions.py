"""Trigger and follow executions on a moto server that runs Step Functions state machines."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from fraud_mlops.cloud import stepfunctions as sfn
from fraud_mlops.errors import ConfigError
from tests.support.release_world import write_metrics

ROLE = "arn:aws:iam::123456789012:role/fraud-mlops-sfn"
SUCCEED = {
    "StartAt": "start",
    "States": {"start": {"Type": "Pass", "Next": "end"}, "end": {"Type": "Succeed"}},
}
FAIL = {
    "StartAt": "start",
    "States": {
        "start": {"Type": "Pass", "Next": "train"},
        "train": {"Type": "Fail", "Error": "TrainFailed", "Cause": "Batch job exited with 137"},
    },
}
SLOW = {"StartAt": "train", "States": {"train": {"Type": "Wait", "Seconds": 5, "End": True}}}


@pytest.fixture
def client(sfn_endpoint: str):
    return boto3.client("stepfunctions", endpoint_url=sfn_endpoint)


def _machine(client, definition: dict, name: str | None = None) -> str:
    name = name or f"m-{uuid.uuid4().hex[:10]}"
    return client.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def _outputs_file(tmp_path: Path, prefix: str, lakehouse: Path) -> Path:
    path = tmp_path / "outputs.json"
    config = {"METAFLOW_SFN_STATE_MACHINE_PREFIX": prefix, "METAFLOW_DEFAULT_DATASTORE": "s3"}
    path.write_text(
        json.dumps(
            {
                "metaflow_config": config,
                "flow_environment": {"LAKEHOUSE_URI": str(lakehouse)},
                "region": "us-east-1",
                "snowflake_private_key": "[secret]",
            }
        )
    )
    return path


def test_trigger_waits_for_success_and_prints_headline_metrics(client, cli, tmp_path):
    prefix = f"fraud-mlops-t{uuid.uuid4().hex[:6]}"
    _machine(client, SUCCEED, name=f"{prefix}_FraudDetectionFlow")
    _machine(client, FAIL, name="FraudDetectionFlow")  # unprefixed decoy must not be picked
    lakehouse = tmp_path / "lake"
    name = f"jenkins-{uuid.uuid4().hex[:8]}"
    write_metrics(lakehouse, f"sfn-{name}")
    outputs = _outputs_file(tmp_path, prefix, lakehouse)

    code, out, err = cli(
        "flow", "trigger", "--stack", "test", "--stack-outputs", str(outputs),
        "--execution-name", name, "--param", "trials=2", "--wait", "--timeout", "60",
        "--poll-interval", "0.2",
    )  # fmt: skip

    assert code == 0, out + err
    assert f"started execution {name}" in out
    assert "status: SUCCEEDED" in out
    assert f"run sfn-{name}" in out
    assert "became champion" in out
    # test-split MLP metrics in headline order; validation and baseline rows are not headline
    assert out.index("pr_auc") < out.index("roc_auc")
    assert "0.6100" in out and "0.9300" in out and "0.7000" not in out and "0.5500" not in out
    execution = client.describe_execution(
        executionArn=f"arn:aws:states:us-east-1:123456789012:execution:{prefix}_FraudDetectionFlow:{name}"
    )
    assert json.loads(json.loads(execution["input"])["Parameters"]) == {"trials": "2"}


def test_trigger_reports_failed_state_error_and_cause(client, cli):
    arn = _machine(client, FAIL)
    code, out, _ = cli(
        "flow", "trigger", "--state-machine-arn", arn, "--wait", "--timeout", "60",
        "--poll-interval", "0.2",
    )  # fmt: skip
    assert code == 1
    assert "status: FAILED" in out
    assert "failed state: train" in out
    assert "error: TrainFailed" in out
    assert "cause: Batch job exited with 137" in out


def test_trigger_times_out_and_can_stop_the_execution(client, cli):
    arn = _machine(client, SLOW)
    code, out, _ = cli(
        "flow", "trigger", "--state-machine-arn", arn, "--wait", "--timeout", "0.5",
        "--poll-interval", "0.1", "--stop-on-timeout",
    )  # fmt: skip
    assert code == 3
    assert "status: RUNNING: still running after the 0.5 s timeout" in out
    assert "stopped the execution" in out
    execution_arn = out.split("\n")[1].strip()
    assert client.describe_execution(executionArn=execution_arn)["status"] == "ABORTED"


def test_trigger_without_wait_starts_unique_executions(client, cli):
    arn = _machine(client, SUCCEED)
    names = set()
    for _ in range(3):
        code, out, _ = cli("flow", "trigger", "--state-machine-arn", arn)
        assert code == 0
        names.add(out.split()[2])
    assert len(names) == 3
    listed = {e["name"] for e in client.list_executions(stateMachineArn=arn)["executions"]}
    assert names <= listed


def test_wait_returns_running_at_the_deadline(client):
    arn = _machine(client, SLOW)
    execution_arn, name = sfn.start_execution(client, arn)
    polls: list[str] = []
    result = sfn.wait_for_execution(
        client, execution_arn, timeout=0.3, poll_interval=0.1, on_poll=lambda s, _: polls.append(s)
    )
    assert result.timed_out and result.status == "RUNNING" and not result.succeeded
    assert result.name == name and result.metaflow_run_id == f"sfn-{name}"
    assert len(polls) >= 2 and set(polls) == {"RUNNING"}


def test_missing_state_machine_lists_what_exists(client, cli, tmp_path):
    _machine(client, SUCCEED, name="SomethingElse")
    outputs = _outputs_file(tmp_path, f"nope-{uuid.uuid4().hex[:6]}", tmp_path / "lake")
    code, _, err = cli("flow", "trigger", "--stack", "t", "--stack-outputs", str(outputs))
    assert code == 2
    assert "_FraudDetectionFlow'" in err and "SomethingElse" in err and "flow deploy" in err
    assert "Traceback" not in err


def test_aws_errors_become_clear_messages(client, cli):
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:does-not-exist"
    code, _, err = cli("flow", "trigger", "--state-machine-arn", missing)
    assert code == 2
    assert "StartExecution failed" in err and "does-not-exist" in err


@pytest.mark.parametrize("bad", ["has space", "x" * 81, "semi;colon"])
def test_invalid_execution_names_are_refused(client, bad):
    with pytest.raises(ConfigError, match="execution name"):
        sfn.start_execution(
            client, "arn:aws:states:us-east-1:123456789012:stateMachine:x", name=bad
        )


def test_unique_execution_name_is_valid_and_sortable():
    first = sfn.unique_execution_name("jenkins build/7", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert first.startswith("jenkins-build-7-20260102T030405Z-")
    assert len(first) <= 80 and not sfn._EXEC_NAME.search(first)


def test_state_machine_name_follows_metaflow_prefix_rule():
    assert sfn.state_machine_name({}) == "FraudDetectionFlow"
    config = {"METAFLOW_SFN_STATE_MACHINE_PREFIX": "fraud-mlops-dev"}
    assert sfn.state_machine_name(config) == "fraud-mlops-dev_FraudDetectionFlow"


# --- flow deploy -------------------------------------------------------------------------


def test_deploy_runs_step_functions_create_with_the_stack_config(cli, tmp_path, monkeypatch):
    """A stand-in flow file records the argv and METAFLOW_* env it was started with."""
    record = tmp_path / "record.json"
    flow = tmp_path / "flow.py"
    flow.write_text(
        "import json, os, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], 'exe': "
        "sys.executable, 'env': {k: v for k, v in os.environ.items() "
        "if k.startswith('METAFLOW_') or k in ('USERNAME', 'LAKEHOUSE_URI')}}))\n"
    )
    monkeypatch.setenv("METAFLOW_DEFAULT_DATASTORE", "local")  # stale shell value
    monkeypatch.setenv("METAFLOW_PROFILE", "someone-elses")  # must not leak into the deploy
    outputs = tmp_path / "outputs.json"
    config = {
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": "s3://fraud-mlops-dev-metaflow/metaflow",
        "METAFLOW_SFN_STATE_MACHINE_PREFIX": "fraud-mlops-dev",
        "METAFLOW_BATCH_JOB_QUEUE": "fraud-mlops-dev-cpu",
    }
    flow_env = {"LAKEHOUSE_URI": "s3://fraud-mlops-dev-lakehouse/lakehouse"}
    outputs.write_text(json.dumps({"metaflow_config": config, "flow_environment": flow_env}))

    code, out, _ = cli(
        "flow", "deploy", "--stack", "dev", "--stack-outputs", str(outputs),
        "--flow-file", str(flow),
    )  # fmt: skip

    assert code == 0
    assert "state machine: fraud-mlops-dev_FraudDetectionFlow" in out
    seen = json.loads(record.read_text())
    assert seen["argv"] == [
        "--with",
        "retry",
        "--with",  # the stack's library settings ride along to every Batch step
        'environment:vars={"LAKEHOUSE_URI":"s3://fraud-mlops-dev-lakehouse/lakehouse"}',
        "step-functions",
        "create",
    ]
    assert seen["exe"] == sys.executable
    env = seen["env"]
    assert {
        k: v for k, v in env.items() if k.startswith("METAFLOW_") and k != "METAFLOW_USER"
    } == config
    assert env["LAKEHOUSE_URI"] == flow_env["LAKEHOUSE_URI"]
    assert env["METAFLOW_USER"] == env["USERNAME"] == "tester"


def test_deploy_dry_run_runs_nothing_and_failure_exits_1(cli, tmp_path):
    flow = tmp_path / "flow.py"
    flow.write_text("import sys\nsys.exit(4)\n")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"metaflowConfig": {"METAFLOW_DEFAULT_DATASTORE": "s3"}}))
    args = (
        "flow",
        "deploy",
        "--stack",
        "dev",
        "--stack-outputs",
        str(outputs),
        "--flow-file",
        str(flow),
    )
    code, out, _ = cli(*args, "--dry-run", "--only-json")
    assert code == 0 and "step-functions create --only-json" in out
    code, _, err = cli(*args)
    assert code == 1 and "exited with status 4" in err


def test_deploy_environment_refuses_non_metaflow_keys():
    with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY"):
        sfn.deploy_environment({"AWS_SECRET_ACCESS_KEY": "x"}, {"USERNAME": "me"})
    with pytest.raises(ConfigError, match="USERNAME"):
        sfn.deploy_environment({}, {})


def test_deploy_needs_metaflow_config_in_the_outputs(cli, tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"lakehouse_uri": "s3://x"}))
    code, _, err = cli("flow", "deploy", "--stack", "dev", "--stack-outputs", str(outputs))
    assert code == 2 and "no output 'metaflow_config'" in err and "pulumi up" in err


def test_deploy_monitoring_flow_names_its_state_machine_and_the_training_one(cli, tmp_path):
    outputs = tmp_path / "outputs.json"
    config = {"METAFLOW_SFN_STATE_MACHINE_PREFIX": "fraud-mlops-dev"}
    outputs.write_text(json.dumps({"metaflow_config": config, "flow_environment": {}}))
    code, out, err = cli(
        "flow", "deploy", "--stack", "dev", "--stack-outputs", str(outputs),
        "--flow", "monitoring", "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    assert "state machine: fraud-mlops-dev_MonitoringFlow" in out
    assert "flows/monitoring_flow.py" in out
    assert (
        '"FRAUD_MLOPS_TRAINING_STATE_MACHINE":"fraud-mlops-dev_FraudDetectionFlow"' in out
    )  # a retrain on alert starts this one


def test_trigger_flow_monitoring_starts_the_monitoring_state_machine(client, cli, tmp_path):
    prefix = f"p{uuid.uuid4().hex[:6]}"
    monitoring = _machine(client, SUCCEED, name=f"{prefix}_MonitoringFlow")
    training = _machine(client, SUCCEED, name=f"{prefix}_FraudDetectionFlow")
    outputs = _outputs_file(tmp_path, prefix, tmp_path / "lake")
    code, out, err = cli(
        "flow", "trigger", "--stack", "dev", "--stack-outputs", str(outputs),
        "--flow", "monitoring", "--param", "retrain-on-alert=True",
    )  # fmt: skip
    assert code == 0, err
    (execution,) = client.list_executions(stateMachineArn=monitoring)["executions"]
    assert execution["executionArn"] in out
    described = client.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(json.loads(described["input"])["Parameters"]) == {"retrain-on-alert": "True"}
    assert client.list_executions(stateMachineArn=training)["executions"] == []
