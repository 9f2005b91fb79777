"""The fraud-mlops CrossGuard rules: one small validate function per policy, and the policies.

Each function reads what the engine gives a policy (``args.props`` under the providers' wire
names, ``args.opts.protect``, ``args.provider.props``) and calls ``report`` once per violation,
naming the resource and the fix. ``POLICIES`` wraps them for ``__main__.py``; ``VALIDATORS`` maps
each policy name to its function so the unit tests (tests/policy) can call them directly on the
resources of a mocked program run. Self-contained on purpose: the pack runs in its own
virtualenv (requirements.txt) and imports nothing from the program.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
PUBLIC_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}

# Inline or managed IAM documents, by resource type and input.
IAM_DOCUMENTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"

# AWS resources of this program that take tags; each needs REQUIRED_TAGS (its own tags plus its
# provider's default tags, as AWS will see them).
TAGGABLE = {
    BUCKET,
    "aws:kms/key:Key",
    "aws:iam/role:Role",
    "aws:iam/instanceProfile:InstanceProfile",
    LOG_GROUP,
    "aws:lambda/function:Function",
    "aws:dynamodb/table:Table",
    "aws:batch/computeEnvironment:ComputeEnvironment",
    "aws:batch/jobQueue:JobQueue",
    "aws:ecr/repository:Repository",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:secretsmanager/secret:Secret",
    "aws:ecs/cluster:Cluster",
    "aws:ecs/service:Service",
    "aws:rds/instance:Instance",
    "aws:apigateway/restApi:RestApi",
}
REQUIRED_TAGS = ("project", "stack", "managed-by")

# Data that cannot be recreated: protected in the stacks named by the `protectedStacks` config.
PROTECTED_TYPES = {
    BUCKET,
    "aws:kms/key:Key",
    "snowflake:index/database:Database",
    "aws:rds/instance:Instance",
}
DEFAULT_PROTECTED_STACKS = ["prod"]

Report = Callable[..., None]


def _stack_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> ``<stack>``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str | dict) else list(value)


def _document(value: Any) -> dict:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _companions(bucket, resources: Iterable, type_: str) -> list:
    """Resources of ``type_`` whose ``bucket`` input is this bucket.

    At preview a new bucket's id is unknown, so the link is read from the property
    dependencies the engine records (``bucket=bucket.id`` depends on the bucket); a known
    value (an existing bucket's name) is matched too.
    """
    names = {bucket.props.get("bucket"), bucket.props.get("id")} - {None}
    found = []
    for r in resources:
        if r.resource_type != type_:
            continue
        deps = (getattr(r, "property_dependencies", None) or {}).get("bucket", [])
        if any(d.urn == bucket.urn for d in deps) or r.props.get("bucket") in names:
            found.append(r)
    return found


# --- stack policies: a bucket and its companion resources -------------------------------------


def no_public_bucket(args, report: Report) -> None:
    """Every bucket has a public-access block with all four flags on, and no public ACL."""
    for bucket in (r for r in args.resources if r.resource_type == BUCKET):
        found = _companions(bucket, args.resources, PUBLIC_ACCESS_BLOCK)
        if not found:
            report(f"bucket {bucket.name} has no BucketPublicAccessBlock", bucket.urn)
        for block in found:
            off = [f for f in PUBLIC_FLAGS if block.props.get(f) is not True]
            if off:
                report(f"bucket {bucket.name}: public-access block has {off} off", block.urn)
        for acl in [bucket, *_companions(bucket, args.resources, BUCKET_ACL)]:
            if acl.props.get("acl") in PUBLIC_ACLS:
                report(f"bucket {bucket.name}: public ACL {acl.props['acl']!r}", acl.urn)


def encrypted_buckets(args, report: Report) -> None:
    """Every bucket has default server-side encryption (SSE-S3 or SSE-KMS)."""
    for bucket in (r for r in args.resources if r.resource_type == BUCKET):
        rules = [
            rule.get("applyServerSideEncryptionByDefault", {})
            for c in _companions(bucket, args.resources, BUCKET_SSE)
            for rule in _as_list(c.props.get("rules"))
        ]
        if not any(r.get("sseAlgorithm") in ("AES256", "aws:kms", "aws:kms:dsse") for r in rules):
            report(
                f"bucket {bucket.name} has no default encryption: add a "
                "BucketServerSideEncryptionConfiguration (AES256 or aws:kms)",
                bucket.urn,
            )


def tls_only_buckets(args, report: Report) -> None:
    """Every bucket's policy denies any request without TLS, on the bucket and its objects."""
    for bucket in (r for r in args.resources if r.resource_type == BUCKET):
        denies_http = False
        for policy in _companions(bucket, args.resources, BUCKET_POLICY):
            for stmt in _as_list(_document(policy.props.get("policy")).get("Statement")):
                condition = stmt.get("Condition", {}).get("Bool", {})
                resources = _as_list(stmt.get("Resource"))
                if (
                    stmt.get("Effect") == "Deny"
                    and str(condition.get("aws:SecureTransport")).lower() == "false"
                    and "s3:*" in _as_list(stmt.get("Action"))
                    and any(r.endswith("/*") for r in resources)
                    and any(not r.endswith("/*") for r in resources)
                ):
                    denies_http = True
        if not denies_http:
            report(
                f"bucket {bucket.name} has no policy denying plain HTTP "
                "(Deny s3:* on the bucket and bucket/* when aws:SecureTransport is false)",
                bucket.urn,
            )


# --- resource policies -------------------------------------------------------------------------


def encryption_at_rest(args, report: Report) -> None:
    """KMS keys rotate; DynamoDB tables, ECR repositories and RDS instances are encrypted."""
    props, kind = args.props, args.resource_type
    if kind == "aws:kms/key:Key" and props.get("enableKeyRotation") is not True:
        report(f"KMS key {args.name}: set enable_key_rotation=True")
    elif kind == "aws:dynamodb/table:Table":
        if not (props.get("serverSideEncryption") or {}).get("enabled"):
            report(f"DynamoDB table {args.name}: set server_side_encryption enabled")
    elif kind == "aws:ecr/repository:Repository":
        configs = _as_list(props.get("encryptionConfigurations"))
        if not any(c.get("encryptionType") in ("AES256", "KMS") for c in configs):
            report(f"ECR repository {args.name}: set encryption_configurations (AES256 or KMS)")
    elif kind == "aws:rds/instance:Instance" and props.get("storageEncrypted") is not True:
        report(f"RDS instance {args.name}: set storage_encrypted=True")


def function_url_iam_auth(args, report: Report) -> None:
    """A Lambda Function URL takes only SigV4-signed calls (``AWS_IAM``), never ``NONE``."""
    if args.resource_type == FUNCTION_URL and args.props.get("authorizationType") != "AWS_IAM":
        report(
            f"Function URL {args.name}: authorization_type is "
            f"{args.props.get('authorizationType')!r}; use AWS_IAM"
        )


def no_wildcard_actions(args, report: Report) -> None:
    """No IAM grant allows ``*`` or ``<service>:*`` actions (a wildcard is not least privilege)."""
    key = IAM_DOCUMENTS.get(args.resource_type)
    if key is None:
        return
    for stmt in _as_list(_document(args.props.get(key)).get("Statement")):
        if stmt.get("Effect") != "Allow":
            continue
        for action in _as_list(stmt.get("Action")) + _as_list(stmt.get("NotAction")):
            if action == "*" or action.endswith(":*"):
                report(f"{args.name} ({stmt.get('Sid', 'no Sid')}): wildcard action {action!r}")


def log_retention(args, report: Report) -> None:
    """Every log group has a retention (CloudWatch keeps logs forever otherwise)."""
    if args.resource_type == LOG_GROUP and not args.props.get("retentionInDays"):
        report(f"log group {args.props.get('name', args.name)}: set retention_in_days")


def required_tags(args, report: Report) -> None:
    """Taggable AWS resources carry project, stack and managed-by (own or provider defaults)."""
    if args.resource_type not in TAGGABLE:
        return
    tags = dict(args.props.get("tags") or {})
    provider = getattr(args, "provider", None)
    if provider is not None:
        # Provider inputs travel JSON-encoded: {"tags": {...}} or its string form.
        defaults = _document(provider.props.get("defaultTags")).get("tags") or {}
        tags = {**defaults, **tags}
    missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
    if missing:
        report(f"{args.resource_type} {args.name} lacks tags {missing}")


def protect_prod_data(args, report: Report) -> None:
    """In protected stacks (prod), data buckets, KMS keys and databases are ``protect``-ed."""
    stacks = args.get_config().get("protectedStacks", DEFAULT_PROTECTED_STACKS)
    if args.resource_type not in PROTECTED_TYPES or _stack_of(args.urn) not in stacks:
        return
    if not args.opts.protect:
        report(
            f"{args.resource_type} {args.name} holds data that cannot be recreated: "
            "set protect=True (fraud-mlops:protectData)"
        )


MANDATORY = EnforcementLevel.MANDATORY
POLICIES = [
    StackValidationPolicy(
        name="s3-no-public-bucket",
        description="Buckets block all public access and carry no public ACL.",
        validate=no_public_bucket,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="s3-encryption-at-rest",
        description="Every bucket has default server-side encryption.",
        validate=encrypted_buckets,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="s3-tls-only",
        description="Every bucket policy denies requests without TLS.",
        validate=tls_only_buckets,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="encryption-at-rest",
        description="KMS keys rotate; tables, repositories and databases are encrypted.",
        validate=encryption_at_rest,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="lambda-url-iam-auth",
        description="Function URLs require AWS_IAM (SigV4) authentication.",
        validate=function_url_iam_auth,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="iam-no-wildcard-actions",
        description="No IAM policy allows * or <service>:* actions.",
        validate=no_wildcard_actions,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="log-retention",
        description="Every CloudWatch log group sets a retention.",
        validate=log_retention,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="required-tags",
        description="Taggable AWS resources carry project, stack and managed-by tags.",
        validate=required_tags,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="protect-prod-data",
        description="Data buckets, KMS keys and databases are protected in prod stacks.",
        validate=protect_prod_data,
        enforcement_level=MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={
                "protectedStacks": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": DEFAULT_PROTECTED_STACKS,
                }
            }
        ),
    ),
]
VALIDATORS: dict[str, Callable] = {
    "s3-no-public-bucket": no_public_bucket,
    "s3-encryption-at-rest": encrypted_buckets,
    "s3-tls-only": tls_only_buckets,
    "encryption-at-rest": encryption_at_rest,
    "lambda-url-iam-auth": function_url_iam_auth,
    "iam-no-wildcard-actions": no_wildcard_actions,
    "log-retention": log_retention,
    "required-tags": required_tags,
    "protect-prod-data": protect_prod_data,
}
STACK_POLICIES = {"s3-no-public-bucket", "s3-encryption-at-rest", "s3-tls-only"}
