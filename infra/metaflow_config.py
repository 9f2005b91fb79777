"""Stack outputs → the complete Metaflow configuration, and the flow's own environment.

``metaflow_config`` is written by ``fraud-mlops metaflow-config`` to
``~/.metaflowconfig/config_<profile>.json``; Metaflow reads every ``METAFLOW_*`` key from there.
``flow_environment`` holds the project's variables that the flow's steps read on Batch; they are
passed to ``step-functions create`` with ``--with environment:vars=<json>`` (see
docs/infrastructure.md), because Metaflow's config file only carries ``METAFLOW_*`` keys.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetaflowInputs:
    """Resolved stack values the Metaflow configuration is made of."""

    region: str
    datastore_bucket: str
    job_queue: str
    job_role_arn: str
    execution_role_arn: str
    sfn_role_arn: str
    events_role_arn: str
    table_name: str
    image: str
    state_machine_prefix: str
    log_group_arn: str
    # The metadata service's API Gateway URL and its in-VPC URL, when the stack runs it.
    service_url: str | None = None
    service_internal_url: str | None = None


def metaflow_config(v: MetaflowInputs) -> dict[str, str]:
    """The ``METAFLOW_*`` dict for this stack (S3 datastore, Batch, Step Functions).

    With the metadata service, ``METAFLOW_DEFAULT_METADATA=service`` and its URLs; its API key
    is the separate secret output ``metaflow_service_auth_key`` (this dict stays non-secret).
    """
    root = f"s3://{v.datastore_bucket}"
    registry, _, _ = v.image.partition("/")
    if v.service_url:
        metadata = {
            "METAFLOW_DEFAULT_METADATA": "service",
            "METAFLOW_SERVICE_URL": v.service_url,
            # Batch tasks (and Step Functions runs) reach it inside the VPC, without the gateway.
            "METAFLOW_SERVICE_INTERNAL_URL": v.service_internal_url or v.service_url,
        }
    else:
        # No metadata service: runs are found through the S3 datastore's local metadata.
        metadata = {"METAFLOW_DEFAULT_METADATA": "local"}
    return {
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": f"{root}/metaflow",
        "METAFLOW_DATATOOLS_S3ROOT": f"{root}/data",
        **metadata,
        "METAFLOW_BATCH_JOB_QUEUE": v.job_queue,
        "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": v.job_role_arn,
        "METAFLOW_ECS_FARGATE_EXECUTION_ROLE": v.execution_role_arn,
        "METAFLOW_BATCH_CONTAINER_IMAGE": v.image,
        "METAFLOW_BATCH_CONTAINER_REGISTRY": registry,
        "METAFLOW_SFN_IAM_ROLE": v.sfn_role_arn,
        "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE": v.events_role_arn,
        "METAFLOW_SFN_DYNAMO_DB_TABLE": v.table_name,
        "METAFLOW_SFN_STATE_MACHINE_PREFIX": v.state_machine_prefix,
        "METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN": logging_destination(v.log_group_arn),
        "METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE": "aws-secrets-manager",
        "METAFLOW_AWS_SECRETS_MANAGER_DEFAULT_REGION": v.region,
    }


def logging_destination(log_group_arn: str) -> str:
    """A log group ARN as Step Functions wants it for a logging destination: ending in ``:*``.

    The provider's ``LogGroup.arn`` has no ``:*``; CreateStateMachine rejects a destination
    without it, which breaks ``step-functions create --log-execution-history``.
    """
    return log_group_arn if log_group_arn.endswith(":*") else f"{log_group_arn}:*"


def flow_environment(
    *,
    lakehouse_bucket: str,
    models_bucket: str,
    model_name: str,
    search_queue: str,
    region: str,
    snowflake: dict[str, str] | None = None,
) -> dict[str, str]:
    """Variables the flow's steps need on Batch (locations, search queue, warehouse target)."""
    env = {
        "AWS_DEFAULT_REGION": region,
        "LAKEHOUSE_URI": f"s3://{lakehouse_bucket}/lakehouse",
        "MODEL_STORE_URI": f"s3://{models_bucket}",
        "MODEL_NAME": model_name,
        "FRAUD_MLOPS_SEARCH_QUEUE": search_queue,
    }
    env.update(snowflake or {})
    return env
