"""The optional Metaflow metadata service: off in dev, on in prod, private, authenticated."""

from __future__ import annotations

import json

import pytest

from fraud_mlops.errors import ConfigError
from infra.config import parse_stack_config
from tests.infra.support import policy_of
from tools.pulumi_mocks import ACCOUNT

COMPONENT = "fraud:aws:MetadataService"


def test_off_in_dev_the_profile_uses_local_metadata(dev):
    assert not dev.of_type(COMPONENT)
    assert not [r for r in dev.resources if r.type.startswith(("aws:rds", "aws:apigateway"))]
    mf = dev.outputs["metaflow_config"]
    assert mf["METAFLOW_DEFAULT_METADATA"] == "local"
    assert not any(k.startswith("METAFLOW_SERVICE") for k in mf)
    assert "metaflow_service_auth_key" not in dev.outputs


def test_on_in_prod_the_profile_points_at_the_service(prod):
    assert len(prod.of_type(COMPONENT)) == 1
    mf = prod.outputs["metaflow_config"]
    (api,) = prod.of_type("aws:apigateway/restApi:RestApi")
    assert mf["METAFLOW_DEFAULT_METADATA"] == "service"
    assert mf["METAFLOW_SERVICE_URL"].startswith("https://fraud-mlops-prod-metadata-")
    assert mf["METAFLOW_SERVICE_URL"].endswith(".execute-api.eu-west-1.amazonaws.com/api/")
    (nlb,) = prod.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert nlb.inputs["internal"] is True and nlb.inputs["loadBalancerType"] == "network"
    assert mf["METAFLOW_SERVICE_INTERNAL_URL"].startswith("http://mfmd-")
    assert prod.outputs["metadata_service_url"] == mf["METAFLOW_SERVICE_URL"]
    assert api.inputs["endpointConfiguration"]["types"] == "REGIONAL"


def test_the_auth_key_is_a_secret_output_and_not_in_the_plain_profile(prod):
    assert "metaflow_service_auth_key" in prod.secret_outputs
    key = prod.outputs["metaflow_service_auth_key"]
    assert key and key not in json.dumps(prod.outputs["metaflow_config"])
    assert "metaflow_config" not in prod.secret_outputs  # the CLI refuses a secret profile


def test_every_route_requires_the_api_key_and_the_key_is_in_the_usage_plan(prod):
    (method,) = prod.of_type("aws:apigateway/method:Method")
    assert method.inputs["httpMethod"] == "ANY" and method.inputs["apiKeyRequired"] is True
    (resource,) = prod.of_type("aws:apigateway/resource:Resource")
    assert resource.inputs["pathPart"] == "{proxy+}"
    (integration,) = prod.of_type("aws:apigateway/integration:Integration")
    assert integration.inputs["connectionType"] == "VPC_LINK"
    assert integration.inputs["type"] == "HTTP_PROXY"
    (stage,) = prod.of_type("aws:apigateway/stage:Stage")
    (plan,) = prod.of_type("aws:apigateway/usagePlan:UsagePlan")
    assert plan.inputs["apiStages"][0]["stage"] == stage.inputs["stageName"] == "api"
    (link,) = prod.of_type("aws:apigateway/usagePlanKey:UsagePlanKey")
    assert link.inputs["keyType"] == "API_KEY"
    assert link.property_dependencies["keyId"] and link.property_dependencies["usagePlanId"]


def test_the_database_is_private_encrypted_and_its_password_never_in_state(prod):
    (db,) = prod.of_type("aws:rds/instance:Instance")
    assert db.inputs["engine"] == "postgres"
    assert db.inputs["publiclyAccessible"] is False
    assert db.inputs["storageEncrypted"] is True
    assert db.inputs["manageMasterUserPassword"] is True
    assert "password" not in db.inputs
    assert db.inputs["skipFinalSnapshot"] is False and db.inputs["backupRetentionPeriod"] >= 7
    assert db.protect  # protectData in prod


def test_only_the_vpc_reaches_the_service_and_only_the_service_the_database(prod):
    groups = {g.name: g for g in prod.of_type("aws:ec2/securityGroup:SecurityGroup")}
    (service_in,) = groups["fraud-mlops-prod-metadata"].inputs["ingress"]
    assert (service_in["fromPort"], service_in["toPort"]) == (8080, 8080)
    assert service_in["cidrBlocks"] == ["172.31.0.0/16"]  # the VPC's CIDR (mocked get_vpc)
    (db_in,) = groups["fraud-mlops-prod-metadata-db"].inputs["ingress"]
    assert (db_in["fromPort"], db_in["toPort"]) == (5432, 5432)
    assert "cidrBlocks" not in db_in and len(db_in["securityGroups"]) == 1
    (service,) = prod.of_type("aws:ecs/service:Service")
    assert service.inputs["networkConfiguration"]["assignPublicIp"] is False


def test_the_task_gets_the_password_as_an_ecs_secret_from_the_rds_managed_secret(prod):
    (task,) = prod.of_type("aws:ecs/taskDefinition:TaskDefinition")
    (container,) = json.loads(task.inputs["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert "MF_METADATA_DB_PSWD" not in env
    assert env["MF_METADATA_DB_SSL_MODE"] == "require"
    (secret,) = container["secrets"]
    assert secret["name"] == "MF_METADATA_DB_PSWD"
    assert secret["valueFrom"].startswith(f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:rds!")
    assert secret["valueFrom"].endswith(":password::")
    doc = policy_of(prod, "fraud-mlops-prod-metadata-execution")
    (read,) = [s for s in doc["Statement"] if s["Sid"] == "DatabasePassword"]
    assert read["Resource"] == [secret["valueFrom"].removesuffix(":password::")]
    groups = {g.inputs["name"]: g for g in prod.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert groups["/ecs/fraud-mlops-prod-metadata"].inputs["retentionInDays"] == 90


def test_enabling_it_without_a_vpc_is_a_clear_config_error():
    with pytest.raises(ConfigError, match="metadataServiceEnabled needs vpcId and at least two"):
        parse_stack_config("dev", {"awsRegion": "eu-west-1", "metadataServiceEnabled": "true"})


def test_a_bad_instance_class_names_the_key():
    with pytest.raises(ConfigError, match=r"metadataDbInstanceClass='t4g\.small'"):
        parse_stack_config(
            "prod",
            {
                "awsRegion": "eu-west-1",
                "vpcId": "vpc-1",
                "subnetIds": "subnet-a,subnet-b",
                "metadataServiceEnabled": "true",
                "metadataDbInstanceClass": "t4g.small",
            },
        )
