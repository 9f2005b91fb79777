"""The stack config reader: typed values, defaults, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from fraud_mlops.errors import ConfigError
from infra.config import KEYS, parse_stack_config

REPO = Path(__file__).resolve().parents[2]


def test_defaults_fill_an_aws_only_stack():
    cfg = parse_stack_config("dev", {"awsRegion": "eu-west-1"})
    assert cfg.prefix == "fraud-mlops-dev"
    assert cfg.compute.compute_type == "spot"
    assert cfg.compute.max_vcpus == 64
    assert cfg.state_machine_prefix == "fraud-mlops-dev"
    assert not cfg.databricks.enabled and not cfg.snowflake.enabled
    assert cfg.serving.lambda_zip == "dist/lambda.zip"


def test_strings_from_pulumi_config_are_typed():
    cfg = parse_stack_config(
        "dev",
        {
            "awsRegion": "us-east-1",
            "maxVcpus": "8",
            "gpu": "false",
            "subnetIds": "a, b",
            "vpcId": "vpc-1",
        },
    )
    assert cfg.compute.max_vcpus == 8
    assert cfg.compute.gpu is False
    assert cfg.subnet_ids == ("a", "b")


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as exc:
        parse_stack_config(
            "dev",
            {
                "computeType": "lambda",
                "maxVcpus": "many",
                "vpcId": "vpc-1",
                "typo": "x",
                "logRetentionDays": "10",
            },
        )
    message = str(exc.value)
    for expected in (
        "awsRegion is required",
        "computeType='lambda'",
        "maxVcpus='many': expected a whole number",
        "vpcId='vpc-1' needs subnetIds",
        "fraud-mlops:typo is not a known key",
        "logRetentionDays=10",
        "pulumi config set",
    ):
        assert expected in message


def test_enabled_snowflake_requires_its_keys_and_refuses_a_private_key_as_public():
    with pytest.raises(ConfigError) as exc:
        parse_stack_config(
            "dev",
            {
                "awsRegion": "eu-west-1",
                "snowflakeEnabled": "true",
                # a private key pasted by mistake (label built so no tracked file looks like one)
                "snowflakeServiceUserPublicKey": "-----BEGIN " + "PRIVATE KEY-----...",
            },
        )
    message = str(exc.value)
    for key in ("snowflakeOrganization", "snowflakeAdminRole", "snowflakeAdminPrivateKey"):
        assert key in message
    assert "RSA *public* key" in message


def test_databricks_needs_exactly_one_code_source():
    base = {"awsRegion": "eu-west-1", "databricksEnabled": "true", "databricksHost": "https://x"}
    with pytest.raises(ConfigError, match="exactly one of databricksGitUrl"):
        parse_stack_config("dev", base)
    cfg = parse_stack_config("dev", {**base, "databricksGitUrl": "https://github.com/o/r"})
    assert cfg.databricks.git_url == "https://github.com/o/r"


def test_fargate_with_gpu_is_refused():
    with pytest.raises(ConfigError, match="Fargate has no GPUs"):
        parse_stack_config("dev", {"awsRegion": "eu-west-1", "computeType": "fargate", "gpu": "1"})


def test_secret_values_pass_through_untouched():
    token = pulumi.Output.secret("dapi-123")
    cfg = parse_stack_config(
        "dev",
        {
            "awsRegion": "eu-west-1",
            "databricksEnabled": "true",
            "databricksHost": "https://x",
            "databricksGitUrl": "https://github.com/o/r",
            "databricksToken": token,
        },
    )
    assert cfg.databricks.token is token


def test_every_key_is_documented():
    readme = (REPO / "README.md").read_text()  # the generated configuration reference
    doc = readme.split("<!-- config:stack -->")[1].split("<!-- /config:stack -->")[0]
    missing = [k.name for k in KEYS if f"`{k.name}`" not in doc]
    assert not missing, f"undocumented stack config keys: {missing}"


def test_rules_between_keys_are_checked_even_when_a_value_is_invalid():
    with pytest.raises(ConfigError) as exc:
        parse_stack_config("dev", {"awsRegion": "eu-west-1", "vpcId": "vpc-1", "forceDestroy": "?"})
    message = str(exc.value)
    assert "forceDestroy='?': expected true or false" in message
    assert "vpcId='vpc-1' needs subnetIds" in message


def test_a_section_that_is_off_reads_only_its_switch():
    cfg = parse_stack_config("dev", {"awsRegion": "eu-west-1", "databricksTrials": "many"})
    assert not cfg.databricks.enabled and cfg.databricks.trials == 8
    with pytest.raises(ConfigError, match="databricksEnabled='perhaps': expected true or false"):
        parse_stack_config("dev", {"awsRegion": "eu-west-1", "databricksEnabled": "perhaps"})


def test_keys_come_from_the_section_models_with_their_kinds_and_defaults():
    by_name = {k.name: k for k in KEYS}
    assert len(by_name) == len(KEYS) == 75
    assert (by_name["maxVcpus"].kind, by_name["maxVcpus"].default) == ("int", 64)
    assert (by_name["instanceTypes"].kind, by_name["instanceTypes"].default) == (
        "list",
        ["c6i", "m6i"],
    )
    assert by_name["gpu"].kind == "bool" and by_name["modelName"].kind == "str"
    assert {k.name for k in KEYS if k.kind == "secret"} == {
        "k8sKubeconfig",
        "captureKeySalt",
        "databricksToken",
        "snowflakeAdminPrivateKey",
        "snowflakeServiceUserPrivateKey",
    }
    assert all(k.default is None for k in KEYS if k.kind == "secret")  # secrets never defaulted


def test_snowflake_names_derive_from_the_stack_and_the_library():
    cfg = parse_stack_config(
        "dev-eu",
        {
            "awsRegion": "eu-west-1",
            "snowflakeEnabled": "true",
            "snowflakeOrganization": "O",
            "snowflakeAccount": "A",
            "snowflakeAdminUser": "U",
            "snowflakeAdminRole": "R",
            "snowflakeAdminPrivateKey": "<secret>",
            "snowflakeServiceUserPublicKey": "MIIB",
            "snowflakeWarehouseSize": "small",
        },
    )
    assert (cfg.snowflake.database, cfg.snowflake.schema) == ("FRAUD_MLOPS_DEV_EU", "FRAUD_MLOPS")
    assert cfg.snowflake.warehouse_size == "SMALL"
