"""The Metaflow metadata service (optional): Fargate + PostgreSQL behind an authenticated API.

As outerbounds/terraform-aws-metaflow builds it (modules/metadata-service, modules/datastore):
the ``netflixoss/metaflow_metadata_service`` image on ECS Fargate in the stack's private subnets,
an RDS PostgreSQL database it alone can reach, an internal Network Load Balancer in front of the
tasks, and an API Gateway REST API (stage ``api``) that forwards ``/{proxy+}`` through a VPC link
and requires an API key (usage plan + key). Users and CI call the API with
``METAFLOW_SERVICE_AUTH_KEY``; Batch tasks inside the VPC use the internal URL.

Differences from the reference, on purpose: the database password is managed by RDS in Secrets
Manager (``manage_master_user_password``) and handed to the container as an ECS secret, so it is
never in Pulumi state or the task definition; the API is REGIONAL; the database is encrypted,
keeps 7 days of backups, takes a final snapshot, and is ``protect``-ed with the stack's data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.config import MetadataConfig
from infra.naming import child, policy_json, service_role, type_token

SERVICE_PORT = 8080
DB_PORT = 5432
DB_NAME = "metaflow"
DB_USER = "metaflow"
STAGE = "api"


@dataclass(frozen=True)
class MetadataArgs:
    prefix: str
    config: MetadataConfig
    region: str
    account_id: pulumi.Input[str]
    vpc_id: str
    subnet_ids: tuple[str, ...]
    log_retention_days: int = 30
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class MetadataService(pulumi.ComponentResource):
    """ECS Fargate service, RDS PostgreSQL, internal NLB, API Gateway with an API key."""

    def __init__(
        self,
        name: str,
        args: MetadataArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: pulumi.ProviderResource | None = None,
    ):
        super().__init__(type_token("aws", "MetadataService"), name, None, opts)
        cfg, opts_ = args.config, child(self, provider)
        invoke = pulumi.InvokeOptions(parent=self, provider=provider)
        vpc_cidr = aws.ec2.get_vpc_output(id=args.vpc_id, opts=invoke).cidr_block
        subnets = list(args.subnet_ids)

        # Network: the NLB (no security group) forwards from VPC addresses, so the service
        # accepts its port from the VPC only; the database accepts only the service.
        self.service_sg = aws.ec2.SecurityGroup(
            f"{name}-metadata",
            description=f"{args.prefix} metadata service: {SERVICE_PORT} from the VPC only",
            vpc_id=args.vpc_id,
            ingress=[
                {
                    "protocol": "tcp",
                    "from_port": SERVICE_PORT,
                    "to_port": SERVICE_PORT,
                    "cidr_blocks": [vpc_cidr],
                }
            ],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=args.tags,
            opts=opts_,
        )
        db_sg = aws.ec2.SecurityGroup(
            f"{name}-metadata-db",
            description=f"{args.prefix} metadata database: {DB_PORT} from the service only",
            vpc_id=args.vpc_id,
            ingress=[
                {
                    "protocol": "tcp",
                    "from_port": DB_PORT,
                    "to_port": DB_PORT,
                    "security_groups": [self.service_sg.id],
                }
            ],
            tags=args.tags,
            opts=opts_,
        )

        subnet_group = aws.rds.SubnetGroup(
            f"{name}-metadata", subnet_ids=subnets, tags=args.tags, opts=opts_
        )
        self.database = aws.rds.Instance(
            f"{name}-metadata",
            identifier_prefix=f"{args.prefix}-metadata-",
            engine="postgres",
            engine_version=cfg.db_engine_version,
            instance_class=cfg.db_instance_class,
            allocated_storage=20,
            max_allocated_storage=200,
            storage_type="gp3",
            storage_encrypted=True,
            db_name=DB_NAME,
            username=DB_USER,
            manage_master_user_password=True,  # RDS keeps it in Secrets Manager, rotated
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[db_sg.id],
            publicly_accessible=False,
            backup_retention_period=7,
            copy_tags_to_snapshot=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{args.prefix}-metadata-final",
            tags=args.tags,
            opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(protect=args.protect)),
        )
        password_secret = self.database.master_user_secrets.apply(lambda s: s[0].secret_arn)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-metadata",
            name=f"/ecs/{args.prefix}-metadata",
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=opts_,
        )
        self.execution_role = service_role(
            f"{name}-metadata-execution",
            "ecs-tasks.amazonaws.com",
            args.tags,
            opts_,
            args.account_id,
        )
        aws.iam.RolePolicy(
            f"{name}-metadata-execution",
            role=self.execution_role.id,
            policy=policy_json(
                policies.metadata_execution_role, self.log_group.arn, password_secret
            ),
            opts=opts_,
        )
        self.cluster = aws.ecs.Cluster(
            f"{name}-metadata",
            settings=[{"name": "containerInsights", "value": "enabled"}],
            tags=args.tags,
            opts=opts_,
        )
        container = pulumi.Output.all(
            host=self.database.address,
            secret=password_secret,
            log_group=self.log_group.name,
        ).apply(lambda v: json.dumps([_container(cfg, args.region, **v)]))
        task = aws.ecs.TaskDefinition(
            f"{name}-metadata",
            family=f"{args.prefix}-metadata",
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            cpu=str(cfg.cpu),
            memory=str(cfg.memory_mb),
            execution_role_arn=self.execution_role.arn,
            container_definitions=container,
            tags=args.tags,
            opts=opts_,
        )

        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-metadata",
            name_prefix="mfmd-",
            internal=True,
            load_balancer_type="network",
            subnets=subnets,
            tags=args.tags,
            opts=opts_,
        )
        target_group = aws.lb.TargetGroup(
            f"{name}-metadata",
            port=SERVICE_PORT,
            protocol="TCP",
            target_type="ip",
            vpc_id=args.vpc_id,
            health_check={"protocol": "TCP", "interval": 10},
            tags=args.tags,
            opts=opts_,
        )
        listener = aws.lb.Listener(
            f"{name}-metadata",
            load_balancer_arn=self.load_balancer.arn,
            port=80,
            protocol="TCP",
            default_actions=[{"type": "forward", "target_group_arn": target_group.arn}],
            opts=opts_,
        )
        aws.ecs.Service(
            f"{name}-metadata",
            cluster=self.cluster.arn,
            task_definition=task.arn,
            desired_count=1,
            launch_type="FARGATE",
            network_configuration={
                "subnets": subnets,
                "security_groups": [self.service_sg.id],
                "assign_public_ip": False,
            },
            load_balancers=[
                {
                    "target_group_arn": target_group.arn,
                    "container_name": "metadata",
                    "container_port": SERVICE_PORT,
                }
            ],
            tags=args.tags,
            opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=[listener])),
        )

        self._api(name, args, opts_)
        self.internal_url = pulumi.Output.concat("http://", self.load_balancer.dns_name, "/")
        self.url = pulumi.Output.concat(
            "https://", self.api.id, ".execute-api.", args.region, ".amazonaws.com/", STAGE, "/"
        )
        self.auth_key = pulumi.Output.secret(self.api_key.value)
        self.register_outputs({"url": self.url, "internal_url": self.internal_url})

    def _api(self, name: str, args: MetadataArgs, opts: pulumi.ResourceOptions) -> None:
        """REST API ``/{proxy+}`` → VPC link → NLB, every method requiring the API key."""
        self.api = aws.apigateway.RestApi(
            f"{name}-metadata",
            name=f"{args.prefix}-metadata",
            description=f"{args.prefix}: Metaflow metadata service (API key required)",
            endpoint_configuration={"types": "REGIONAL"},
            tags=args.tags,
            opts=opts,
        )
        link = aws.apigateway.VpcLink(
            f"{name}-metadata",
            name=f"{args.prefix}-metadata",
            target_arn=self.load_balancer.arn,
            tags=args.tags,
            opts=opts,
        )
        proxy = aws.apigateway.Resource(
            f"{name}-metadata-proxy",
            rest_api=self.api.id,
            parent_id=self.api.root_resource_id,
            path_part="{proxy+}",
            opts=opts,
        )
        method = aws.apigateway.Method(
            f"{name}-metadata-proxy",
            rest_api=self.api.id,
            resource_id=proxy.id,
            http_method="ANY",
            authorization="NONE",  # the API key is the credential, as in the reference module
            api_key_required=True,
            request_parameters={"method.request.path.proxy": True},
            opts=opts,
        )
        integration = aws.apigateway.Integration(
            f"{name}-metadata-proxy",
            rest_api=self.api.id,
            resource_id=proxy.id,
            http_method=method.http_method,
            type="HTTP_PROXY",
            integration_http_method="ANY",
            uri=pulumi.Output.concat("http://", self.load_balancer.dns_name, "/{proxy}"),
            connection_type="VPC_LINK",
            connection_id=link.id,
            request_parameters={"integration.request.path.proxy": "method.request.path.proxy"},
            opts=opts,
        )
        deployment = aws.apigateway.Deployment(
            f"{name}-metadata",
            rest_api=self.api.id,
            triggers={"integration": integration.id},
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[method, integration])
            ),
        )
        stage = aws.apigateway.Stage(
            f"{name}-metadata",
            rest_api=self.api.id,
            deployment=deployment.id,
            stage_name=STAGE,
            tags=args.tags,
            opts=opts,
        )
        self.api_key = aws.apigateway.ApiKey(
            f"{name}-metadata",
            name=f"{args.prefix}-metadata",
            description="METAFLOW_SERVICE_AUTH_KEY of this stack",
            tags=args.tags,
            opts=opts,
        )
        plan = aws.apigateway.UsagePlan(
            f"{name}-metadata",
            name=f"{args.prefix}-metadata",
            api_stages=[{"api_id": self.api.id, "stage": stage.stage_name}],
            throttle_settings={"rate_limit": 100, "burst_limit": 200},
            tags=args.tags,
            opts=opts,
        )
        aws.apigateway.UsagePlanKey(
            f"{name}-metadata",
            key_id=self.api_key.id,
            key_type="API_KEY",
            usage_plan_id=plan.id,
            opts=opts,
        )


def _container(cfg: MetadataConfig, region: str, *, host: str, secret: str, log_group: str):
    """The service container: database settings as variables, the password as an ECS secret."""
    env = {
        "MF_METADATA_DB_HOST": host,
        "MF_METADATA_DB_PORT": str(DB_PORT),
        "MF_METADATA_DB_NAME": DB_NAME,
        "MF_METADATA_DB_USER": DB_USER,
        "MF_METADATA_DB_SSL_MODE": "require",
    }
    return {
        "name": "metadata",
        "image": cfg.image,
        "essential": True,
        "portMappings": [{"containerPort": SERVICE_PORT, "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in env.items()],
        # RDS's managed secret is JSON {"username", "password"}: ECS extracts the one key.
        "secrets": [{"name": "MF_METADATA_DB_PSWD", "valueFrom": f"{secret}:password::"}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": "metadata",
            },
        },
    }
