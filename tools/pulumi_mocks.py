"""Run the program under Pulumi's mock runtime and record every resource it would create.

Used by the tests and by ``make plan``. The mocks answer like AWS would for the few computed
properties the program reads (ARNs, names, ``functionUrl``), under their wire names; everything
else is echoed from the inputs. The program runs with the program folder (``infra/``, ``main`` in
``Pulumi.yaml``) as its working directory, as the engine runs it. Nothing here talks to a cloud
or the Pulumi engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc

ACCOUNT = "123456789012"
PROGRAM_DIR = Path(__file__).resolve().parents[1] / "infra"


@dataclass
class Recorded:
    """One resource the program registered: type token, name, inputs, secret input keys."""

    type: str
    name: str
    inputs: dict[str, Any]
    secret_inputs: frozenset[str]
    provider: str | None = None
    # Resource options the engine sees (recorded by RecordingMonitor): URN, parent URN, protect.
    urn: str = ""
    parent: str = ""
    protect: bool = False
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class MockRun:
    """The result of one mocked program run."""

    stack: str
    resources: list[Recorded] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str) -> Recorded:
        found = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources of type {type_} named {name}")
        return found[0]


def _suffix(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:7]


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that record registrations and compute AWS-like outputs."""

    def __init__(self, region: str):
        self.region = region
        self.resources: list[Recorded] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        secret = frozenset(k for k, v in args.inputs.items() if rpc.is_rpc_secret(v))
        inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in args.inputs.items()}
        self.resources.append(Recorded(args.typ, args.name, inputs, secret, args.provider))
        state = dict(args.inputs)  # echo inputs; secret inputs come back as secret outputs
        state.update(self._computed(args.typ, args.name, inputs))
        return f"{args.name}-{_suffix(args.name)}", state

    def _computed(self, typ: str, name: str, inputs: dict) -> dict:
        region, account, sfx = self.region, ACCOUNT, _suffix(name)
        auto = inputs.get("name") or f"{name}-{sfx}"
        if typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix', name)}{sfx}"
            return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
        service = typ.split(":")[1].split("/")[0]
        if typ == "aws:iam/role:Role":
            return {"name": auto, "arn": f"arn:aws:iam::{account}:role/{auto}"}
        if typ == "aws:iam/instanceProfile:InstanceProfile":
            return {"name": auto, "arn": f"arn:aws:iam::{account}:instance-profile/{auto}"}
        if typ == "aws:batch/jobQueue:JobQueue":
            return {"name": auto, "arn": f"arn:aws:batch:{region}:{account}:job-queue/{auto}"}
        if typ == "aws:batch/computeEnvironment:ComputeEnvironment":
            arn = f"arn:aws:batch:{region}:{account}:compute-environment/{auto}"
            return {"name": auto, "arn": arn}
        if typ == "aws:ecr/repository:Repository":
            url = f"{account}.dkr.ecr.{region}.amazonaws.com/{auto}"
            arn = f"arn:aws:ecr:{region}:{account}:repository/{auto}"
            return {"name": auto, "arn": arn, "repositoryUrl": url}
        if typ == "aws:dynamodb/table:Table":
            return {"name": auto, "arn": f"arn:aws:dynamodb:{region}:{account}:table/{auto}"}
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            return {"name": auto, "arn": f"arn:aws:logs:{region}:{account}:log-group:{auto}"}
        if typ == "aws:kms/key:Key":
            return {"keyId": sfx, "arn": f"arn:aws:kms:{region}:{account}:key/{sfx}"}
        if typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{region}:{account}:function:{auto}"
            version = "1" if inputs.get("publish") else "$LATEST"
            return {
                "name": auto,
                "arn": arn,
                "version": version,
                "qualifiedArn": f"{arn}:{version}",
            }
        if typ == "aws:lambda/alias:Alias":
            fn = f"arn:aws:lambda:{region}:{account}:function:{inputs.get('functionName')}"
            return {"arn": f"{fn}:{inputs.get('name')}"}
        if typ == "aws:iam/policy:Policy":
            return {"name": auto, "arn": f"arn:aws:iam::{account}:policy/{auto}"}
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            return {"arn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{auto}"}
        if typ == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream":
            return {
                "name": auto,
                "arn": f"arn:aws:firehose:{region}:{account}:deliverystream/{auto}",
            }
        if typ == "aws:lambda/functionUrl:FunctionUrl":
            return {"functionUrl": f"https://{sfx}.lambda-url.{region}.on.aws/"}
        if typ == "aws:secretsmanager/secret:Secret":
            auto = f"{inputs.get('namePrefix', name)}{sfx}"
            arn = f"arn:aws:secretsmanager:{region}:{account}:secret:{auto}"
            return {"name": auto, "arn": arn}
        if typ == "aws:rds/instance:Instance":
            host = f"{inputs.get('identifierPrefix', name)}{sfx}.c0.{region}.rds.amazonaws.com"
            secret = f"arn:aws:secretsmanager:{region}:{account}:secret:rds!db-{sfx}"
            return {
                "address": host,
                "endpoint": f"{host}:5432",
                "arn": f"arn:aws:rds:{region}:{account}:db:{name}-{sfx}",
                "masterUserSecrets": [{"secretArn": secret, "secretStatus": "active"}],
            }
        if typ == "aws:lb/loadBalancer:LoadBalancer":
            lb = f"{inputs.get('namePrefix', '')}{sfx}"
            elb = f"arn:aws:elasticloadbalancing:{region}:{account}"
            return {
                "arn": f"{elb}:loadbalancer/net/{lb}/{sfx}",
                "dnsName": f"{lb}-{sfx}.elb.{region}.amazonaws.com",
            }
        if typ == "aws:lb/targetGroup:TargetGroup":
            arn = f"arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{sfx}/{sfx}"
            return {"arn": arn}
        if typ == "aws:ecs/cluster:Cluster":
            return {"name": auto, "arn": f"arn:aws:ecs:{region}:{account}:cluster/{auto}"}
        if typ == "aws:ecs/taskDefinition:TaskDefinition":
            arn = f"arn:aws:ecs:{region}:{account}:task-definition/{inputs.get('family')}:1"
            return {"arn": arn, "revision": 1}
        if typ == "aws:apigateway/restApi:RestApi":
            return {"rootResourceId": f"root{sfx}", "name": auto}
        if typ == "aws:apigateway/apiKey:ApiKey":
            return {"value": f"mock-api-key-{sfx}"}
        if typ == "databricks:index/job:Job":
            return {"url": f"https://example.cloud.databricks.com/jobs/{sfx}"}
        if service in ("aws", "snowflake") and "name" not in inputs:
            return {"name": auto}
        return {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/plan", "id": ACCOUNT}
        if args.token == "aws:ec2/getVpc:getVpc":
            return {"id": "vpc-0default", "cidrBlock": "172.31.0.0/16", "default": True}
        if args.token == "aws:ec2/getSubnets:getSubnets":
            return {"ids": ["subnet-0a", "subnet-0b", "subnet-0c"], "id": self.region}
        raise NotImplementedError(f"the mock runtime has no answer for {args.token}")


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock monitor, also recording what ``Mocks`` never sees: URN, parent, ``protect`` and
    which resources each input depends on.

    The policy pack's rules read these (``protect`` on prod data, providers' default tags).
    """

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self._lock = threading.Lock()

    def RegisterResource(self, request):  # the gRPC method name
        response = super().RegisterResource(request)
        with self._lock:
            for r in reversed(self.mocks.resources):
                if r.type == request.type and r.name == request.name and not r.urn:
                    r.urn, r.parent, r.protect = response.urn, request.parent, request.protect
                    r.property_dependencies = {
                        key: list(deps.urns) for key, deps in request.propertyDependencies.items()
                    }
                    break
        return response


def run_program(cfg) -> MockRun:
    """Build the stack for ``cfg`` (a StackConfig) under the mocks; return what it registered."""
    mocks = RecordingMocks(cfg.aws_region)
    pulumi.runtime.set_mocks(
        mocks,
        project=cfg.project,
        stack=cfg.stack,
        preview=False,
        monitor=RecordingMonitor(mocks),
    )
    from infra.stack import build_stack  # after set_mocks: providers bind to the mock monitor

    run = MockRun(stack=cfg.stack)

    @pulumi.runtime.test
    def _build():
        outputs = {k: v for k, v in build_stack(cfg).items() if v is not None}
        resolved = {}
        for key, value in outputs.items():
            out = pulumi.Output.from_input(value)
            resolved[key] = pulumi.Output.all(out, pulumi.Output.from_input(out.is_secret()))
        return pulumi.Output.all(**resolved).apply(_store)

    def _store(values: dict) -> None:
        for key, (value, is_secret) in values.items():
            run.outputs[key] = value
            if is_secret:
                run.secret_outputs.add(key)

    with contextlib.chdir(PROGRAM_DIR):  # relative paths resolve as under `pulumi up`
        _build()
    run.resources = list(mocks.resources)
    return run
