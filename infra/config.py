"""The stack configuration: every key the program reads, typed, defaulted and validated.

One table (:data:`KEYS`) declares each ``fraud-mlops:<key>`` with its type, default and meaning;
the README and ``docs/infrastructure.md`` list the same keys. :func:`parse_stack_config` turns raw
values (from ``pulumi.Config`` in a real run, from ``stacks/Pulumi.<stack>.yaml`` in tests and
``make plan``) into a frozen :class:`StackConfig`, reporting every problem at once.

Secret keys arrive as ``pulumi.Output`` secrets and are passed through untouched: they are never
read, printed or defaulted here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraud_mlops.errors import ConfigError

NAMESPACE = "fraud-mlops"
_STACK = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_SNOWFLAKE_IDENT = re.compile(r"^[A-Z_][A-Z0-9_$]{0,254}$")


@dataclass(frozen=True)
class Key:
    """One stack configuration key. ``kind``: str, int, bool, list, secret."""

    name: str
    kind: str
    default: Any
    help: str


KEYS: tuple[Key, ...] = (
    # AWS
    Key("awsRegion", "str", None, "AWS region of every AWS resource (required)"),
    Key("vpcId", "str", None, "VPC for Batch; unset = the account's default VPC"),
    Key("subnetIds", "list", [], "Subnets for Batch (required with vpcId)"),
    Key("forceDestroy", "bool", False, "let `pulumi destroy` delete non-empty buckets (dev only)"),
    Key("datastoreRetentionDays", "int", 90, "expire Metaflow datastore objects after N days"),
    # Compute
    Key("computeType", "str", "spot", "spot (EC2 Spot + on-demand fallback), ec2 or fargate"),
    Key("maxVcpus", "int", 64, "vCPU cap of each CPU compute environment"),
    Key("instanceTypes", "list", ["c6i", "m6i"], "EC2 instance families for CPU queues"),
    Key("gpu", "bool", False, "also create a GPU compute environment and queue"),
    Key("gpuInstanceTypes", "list", ["g5"], "EC2 instance families for the GPU queue"),
    Key("gpuMaxVcpus", "int", 16, "vCPU cap of the GPU compute environment"),
    Key("imageTag", "str", "latest", "tag of the training image in the stack's ECR repository"),
    Key("ecrKeepImages", "int", 30, "ECR lifecycle: keep the newest N images"),
    # Orchestration
    Key("stateMachinePrefix", "str", None, "prefix of Step Functions state machines"),
    # Serving
    Key("modelName", "str", "claims-fraud", "model name inside the models bucket"),
    Key("modelVersion", "str", "champion", "version the Lambda serves: champion or a version id"),
    Key("lambdaZip", "str", "dist/lambda.zip", "scoring Lambda package (`make build-lambda`)"),
    Key("lambdaMemoryMb", "int", 1024, "Lambda memory (MB); CPU scales with it"),
    Key("lambdaTimeoutSeconds", "int", 30, "Lambda timeout"),
    Key("lambdaReservedConcurrency", "int", 10, "Lambda reserved concurrency (cost/blast cap)"),
    Key("maxBatchSize", "int", 1000, "claims per scoring request (MAX_BATCH_SIZE)"),
    Key(
        "logRetentionDays", "int", 30, "CloudWatch log retention for Lambda, Batch, Step Functions"
    ),
    # Other serving targets (off by default; `fraud-mlops deploy --target` switches them on)
    Key("servingImageTag", "str", "latest", "tag of the serving image (Dockerfile.serving) in ECR"),
    Key("sagemakerEnabled", "bool", False, "serve the model on a SageMaker real-time endpoint"),
    Key("sagemakerInstanceType", "str", "ml.m5.large", "SageMaker endpoint instance type"),
    Key("sagemakerInstanceCount", "int", 1, "SageMaker endpoint instances"),
    Key("k8sEnabled", "bool", False, "serve the model on Kubernetes (Deployment + Service)"),
    Key("k8sKubeconfig", "secret", None, "kubeconfig of the cluster (required with k8sEnabled)"),
    Key("k8sNamespace", "str", "fraud-mlops", "namespace the stack creates for serving"),
    Key("k8sImage", "str", None, "serving image; unset = the stack's ECR repo:servingImageTag"),
    Key("k8sReplicas", "int", 2, "pods of the scoring Deployment"),
    Key("k8sCpuRequest", "str", "250m", "CPU request of each pod"),
    Key("k8sCpuLimit", "str", "1", "CPU limit of each pod"),
    Key("k8sMemory", "str", "512Mi", "memory request and limit of each pod"),
    Key("k8sServiceType", "str", "ClusterIP", "Service type: ClusterIP, NodePort or LoadBalancer"),
    Key("k8sRoleArn", "str", None, "IAM role for the pods' service account (IRSA) to read S3"),
    # Databricks
    Key("databricksEnabled", "bool", False, "create the Databricks job"),
    Key("databricksHost", "str", None, "workspace URL, e.g. https://dbc-123.cloud.databricks.com"),
    Key("databricksToken", "secret", None, "workspace token (unset = DATABRICKS_* env / profile)"),
    Key("databricksCompute", "str", "serverless", "serverless or cluster"),
    Key("databricksGitUrl", "str", None, "Git repository the job checks out (or use a wheel)"),
    Key("databricksGitBranch", "str", "main", "branch of databricksGitUrl"),
    Key("databricksWheel", "str", None, "library wheel path (e.g. /Volumes/...whl) instead of Git"),
    Key("databricksFlowFile", "str", None, "workspace path of the flow file (wheel mode)"),
    Key("databricksNodeType", "str", "m6i.xlarge", "cluster node type (databricksCompute=cluster)"),
    Key("databricksSparkVersion", "str", "15.4.x-cpu-ml-scala2.12", "cluster runtime"),
    Key("databricksWorkers", "int", 0, "cluster workers (0 = single node)"),
    Key("databricksSchedule", "str", None, "Quartz cron for scheduled runs (unset = manual)"),
    Key("databricksTrials", "int", 8, "default hyperparameter trials of the job"),
    # Snowflake
    Key("snowflakeEnabled", "bool", False, "create the Snowflake objects"),
    Key("snowflakeOrganization", "str", None, "Snowflake organization name"),
    Key("snowflakeAccount", "str", None, "Snowflake account name"),
    Key("snowflakeAdminUser", "str", None, "user Pulumi connects as (key-pair auth)"),
    Key("snowflakeAdminRole", "str", None, "role Pulumi uses; needs CREATE DATABASE/ROLE/USER"),
    Key("snowflakeAdminPrivateKey", "secret", None, "PEM private key of snowflakeAdminUser"),
    Key("snowflakeDatabase", "str", None, "database name (default FRAUD_MLOPS_<STACK>)"),
    Key("snowflakeSchema", "str", None, "schema name (default from the library's specs)"),
    Key("snowflakeWarehouseSize", "str", "XSMALL", "warehouse size"),
    Key("snowflakeAutoSuspendSeconds", "int", 60, "warehouse auto-suspend"),
    Key("snowflakeServiceUserPublicKey", "str", None, "RSA public key (PEM body) of the sync user"),
    Key("snowflakeServiceUserPrivateKey", "secret", None, "its private key, stored in AWS SM"),
)
KEYS_BY_NAME = {k.name: k for k in KEYS}


@dataclass(frozen=True)
class ComputeConfig:
    compute_type: str
    max_vcpus: int
    instance_types: tuple[str, ...]
    gpu: bool
    gpu_instance_types: tuple[str, ...]
    gpu_max_vcpus: int
    image_tag: str
    ecr_keep_images: int


@dataclass(frozen=True)
class ServingConfig:
    model_name: str
    model_version: str
    lambda_zip: str
    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int
    max_batch_size: int


@dataclass(frozen=True)
class SageMakerConfig:
    enabled: bool
    instance_type: str = "ml.m5.large"
    instance_count: int = 1


@dataclass(frozen=True)
class KubernetesConfig:
    enabled: bool
    kubeconfig: Any = None  # a secret Output or None
    namespace: str = "fraud-mlops"
    image: str | None = None
    replicas: int = 2
    cpu_request: str = "250m"
    cpu_limit: str = "1"
    memory: str = "512Mi"
    service_type: str = "ClusterIP"
    role_arn: str | None = None


@dataclass(frozen=True)
class DatabricksConfig:
    enabled: bool
    host: str | None = None
    token: Any = None  # a secret Output or None
    compute: str = "serverless"
    git_url: str | None = None
    git_branch: str = "main"
    wheel: str | None = None
    flow_file: str | None = None
    node_type: str = "m6i.xlarge"
    spark_version: str = "15.4.x-cpu-ml-scala2.12"
    workers: int = 0
    schedule: str | None = None
    trials: int = 8


@dataclass(frozen=True)
class SnowflakeConfig:
    enabled: bool
    organization: str | None = None
    account: str | None = None
    admin_user: str | None = None
    admin_role: str | None = None
    admin_private_key: Any = None
    database: str = ""
    schema: str = ""
    warehouse_size: str = "XSMALL"
    auto_suspend_seconds: int = 60
    service_public_key: str | None = None
    service_private_key: Any = None


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs, validated. Build it with :func:`parse_stack_config`."""

    project: str
    stack: str
    aws_region: str
    vpc_id: str | None
    subnet_ids: tuple[str, ...]
    force_destroy: bool
    datastore_retention_days: int
    log_retention_days: int
    state_machine_prefix: str
    compute: ComputeConfig
    serving: ServingConfig
    databricks: DatabricksConfig
    snowflake: SnowflakeConfig
    tags: dict[str, str] = field(default_factory=dict)
    serving_image_tag: str = "latest"
    sagemaker: SageMakerConfig = SageMakerConfig(enabled=False)
    kubernetes: KubernetesConfig = KubernetesConfig(enabled=False)

    @property
    def prefix(self) -> str:
        """Name prefix of every resource: ``fraud-mlops-<stack>``."""
        return f"{self.project}-{self.stack}"


# CloudWatch accepts only these retention values.
_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)


class _Reader:
    """Typed access to raw values that collects every problem instead of stopping at the first."""

    def __init__(self, values: Mapping[str, Any]):
        self.values = values
        self.problems: list[str] = []

    def get(self, name: str) -> Any:
        key = KEYS_BY_NAME[name]
        raw = self.values.get(name)
        if raw is None or raw == "":
            return list(key.default) if isinstance(key.default, list) else key.default
        if key.kind == "secret":
            return raw
        try:
            return _coerce(raw, key.kind)
        except ValueError as exc:
            self.problems.append(f"{NAMESPACE}:{name}={raw!r}: {exc}")
            return key.default

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def _coerce(raw: Any, kind: str) -> Any:
    if kind == "str":
        return str(raw).strip()
    if kind == "int":
        if isinstance(raw, bool):
            raise ValueError("expected a whole number")
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "yes", "1"):
            return True
        if text in ("false", "no", "0"):
            return False
        raise ValueError("expected true or false")
    if kind == "list":
        if isinstance(raw, str):
            # `pulumi config set subnetIds a,b` stores a string; structured YAML stores a list.
            return [p.strip() for p in raw.split(",") if p.strip()]
        if isinstance(raw, list | tuple):
            return [str(p).strip() for p in raw]
        raise ValueError("expected a list (YAML list or comma-separated)")
    raise AssertionError(f"unknown key kind {kind!r}")


def parse_stack_config(
    stack: str, values: Mapping[str, Any], *, project: str = NAMESPACE
) -> StackConfig:
    """Validate raw ``fraud-mlops:*`` values (keys without the namespace) into a StackConfig.

    Raises:
        ConfigError: listing every unknown key and every invalid or missing value.
    """
    r = _Reader(values)
    unknown = sorted(set(values) - set(KEYS_BY_NAME))
    for name in unknown:
        r.problems.append(f"{NAMESPACE}:{name} is not a known key (see docs/infrastructure.md)")
    r.check(bool(_STACK.match(stack)), f"stack name {stack!r}: use 1-20 lowercase letters/digits/-")

    region = r.get("awsRegion")
    r.check(bool(region), f"{NAMESPACE}:awsRegion is required: `pulumi config set awsRegion ...`")
    vpc_id, subnets = r.get("vpcId"), tuple(r.get("subnetIds"))
    r.check(
        not vpc_id or bool(subnets),
        f"{NAMESPACE}:vpcId={vpc_id!r} needs subnetIds too (private subnets with a NAT route)",
    )
    r.check(not subnets or bool(vpc_id), f"{NAMESPACE}:subnetIds given without vpcId")
    retention = r.get("logRetentionDays")
    r.check(
        retention in _RETENTION_DAYS,
        f"{NAMESPACE}:logRetentionDays={retention}: CloudWatch accepts one of {_RETENTION_DAYS}",
    )

    compute = ComputeConfig(
        compute_type=r.get("computeType"),
        max_vcpus=r.get("maxVcpus"),
        instance_types=tuple(r.get("instanceTypes")),
        gpu=r.get("gpu"),
        gpu_instance_types=tuple(r.get("gpuInstanceTypes")),
        gpu_max_vcpus=r.get("gpuMaxVcpus"),
        image_tag=r.get("imageTag"),
        ecr_keep_images=r.get("ecrKeepImages"),
    )
    r.check(
        compute.compute_type in ("spot", "ec2", "fargate"),
        f"{NAMESPACE}:computeType={compute.compute_type!r}: use spot, ec2 or fargate",
    )
    r.check(
        1 <= compute.max_vcpus <= 4096,
        f"{NAMESPACE}:maxVcpus={compute.max_vcpus}: use 1-4096 (it caps the monthly bill)",
    )
    r.check(
        not (compute.gpu and compute.compute_type == "fargate"),
        f"{NAMESPACE}:gpu=true needs computeType spot or ec2: Fargate has no GPUs",
    )

    serving = ServingConfig(
        model_name=r.get("modelName"),
        model_version=r.get("modelVersion"),
        lambda_zip=r.get("lambdaZip"),
        memory_mb=r.get("lambdaMemoryMb"),
        timeout_seconds=r.get("lambdaTimeoutSeconds"),
        reserved_concurrency=r.get("lambdaReservedConcurrency"),
        max_batch_size=r.get("maxBatchSize"),
    )
    r.check(
        bool(_MODEL_NAME.match(serving.model_name)),
        f"{NAMESPACE}:modelName={serving.model_name!r}: lowercase letters, digits, . _ -",
    )
    r.check(
        128 <= serving.memory_mb <= 10240,
        f"{NAMESPACE}:lambdaMemoryMb={serving.memory_mb}: Lambda allows 128-10240",
    )
    r.check(
        1 <= serving.timeout_seconds <= 900,
        f"{NAMESPACE}:lambdaTimeoutSeconds={serving.timeout_seconds}: Lambda allows 1-900",
    )
    r.check(
        serving.reserved_concurrency >= 1,
        f"{NAMESPACE}:lambdaReservedConcurrency={serving.reserved_concurrency}: must be >= 1 "
        "(0 would disable the function)",
    )
    r.check(serving.max_batch_size >= 1, f"{NAMESPACE}:maxBatchSize must be >= 1")

    databricks = _databricks(r)
    snowflake = _snowflake(r, stack)
    sagemaker = _sagemaker(r)
    kubernetes = _kubernetes(r)
    prefix = r.get("stateMachinePrefix") or f"{project}-{stack}"
    if r.problems:
        raise ConfigError(
            f"stack {stack!r}: {len(r.problems)} configuration problem(s):\n"
            + "\n".join(f"  - {p}" for p in r.problems)
            + "\nFix them with `pulumi config set -s <stack> <key> <value>` "
            "(add --secret for secrets)."
        )
    return StackConfig(
        project=project,
        stack=stack,
        aws_region=region,
        vpc_id=vpc_id,
        subnet_ids=subnets,
        force_destroy=r.get("forceDestroy"),
        datastore_retention_days=r.get("datastoreRetentionDays"),
        log_retention_days=retention,
        state_machine_prefix=prefix,
        compute=compute,
        serving=serving,
        databricks=databricks,
        snowflake=snowflake,
        tags={"project": project, "stack": stack, "managed-by": "pulumi"},
        serving_image_tag=r.get("servingImageTag"),
        sagemaker=sagemaker,
        kubernetes=kubernetes,
    )


def _sagemaker(r: _Reader) -> SageMakerConfig:
    if not r.get("sagemakerEnabled"):
        return SageMakerConfig(enabled=False)
    cfg = SageMakerConfig(
        enabled=True,
        instance_type=r.get("sagemakerInstanceType"),
        instance_count=r.get("sagemakerInstanceCount"),
    )
    r.check(
        cfg.instance_type.startswith("ml."),
        f"{NAMESPACE}:sagemakerInstanceType={cfg.instance_type!r}: SageMaker instance types "
        "start with ml. (e.g. ml.m5.large)",
    )
    r.check(cfg.instance_count >= 1, f"{NAMESPACE}:sagemakerInstanceCount must be >= 1")
    return cfg


_K8S_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


def _kubernetes(r: _Reader) -> KubernetesConfig:
    if not r.get("k8sEnabled"):
        return KubernetesConfig(enabled=False)
    cfg = KubernetesConfig(
        enabled=True,
        kubeconfig=r.get("k8sKubeconfig"),
        namespace=r.get("k8sNamespace"),
        image=r.get("k8sImage"),
        replicas=r.get("k8sReplicas"),
        cpu_request=str(r.get("k8sCpuRequest")),
        cpu_limit=str(r.get("k8sCpuLimit")),
        memory=str(r.get("k8sMemory")),
        service_type=r.get("k8sServiceType"),
        role_arn=r.get("k8sRoleArn"),
    )
    r.check(
        cfg.kubeconfig is not None,
        f"{NAMESPACE}:k8sKubeconfig is required when k8sEnabled: "
        "`pulumi config set --secret k8sKubeconfig < ~/.kube/config`",
    )
    r.check(
        bool(re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", cfg.namespace)),
        f"{NAMESPACE}:k8sNamespace={cfg.namespace!r} is not a DNS label (lowercase, digits, -)",
    )
    r.check(cfg.replicas >= 1, f"{NAMESPACE}:k8sReplicas={cfg.replicas}: must be >= 1")
    for label, value in (
        ("k8sCpuRequest", cfg.cpu_request),
        ("k8sCpuLimit", cfg.cpu_limit),
        ("k8sMemory", cfg.memory),
    ):
        r.check(
            bool(_K8S_QUANTITY.match(value)),
            f"{NAMESPACE}:{label}={value!r} is not a Kubernetes quantity (e.g. 250m, 1, 512Mi)",
        )
    r.check(
        cfg.service_type in ("ClusterIP", "NodePort", "LoadBalancer"),
        f"{NAMESPACE}:k8sServiceType={cfg.service_type!r}: use ClusterIP, NodePort or LoadBalancer",
    )
    return cfg


def _databricks(r: _Reader) -> DatabricksConfig:
    if not r.get("databricksEnabled"):
        return DatabricksConfig(enabled=False)
    cfg = DatabricksConfig(
        enabled=True,
        host=r.get("databricksHost"),
        token=r.get("databricksToken"),
        compute=r.get("databricksCompute"),
        git_url=r.get("databricksGitUrl"),
        git_branch=r.get("databricksGitBranch"),
        wheel=r.get("databricksWheel"),
        flow_file=r.get("databricksFlowFile"),
        node_type=r.get("databricksNodeType"),
        spark_version=r.get("databricksSparkVersion"),
        workers=r.get("databricksWorkers"),
        schedule=r.get("databricksSchedule"),
        trials=r.get("databricksTrials"),
    )
    r.check(bool(cfg.host), f"{NAMESPACE}:databricksHost is required when databricksEnabled")
    r.check(
        cfg.compute in ("serverless", "cluster"),
        f"{NAMESPACE}:databricksCompute={cfg.compute!r}: use serverless or cluster",
    )
    r.check(
        bool(cfg.git_url) != bool(cfg.wheel),
        f"{NAMESPACE}: set exactly one of databricksGitUrl (run the flow from Git) or "
        "databricksWheel (run the installed library)",
    )
    r.check(
        not cfg.wheel or bool(cfg.flow_file),
        f"{NAMESPACE}:databricksWheel needs databricksFlowFile (the flow uploaded to the "
        "workspace, e.g. /Workspace/Shared/fraud-mlops/fraud_detection_flow.py)",
    )
    r.check(cfg.trials >= 1, f"{NAMESPACE}:databricksTrials must be >= 1")
    return cfg


def _snowflake(r: _Reader, stack: str) -> SnowflakeConfig:
    if not r.get("snowflakeEnabled"):
        return SnowflakeConfig(enabled=False)
    from fraud_mlops.warehouse.specs import SCHEMA_NAME_DEFAULT

    cfg = SnowflakeConfig(
        enabled=True,
        organization=r.get("snowflakeOrganization"),
        account=r.get("snowflakeAccount"),
        admin_user=r.get("snowflakeAdminUser"),
        admin_role=r.get("snowflakeAdminRole"),
        admin_private_key=r.get("snowflakeAdminPrivateKey"),
        database=(r.get("snowflakeDatabase") or f"FRAUD_MLOPS_{stack}").upper().replace("-", "_"),
        schema=(r.get("snowflakeSchema") or SCHEMA_NAME_DEFAULT).upper(),
        warehouse_size=r.get("snowflakeWarehouseSize").upper(),
        auto_suspend_seconds=r.get("snowflakeAutoSuspendSeconds"),
        service_public_key=r.get("snowflakeServiceUserPublicKey"),
        service_private_key=r.get("snowflakeServiceUserPrivateKey"),
    )
    for name in ("snowflakeOrganization", "snowflakeAccount", "snowflakeAdminUser"):
        r.check(bool(r.get(name)), f"{NAMESPACE}:{name} is required when snowflakeEnabled")
    r.check(
        bool(cfg.admin_role),
        f"{NAMESPACE}:snowflakeAdminRole is required when snowflakeEnabled: name a deploy role "
        "with CREATE DATABASE, CREATE ROLE and CREATE USER (avoid ACCOUNTADMIN)",
    )
    r.check(
        cfg.admin_private_key is not None,
        f"{NAMESPACE}:snowflakeAdminPrivateKey is required when snowflakeEnabled: "
        "`pulumi config set --secret snowflakeAdminPrivateKey < rsa_key.p8`",
    )
    r.check(
        bool(cfg.service_public_key) and "PRIVATE" not in (cfg.service_public_key or ""),
        f"{NAMESPACE}:snowflakeServiceUserPublicKey must be the RSA *public* key body "
        "(openssl rsa -in sync_key.p8 -pubout); the private key goes in "
        "snowflakeServiceUserPrivateKey with --secret",
    )
    for label, ident in (("snowflakeDatabase", cfg.database), ("snowflakeSchema", cfg.schema)):
        r.check(
            bool(_SNOWFLAKE_IDENT.match(ident)),
            f"{NAMESPACE}:{label}={ident!r} is not a plain Snowflake identifier",
        )
    r.check(cfg.auto_suspend_seconds >= 60, f"{NAMESPACE}:snowflakeAutoSuspendSeconds >= 60")
    return cfg


def read_stack_file(path: Path) -> tuple[dict[str, Any], set[str]]:
    """Read ``fraud-mlops:*`` values from a stack file; return (values, names of secret keys).

    Encrypted values (``{secure: ...}``) cannot be decrypted offline: they are returned as the
    placeholder ``"<secret>"`` and their names reported, so callers can wrap them as secrets.
    """
    import yaml

    if not path.is_file():
        raise ConfigError(f"stack file {path} not found: create it with `pulumi stack init`")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for full, value in (doc.get("config") or {}).items():
        namespace, _, name = str(full).partition(":")
        if namespace != NAMESPACE:
            continue  # provider keys (aws:region, ...) are not read by the program
        if isinstance(value, dict) and "secure" in value:
            values[name] = "<secret>"
            secrets.add(name)
        else:
            values[name] = value
    return values, secrets
