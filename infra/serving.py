"""The scoring Lambda: published versions behind a ``live`` alias, its URL, alarms and dashboard.

The function serves ``MODEL_URI = s3://<models bucket>/<model name>/<version>`` where version is
``champion`` (resolved through ``<model name>/champion.json`` at cold start) or a version id. Its
role can read only ``<models bucket>/<model name>/*`` and write its own log group.

Releases (docs/releases.md): ``publish=True`` publishes a Lambda version whenever the model
version (or code) changes, with SnapStart on published versions. The ``live`` alias carries the
Function URL (AWS_IAM). Pulumi creates the alias on the first published version; after that
``fraud-mlops promote --stack`` owns its traffic (weighted routing for the canary, then 100 %),
so the alias' version and routing are ``ignore_changes`` here. The canary alarms (5xx rate per
alias and per model version, p99 duration) are what ``promote`` watches to roll back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from fraud_mlops.cloud.canary import version_description
from fraud_mlops.errors import ConfigError
from fraud_mlops.outcome_store import DATASET as OUTCOMES
from infra import policies
from infra.capture import LAKEHOUSE_ROOT
from infra.config import ServingConfig
from infra.naming import child, policy_json, service_role, type_token

HANDLER = "lambda_api.app.handler"
RUNTIME = "python3.12"
ALIAS = "live"
# The API's EMF metrics (lambda_api telemetry): namespace and its one dimension, model_version
# (no `service` dimension). POWERTOOLS_SERVICE_NAME only names the service in the logs.
METRICS_NAMESPACE = "FraudMlops"
METRICS_SERVICE = "fraud-mlops-scoring"
# lambdaZip is relative to the project (Pulumi.yaml's folder), but the engine runs the program
# from its `main` folder (infra/), so relative paths are resolved here, never by the cwd.
PROJECT_DIR = Path(__file__).resolve().parents[1]


def lambda_zip_path(path: str, project: Path = PROJECT_DIR) -> Path:
    """``lambdaZip`` as an absolute path: as given, or under the project folder."""
    return Path(path) if Path(path).is_absolute() else project / path


def model_uri(models_bucket: str, model_name: str, version: str) -> str:
    """The MODEL_URI the Lambda reads: ``s3://<bucket>/<model name>/<champion|version>``."""
    return f"s3://{models_bucket}/{model_name}/{version}"


def require_lambda_zip(path: str, repo: Path) -> Path:
    """The package ``pulumi up`` uploads; a missing one is a clear error, not a provider failure.

    Tests and ``make plan`` never call this: the mock runtime does not read the archive.
    """
    candidate = lambda_zip_path(path, repo)
    if not candidate.is_file():
        raise ConfigError(
            f"fraud-mlops:lambdaZip={path!r}: {candidate} does not exist. Run `make build-lambda` "
            "first (it builds the scoring package), then `pulumi up` again."
        )
    return candidate


def caller_policy(function_arn: str, alias: str = ALIAS) -> dict:
    """What a caller of the Function URL needs, on this function and its alias only.

    Since October 2025 a signed Function URL call needs ``lambda:InvokeFunctionUrl`` *and*
    ``lambda:InvokeFunction``; the URL is on the alias, so both ARNs are listed.
    """
    arns = [function_arn, f"{function_arn}:{alias}"]
    return policies.document(
        {
            **policies.allow(["lambda:InvokeFunctionUrl"], arns, "InvokeScoringUrl"),
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
        },
        policies.allow(["lambda:InvokeFunction"], arns, "InvokeScoringFunction"),
    )


def scoring_role_policy(
    models_bucket_arn: str,
    model_prefix: str,
    kms_key_arn: str,
    log_group_arn: str,
    lakehouse_bucket_arn: str | None = None,
) -> dict:
    """The Lambda's role: read its model, write its logs and, with a lakehouse, record outcomes
    (``POST /v1/outcomes``): get/put objects and list keys under ``lakehouse/outcomes/`` only."""
    doc = policies.lambda_role(models_bucket_arn, model_prefix, kms_key_arn, log_group_arn)
    if lakehouse_bucket_arn:
        prefix = f"{LAKEHOUSE_ROOT}/{OUTCOMES}"
        doc["Statement"] += [
            policies.allow(
                ["s3:GetObject", "s3:PutObject"],
                [f"{lakehouse_bucket_arn}/{prefix}/*"],
                "RecordOutcomes",
            ),
            {
                **policies.allow(["s3:ListBucket"], [lakehouse_bucket_arn], "ListOutcomes"),
                "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
            },
        ]
    return doc


def lakehouse_uri(lakehouse_bucket: str) -> str:
    """The LAKEHOUSE_URI the API records outcomes under (the lakehouse root Firehose uses)."""
    return f"s3://{lakehouse_bucket}/{LAKEHOUSE_ROOT}"


def _rate(metric_ns: str, errors: str, total: str, dims: dict, label: str) -> list[dict]:
    """Metric-math queries: ``100 * errors / total`` over one minute (0 when idle)."""

    def metric(id_: str, name: str) -> dict:
        return {
            "id": id_,
            "return_data": False,
            "metric": {
                "namespace": metric_ns,
                "metric_name": name,
                "dimensions": dims,
                "period": 60,
                "stat": "Sum",
            },
        }

    return [
        metric("errors", errors),
        metric("total", total),
        {
            "id": "rate",
            "expression": "IF(total > 0, 100 * errors / total, 0)",
            "label": label,
            "return_data": True,
        },
    ]


def alarm_specs(function_name: str, model_version: str, cfg: ServingConfig) -> dict[str, dict]:
    """The canary alarms, by short name: what each watches and its threshold (pure, testable)."""
    alias = {"FunctionName": function_name, "Resource": f"{function_name}:{ALIAS}"}
    common = {
        "comparison_operator": "GreaterThanThreshold",
        "evaluation_periods": 1,
        "datapoints_to_alarm": 1,
        "treat_missing_data": "notBreaching",
    }
    return {
        "alias-5xx": {
            **common,
            "alarm_description": f"Lambda Errors / Invocations on {function_name}:{ALIAS} over "
            f"{cfg.alarm_error_rate_percent} %: promote rolls the canary back",
            "threshold": cfg.alarm_error_rate_percent,
            "metric_queries": _rate("AWS/Lambda", "Errors", "Invocations", alias, "error %"),
        },
        "version-5xx": {
            **common,
            "alarm_description": f"API ServerErrors / Requests of model {model_version} over "
            f"{cfg.alarm_error_rate_percent} % (EMF {METRICS_NAMESPACE})",
            "threshold": cfg.alarm_error_rate_percent,
            "metric_queries": _rate(
                METRICS_NAMESPACE,
                "ServerErrors",
                "Requests",
                {"model_version": model_version},
                "5xx %",
            ),
        },
        "p99": {
            **common,
            "alarm_description": f"p99 Duration on {function_name}:{ALIAS} over "
            f"{cfg.alarm_p99_ms} ms",
            "namespace": "AWS/Lambda",
            "metric_name": "Duration",
            "dimensions": alias,
            "period": 60,
            "extended_statistic": "p99",
            "threshold": float(cfg.alarm_p99_ms),
        },
    }


def dashboard_body(function_name: str, region: str, alarm_arns: list[str]) -> str:
    """The scoring dashboard: alias traffic, errors, latency; the API's metrics per version."""
    alias = ["FunctionName", function_name, "Resource", f"{function_name}:{ALIAS}"]

    def lambda_metric(name: str, stat: str) -> list:
        return ["AWS/Lambda", name, *alias, {"stat": stat}]

    def per_version(name: str, stat: str = "Sum") -> dict:
        query = (
            f"SEARCH('{{{METRICS_NAMESPACE},model_version}} MetricName=\"{name}\"', '{stat}', 60)"
        )
        return {"expression": query, "id": name.lower(), "label": ""}

    def widget(title: str, metrics: list, x: int, y: int) -> dict:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "view": "timeSeries",
                "stat": "Sum",
                "period": 60,
                "metrics": metrics,
            },
        }

    widgets = [
        widget(
            f"{ALIAS}: invocations and errors",
            [lambda_metric("Invocations", "Sum"), lambda_metric("Errors", "Sum")],
            0,
            0,
        ),
        widget(
            f"{ALIAS}: duration p50 / p99 (ms)",
            [lambda_metric("Duration", "p50"), lambda_metric("Duration", "p99")],
            12,
            0,
        ),
        widget("requests per model version", [[per_version("Requests")]], 0, 6),
        widget(
            "4xx / 5xx per model version",
            [[per_version("ClientErrors")], [per_version("ServerErrors")]],
            12,
            6,
        ),
        widget(
            "claims scored / flagged per model version",
            [[per_version("ClaimsScored")], [per_version("ClaimsFlagged")]],
            0,
            12,
        ),
        widget(
            "API latency p99 per model version (ms)", [[per_version("LatencyMs", "p99")]], 12, 12
        ),
        {
            "type": "alarm",
            "x": 0,
            "y": 18,
            "width": 24,
            "height": 3,
            "properties": {
                "title": "canary alarms (promote rolls back on ALARM)",
                "alarms": alarm_arns,
            },
        },
    ]
    return json.dumps({"widgets": widgets})


@dataclass(frozen=True)
class ServingArgs:
    prefix: str
    config: ServingConfig
    models_bucket: pulumi.Input[str]
    models_bucket_arn: pulumi.Input[str]
    models_key_arn: pulumi.Input[str]
    # The lakehouse bucket: with capture on, the API records outcomes under lakehouse/outcomes/.
    lakehouse_bucket: pulumi.Input[str] | None = None
    lakehouse_bucket_arn: pulumi.Input[str] | None = None
    region: str = "eu-west-1"
    log_retention_days: int = 30
    tags: dict[str, str] = field(default_factory=dict)


class Serving(pulumi.ComponentResource):
    """Lambda versions + ``live`` alias + Function URL (AWS_IAM), caller policy, alarms,
    dashboard, least-privilege role, log group with retention."""

    def __init__(
        self,
        name: str,
        args: ServingArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: pulumi.ProviderResource | None = None,
    ):
        super().__init__(type_token("aws", "Serving"), name, None, opts)
        opts_ = child(self, provider)
        cfg = args.config
        function_name = f"{args.prefix}-score"
        self.function_name = function_name
        # Created up front (not by Lambda on first log line) so retention and deletion are ours.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-score",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=opts_,
        )
        self.role = service_role(f"{name}-score", "lambda.amazonaws.com", args.tags, opts_)
        outcomes = cfg.capture_enabled and args.lakehouse_bucket_arn is not None
        role_policy = aws.iam.RolePolicy(
            f"{name}-score",
            role=self.role.id,
            policy=policy_json(
                scoring_role_policy,
                args.models_bucket_arn,
                cfg.model_name,
                args.models_key_arn,
                self.log_group.arn,
                args.lakehouse_bucket_arn if outcomes else None,
            ),
            opts=opts_,
        )
        self.lakehouse_uri = (
            pulumi.Output.from_input(args.lakehouse_bucket).apply(lakehouse_uri)
            if outcomes and args.lakehouse_bucket is not None
            else None
        )
        self.model_uri = pulumi.Output.from_input(args.models_bucket).apply(
            lambda bucket: model_uri(bucket, cfg.model_name, cfg.model_version)
        )
        self.shadow_model_uri = (
            pulumi.Output.from_input(args.models_bucket).apply(
                lambda bucket: model_uri(bucket, cfg.model_name, cfg.shadow_version)
            )
            if cfg.shadow_version
            else None
        )
        self.function = aws.lambda_.Function(
            f"{name}-score",
            name=function_name,
            runtime=RUNTIME,
            handler=HANDLER,
            code=pulumi.FileArchive(str(lambda_zip_path(cfg.lambda_zip))),
            role=self.role.arn,
            memory_size=cfg.memory_mb,
            timeout=cfg.timeout_seconds,
            # Unset unless the stack asks: reserving fails on accounts with the reduced quota.
            reserved_concurrent_executions=cfg.reserved_concurrency,
            # A new model version changes the environment, so `up` publishes a new version.
            publish=True,
            description=version_description(cfg.model_name, cfg.model_version),
            snap_start={"apply_on": "PublishedVersions"} if cfg.snap_start else None,
            environment={"variables": self._environment(cfg)},
            logging_config={"log_format": "JSON", "log_group": self.log_group.name},
            tags=args.tags,
            # The role's policy must exist before the first cold start reads the model.
            opts=pulumi.ResourceOptions.merge(
                opts_, pulumi.ResourceOptions(depends_on=[role_policy, self.log_group])
            ),
        )
        self.alias = aws.lambda_.Alias(
            f"{name}-score-{ALIAS}",
            name=ALIAS,
            function_name=self.function.name,
            function_version=self.function.version,
            description="the served version; traffic shifts are `fraud-mlops promote`'s",
            # promote/rollback move the alias (weighted canary, then 100 %); a later `up` must
            # not undo that, so Pulumi only creates it.
            opts=pulumi.ResourceOptions.merge(
                opts_, pulumi.ResourceOptions(ignore_changes=["functionVersion", "routingConfig"])
            ),
        )
        self.url = aws.lambda_.FunctionUrl(
            f"{name}-score",
            function_name=self.function.name,
            qualifier=self.alias.name,
            authorization_type="AWS_IAM",
            opts=opts_,
        )
        self.caller_policy = aws.iam.Policy(
            f"{name}-score-caller",
            description=f"call the scoring Function URL of {function_name} (attach to callers)",
            policy=policy_json(caller_policy, self.function.arn),
            tags=args.tags,
            opts=opts_,
        )
        self.alarms = {
            short: aws.cloudwatch.MetricAlarm(
                f"{name}-score-{short}",
                name=f"{function_name}-{short}",
                tags=args.tags,
                opts=opts_,
                **spec,
            )
            for short, spec in alarm_specs(function_name, cfg.model_version, cfg).items()
        }
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-scoring",
            dashboard_name=f"{function_name}",
            dashboard_body=pulumi.Output.all(*[a.arn for a in self.alarms.values()]).apply(
                lambda arns: dashboard_body(function_name, args.region, list(arns))
            ),
            opts=opts_,
        )
        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_url": self.url.function_url,
                "model_uri": self.model_uri,
                "version": self.function.version,
                "caller_policy_arn": self.caller_policy.arn,
            }
        )

    def _environment(self, cfg: ServingConfig) -> dict[str, Any]:
        env: dict[str, Any] = {
            "MODEL_URI": self.model_uri,
            "MAX_BATCH_SIZE": str(cfg.max_batch_size),
            "POWERTOOLS_SERVICE_NAME": METRICS_SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        if self.shadow_model_uri is not None:
            env["SHADOW_MODEL_URI"] = self.shadow_model_uri
        if cfg.capture_enabled:
            env["CAPTURE_KEY_SALT"] = cfg.capture_key_salt  # also keys outcomes
            if self.lakehouse_uri is not None:
                env["LAKEHOUSE_URI"] = self.lakehouse_uri  # POST /v1/outcomes records here
        else:
            env["CAPTURE_ENABLED"] = "false"
        return env


def serving_outputs(name, cfg, serving: Serving, storage, account_id, provider) -> dict[str, Any]:
    """The release outputs ``promote``/``rollback`` read, plus score capture when enabled."""
    outputs: dict[str, Any] = {
        "lambda_alias": ALIAS,
        "lambda_version": serving.function.version,
        "caller_policy_arn": serving.caller_policy.arn,
        "canary_alarm_names": [a.name for a in serving.alarms.values()],
        "dashboard_name": serving.dashboard.dashboard_name,
        "shadow_model_uri": serving.shadow_model_uri,
    }
    if cfg.serving.capture_enabled:
        from infra.capture import CaptureArgs, ScoreCapture

        capture = ScoreCapture(
            name,
            CaptureArgs(
                prefix=cfg.prefix,
                region=cfg.aws_region,
                account_id=account_id,
                log_group_name=serving.log_group.name,
                log_group_arn=serving.log_group.arn,
                lakehouse_bucket_arn=storage.lakehouse.arn,
                tags=cfg.tags,
            ),
            provider=provider,
        )
        outputs["capture_delivery_stream"] = capture.stream.name
        outputs["capture_scores_prefix"] = pulumi.Output.concat(
            "s3://", storage.lakehouse.bucket, "/", capture.scores_prefix
        )
    return outputs
