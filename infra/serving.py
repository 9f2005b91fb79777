"""The scoring Lambda behind a Function URL with IAM auth.

The function serves ``MODEL_URI = s3://<models bucket>/<model name>/<version>`` where version is
``champion`` (resolved through ``<model name>/champion.json`` at cold start) or a version id. Its
role can read only ``<models bucket>/<model name>/*`` and write its own log group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from fraud_mlops.errors import ConfigError
from infra import policies
from infra.config import ServingConfig
from infra.naming import child, policy_json, service_role, type_token

HANDLER = "lambda_api.app.handler"
RUNTIME = "python3.12"
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


@dataclass(frozen=True)
class ServingArgs:
    prefix: str
    config: ServingConfig
    models_bucket: pulumi.Input[str]
    models_bucket_arn: pulumi.Input[str]
    models_key_arn: pulumi.Input[str]
    log_retention_days: int = 30
    tags: dict[str, str] = field(default_factory=dict)


class Serving(pulumi.ComponentResource):
    """Lambda + Function URL (AWS_IAM), least-privilege role, log group with retention."""

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
        # Created up front (not by Lambda on first log line) so retention and deletion are ours.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-score",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=opts_,
        )
        self.role = service_role(f"{name}-score", "lambda.amazonaws.com", args.tags, opts_)
        role_policy = aws.iam.RolePolicy(
            f"{name}-score",
            role=self.role.id,
            policy=policy_json(
                policies.lambda_role,
                args.models_bucket_arn,
                cfg.model_name,
                args.models_key_arn,
                self.log_group.arn,
            ),
            opts=opts_,
        )
        self.model_uri = pulumi.Output.from_input(args.models_bucket).apply(
            lambda bucket: model_uri(bucket, cfg.model_name, cfg.model_version)
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
            reserved_concurrent_executions=cfg.reserved_concurrency,
            environment={
                "variables": {
                    "MODEL_URI": self.model_uri,
                    "MAX_BATCH_SIZE": str(cfg.max_batch_size),
                }
            },
            logging_config={"log_format": "JSON", "log_group": self.log_group.name},
            tags=args.tags,
            # The role's policy must exist before the first cold start reads the model.
            opts=pulumi.ResourceOptions.merge(
                opts_, pulumi.ResourceOptions(depends_on=[role_policy, self.log_group])
            ),
        )
        self.url = aws.lambda_.FunctionUrl(
            f"{name}-score",
            function_name=self.function.name,
            authorization_type="AWS_IAM",
            opts=opts_,
        )
        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_url": self.url.function_url,
                "model_uri": self.model_uri,
            }
        )
