"""AWS Batch for the flow: managed compute environments, job queues, task roles, ECR.

Two CPU queues: ``search`` runs the hyperparameter trials on Spot (Fargate Spot) first and falls
back to on-demand capacity; ``ondemand`` runs every other step on on-demand capacity only, so a
reclaimed Spot instance never kills a long join or the publish step. ``gpu`` is optional.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.config import ComputeConfig
from infra.naming import child, policy_json, service_role, type_token

# AWS-managed policy every EC2 container instance needs to join its ECS cluster.
_ECS_INSTANCE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
# Batch jobs log to this group by default (awslogs driver); Metaflow reads logs from it.
BATCH_LOG_GROUP = "/aws/batch/job"


@dataclass(frozen=True)
class ComputeArgs:
    prefix: str
    config: ComputeConfig
    region: str
    account_id: pulumi.Input[str]
    bucket_arns: list[pulumi.Input[str]]
    models_key_arn: pulumi.Input[str]
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    secret_arns: list[pulumi.Input[str]] = field(default_factory=list)
    force_destroy: bool = False
    log_retention_days: int = 30
    tags: dict[str, str] = field(default_factory=dict)


class Compute(pulumi.ComponentResource):
    """Compute environments, the ``search``/``ondemand`` (and ``gpu``) queues, roles and ECR."""

    def __init__(
        self,
        name: str,
        args: ComputeArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: pulumi.ProviderResource | None = None,
    ):
        super().__init__(type_token("aws", "Compute"), name, None, opts)
        self._provider = provider
        opts_ = child(self, provider)
        cfg = args.config
        vpc_id, subnet_ids = self._network(args)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-tasks",
            description=f"{args.prefix} Batch tasks: no inbound, all outbound (S3, ECR, APIs)",
            vpc_id=vpc_id,
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=args.tags,
            opts=opts_,
        )

        self.repository = aws.ecr.Repository(
            f"{name}-training",
            image_scanning_configuration={"scan_on_push": True},
            image_tag_mutability="MUTABLE",
            encryption_configurations=[{"encryption_type": "AES256"}],
            force_delete=args.force_destroy,
            tags=args.tags,
            opts=opts_,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-training",
            repository=self.repository.name,
            policy=json.dumps(ecr_lifecycle(cfg.ecr_keep_images)),
            opts=opts_,
        )
        self.image = pulumi.Output.concat(self.repository.repository_url, ":", cfg.image_tag)

        self.job_role = service_role(
            f"{name}-job", "ecs-tasks.amazonaws.com", args.tags, opts_, args.account_id
        )
        aws.iam.RolePolicy(
            f"{name}-job",
            role=self.job_role.id,
            policy=policy_json(
                policies.batch_job_role,
                pulumi.Output.all(*args.bucket_arns),
                args.models_key_arn,
                pulumi.Output.all(*args.secret_arns),
            ),
            opts=opts_,
        )
        log_group_arn = pulumi.Output.format(
            "arn:aws:logs:{0}:{1}:log-group:{2}", args.region, args.account_id, BATCH_LOG_GROUP
        )
        # Batch creates this group on the first job, with no retention (logs kept forever).
        # It is shared by every Batch job of the account and region, so one stack owns it.
        self.log_group = None
        if cfg.manage_batch_log_group:
            self.log_group = aws.cloudwatch.LogGroup(
                f"{name}-batch-jobs",
                name=BATCH_LOG_GROUP,
                retention_in_days=args.log_retention_days,
                tags=args.tags,
                opts=opts_,
            )
        self.execution_role = service_role(
            f"{name}-execution", "ecs-tasks.amazonaws.com", args.tags, opts_, args.account_id
        )
        aws.iam.RolePolicy(
            f"{name}-execution",
            role=self.execution_role.id,
            policy=policy_json(policies.ecs_execution_role, self.repository.arn, log_group_arn),
            opts=opts_,
        )

        instance_profile = None
        if cfg.compute_type != "fargate":
            instance_role = service_role(f"{name}-instance", "ec2.amazonaws.com", args.tags, opts_)
            aws.iam.RolePolicyAttachment(
                f"{name}-instance",
                role=instance_role.name,
                policy_arn=_ECS_INSTANCE_POLICY,
                opts=opts_,
            )
            instance_profile = aws.iam.InstanceProfile(
                f"{name}-instance", role=instance_role.name, opts=opts_
            )

        def environment(kind: str, ce_type: str, **resources) -> aws.batch.ComputeEnvironment:
            compute_resources = {
                "type": ce_type,
                "max_vcpus": resources.pop("max_vcpus", cfg.max_vcpus),
                "subnets": subnet_ids,
                "security_group_ids": [self.security_group.id],
                **resources,
            }
            if ce_type in ("EC2", "SPOT"):
                compute_resources.update(
                    min_vcpus=0,  # scale to zero between runs
                    instance_role=instance_profile.arn,
                    tags={**args.tags, "Name": f"{args.prefix}-{kind}"},
                )
            return aws.batch.ComputeEnvironment(
                f"{name}-{kind}",
                type="MANAGED",
                compute_resources=compute_resources,
                tags=args.tags,
                opts=opts_,
            )

        self.environments: dict[str, aws.batch.ComputeEnvironment] = {}
        if cfg.compute_type == "fargate":
            self.environments["ondemand"] = environment("ondemand", "FARGATE")
            self.environments["spot"] = environment("spot", "FARGATE_SPOT")
        else:
            types = list(cfg.instance_types)
            self.environments["ondemand"] = environment(
                "ondemand", "EC2", instance_types=types, allocation_strategy="BEST_FIT_PROGRESSIVE"
            )
            if cfg.compute_type == "spot":
                self.environments["spot"] = environment(
                    "spot",
                    "SPOT",
                    instance_types=types,
                    allocation_strategy="SPOT_PRICE_CAPACITY_OPTIMIZED",
                )
            if cfg.gpu:
                self.environments["gpu"] = environment(
                    "gpu",
                    "EC2",
                    instance_types=list(cfg.gpu_instance_types),
                    allocation_strategy="BEST_FIT_PROGRESSIVE",
                    max_vcpus=cfg.gpu_max_vcpus,
                )

        order = {"search": ["spot", "ondemand"], "ondemand": ["ondemand"], "gpu": ["gpu"]}
        self.queues: dict[str, aws.batch.JobQueue] = {}
        for queue, env_names in order.items():
            envs = [self.environments[e] for e in env_names if e in self.environments]
            if not envs:
                continue
            self.queues[queue] = aws.batch.JobQueue(
                f"{name}-{queue}",
                state="ENABLED",
                priority=10 if queue == "ondemand" else 1,
                compute_environment_orders=[
                    {"order": i + 1, "compute_environment": env.arn} for i, env in enumerate(envs)
                ],
                tags=args.tags,
                opts=opts_,
            )
        self.register_outputs(
            {
                "job_queues": {k: q.name for k, q in self.queues.items()},
                "job_role_arn": self.job_role.arn,
                "execution_role_arn": self.execution_role.arn,
                "repository_url": self.repository.repository_url,
            }
        )

    def _network(self, args: ComputeArgs) -> tuple[pulumi.Input[str], pulumi.Input[list[str]]]:
        """The configured VPC and subnets, or the account's default VPC and its subnets."""
        if args.vpc_id:
            return args.vpc_id, list(args.subnet_ids)
        invoke = pulumi.InvokeOptions(parent=self, provider=self._provider)
        vpc = aws.ec2.get_vpc_output(default=True, opts=invoke)
        subnets = aws.ec2.get_subnets_output(
            filters=[{"name": "vpc-id", "values": [vpc.id]}], opts=invoke
        )
        return vpc.id, subnets.ids


def ecr_lifecycle(keep: int) -> dict:
    """ECR lifecycle: untagged layers go after a day; only the newest ``keep`` images stay."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": "drop untagged images",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the newest {keep} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep,
                },
                "action": {"type": "expire"},
            },
        ]
    }
