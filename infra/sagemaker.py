"""The scoring API on a SageMaker real-time endpoint (optional, ``sagemakerEnabled``).

SageMaker runs the serving image (``Dockerfile.serving``) as ``docker run <image> serve`` and
talks to it on port 8080 (``GET /ping``, ``POST /invocations``). The model itself is not a
SageMaker model artifact: the container reads ``MODEL_URI`` from the models bucket, exactly like
the Lambda, so promotion (``modelVersion``) moves every target the same way.

The execution role can pull only the serving repository, read only ``<models>/<model name>/``
and write only the endpoint's log groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.config import SageMakerConfig
from infra.naming import child, policy_json, service_role, type_token

# SageMaker names each endpoint's log group /aws/sagemaker/Endpoints/<endpoint name>.
LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
VARIANT = "primary"


def serving_repository(
    name: str, tags: dict[str, str], force_delete: bool, opts: pulumi.ResourceOptions
) -> aws.ecr.Repository:
    """The ECR repository of the serving image, shared by SageMaker and Kubernetes."""
    return aws.ecr.Repository(
        f"{name}-serving",
        image_scanning_configuration={"scan_on_push": True},
        image_tag_mutability="IMMUTABLE",  # a promoted tag always means the same image
        encryption_configurations=[{"encryption_type": "AES256"}],
        force_delete=force_delete,
        tags=tags,
        opts=opts,
    )


def execution_role_policy(
    models_bucket_arn: str,
    model_prefix: str,
    kms_key_arn: str,
    repository_arn: str,
    region: str,
    account_id: str,
    endpoint_name: str,
) -> dict:
    """What the endpoint's containers may do: pull one image, read one model prefix, log."""
    prefix = model_prefix.strip("/")
    logs = f"arn:aws:logs:{region}:{account_id}:log-group:{LOG_GROUP_PREFIX}{endpoint_name}"
    return policies.document(
        policies.allow(["ecr:GetAuthorizationToken"], "*", "EcrLogin"),
        policies.allow(
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            [repository_arn],
            "PullServingImage",
        ),
        policies.allow(["s3:GetObject"], [f"{models_bucket_arn}/{prefix}/*"], "ReadModel"),
        {
            **policies.allow(["s3:ListBucket"], [models_bucket_arn], "ListModelPrefix"),
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
        },
        policies.allow(["kms:Decrypt"], [kms_key_arn], "DecryptModel"),
        policies.allow(
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [logs, f"{logs}:*"],
            "Logs",
        ),
    )


@dataclass(frozen=True)
class SageMakerArgs:
    prefix: str
    config: SageMakerConfig
    image: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    model_uri: pulumi.Input[str]
    model_name: str
    models_bucket_arn: pulumi.Input[str]
    models_key_arn: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    max_batch_size: int = 1000
    tags: dict[str, str] = field(default_factory=dict)


class SageMakerServing(pulumi.ComponentResource):
    """Execution role, Model (the serving image), EndpointConfiguration and Endpoint."""

    def __init__(
        self,
        name: str,
        args: SageMakerArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: pulumi.ProviderResource | None = None,
    ):
        super().__init__(type_token("aws", "SageMakerServing"), name, None, opts)
        opts_ = child(self, provider)
        cfg = args.config
        endpoint_name = f"{args.prefix}-score"
        self.role = service_role(
            f"{name}-sagemaker", "sagemaker.amazonaws.com", args.tags, opts_, args.account_id
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-sagemaker",
            role=self.role.id,
            policy=policy_json(
                execution_role_policy,
                args.models_bucket_arn,
                args.model_name,
                args.models_key_arn,
                args.repository_arn,
                args.region,
                args.account_id,
                endpoint_name,
            ),
            opts=opts_,
        )
        self.model = aws.sagemaker.Model(
            f"{name}-sagemaker",
            execution_role_arn=self.role.arn,
            primary_container={
                "image": args.image,
                "mode": "SingleModel",
                "environment": {
                    "MODEL_URI": args.model_uri,
                    "MAX_BATCH_SIZE": str(args.max_batch_size),
                },
            },
            tags=args.tags,
            # SageMaker checks that the role can pull the image when the model is created.
            opts=pulumi.ResourceOptions.merge(
                opts_, pulumi.ResourceOptions(depends_on=[role_policy])
            ),
        )
        self.endpoint_config = aws.sagemaker.EndpointConfiguration(
            f"{name}-sagemaker",
            production_variants=[
                {
                    "variant_name": VARIANT,
                    "model_name": self.model.name,
                    "instance_type": cfg.instance_type,
                    "initial_instance_count": cfg.instance_count,
                }
            ],
            tags=args.tags,
            opts=opts_,
        )
        self.endpoint = aws.sagemaker.Endpoint(
            f"{name}-sagemaker",
            name=endpoint_name,
            endpoint_config_name=self.endpoint_config.name,
            tags=args.tags,
            opts=opts_,
        )
        self.register_outputs({"endpoint_name": self.endpoint.name, "model_name": self.model.name})
