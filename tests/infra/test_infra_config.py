"""The stack config reader: typed values, defaults, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from fraud_mlops.errors import ConfigError
from infra.config import KEYS, parse_stack_config, read_stack_file

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


def test_stack_files_use_only_known_keys_and_encrypt_secrets():
    for stack in ("dev", "prod"):
        values, secrets = read_stack_file(REPO / "stacks" / f"Pulumi.{stack}.yaml")
        known = {k.name for k in KEYS}
        assert set(values) <= known
        secret_keys = {k.name for k in KEYS if k.kind == "secret"}
        # A secret key present in a stack file must be encrypted, never plain text.
        assert {k for k in values if k in secret_keys} <= secrets


def test_every_key_is_documented():
    doc = (REPO / "README.md").read_text()  # the configuration reference lives there
    missing = [k.name for k in KEYS if f"`{k.name}`" not in doc]
    assert not missing, f"undocumented stack config keys: {missing}"


def test_missing_stack_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="pulumi stack init"):
        read_stack_file(tmp_path / "Pulumi.nope.yaml")
