"""Serving: the Lambda, its IAM-authenticated URL and a role that reads one model prefix."""

from __future__ import annotations

import pytest

from fraud_mlops.errors import ConfigError
from infra.serving import require_lambda_zip
from tests.infra.support import policy_of

FUNCTION = "aws:lambda/function:Function"


def test_function_url_requires_iam_auth(build):
    for stack in ("dev", "prod"):
        (url,) = build(stack).of_type("aws:lambda/functionUrl:FunctionUrl")
        assert url.inputs["authorizationType"] == "AWS_IAM"


def test_function_runs_the_scoring_package_with_the_stack_model(dev):
    fn = dev.one(FUNCTION, "fraud-mlops-dev-score").inputs
    assert fn["runtime"] == "python3.12"
    assert fn["handler"] == "lambda_api.app.handler"
    models = dev.outputs["models_bucket"]
    env = fn["environment"]["variables"]
    assert {k: env[k] for k in ("MODEL_URI", "MAX_BATCH_SIZE")} == {
        "MODEL_URI": f"s3://{models}/claims-fraud/champion",
        "MAX_BATCH_SIZE": "1000",
    }
    assert dev.outputs["model_uri"] == f"s3://{models}/claims-fraud/champion"
    assert dev.outputs["lambda_url"].startswith("https://")


def test_model_version_and_name_come_from_stack_config(build):
    run = build("dev", modelName="motor-fraud", modelVersion="20260101T000000Z-42")
    env = run.one(FUNCTION, "fraud-mlops-dev-score").inputs["environment"]["variables"]
    assert env["MODEL_URI"].endswith("/motor-fraud/20260101T000000Z-42")
    read = next(
        s for s in policy_of(run, "fraud-mlops-dev-score")["Statement"] if s["Sid"] == "ReadModel"
    )
    assert read["Resource"][0].endswith("/motor-fraud/*")


def test_lambda_reads_only_the_models_prefix_and_writes_its_logs(dev):
    doc = policy_of(dev, "fraud-mlops-dev-score")
    models, lake = dev.outputs["models_bucket"], dev.outputs["lakehouse_bucket"]
    resources = {r for s in doc["Statement"] for r in s["Resource"]}
    s3 = {r for r in resources if r.startswith("arn:aws:s3")}
    outcomes = {f"arn:aws:s3:::{lake}/lakehouse/outcomes/*", f"arn:aws:s3:::{lake}"}
    assert s3 == {f"arn:aws:s3:::{models}/claims-fraud/*", f"arn:aws:s3:::{models}", *outcomes}
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert actions == {
        "s3:GetObject",
        "s3:PutObject",  # outcomes/ only: tests/infra/test_serving_outcomes.py
        "s3:ListBucket",
        "kms:Decrypt",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    group = dev.one("aws:cloudwatch/logGroup:LogGroup", "fraud-mlops-dev-score").inputs
    assert group["name"] == "/aws/lambda/fraud-mlops-dev-score"
    assert group["retentionInDays"] == 14
    logs = next(s for s in doc["Statement"] if s["Sid"] == "Logs")
    assert logs["Resource"] == [
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/fraud-mlops-dev-score:*"
    ]


def test_missing_lambda_zip_fails_pulumi_up_with_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="Run `make build-lambda` first"):
        require_lambda_zip("dist/lambda.zip", tmp_path)
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "lambda.zip").write_bytes(b"PK")
    assert require_lambda_zip("dist/lambda.zip", tmp_path) == tmp_path / "dist" / "lambda.zip"
