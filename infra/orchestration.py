"""What Metaflow's Step Functions deployment needs besides Batch.

- the Step Functions role: submit to THIS stack's queues (and Metaflow's job definitions), track
  jobs, manage the EventBridge rule behind ``.sync`` integrations, the datastore, the table, logs;
- the EventBridge role: ``states:StartExecution`` on this stack's state machines
  (``step-functions create`` fails without it even when the flow has no schedule);
- the DynamoDB table keyed by ``pathspec`` (TTL ``ttl``) where foreach cardinality is recorded,
  and the Batch job role's access to it;
- the execution log group (``METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN``);
- the Batch job role's right to start the training state machine (the monitoring flow's
  ``--retrain-on-alert``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from fraud_mlops.cloud.stepfunctions import FLOW_NAME as TRAINING_FLOW_NAME
from infra import policies
from infra.naming import child, policy_json, service_role, type_token


@dataclass(frozen=True)
class OrchestrationArgs:
    prefix: str
    region: str
    account_id: pulumi.Input[str]
    state_machine_prefix: str
    job_queue_arns: list[pulumi.Input[str]]
    datastore_bucket_arn: pulumi.Input[str]
    job_role_name: pulumi.Input[str]
    log_retention_days: int = 30
    tags: dict[str, str] = field(default_factory=dict)


class Orchestration(pulumi.ComponentResource):
    """Step Functions and EventBridge roles, the foreach table and the execution log group."""

    def __init__(
        self,
        name: str,
        args: OrchestrationArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: pulumi.ProviderResource | None = None,
    ):
        super().__init__(type_token("aws", "Orchestration"), name, None, opts)
        opts_ = child(self, provider)
        self.table = aws.dynamodb.Table(
            f"{name}-foreach",
            billing_mode="PAY_PER_REQUEST",
            hash_key="pathspec",
            attributes=[{"name": "pathspec", "type": "S"}],
            ttl={"attribute_name": "ttl", "enabled": True},
            server_side_encryption={"enabled": True},
            point_in_time_recovery={"enabled": True},
            tags=args.tags,
            opts=opts_,
        )
        aws.iam.RolePolicy(
            f"{name}-job-foreach",
            role=args.job_role_name,
            policy=policy_json(policies.foreach_table_access, self.table.arn),
            opts=opts_,
        )
        # Vended-logs path: Step Functions delivers execution logs through CloudWatch Logs
        # delivery, which needs a resource policy that AWS manages for this prefix.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-executions",
            name=f"/aws/vendedlogs/states/{args.state_machine_prefix}",
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=opts_,
        )

        arn = pulumi.Output.format
        batch_prefix = arn("arn:aws:batch:{0}:{1}:", args.region, args.account_id)
        events_rule = arn(
            "arn:aws:events:{0}:{1}:rule/{2}",
            args.region,
            args.account_id,
            policies.SFN_BATCH_EVENTS_RULE,
        )
        self.sfn_role = service_role(
            f"{name}-sfn", "states.amazonaws.com", args.tags, opts_, args.account_id
        )
        aws.iam.RolePolicy(
            f"{name}-sfn",
            role=self.sfn_role.id,
            policy=policy_json(
                policies.step_functions_role,
                pulumi.Output.all(*args.job_queue_arns),
                batch_prefix,
                events_rule,
                args.datastore_bucket_arn,
                self.table.arn,
            ),
            opts=opts_,
        )
        # A monitoring run with --retrain-on-alert starts the training state machine.
        aws.iam.RolePolicy(
            f"{name}-job-retrain",
            role=args.job_role_name,
            policy=policy_json(
                policies.start_training,
                arn(
                    "arn:aws:states:{0}:{1}:stateMachine:{2}_{3}",
                    args.region,
                    args.account_id,
                    args.state_machine_prefix,
                    TRAINING_FLOW_NAME,
                ),
            ),
            opts=opts_,
        )
        self.events_role = service_role(
            f"{name}-events", "events.amazonaws.com", args.tags, opts_, args.account_id
        )
        aws.iam.RolePolicy(
            f"{name}-events",
            role=self.events_role.id,
            policy=policy_json(
                policies.events_role,
                arn(
                    "arn:aws:states:{0}:{1}:stateMachine:{2}*",
                    args.region,
                    args.account_id,
                    args.state_machine_prefix,
                ),
            ),
            opts=opts_,
        )
        self.register_outputs(
            {
                "table_name": self.table.name,
                "sfn_role_arn": self.sfn_role.arn,
                "events_role_arn": self.events_role.arn,
                "log_group_arn": self.log_group.arn,
            }
        )
