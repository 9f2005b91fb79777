"""Whole stacks: dev and prod build, toggles, outputs, Metaflow config, secrets, IAM."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pulumi
import pytest

from infra import policies
from infra.config import NAMESPACE
from tools.pulumi_mocks import RecordingMocks

REPO = Path(__file__).resolve().parents[2]
METAFLOW_KEYS = {
    "METAFLOW_DEFAULT_DATASTORE",
    "METAFLOW_DATASTORE_SYSROOT_S3",
    "METAFLOW_DATATOOLS_S3ROOT",
    "METAFLOW_DEFAULT_METADATA",
    "METAFLOW_BATCH_JOB_QUEUE",
    "METAFLOW_ECS_S3_ACCESS_IAM_ROLE",
    "METAFLOW_ECS_FARGATE_EXECUTION_ROLE",
    "METAFLOW_BATCH_CONTAINER_IMAGE",
    "METAFLOW_BATCH_CONTAINER_REGISTRY",
    "METAFLOW_SFN_IAM_ROLE",
    "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE",
    "METAFLOW_SFN_DYNAMO_DB_TABLE",
    "METAFLOW_SFN_STATE_MACHINE_PREFIX",
    "METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN",
}


def _clouds(run) -> set[str]:
    return {r.type.split(":")[0] for r in run.resources if not r.type.startswith("pulumi:")}


def test_dev_is_aws_only_and_prod_spans_three_clouds(dev, prod):
    assert _clouds(dev) == {"aws", "fraud"}
    assert _clouds(prod) == {"aws", "databricks", "snowflake", "fraud"}
    assert "databricks_job_id" not in dev.outputs
    assert dev.outputs["snowflake_tables"] == []


def test_toggles_switch_each_cloud_on_and_off(build):
    only_snowflake = build("prod", databricksEnabled="false")
    assert _clouds(only_snowflake) == {"aws", "snowflake", "fraud"}
    assert "databricks_job_id" not in only_snowflake.outputs
    only_databricks = build("prod", snowflakeEnabled="false")
    assert _clouds(only_databricks) == {"aws", "databricks", "fraud"}
    assert not only_databricks.of_type("aws:secretsmanager/secret:Secret")


def test_every_resource_uses_an_explicit_provider(prod):
    for r in prod.resources:
        if r.type.startswith(("aws:", "snowflake:", "databricks:")):
            cloud = r.type.split(":")[0]
            assert r.provider and f"pulumi:providers:{cloud}::" in r.provider, r.name


def test_components_have_type_tokens(prod):
    tokens = {r.type for r in prod.resources if r.type.startswith("fraud:")}
    assert tokens == {
        "fraud:aws:Storage",
        "fraud:aws:Compute",
        "fraud:aws:Orchestration",
        "fraud:aws:Serving",
        "fraud:aws:MetadataService",
        "fraud:aws:ScoreCapture",
        "fraud:databricks:Job",
        "fraud:snowflake:Warehouse",
    }


def test_metaflow_config_is_complete_and_points_at_the_stack(dev):
    mf = dev.outputs["metaflow_config"]
    assert set(mf) >= METAFLOW_KEYS
    datastore = dev.outputs["datastore_bucket"]
    assert mf["METAFLOW_DATASTORE_SYSROOT_S3"] == f"s3://{datastore}/metaflow"
    assert mf["METAFLOW_DATATOOLS_S3ROOT"] == f"s3://{datastore}/data"
    assert mf["METAFLOW_BATCH_JOB_QUEUE"] == dev.outputs["job_queues"]["ondemand"]
    assert mf["METAFLOW_ECS_S3_ACCESS_IAM_ROLE"] == dev.outputs["job_role_arn"]
    assert mf["METAFLOW_SFN_IAM_ROLE"] == dev.outputs["sfn_role_arn"]
    assert mf["METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE"] == dev.outputs["events_role_arn"]
    assert mf["METAFLOW_SFN_DYNAMO_DB_TABLE"] == dev.outputs["sfn_table_name"]
    assert (
        mf["METAFLOW_BATCH_CONTAINER_IMAGE"] == dev.outputs["training_repository_url"] + ":latest"
    )
    assert all(isinstance(v, str) and v for v in mf.values())
    env = dev.outputs["flow_environment"]
    assert env["MODEL_STORE_URI"] == f"s3://{dev.outputs['models_bucket']}"
    assert env["FRAUD_MLOPS_SEARCH_QUEUE"] == dev.outputs["job_queues"]["search"]


def test_no_inline_policy_grants_wildcards(build):
    for run in (build("dev"), build("prod"), build("dev", computeType="fargate")):
        for r in run.of_type("aws:iam/rolePolicy:RolePolicy"):
            assert policies.violations(json.loads(r.inputs["policy"])) == [], r.name


def test_secrets_never_reach_plain_outputs_or_plain_inputs(prod):
    # Offline, every encrypted value is the placeholder "<secret>": it must appear only in
    # inputs the runtime marks secret, and in no stack output.
    assert "<secret>" not in json.dumps(prod.outputs)
    for r in prod.resources:
        for key, value in r.inputs.items():
            if "<secret>" in json.dumps(value, default=str):
                assert key in r.secret_inputs, f"{r.type} {r.name}.{key} is not secret"
    secret_carriers = {(r.type, k) for r in prod.resources for k in r.secret_inputs}
    assert secret_carriers == {
        ("pulumi:providers:databricks", "token"),
        ("pulumi:providers:snowflake", "privateKey"),
        ("aws:secretsmanager/secretVersion:SecretVersion", "secretString"),
        ("aws:lambda/function:Function", "environment"),  # CAPTURE_KEY_SALT
    }


def test_entry_point_reads_pulumi_config_and_exports_outputs(tmp_path, monkeypatch):
    """Run infra/__main__.py itself, as `pulumi up` would, against the mock engine."""
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "lambda.zip").write_bytes(b"PK")
    mocks = RecordingMocks("eu-west-1")
    pulumi.runtime.set_mocks(mocks, project="fraud-mlops", stack="dev", preview=False)
    pulumi.runtime.set_all_config(
        {
            f"{NAMESPACE}:awsRegion": "eu-west-1",
            f"{NAMESPACE}:lambdaZip": str(tmp_path / "dist" / "lambda.zip"),
            f"{NAMESPACE}:subnetIds": '["subnet-1","subnet-2"]',
            f"{NAMESPACE}:vpcId": "vpc-1",
        }
    )
    try:

        @pulumi.runtime.test
        def _run():
            runpy.run_path(str(REPO / "infra" / "__main__.py"), run_name="__main__")

        _run()
    finally:
        pulumi.runtime.set_all_config({})
    ce = [r for r in mocks.resources if r.type == "aws:batch/computeEnvironment:ComputeEnvironment"]
    assert ce and all(
        c.inputs["computeResources"]["subnets"] == ["subnet-1", "subnet-2"] for c in ce
    )


def test_entry_point_refuses_a_missing_lambda_zip(tmp_path):
    pulumi.runtime.set_mocks(RecordingMocks("eu-west-1"), project="fraud-mlops", stack="dev")
    pulumi.runtime.set_all_config(
        {f"{NAMESPACE}:awsRegion": "eu-west-1", f"{NAMESPACE}:lambdaZip": str(tmp_path / "x.zip")}
    )
    try:
        with pytest.raises(Exception, match="make build-lambda"):
            runpy.run_path(str(REPO / "infra" / "__main__.py"), run_name="__main__")
    finally:
        pulumi.runtime.set_all_config({})


def test_service_trust_policies_are_bound_to_the_stack_account(build):
    """aws:SourceAccount on every service that documents it: no confused deputy."""
    from tools.pulumi_mocks import ACCOUNT

    checked = set()
    for run in (build("dev"), build("prod"), build("dev", sagemakerEnabled="true")):
        for role in run.of_type("aws:iam/role:Role"):
            (stmt,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
            service = stmt["Principal"]["Service"]
            if service in policies.SOURCE_ACCOUNT_SERVICES:
                condition = stmt.get("Condition", {}).get("StringEquals", {})
                assert condition.get("aws:SourceAccount") == ACCOUNT, role.name
                checked.add(service)
    assert checked >= {
        "states.amazonaws.com",
        "events.amazonaws.com",
        "ecs-tasks.amazonaws.com",
        "sagemaker.amazonaws.com",
    }
