"""The scoring Lambda of a stack on the moto server: function, ``live`` alias, canary alarms.

``live_stack`` creates what ``pulumi up`` would have (infra/serving.py): the function with its
first published version behind ``live``, and the three canary alarms; it adds their names to
the release world's stack outputs, and makes the stand-in ``pulumi up`` do what the real one
does on a config change: update the function's description/environment and publish a version.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.release_world import MODEL

REGION = "eu-west-1"
FUNCTION = "fraud-mlops-dev-score"
ALARMS = [f"{FUNCTION}-alias-5xx", f"{FUNCTION}-version-5xx", f"{FUNCTION}-p99"]

# Run by the stand-in pulumi (tests/support/fixtures.py) on `up`: publish a version carrying
# the config's model version, as infra/serving.py's `publish=True` does.
UP_HOOK = """
import boto3
def _cfg(key):
    p = path(key)
    return open(p).read() if os.path.exists(p) else None
model = _cfg("fraud-mlops:modelVersion") or "champion"
shadow = _cfg("fraud-mlops:shadowVersion")
env = {"MODEL_URI": "s3://models/claims-fraud/" + model}
if shadow:
    env["SHADOW_MODEL_URI"] = "s3://models/claims-fraud/" + shadow
aws = boto3.client("lambda", region_name="eu-west-1")
aws.update_function_configuration(
    FunctionName="fraud-mlops-dev-score",
    Description="claims-fraud " + model,
    Environment={"Variables": env},
)
aws.publish_version(FunctionName="fraud-mlops-dev-score", Description="claims-fraud " + model)
"""


@dataclass
class LiveStack:
    lambda_client: object
    cloudwatch: object

    def alias(self) -> tuple[str, dict]:
        alias = self.lambda_client.get_alias(FunctionName=FUNCTION, Name="live")
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return alias["FunctionVersion"], weights

    def set_alarm(self, name: str, state: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")

    def versions(self) -> dict[str, str]:
        page = self.lambda_client.list_versions_by_function(FunctionName=FUNCTION)
        return {v["Version"]: v.get("Description", "") for v in page["Versions"]}


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_api/app.py", "handler = None\n")
    return buf.getvalue()


@pytest.fixture
def live_stack(aws_env, world, tmp_path: Path, monkeypatch) -> LiveStack:
    import boto3

    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(
        RoleName=f"score-{tmp_path.name[-20:]}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    aws = boto3.client("lambda", region_name=REGION)
    with contextlib.suppress(aws.exceptions.ResourceNotFoundException):
        aws.delete_function(FunctionName=FUNCTION)  # the moto server is shared by the session
    aws.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role,
        Handler="lambda_api.app.handler",
        Code={"ZipFile": _zip()},
        Description=f"{MODEL} champion",
        Publish=True,
    )
    aws.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    for name in ALARMS:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="fresh")
    outputs = json.loads(world.outputs_file.read_text())
    outputs.update(
        region=REGION,
        lambda_function_name=FUNCTION,
        lambda_alias="live",
        canary_alarm_names=ALARMS,
    )
    world.outputs_file.write_text(json.dumps(outputs))
    hook = tmp_path / "up_hook.py"
    hook.write_text(UP_HOOK)
    monkeypatch.setenv("FAKE_PULUMI_UP_HOOK", str(hook))
    return LiveStack(aws, cloudwatch)
