"""Offline plan: what ``pulumi up -s <stack>`` would create, from Pulumi's mock runtime.

This is NOT a provider diff: nothing is compared with what exists in your accounts, and
computed values (ARNs, names with random suffixes) are placeholders. It shows the resources the
program declares, their names and key properties, for reviews without cloud credentials.

Usage: python scripts/plan.py [dev] [prod] ...   (default: every stacks/Pulumi.*.yaml)
"""

from __future__ import annotations

import json
import sys
import warnings
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Properties worth reading in a review, per resource type (inputs, by their wire names).
KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("bucketPrefix", "forceDestroy"),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "rules",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("versioningConfiguration",),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("rules",),
    "aws:kms/key:Key": ("enableKeyRotation", "deletionWindowInDays"),
    "aws:batch/computeEnvironment:ComputeEnvironment": ("computeResources",),
    "aws:batch/jobQueue:JobQueue": ("priority", "computeEnvironmentOrders"),
    "aws:ecr/repository:Repository": ("imageScanningConfiguration", "imageTagMutability"),
    "aws:dynamodb/table:Table": ("hashKey", "ttl", "billingMode"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    "aws:lambda/function:Function": (
        "name",
        "runtime",
        "handler",
        "memorySize",
        "reservedConcurrentExecutions",
        "publish",
        "snapStart",
        "environment",
    ),
    "aws:lambda/functionUrl:FunctionUrl": ("authorizationType", "qualifier"),
    # releases (docs/releases.md): the alias the URL serves, its canary weights, the alarms
    "aws:lambda/alias:Alias": ("name", "functionVersion", "routingConfig"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        "metricName",
        "extendedStatistic",
        "threshold",
        "evaluationPeriods",
        "dimensions",
        "alarmDescription",
    ),
    # score capture (docs/scoring-api.md): log lines -> Firehose -> the lakehouse scores/
    "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter": ("filterPattern",),
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": ("destination",),
    "aws:iam/role:Role": ("assumeRolePolicy",),
    "databricks:index/job:Job": ("name", "parameters", "schedule"),
    "snowflake:index/table:Table": ("name",),
    "snowflake:index/tableConstraint:TableConstraint": ("type", "tableId", "columns"),
    "snowflake:index/warehouse:Warehouse": ("name", "warehouseSize", "autoSuspend"),
    "snowflake:index/serviceUser:ServiceUser": ("name", "defaultRole"),
    "snowflake:index/grantPrivilegesToAccountRole:GrantPrivilegesToAccountRole": ("privileges",),
}


def _ints(value):
    """The wire format carries every number as a float; show whole numbers as integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _short(value, limit: int = 110) -> str:
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    value = _ints(value)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_plan(stack: str) -> int:
    from infra import policies
    from tools import iam_lint
    from tools.pulumi_mocks import run_program
    from tools.stack_files import config_from_stack_file

    cfg = config_from_stack_file(stack)
    run = run_program(cfg)
    print(f"\n=== stack {stack}: offline plan from the Pulumi mock runtime (NOT a provider diff)")
    print(
        "    Shows what the program declares; it does not read your cloud accounts, so nothing\n"
        "    here says what already exists. Suffixed names and ARNs are mock placeholders.\n"
    )
    problems = []
    for r in sorted(run.resources, key=lambda r: (r.type.split(":")[0], r.type, r.name)):
        if r.type.startswith("pulumi:providers:"):
            print(f"  + provider {r.type.split(':')[-1]:<12} {r.name}")
            continue
        print(f"  + {r.type:<60} {r.name}")
        for prop in KEY_PROPERTIES.get(r.type, ()):
            if prop in r.inputs:
                shown = "[secret]" if prop in r.secret_inputs else _short(r.inputs[prop])
                print(f"      {prop}: {shown}")
        if r.type == "aws:iam/rolePolicy:RolePolicy":
            problems += [
                f"{r.name}: {p}" for p in policies.violations(json.loads(r.inputs["policy"]))
            ]
    kinds = Counter(r.type.split(":")[0] for r in run.resources)
    providers, components = kinds.pop("pulumi", 0), kinds.pop("fraud", 0)
    by_cloud = ", ".join(f"{n} {cloud}" for cloud, n in sorted(kinds.items()))
    print(
        f"\n  {sum(kinds.values())} cloud resources ({by_cloud}) in {components} components, "
        f"{providers} explicit provider(s)"
    )
    print("  outputs: " + ", ".join(sorted(run.outputs)))
    if run.secret_outputs:
        print("  secret outputs: " + ", ".join(sorted(run.secret_outputs)))
    print("  IAM check: " + ("OK, no wildcard grants" if not problems else "; ".join(problems)))
    documents = iam_lint.documents(run)
    linted = iam_lint.run_findings(run)
    print(
        f"  parliament: {len(documents)} IAM documents, "
        + ("no findings" if not linted else f"{len(linted)} finding(s):")
    )
    for finding in linted:
        print(f"    {finding}")
    return 1 if problems or linted else 0


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from fraud_mlops.errors import FraudMlopsError

    stacks = argv or sorted(p.name.split(".")[1] for p in (REPO / "stacks").glob("Pulumi.*.yaml"))
    status = 0
    for stack in stacks:
        try:
            status |= print_plan(stack)
        except FraudMlopsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
