"""The stack configuration: a pydantic model per section, each key typed, defaulted, ranged once.

Each field names its ``fraud-mlops:<key>`` (``validation_alias``); :data:`KEYS` lists them for
``infra/__main__.py`` (which reads ``pulumi.Config``) and ``scripts/config_reference.py`` (which
writes the README table). :func:`parse_stack_config` validates the raw values (from
``pulumi.Config`` in a real run, from ``stacks/Pulumi.<stack>.yaml`` offline) into a frozen
:class:`StackConfig`, reporting every problem at once.

Secret keys arrive as ``pulumi.Output`` secrets and are passed through untouched, so Pulumi keeps
them encrypted in its state: they are never read, printed or defaulted here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fraud_mlops.errors import ConfigError
from fraud_mlops.settings_base import (
    Problems,
    field_kind,
    key_of,
    problem_report,
    validate_reporting_all,
)

NAMESPACE = "fraud-mlops"
_NS = f"{NAMESPACE}:"
_STACK = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_SNOWFLAKE_IDENT = re.compile(r"^[A-Z_][A-Z0-9_$]{0,254}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_K8S_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
# CloudWatch accepts only these retention values.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)


def _as_list(raw: Any) -> Any:
    # `pulumi config set subnetIds a,b` stores a string; structured YAML stores a list.
    if isinstance(raw, str):
        return [p.strip() for p in raw.split(",") if p.strip()]
    if isinstance(raw, list | tuple):
        return [str(p).strip() for p in raw]
    raise ValueError("expected a list (YAML list or comma-separated)")


Names = Annotated[tuple[str, ...], BeforeValidator(_as_list)]


def key(name: str, default: Any = None, description: str = "", **rules: Any) -> Any:
    """A stack config field read from ``fraud-mlops:<name>``."""
    return Field(default, validation_alias=name, description=description, **rules)


def secret_key(name: str, description: str) -> Any:
    """A secret stack config field: a ``pulumi.Output`` secret or None, never defaulted."""
    return Field(
        None, validation_alias=name, description=description, json_schema_extra={"secret": True}
    )


class _Section(BaseModel):
    """A section of the stack config; ``enabled`` sections validate their keys only when on."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        validate_by_name=True,
        str_strip_whitespace=True,
        coerce_numbers_to_str=True,  # YAML reads `k8sCpuLimit: 1` as a number
        arbitrary_types_allowed=True,  # secrets stay pulumi.Output objects
    )


def _check(problems: list[str], ok: bool, problem: str) -> None:
    if not ok:
        problems.append(problem)


class PlatformConfig(_Section):
    """Keys every stack reads: region, network, retention, naming."""

    aws_region: str = key(
        "awsRegion",
        "",
        "AWS region of every AWS resource",
        json_schema_extra={"shown_default": "required"},
    )
    vpc_id: str | None = key("vpcId", None, "VPC for Batch; unset = the account's default VPC")
    subnet_ids: Names = key("subnetIds", (), "Subnets for Batch (required with vpcId)")
    force_destroy: bool = key(
        "forceDestroy", False, "let `pulumi destroy` delete non-empty buckets (dev only)"
    )
    protect_data: bool = key(
        "protectData",
        False,
        "Pulumi `protect` on the data buckets, the models KMS key, the Snowflake and metadata "
        "databases (prod: on): destroy/replace refuses until `pulumi state unprotect`",
    )
    datastore_retention_days: int = key(
        "datastoreRetentionDays",
        90,
        "keep overwritten/deleted datastore object versions N days (current objects never expire)",
        ge=1,
    )
    log_retention_days: int = key(
        "logRetentionDays",
        30,
        "CloudWatch log retention for Lambda, Batch, Step Functions",
        json_schema_extra={"allowed": "CloudWatch's: " + ", ".join(map(str, RETENTION_DAYS))},
    )
    state_machine_prefix: str = key(
        "stateMachinePrefix",
        None,
        "prefix of Step Functions state machines",
        validate_default=True,
        json_schema_extra={"shown_default": "fraud-mlops-<stack>"},
    )
    serving_image_tag: str = key(
        "servingImageTag", "latest", "tag of the serving image (Dockerfile.serving) in ECR"
    )

    @field_validator("state_machine_prefix", mode="before")
    @classmethod
    def _prefix(cls, value: Any, info: ValidationInfo) -> Any:
        context = info.context or {}
        return value or f"{context.get('project', NAMESPACE)}-{context.get('stack', 'dev')}"

    @model_validator(mode="after")
    def _rules(self) -> PlatformConfig:
        problems: list[str] = []
        _check(
            problems,
            bool(self.aws_region),
            f"{_NS}awsRegion is required: `pulumi config set awsRegion ...`",
        )
        _check(
            problems,
            not self.vpc_id or bool(self.subnet_ids),
            f"{_NS}vpcId={self.vpc_id!r} needs subnetIds too (private subnets with a NAT route)",
        )
        _check(problems, not self.subnet_ids or bool(self.vpc_id), f"{_NS}subnetIds without vpcId")
        _check(
            problems,
            self.log_retention_days in RETENTION_DAYS,
            f"{_NS}logRetentionDays={self.log_retention_days}: CloudWatch accepts one of "
            f"{RETENTION_DAYS}",
        )
        if problems:
            raise Problems(problems)
        return self


class ComputeConfig(_Section):
    """AWS Batch compute environments and queues, and the training image."""

    compute_type: Literal["spot", "ec2", "fargate"] = key(
        "computeType", "spot", "spot (EC2 Spot + on-demand fallback), ec2 or fargate"
    )
    max_vcpus: int = key(
        "maxVcpus", 64, "vCPU cap of each CPU compute environment (it caps the bill)", ge=1, le=4096
    )
    instance_types: Names = key(
        "instanceTypes", ("c6i", "m6i"), "EC2 instance families for CPU queues"
    )
    gpu: bool = key("gpu", False, "also create a GPU compute environment and queue")
    gpu_instance_types: Names = key(
        "gpuInstanceTypes", ("g5",), "EC2 instance families for the GPU queue"
    )
    gpu_max_vcpus: int = key("gpuMaxVcpus", 16, "vCPU cap of the GPU compute environment", ge=1)
    image_tag: str = key("imageTag", "latest", "tag of the training image in the stack's ECR")
    ecr_keep_images: int = key("ecrKeepImages", 30, "ECR lifecycle: keep the newest N images", ge=1)
    manage_batch_log_group: bool = key(
        "manageBatchLogGroup",
        True,
        "create Batch's /aws/batch/job log group with logRetentionDays (one stack per "
        "account+region may own it: false on the others)",
    )

    @model_validator(mode="after")
    def _rules(self) -> ComputeConfig:
        if self.gpu and self.compute_type == "fargate":
            raise ValueError(f"{_NS}gpu=true needs computeType spot or ec2: Fargate has no GPUs")
        return self


class ServingConfig(_Section):
    """The scoring Lambda and its Function URL."""

    model_name: str = key("modelName", "claims-fraud", "model name inside the models bucket")
    model_version: str = key(
        "modelVersion", "champion", "version the Lambda serves: champion or a version id"
    )
    lambda_zip: str = key(
        "lambdaZip", "dist/lambda.zip", "scoring Lambda package (`make build-lambda`)"
    )
    memory_mb: int = key(
        "lambdaMemoryMb", 1024, "Lambda memory (MB); CPU scales with it", ge=128, le=10240
    )
    timeout_seconds: int = key("lambdaTimeoutSeconds", 30, "Lambda timeout", ge=1, le=900)
    reserved_concurrency: int | None = key(
        "lambdaReservedConcurrency",
        None,
        "Lambda reserved concurrency (unset = none: accounts with the reduced default quota "
        "must keep 100 unreserved; prod may cap cost/blast radius with it)",
        ge=1,
    )
    max_batch_size: int = key(
        "maxBatchSize", 1000, "claims per scoring request (MAX_BATCH_SIZE)", ge=1
    )
    # Releases (infra/serving.py, docs/releases.md): published versions behind a `live` alias.
    snap_start: bool = key(
        "lambdaSnapStart", True, "SnapStart on published versions (model loaded before snapshot)"
    )
    shadow_version: str | None = key(
        "shadowVersion", None, "a published non-champion model version scored in shadow"
    )
    alarm_error_rate_percent: float = key(
        "alarmErrorRatePercent", 1.0, "5xx rate (%) that alarms and rolls a canary back", gt=0
    )
    alarm_p99_ms: int = key(
        "alarmP99Ms", 1000, "p99 Lambda duration (ms) that alarms and rolls a canary back", ge=1
    )
    capture_enabled: bool = key(
        "captureEnabled",
        False,
        "capture every score: log line -> Firehose -> lakehouse scores/ (needs captureKeySalt)",
    )
    capture_key_salt: Any = secret_key(
        "captureKeySalt",
        "HMAC salt of captured claim keys (CAPTURE_KEY_SALT); required with captureEnabled",
    )

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not _MODEL_NAME.match(value):
            raise ValueError(f"{_NS}modelName={value!r}: lowercase letters, digits, . _ -")
        return value

    @model_validator(mode="after")
    def _capture_salt(self) -> ServingConfig:
        if self.capture_enabled and self.capture_key_salt is None:
            raise ValueError(
                f"{_NS}captureKeySalt is required while captureEnabled is true: "
                '`pulumi config set --secret captureKeySalt "$(openssl rand -hex 32)"` '
                "(keep it: outcomes join captured scores through it), or captureEnabled=false"
            )
        return self


class SageMakerConfig(_Section):
    """A SageMaker real-time endpoint serving the model (off by default)."""

    enabled: bool = key("sagemakerEnabled", False, "serve the model on a SageMaker endpoint")
    instance_type: str = key(
        "sagemakerInstanceType", "ml.m5.large", "SageMaker endpoint instance type"
    )
    instance_count: int = key("sagemakerInstanceCount", 1, "SageMaker endpoint instances", ge=1)

    @field_validator("instance_type")
    @classmethod
    def _ml_type(cls, value: str) -> str:
        if not value.startswith("ml."):
            raise ValueError(
                f"{_NS}sagemakerInstanceType={value!r}: SageMaker instance types start with ml. "
                "(e.g. ml.m5.large)"
            )
        return value


class KubernetesConfig(_Section):
    """A Kubernetes Deployment + Service serving the model (off by default)."""

    enabled: bool = key("k8sEnabled", False, "serve the model on Kubernetes (Deployment + Service)")
    kubeconfig: Any = secret_key(
        "k8sKubeconfig", "kubeconfig of the cluster (required with k8sEnabled)"
    )
    namespace: str = key("k8sNamespace", "fraud-mlops", "namespace the stack creates for serving")
    image: str | None = key(
        "k8sImage", None, "serving image; unset = the stack's ECR repo:servingImageTag"
    )
    replicas: int = key("k8sReplicas", 2, "pods of the scoring Deployment", ge=1)
    cpu_request: str = key("k8sCpuRequest", "250m", "CPU request of each pod")
    cpu_limit: str = key("k8sCpuLimit", "1", "CPU limit of each pod")
    memory: str = key("k8sMemory", "512Mi", "memory request and limit of each pod")
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = key(
        "k8sServiceType", "ClusterIP", "Service type: ClusterIP, NodePort or LoadBalancer"
    )
    role_arn: str | None = key(
        "k8sRoleArn", None, "IAM role for the pods' service account (IRSA) to read S3"
    )

    @field_validator("namespace")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError(
                f"{_NS}k8sNamespace={value!r} is not a DNS label (lowercase, digits, -)"
            )
        return value

    @field_validator("cpu_request", "cpu_limit", "memory")
    @classmethod
    def _quantity(cls, value: str, info: ValidationInfo) -> str:
        if not _K8S_QUANTITY.match(value):
            name = key_of(cls.model_fields[info.field_name or ""], info.field_name or "")
            raise ValueError(
                f"{_NS}{name}={value!r} is not a Kubernetes quantity (e.g. 250m, 1, 512Mi)"
            )
        return value

    @model_validator(mode="after")
    def _rules(self) -> KubernetesConfig:
        if self.enabled and self.kubeconfig is None:
            raise ValueError(
                f"{_NS}k8sKubeconfig is required when k8sEnabled: "
                "`pulumi config set --secret k8sKubeconfig < ~/.kube/config`"
            )
        return self


class DatabricksConfig(_Section):
    """The Databricks training job (off by default)."""

    enabled: bool = key("databricksEnabled", False, "create the Databricks job")
    host: str | None = key(
        "databricksHost", None, "workspace URL, e.g. https://dbc-123.cloud.databricks.com"
    )
    token: Any = secret_key(
        "databricksToken", "workspace token (unset = DATABRICKS_* env / profile)"
    )
    compute: Literal["serverless", "cluster"] = key(
        "databricksCompute", "serverless", "serverless or cluster"
    )
    git_url: str | None = key(
        "databricksGitUrl", None, "Git repository the job checks out (or use a wheel)"
    )
    git_branch: str = key("databricksGitBranch", "main", "branch of databricksGitUrl")
    wheel: str | None = key(
        "databricksWheel", None, "library wheel path (e.g. /Volumes/...whl) instead of Git"
    )
    flow_file: str | None = key(
        "databricksFlowFile", None, "workspace path of the flow file (wheel mode)"
    )
    node_type: str = key(
        "databricksNodeType", "m6i.xlarge", "cluster node type (databricksCompute=cluster)"
    )
    spark_version: str = key("databricksSparkVersion", "15.4.x-cpu-ml-scala2.12", "cluster runtime")
    workers: int = key("databricksWorkers", 0, "cluster workers (0 = single node)", ge=0)
    schedule: str | None = key(
        "databricksSchedule", None, "Quartz cron for scheduled runs (unset = manual)"
    )
    trials: int = key("databricksTrials", 8, "default hyperparameter trials of the job", ge=1)

    @model_validator(mode="after")
    def _rules(self) -> DatabricksConfig:
        if not self.enabled:
            return self
        problems: list[str] = []
        _check(problems, bool(self.host), f"{_NS}databricksHost is required when databricksEnabled")
        _check(
            problems,
            bool(self.git_url) != bool(self.wheel),
            f"{_NS} set exactly one of databricksGitUrl (run the flow from Git) or "
            "databricksWheel (run the installed library)",
        )
        _check(
            problems,
            not self.wheel or bool(self.flow_file),
            f"{_NS}databricksWheel needs databricksFlowFile (the flow uploaded to the "
            "workspace, e.g. /Workspace/Shared/fraud-mlops/fraud_detection_flow.py)",
        )
        if problems:
            raise Problems(problems)
        return self


class SnowflakeConfig(_Section):
    """The Snowflake database, schema, tables, warehouse, role and service user (off by default)."""

    enabled: bool = key("snowflakeEnabled", False, "create the Snowflake objects")
    organization: str | None = key("snowflakeOrganization", None, "Snowflake organization name")
    account: str | None = key("snowflakeAccount", None, "Snowflake account name")
    admin_user: str | None = key(
        "snowflakeAdminUser", None, "user Pulumi connects as (key-pair auth)"
    )
    admin_role: str | None = key(
        "snowflakeAdminRole", None, "role Pulumi uses; needs CREATE DATABASE/ROLE/USER"
    )
    admin_private_key: Any = secret_key(
        "snowflakeAdminPrivateKey", "PEM private key of snowflakeAdminUser"
    )
    database: str = key(
        "snowflakeDatabase",
        None,
        "database name",
        validate_default=True,
        json_schema_extra={"shown_default": "FRAUD_MLOPS_<STACK>"},
    )
    schema_name: str = key(
        "snowflakeSchema",
        None,
        "schema name",
        validate_default=True,
        json_schema_extra={"shown_default": "the library's (FRAUD_MLOPS)"},
    )
    warehouse_size: str = key("snowflakeWarehouseSize", "XSMALL", "warehouse size")
    auto_suspend_seconds: int = key(
        "snowflakeAutoSuspendSeconds", 60, "warehouse auto-suspend (seconds)", ge=60
    )
    service_public_key: str | None = key(
        "snowflakeServiceUserPublicKey", None, "RSA public key (PEM body) of the sync user"
    )
    service_private_key: Any = secret_key(
        "snowflakeServiceUserPrivateKey", "its private key, stored in AWS Secrets Manager"
    )

    @field_validator("database", "schema_name", mode="before")
    @classmethod
    def _identifier(cls, value: Any, info: ValidationInfo) -> str:
        from fraud_mlops.warehouse.specs import SCHEMA_NAME_DEFAULT

        stack = (info.context or {}).get("stack", "dev")
        default = f"FRAUD_MLOPS_{stack}" if info.field_name == "database" else SCHEMA_NAME_DEFAULT
        ident = str(value or default).strip().upper().replace("-", "_")
        if not _SNOWFLAKE_IDENT.match(ident):
            name = key_of(cls.model_fields[info.field_name or ""], info.field_name or "")
            raise ValueError(f"{_NS}{name}={ident!r} is not a plain Snowflake identifier")
        return ident

    @field_validator("warehouse_size")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _rules(self) -> SnowflakeConfig:
        if not self.enabled:
            return self
        problems = [
            f"{_NS}{name} is required when snowflakeEnabled"
            for name, value in (
                ("snowflakeOrganization", self.organization),
                ("snowflakeAccount", self.account),
                ("snowflakeAdminUser", self.admin_user),
            )
            if not value
        ]
        _check(
            problems,
            bool(self.admin_role),
            f"{_NS}snowflakeAdminRole is required when snowflakeEnabled: name a deploy role "
            "with CREATE DATABASE, CREATE ROLE and CREATE USER (avoid ACCOUNTADMIN)",
        )
        _check(
            problems,
            self.admin_private_key is not None,
            f"{_NS}snowflakeAdminPrivateKey is required when snowflakeEnabled: "
            "`pulumi config set --secret snowflakeAdminPrivateKey < rsa_key.p8`",
        )
        _check(
            problems,
            bool(self.service_public_key) and "PRIVATE" not in (self.service_public_key or ""),
            f"{_NS}snowflakeServiceUserPublicKey must be the RSA *public* key body "
            "(openssl rsa -in sync_key.p8 -pubout); the private key goes in "
            "snowflakeServiceUserPrivateKey with --secret",
        )
        if problems:
            raise Problems(problems)
        return self

    @property
    def schema(self) -> str:  # type: ignore[override]  # BaseModel.schema() is pydantic v1's
        return self.schema_name


class MetadataConfig(_Section):
    """The Metaflow metadata service: Fargate, PostgreSQL, API Gateway with an API key (off)."""

    enabled: bool = key(
        "metadataServiceEnabled",
        False,
        "run the Metaflow metadata service (runs visible to the client, logs, resume of sfn runs)",
    )
    image: str = key(
        "metadataServiceImage",
        "netflixoss/metaflow_metadata_service:v2.3.0",
        "metadata service image (outerbounds/terraform-aws-metaflow's default)",
    )
    cpu: int = key("metadataServiceCpu", 512, "Fargate CPU units of the service task", ge=256)
    memory_mb: int = key("metadataServiceMemoryMb", 1024, "Fargate memory (MB) of the task", ge=512)
    db_instance_class: str = key(
        "metadataDbInstanceClass", "db.t4g.small", "RDS PostgreSQL instance class"
    )
    db_engine_version: str = key("metadataDbEngineVersion", "16", "PostgreSQL major version")

    @field_validator("db_instance_class")
    @classmethod
    def _db_class(cls, value: str) -> str:
        if not value.startswith("db."):
            raise ValueError(
                f"{_NS}metadataDbInstanceClass={value!r}: RDS classes start with db. "
                "(e.g. db.t4g.small)"
            )
        return value


# The sections in the order the README lists them; ``enabled`` ones are validated only when on.
SECTIONS: tuple[type[_Section], ...] = (
    PlatformConfig,
    ComputeConfig,
    ServingConfig,
    SageMakerConfig,
    KubernetesConfig,
    DatabricksConfig,
    SnowflakeConfig,
    MetadataConfig,
)


class StackConfig(PlatformConfig):
    """Everything the program needs, validated. Build it with :func:`parse_stack_config`."""

    project: str
    stack: str
    compute: ComputeConfig
    serving: ServingConfig
    databricks: DatabricksConfig
    snowflake: SnowflakeConfig
    sagemaker: SageMakerConfig
    kubernetes: KubernetesConfig
    metadata: MetadataConfig

    @property
    def prefix(self) -> str:
        """Name prefix of every resource: ``fraud-mlops-<stack>``."""
        return f"{self.project}-{self.stack}"

    @property
    def tags(self) -> dict[str, str]:
        return {"project": self.project, "stack": self.stack, "managed-by": "pulumi"}


@dataclass(frozen=True)
class Key:
    """One stack configuration key. ``kind``: str, int, bool, list, secret."""

    name: str
    kind: str
    default: Any
    help: str
    section: str


KEYS: tuple[Key, ...] = tuple(
    Key(
        key_of(field, name),
        field_kind(field),
        list(field.default) if isinstance(field.default, tuple) else field.default,
        field.description or "",
        section.__name__,
    )
    for section in SECTIONS
    for name, field in section.model_fields.items()
)
KEYS_BY_NAME = {k.name: k for k in KEYS}


def parse_stack_config(
    stack: str, values: Mapping[str, Any], *, project: str = NAMESPACE
) -> StackConfig:
    """Validate raw ``fraud-mlops:*`` values (keys without the namespace) into a StackConfig.

    Raises:
        ConfigError: listing every unknown key and every invalid or missing value.
    """
    # An empty value means unset, as `pulumi config set key ""` would leave it.
    raw = {k: v for k, v in values.items() if v is not None and v != ""}
    problems = [
        f"{_NS}{name} is not a known key (see the README's configuration reference)"
        for name in sorted(set(raw) - set(KEYS_BY_NAME))
    ]
    _check(
        problems,
        bool(_STACK.match(stack)),
        f"stack name {stack!r}: use 1-20 lowercase letters/digits/-",
    )
    context = {"stack": stack, "project": project}
    parts = {section: _validate(section, raw, context, problems) for section in SECTIONS}
    metadata, platform = parts[MetadataConfig], parts[PlatformConfig]
    if metadata is not None and metadata.enabled and platform is not None:
        _check(
            problems,
            bool(platform.vpc_id) and len(platform.subnet_ids) >= 2,
            f"{_NS}metadataServiceEnabled needs vpcId and at least two subnetIds in different "
            "availability zones (private, with a NAT route): RDS and the load balancer span them",
        )
    if problems:
        raise ConfigError(
            f"stack {stack!r}: "
            + problem_report(problems, "configuration problem(s)")
            + "\nFix them with `pulumi config set -s <stack> <key> <value>` "
            "(add --secret for secrets)."
        )
    return StackConfig.model_construct(
        **dict(parts[PlatformConfig]),
        project=project,
        stack=stack,
        compute=parts[ComputeConfig],
        serving=parts[ServingConfig],
        databricks=parts[DatabricksConfig],
        snowflake=parts[SnowflakeConfig],
        sagemaker=parts[SageMakerConfig],
        kubernetes=parts[KubernetesConfig],
        metadata=parts[MetadataConfig],
    )


def _validate(
    section: type[_Section], raw: dict[str, Any], context: dict[str, str], problems: list[str]
) -> Any:
    """Validate one section, appending every problem to ``problems``; None if it is invalid."""
    fields = {key_of(f, n): f for n, f in section.model_fields.items()}
    mine = {k: v for k, v in raw.items() if k in fields}
    if "enabled" in section.model_fields:
        switch = key_of(section.model_fields["enabled"], "enabled")
        try:
            on = TypeAdapter(bool).validate_python(mine.get(switch, False))
        except ValidationError:
            problems.append(f"{_NS}{switch}={mine[switch]!r}: expected true or false")
            return None
        if not on:
            return section()  # a section that is off reads only its switch
    model, found = validate_reporting_all(
        section, mine, lambda raw: section.model_validate(raw, context=context), prefix=_NS
    )
    problems += found
    return model
