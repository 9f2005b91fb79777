"""IAM policy documents as small pure functions of ARNs, so tests can read every statement.

Rules every document here keeps (and ``tests/infra/test_policies.py`` checks):
no ``Allow`` of ``*`` or ``<service>:*`` actions; ``Resource: "*"`` only for the few read-only
or delivery actions AWS does not scope by resource (listed in :data:`UNSCOPABLE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# What Step Functions needs to deliver execution logs to CloudWatch Logs (vended log delivery).
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
# Actions AWS does not support resource-level permissions for: "*" is the only valid resource.
UNSCOPABLE = frozenset(
    {
        "batch:DescribeJobs",
        "batch:DescribeJobDefinitions",
        "batch:DescribeJobQueues",
        "batch:DescribeComputeEnvironments",
        "ecr:GetAuthorizationToken",
        *LOG_DELIVERY_ACTIONS,
    }
)

# Metaflow registers job definitions named metaflow_<hash> (plugins/aws/batch/batch_client.py).
METAFLOW_JOB_DEFINITION = "metaflow_*"
# The managed EventBridge rule Step Functions uses for `.sync` Batch integrations.
SFN_BATCH_EVENTS_RULE = "StepFunctionsGetEventsForBatchJobsRule"

_OBJECT_RW = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]


def document(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: Iterable[str], resources: str | Sequence[str], sid: str = "") -> dict:
    stmt: dict = {"Effect": "Allow", "Action": sorted(set(actions))}
    stmt["Resource"] = resources if isinstance(resources, str) else list(resources)
    if sid:
        stmt["Sid"] = sid
    return stmt


# Services whose documentation gives ``aws:SourceAccount`` for role trust policies (cross-service
# confused-deputy prevention). EC2 (instance profiles) and Lambda (execution roles) assume a role
# for the account's own instance/function and are not listed: the key is not documented there.
SOURCE_ACCOUNT_SERVICES = frozenset(
    {
        "states.amazonaws.com",
        "events.amazonaws.com",
        "ecs-tasks.amazonaws.com",
        "sagemaker.amazonaws.com",
        "ecs.amazonaws.com",
        "apigateway.amazonaws.com",
    }
)


def assume_role(service: str, account_id: str | None = None) -> dict:
    """Trust policy letting one AWS service (e.g. ``states.amazonaws.com``) assume the role.

    With ``account_id`` the service may assume it only on behalf of that account's resources
    (``aws:SourceAccount``), so another account cannot make the service act with this role.
    """
    stmt: dict = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if account_id is not None:
        stmt["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return document(stmt)


def tls_only_bucket(bucket_arn: str) -> dict:
    """Bucket policy: refuse every request that does not use TLS."""
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def _bucket_rw(bucket_arns: Sequence[str]) -> list[dict]:
    return [
        allow(["s3:ListBucket", "s3:GetBucketLocation"], list(bucket_arns), "ListBuckets"),
        allow(_OBJECT_RW, [f"{b}/*" for b in bucket_arns], "ReadWriteObjects"),
    ]


def batch_job_role(
    bucket_arns: Sequence[str], kms_key_arn: str, secret_arns: Sequence[str] = ()
) -> dict:
    """What a flow step on Batch may do: the stack's buckets, the models key, its secrets."""
    statements = [
        *_bucket_rw(bucket_arns),
        allow(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], [kms_key_arn], "ModelsKey"),
    ]
    if secret_arns:
        statements.append(allow(["secretsmanager:GetSecretValue"], list(secret_arns), "Secrets"))
    return document(*statements)


def ecs_execution_role(repository_arn: str, log_group_arn: str) -> dict:
    """What ECS needs to start a task: pull the training image and write its logs."""
    return document(
        allow(["ecr:GetAuthorizationToken"], "*", "EcrLogin"),
        allow(
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            [repository_arn],
            "PullTrainingImage",
        ),
        allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"], "WriteLogs"),
    )


def step_functions_role(
    job_queue_arns: Sequence[str],
    batch_arn_prefix: str,
    events_rule_arn: str,
    datastore_bucket_arn: str,
    table_arn: str,
) -> dict:
    """What Metaflow's state machines need: submit to THIS stack's queues and track the jobs.

    ``batch_arn_prefix`` is ``arn:aws:batch:<region>:<account>:``. SubmitJob is authorized on the
    queue, the job definition *and* the new job (``job/*``), so all three are listed.
    """
    jobs = f"{batch_arn_prefix}job/*"
    return document(
        allow(
            ["batch:SubmitJob"],
            [
                *job_queue_arns,
                f"{batch_arn_prefix}job-definition/{METAFLOW_JOB_DEFINITION}",
                jobs,
            ],
            "SubmitToStackQueues",
        ),
        allow(["batch:DescribeJobs"], "*", "TrackJobs"),
        allow(["batch:TerminateJob"], [jobs], "StopJobs"),
        allow(
            ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            [events_rule_arn],
            "SyncIntegrationRule",
        ),
        *_bucket_rw([datastore_bucket_arn]),
        allow(
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            [table_arn],
            "ForeachCardinality",
        ),
        allow(LOG_DELIVERY_ACTIONS, "*", "ExecutionLogs"),
    )


def foreach_table_access(table_arn: str) -> dict:
    """Batch tasks record foreach cardinality in the table; the state machine reads it back."""
    return document(
        allow(
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [table_arn], "Foreach"
        )
    )


def events_role(state_machine_arn_pattern: str) -> dict:
    """EventBridge may start this stack's state machines (schedules, ``@schedule``)."""
    return document(allow(["states:StartExecution"], [state_machine_arn_pattern], "Start"))


def start_training(training_state_machine_arn: str) -> dict:
    """The monitoring flow's Batch steps may start the TRAINING state machine, nothing else
    (``--retrain-on-alert``); attached to the shared job role."""
    return document(allow(["states:StartExecution"], [training_state_machine_arn], "Retrain"))


def lambda_role(models_bucket_arn: str, model_prefix: str, kms_key_arn: str, log_group_arn: str):
    """The scoring Lambda reads only ``<models bucket>/<model_prefix>/`` and writes its logs."""
    prefix = model_prefix.strip("/")
    return document(
        allow(["s3:GetObject"], [f"{models_bucket_arn}/{prefix}/*"], "ReadModel"),
        {
            **allow(["s3:ListBucket"], [models_bucket_arn], "ListModelPrefix"),
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
        },
        allow(["kms:Decrypt"], [kms_key_arn], "DecryptModel"),
        allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"], "Logs"),
    )


def metadata_execution_role(log_group_arn: str, password_secret_arn: str) -> dict:
    """What ECS needs to start the metadata service: its logs and the database password.

    The image is public (Docker Hub), so no ECR access; the RDS-managed secret uses the
    ``aws/secretsmanager`` key, which needs no KMS grant.
    """
    return document(
        allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"], "WriteLogs"),
        allow(["secretsmanager:GetSecretValue"], [password_secret_arn], "DatabasePassword"),
    )


def violations(doc: dict) -> list[str]:
    """Problems with a policy document, for tests and the plan: wildcard actions or resources."""
    problems = []
    for stmt in doc.get("Statement", []):
        if stmt.get("Effect") != "Allow" or "Principal" in stmt:
            continue  # denies and resource/trust policies (principals) are not identity grants
        actions = stmt.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = stmt.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        for action in actions:
            if action == "*" or action.endswith(":*"):
                problems.append(f"{stmt.get('Sid', '?')}: wildcard action {action!r}")
            elif "*" in resources and action not in UNSCOPABLE:
                problems.append(f"{stmt.get('Sid', '?')}: {action} on every resource")
    return problems
