"""The flow fits the infrastructure: Metaflow compiles the real flow against the stack's outputs.

The dev stack is built under Pulumi's mock runtime; its ``metaflow_config`` output becomes the
environment of Metaflow's own ``step-functions create``. The resources those settings name are
created in a moto server on 127.0.0.1 (bucket, managed compute environment, job queue, roles,
DynamoDB table), because ``--only-json`` still uploads the code package to the datastore and
registers a Batch job definition. Then the compiled state machine is checked against the stack.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_mlops.cloud.stepfunctions import deploy_command
from tools.pulumi_mocks import MockRun

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "flows" / "fraud_detection_flow.py"
# Metaflow hangs retrying when S3 is unreachable: never wait forever.
COMPILE_TIMEOUT_S = 300

pytestmark = pytest.mark.slow


def _role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def create_stack_resources(run: MockRun, endpoint: str) -> None:
    """Create in moto what the stack's Metaflow settings name, shaped like the stack declares."""
    import boto3

    mf = run.outputs["metaflow_config"]
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=run.outputs["datastore_bucket"])
    iam = boto3.client("iam", endpoint_url=endpoint)
    for key in (
        "METAFLOW_ECS_S3_ACCESS_IAM_ROLE",
        "METAFLOW_ECS_FARGATE_EXECUTION_ROLE",
        "METAFLOW_SFN_IAM_ROLE",
        "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE",
    ):
        iam.create_role(RoleName=_role_name(mf[key]), AssumeRolePolicyDocument="{}")
    # moto insists on a Batch service role; real AWS uses the service-linked role by default.
    service_role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")
    iam.create_role(RoleName="instance", AssumeRolePolicyDocument="{}")
    profile = iam.create_instance_profile(InstanceProfileName="instance")["InstanceProfile"]

    ec2 = boto3.client("ec2", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]

    batch = boto3.client("batch", endpoint_url=endpoint)
    declared = run.one(
        "aws:batch/computeEnvironment:ComputeEnvironment", "fraud-mlops-dev-ondemand"
    ).inputs["computeResources"]
    ce = batch.create_compute_environment(
        computeEnvironmentName="fraud-mlops-dev-ondemand",
        type="MANAGED",
        serviceRole=service_role["Role"]["Arn"],
        computeResources={
            "type": declared["type"],
            "minvCpus": int(declared["minVcpus"]),
            "maxvCpus": int(declared["maxVcpus"]),
            "instanceTypes": list(declared["instanceTypes"]),
            "subnets": [subnet],
            "securityGroupIds": [sg],
            "instanceRole": profile["Arn"],
        },
    )["computeEnvironmentArn"]
    for queue in (mf["METAFLOW_BATCH_JOB_QUEUE"], run.outputs["job_queues"]["search"]):
        batch.create_job_queue(
            jobQueueName=queue,
            state="ENABLED",
            priority=10,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
        )
    boto3.client("dynamodb", endpoint_url=endpoint).create_table(
        TableName=mf["METAFLOW_SFN_DYNAMO_DB_TABLE"],
        KeySchema=[{"AttributeName": "pathspec", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pathspec", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def step_functions(
    args: list[str],
    mf: dict,
    endpoint: str,
    home: Path,
    options: list[str] = (),
    flow_env: dict | None = None,
    flow: Path = FLOW,
) -> str:
    """Run the flow's ``step-functions`` command with ONLY the stack's Metaflow settings (and,
    like ``fraud-mlops flow deploy``, the stack's flow environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAFLOW_")}
    env.update(flow_env or {})
    env.update(mf)
    env.update(
        USERNAME="tester",
        METAFLOW_HOME=str(home),  # empty: no user profile can leak in
        METAFLOW_S3_ENDPOINT_URL=endpoint,
        AWS_ENDPOINT_URL=endpoint,
    )
    done = subprocess.run(
        [sys.executable, str(flow), "--no-pylint", *options, "step-functions", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=COMPILE_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def _states(definition: dict) -> dict[str, dict]:
    """Every state, including those nested in Map iterators, by name."""
    found = {}
    for name, state in definition["States"].items():
        found[name] = state
        inner = state.get("Iterator") or state.get("ItemProcessor")
        if inner:
            found.update(_states(inner))
    return found


@pytest.fixture(scope="module")
def moto_aws(moto_server: str):
    """Like the ``aws_env`` fixture, for the whole module: one stack, compiled once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", moto_server)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_REGION", "us-east-1")
        mp.delenv("AWS_PROFILE", raising=False)
        yield moto_server


@pytest.fixture(scope="module")
def compiled(build, moto_aws, tmp_path_factory):
    run = build("dev", awsRegion="us-east-1")
    create_stack_resources(run, moto_aws)
    home = tmp_path_factory.mktemp("mfhome")
    # The same decorator options `fraud-mlops flow deploy` compiles with (retry, the stack's
    # library settings for every step).
    deploy = deploy_command(FLOW, step_environment=run.outputs["flow_environment"])
    options = deploy[2 : deploy.index("step-functions")]
    out = step_functions(
        ["create", "--only-json"],
        run.outputs["metaflow_config"],
        moto_aws,
        home,
        options,
        flow_env=run.outputs["flow_environment"],
    )
    return run, json.loads(out), home


def test_every_batch_step_gets_the_stack_library_settings(compiled):
    """LAKEHOUSE_URI & co. are compiled into each Batch job, not left to the container defaults."""
    run, definition, _ = compiled
    expected = run.outputs["flow_environment"]
    assert expected["LAKEHOUSE_URI"].startswith("s3://")
    batch_states = [
        s
        for s in _states(definition).values()
        if s.get("Resource", "").startswith("arn:aws:states:::batch")
    ]
    assert batch_states
    for state in batch_states:
        overrides = state["Parameters"]["ContainerOverrides"]["Environment"]
        env = {e["Name"]: e.get("Value") for e in overrides}  # some are "Value.$" (JSONPath)
        for name in ("LAKEHOUSE_URI", "MODEL_STORE_URI", "MODEL_NAME"):
            assert env.get(name) == expected[name], (name, state["Parameters"]["JobName"])


def test_flow_compiles_onto_the_stack_queue_roles_and_image(compiled, moto_aws):
    import boto3

    run, definition, _ = compiled
    mf = run.outputs["metaflow_config"]
    states = _states(definition)
    batch_states = {
        n: s
        for n, s in states.items()
        if s.get("Resource", "").startswith("arn:aws:states:::batch")
    }
    assert set(batch_states) >= {"start", "train_trial", "end"}
    job_definitions = set()
    for name, state in batch_states.items():
        assert state["Resource"] == "arn:aws:states:::batch:submitJob.sync", name
        params = state["Parameters"]
        # Search trials go to the Spot-first search queue; every other step to the default one.
        queue = (
            run.outputs["job_queues"]["search"]
            if name == "train_trial"
            else mf["METAFLOW_BATCH_JOB_QUEUE"]
        )
        assert params["JobQueue"] == queue, name
        command = " ".join(params["ContainerOverrides"]["Command"])
        if name != "train_trial":  # its @batch is in the flow: role and image, see below
            assert f"iam_role={mf['METAFLOW_ECS_S3_ACCESS_IAM_ROLE']}" in command, name
            assert f"image={mf['METAFLOW_BATCH_CONTAINER_IMAGE']}" in command, name
        assert f"--datastore-root={mf['METAFLOW_DATASTORE_SYSROOT_S3']}" in command, name
        job_definitions.add(params["JobDefinition"])

    # The job definition Metaflow registered carries the stack's job role and image ...
    batch = boto3.client("batch", endpoint_url=moto_aws)
    registered = batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    by_arn = {d["jobDefinitionArn"]: d for d in registered}
    for arn in job_definitions:
        props = by_arn[arn]["containerProperties"]
        assert props["jobRoleArn"] == mf["METAFLOW_ECS_S3_ACCESS_IAM_ROLE"]
        assert props["image"] == mf["METAFLOW_BATCH_CONTAINER_IMAGE"]
        # ... and the stack's Step Functions role is allowed to submit it to this queue.
        sfn_policy = json.loads(
            run.one("aws:iam/rolePolicy:RolePolicy", "fraud-mlops-dev-sfn").inputs["policy"]
        )
        (submit,) = [s for s in sfn_policy["Statement"] if "batch:SubmitJob" in s["Action"]]
        assert any(fnmatch.fnmatch(arn.rsplit(":", 1)[0], r) for r in submit["Resource"])
        queue_arn = (
            f"arn:aws:batch:us-east-1:123456789012:job-queue/{mf['METAFLOW_BATCH_JOB_QUEUE']}"
        )
        assert queue_arn in submit["Resource"]


def test_search_fans_out_through_a_map_reading_cardinality_from_the_table(compiled):
    run, definition, _ = compiled
    mf = run.outputs["metaflow_config"]
    top = definition["States"]
    maps = {n: s for n, s in top.items() if s["Type"] == "Map"}
    assert len(maps) == 1, "exactly one foreach: the hyperparameter search"
    (map_name, map_state) = next(iter(maps.items()))
    inner = (map_state.get("Iterator") or map_state.get("ItemProcessor"))["States"]
    assert "train_trial" in inner
    assert inner["train_trial"]["Parameters"]["JobQueue"] == run.outputs["job_queues"]["search"]
    # The state before the Map reads the foreach cardinality from the stack's DynamoDB table.
    readers = [
        s
        for s in top.values()
        if s.get("Resource") == "arn:aws:states:::dynamodb:getItem" and s.get("Next") == map_name
    ]
    assert len(readers) == 1
    assert readers[0]["Parameters"]["TableName"] == mf["METAFLOW_SFN_DYNAMO_DB_TABLE"]
    assert map_state["ItemsPath"].startswith("$.Result.Item.for_each_cardinality")


def test_deploying_uses_the_stack_step_functions_role(compiled, moto_aws):
    """A full `step-functions create` against moto: the state machine runs as the stack's role."""
    import boto3

    run, _, home = compiled
    mf = run.outputs["metaflow_config"]
    step_functions(["create"], mf, moto_aws, home)
    sfn = boto3.client("stepfunctions", endpoint_url=moto_aws)
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    name = f"{mf['METAFLOW_SFN_STATE_MACHINE_PREFIX']}_FraudDetectionFlow"
    assert name in machines
    described = sfn.describe_state_machine(stateMachineArn=machines[name])
    assert described["roleArn"] == mf["METAFLOW_SFN_IAM_ROLE"]


def test_monitoring_flow_deploys_with_a_daily_rule_the_events_role_may_use(compiled, moto_aws):
    """`flow deploy --flow monitoring`: its @schedule becomes an EventBridge rule that starts the
    monitoring state machine as the stack's events role, whose policy allows exactly that."""
    import boto3

    from fraud_mlops.cloud.stepfunctions import (
        FLOWS,
        TRAINING_STATE_MACHINE_VAR,
        state_machine_name,
    )
    from tests.infra.support import policy_of

    run, _, home = compiled
    mf = run.outputs["metaflow_config"]
    flow_env = {**run.outputs["flow_environment"], TRAINING_STATE_MACHINE_VAR: "x"}
    deploy = deploy_command(REPO / FLOWS["monitoring"][1], step_environment=flow_env)
    options = deploy[2 : deploy.index("step-functions")]
    monitoring = REPO / FLOWS["monitoring"][1]
    step_functions(["create"], mf, moto_aws, home, options, flow_env=flow_env, flow=monitoring)
    sfn = boto3.client("stepfunctions", endpoint_url=moto_aws)
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    name = state_machine_name(mf, "MonitoringFlow")
    assert name == f"{mf['METAFLOW_SFN_STATE_MACHINE_PREFIX']}_MonitoringFlow" and name in machines
    definition = json.loads(
        sfn.describe_state_machine(stateMachineArn=machines[name])["definition"]
    )
    envs = [
        {e["Name"]: e.get("Value") for e in s["Parameters"]["ContainerOverrides"]["Environment"]}
        for s in _states(definition).values()
        if s.get("Resource", "").startswith("arn:aws:states:::batch")
    ]
    assert envs and all(e.get(TRAINING_STATE_MACHINE_VAR) == "x" for e in envs)

    events = boto3.client("events", endpoint_url=moto_aws)
    rules = [r for r in events.list_rules()["Rules"] if r["Name"].startswith(name)]
    (rule,) = rules
    assert rule["ScheduleExpression"] == "cron(0 0 * * ? *)"  # daily=True: 00:00 UTC
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == machines[name]
    assert target["RoleArn"] == mf["METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE"]
    # The events role (Pulumi mocks) may start it: its one statement's pattern covers the ARN.
    (stmt,) = policy_of(run, "fraud-mlops-dev-events")["Statement"]
    assert stmt["Action"] == ["states:StartExecution"]
    assert any(fnmatch.fnmatchcase(machines[name], p) for p in stmt["Resource"])
