"""SageMaker serving: off by default; when on, the serving image, MODEL_URI and a narrow role."""

from __future__ import annotations

import json

import pytest

from fraud_mlops.errors import ConfigError
from infra.policies import violations
from tests.infra.support import policy_of
from tools.stack_files import config_from_stack_file

ON = {"sagemakerEnabled": True, "sagemakerInstanceType": "ml.c6i.large", "servingImageTag": "v7"}
SAGEMAKER_TYPES = ("aws:sagemaker/", "fraud:aws:SageMakerServing")


def _sagemaker(run):
    return [r for r in run.resources if r.type.startswith(SAGEMAKER_TYPES)]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_off_by_default_adds_nothing(build, stack):
    run = build(stack)
    assert _sagemaker(run) == []
    assert not [r for r in run.of_type("aws:ecr/repository:Repository") if "serving" in r.name]
    assert "sagemaker_endpoint_name" not in run.outputs


def test_on_creates_model_config_and_endpoint_from_the_serving_image(build):
    run = build("dev", **ON)
    models = run.outputs["models_bucket"]
    model = run.one("aws:sagemaker/model:Model", "fraud-mlops-dev-sagemaker").inputs
    repo = run.outputs["serving_repository_url"]
    assert "-serving-" in repo
    assert model["primaryContainer"]["image"] == f"{repo}:v7"
    assert model["primaryContainer"]["environment"]["MODEL_URI"] == (
        f"s3://{models}/claims-fraud/champion"
    )
    (variant,) = run.one(
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "fraud-mlops-dev-sagemaker"
    ).inputs["productionVariants"]
    assert variant["instanceType"] == "ml.c6i.large" and variant["initialInstanceCount"] == 1
    endpoint = run.one("aws:sagemaker/endpoint:Endpoint", "fraud-mlops-dev-sagemaker").inputs
    assert endpoint["name"] == run.outputs["sagemaker_endpoint_name"] == "fraud-mlops-dev-score"
    (repository,) = [
        r for r in run.of_type("aws:ecr/repository:Repository") if r.name.endswith("-serving")
    ]
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert len(run.resources) == len(build("dev").resources) + 1 + 6  # repo + component + 5


def test_promotion_moves_the_endpoint_too(build):
    run = build("dev", modelVersion="20260101T000000Z-9", **ON)
    model = run.one("aws:sagemaker/model:Model", "fraud-mlops-dev-sagemaker").inputs
    assert model["primaryContainer"]["environment"]["MODEL_URI"].endswith(
        "/claims-fraud/20260101T000000Z-9"
    )


def test_execution_role_is_least_privilege(build):
    run = build("dev", **ON)
    trust = json.loads(
        run.one("aws:iam/role:Role", "fraud-mlops-dev-sagemaker").inputs["assumeRolePolicy"]
    )
    assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    doc = policy_of(run, "fraud-mlops-dev-sagemaker")
    assert violations(doc) == []
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    models = run.outputs["models_bucket"]
    assert by_sid["ReadModel"]["Resource"] == [f"arn:aws:s3:::{models}/claims-fraud/*"]
    assert by_sid["ReadModel"]["Action"] == ["s3:GetObject"]
    assert by_sid["ListModelPrefix"]["Condition"]["StringLike"]["s3:prefix"] == [
        "claims-fraud",
        "claims-fraud/*",
    ]
    (pull,) = by_sid["PullServingImage"]["Resource"]
    assert pull.startswith("arn:aws:ecr:eu-west-1:123456789012:repository/fraud-mlops-dev-serving")
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/"
    assert by_sid["Logs"]["Resource"] == [
        f"{group}fraud-mlops-dev-score",
        f"{group}fraud-mlops-dev-score:*",
    ]
    writes = {a for s in doc["Statement"] for a in s["Action"] if a.startswith("s3:Put")}
    assert writes == set()


def test_bad_sagemaker_config_is_reported():
    with pytest.raises(ConfigError) as err:
        config_from_stack_file(
            "dev",
            overrides={
                "sagemakerEnabled": True,
                "sagemakerInstanceType": "m5.large",
                "sagemakerInstanceCount": 0,
            },
        )
    assert "sagemakerInstanceType='m5.large'" in str(err.value)
    assert "sagemakerInstanceCount must be >= 1" in str(err.value)
