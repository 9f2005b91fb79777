"""Compose the components of one stack and return its outputs (``__main__`` exports them).

Kept apart from ``__main__`` so tests and ``make plan`` can build a stack under Pulumi's mock
runtime from a parsed :class:`~infra.config.StackConfig`.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra.compute import Compute, ComputeArgs
from infra.config import StackConfig
from infra.metaflow_config import MetaflowInputs, flow_environment, metaflow_config
from infra.orchestration import Orchestration, OrchestrationArgs
from infra.serving import Serving, ServingArgs, serving_outputs
from infra.storage import Storage, StorageArgs


def build_stack(cfg: StackConfig) -> dict[str, Any]:
    """Create every resource of the stack; return the stack outputs by name."""
    tags = cfg.tags
    aws_provider = aws.Provider("aws", region=cfg.aws_region, default_tags={"tags": tags})
    account_id = aws.get_caller_identity_output(
        opts=pulumi.InvokeOutputOptions(provider=aws_provider)
    ).account_id

    # Components take the stack prefix as their name, so every autonamed AWS resource reads
    # fraud-mlops-<stack>-<role>-<suffix> and stacks sharing an account stay distinguishable.
    name = cfg.prefix
    storage = Storage(
        name,
        StorageArgs(
            prefix=cfg.prefix,
            datastore_retention_days=cfg.datastore_retention_days,
            force_destroy=cfg.force_destroy,
            protect=cfg.protect_data,
            tags=tags,
        ),
        provider=aws_provider,
    )

    warehouse = None
    if cfg.snowflake.enabled:
        from infra.snowflake import SnowflakeArgs, Warehouse, make_provider

        warehouse = Warehouse(
            name,
            SnowflakeArgs(
                prefix=cfg.prefix,
                config=cfg.snowflake,
                aws_provider=aws_provider,
                protect=cfg.protect_data,
            ),
            provider=make_provider("snowflake", cfg.snowflake),
        )
    secret_arns = (
        [warehouse.private_key_secret.arn] if warehouse and warehouse.private_key_secret else []
    )

    compute = Compute(
        name,
        ComputeArgs(
            prefix=cfg.prefix,
            config=cfg.compute,
            region=cfg.aws_region,
            account_id=account_id,
            bucket_arns=[storage.datastore.arn, storage.lakehouse.arn, storage.models.arn],
            models_key_arn=storage.models_key.arn,
            vpc_id=cfg.vpc_id,
            subnet_ids=cfg.subnet_ids,
            secret_arns=secret_arns,
            force_destroy=cfg.force_destroy,
            log_retention_days=cfg.log_retention_days,
            tags=tags,
        ),
        provider=aws_provider,
    )
    orchestration = Orchestration(
        name,
        OrchestrationArgs(
            prefix=cfg.prefix,
            region=cfg.aws_region,
            account_id=account_id,
            state_machine_prefix=cfg.state_machine_prefix,
            job_queue_arns=[q.arn for q in compute.queues.values()],
            datastore_bucket_arn=storage.datastore.arn,
            job_role_name=compute.job_role.name,
            log_retention_days=cfg.log_retention_days,
            tags=tags,
        ),
        provider=aws_provider,
    )
    serving = Serving(
        name,
        ServingArgs(
            prefix=cfg.prefix,
            config=cfg.serving,
            models_bucket=storage.models.bucket,
            models_bucket_arn=storage.models.arn,
            models_key_arn=storage.models_key.arn,
            lakehouse_bucket=storage.lakehouse.bucket,
            lakehouse_bucket_arn=storage.lakehouse.arn,
            region=cfg.aws_region,
            log_retention_days=cfg.log_retention_days,
            tags=tags,
        ),
        provider=aws_provider,
    )
    release_outputs = serving_outputs(name, cfg, serving, storage, account_id, aws_provider)

    other_targets = _other_serving_targets(cfg, name, aws_provider, account_id, storage, serving)

    metadata = None
    if cfg.metadata.enabled:
        from infra.metadata import MetadataArgs, MetadataService

        metadata = MetadataService(
            name,
            MetadataArgs(
                prefix=cfg.prefix,
                config=cfg.metadata,
                region=cfg.aws_region,
                account_id=account_id,
                vpc_id=cfg.vpc_id or "",
                subnet_ids=cfg.subnet_ids,
                log_retention_days=cfg.log_retention_days,
                protect=cfg.protect_data,
                tags=tags,
            ),
            provider=aws_provider,
        )

    databricks_job = None
    if cfg.databricks.enabled:
        from infra.databricks import DatabricksArgs, DatabricksJob
        from infra.databricks import make_provider as db_provider

        databricks_job = DatabricksJob(
            name,
            DatabricksArgs(
                prefix=cfg.prefix,
                config=cfg.databricks,
                lakehouse_uri=pulumi.Output.concat("s3://", storage.lakehouse.bucket, "/lakehouse"),
                model_store_uri=pulumi.Output.concat("s3://", storage.models.bucket),
                model_name=cfg.serving.model_name,
                tags=tags,
            ),
            provider=db_provider("databricks", cfg.databricks),
        )

    queues = {k: q.name for k, q in compute.queues.items()}
    mf = pulumi.Output.all(
        datastore=storage.datastore.bucket,
        queue=compute.queues["ondemand"].name,
        job_role=compute.job_role.arn,
        execution_role=compute.execution_role.arn,
        sfn_role=orchestration.sfn_role.arn,
        events_role=orchestration.events_role.arn,
        table=orchestration.table.name,
        image=compute.image,
        log_group=orchestration.log_group.arn,
        service_url=metadata.url if metadata else "",
        service_internal_url=metadata.internal_url if metadata else "",
    ).apply(
        lambda v: metaflow_config(
            MetaflowInputs(
                region=cfg.aws_region,
                datastore_bucket=v["datastore"],
                job_queue=v["queue"],
                job_role_arn=v["job_role"],
                execution_role_arn=v["execution_role"],
                sfn_role_arn=v["sfn_role"],
                events_role_arn=v["events_role"],
                table_name=v["table"],
                image=v["image"],
                state_machine_prefix=cfg.state_machine_prefix,
                log_group_arn=v["log_group"],
                service_url=v["service_url"] or None,
                service_internal_url=v["service_internal_url"] or None,
            )
        )
    )
    snowflake_env: Any = {}
    if warehouse is not None:
        sf = cfg.snowflake
        key_secret = warehouse.private_key_secret
        snowflake_env = pulumi.Output.all(
            user=warehouse.user.name,
            warehouse=warehouse.warehouse.name,
            role=warehouse.role.name,
            key_secret=key_secret.arn if key_secret else "",
        ).apply(
            lambda v: {
                "SNOWFLAKE_ACCOUNT": f"{sf.organization}-{sf.account}",
                "SNOWFLAKE_USER": v["user"],
                "SNOWFLAKE_WAREHOUSE": v["warehouse"],
                "SNOWFLAKE_DATABASE": sf.database,
                "SNOWFLAKE_SCHEMA": sf.schema,
                "SNOWFLAKE_ROLE": v["role"],
                # Not the key: where the flow's @secrets finds it (SNOWFLAKE_PRIVATE_KEY).
                **(
                    {"SNOWFLAKE_PRIVATE_KEY_SECRET_ARN": v["key_secret"]} if v["key_secret"] else {}
                ),
            }
        )
    flow_env = pulumi.Output.all(
        lakehouse=storage.lakehouse.bucket,
        models=storage.models.bucket,
        search=compute.queues["search"].name,
        snowflake=snowflake_env,
    ).apply(
        lambda v: flow_environment(
            lakehouse_bucket=v["lakehouse"],
            models_bucket=v["models"],
            model_name=cfg.serving.model_name,
            search_queue=v["search"],
            region=cfg.aws_region,
            snowflake=v["snowflake"] or None,
        )
    )

    outputs: dict[str, Any] = {
        "region": cfg.aws_region,
        "datastore_bucket": storage.datastore.bucket,
        "lakehouse_bucket": storage.lakehouse.bucket,
        "models_bucket": storage.models.bucket,
        "models_key_arn": storage.models_key.arn,
        "job_queues": queues,
        "job_role_arn": compute.job_role.arn,
        "execution_role_arn": compute.execution_role.arn,
        "training_repository_url": compute.repository.repository_url,
        "sfn_role_arn": orchestration.sfn_role.arn,
        "events_role_arn": orchestration.events_role.arn,
        "sfn_table_name": orchestration.table.name,
        "lambda_function_name": serving.function.name,
        "lambda_url": serving.url.function_url,
        "model_uri": serving.model_uri,
        "metaflow_config": mf,
        "flow_environment": flow_env,
        "databricks_job_id": databricks_job.job.id if databricks_job else None,
        "snowflake_tables": [t.name for t in warehouse.tables] if warehouse else [],
        "snowflake_views": [v.name for v in warehouse.views] if warehouse else [],
        "snowflake_sync_user": warehouse.user.name if warehouse else None,
        "snowflake_key_secret_arn": (
            warehouse.private_key_secret.arn if warehouse and warehouse.private_key_secret else None
        ),
        "metadata_service_url": metadata.url if metadata else None,
        # Secret: `fraud-mlops metaflow-config` reads it with --show-secrets into the profile.
        "metaflow_service_auth_key": metadata.auth_key if metadata else None,
        **release_outputs,
        **other_targets,
    }
    return outputs


def _other_serving_targets(cfg, name, aws_provider, account_id, storage, serving) -> dict:
    """SageMaker and Kubernetes serving, each only when enabled; returns their outputs."""
    if not (cfg.sagemaker.enabled or cfg.kubernetes.enabled):
        return {}
    from infra.sagemaker import serving_repository

    outputs: dict[str, Any] = {}
    image: Any = cfg.kubernetes.image
    repository = None
    if cfg.sagemaker.enabled or not image:
        repository = serving_repository(
            name, cfg.tags, cfg.force_destroy, pulumi.ResourceOptions(provider=aws_provider)
        )
        image = pulumi.Output.concat(repository.repository_url, ":", cfg.serving_image_tag)
        outputs["serving_repository_url"] = repository.repository_url
    if cfg.sagemaker.enabled:
        from infra.sagemaker import SageMakerArgs, SageMakerServing

        sagemaker = SageMakerServing(
            name,
            SageMakerArgs(
                prefix=cfg.prefix,
                config=cfg.sagemaker,
                image=image,
                repository_arn=repository.arn,
                model_uri=serving.model_uri,
                model_name=cfg.serving.model_name,
                models_bucket_arn=storage.models.arn,
                models_key_arn=storage.models_key.arn,
                region=cfg.aws_region,
                account_id=account_id,
                max_batch_size=cfg.serving.max_batch_size,
                tags=cfg.tags,
            ),
            provider=aws_provider,
        )
        outputs["sagemaker_endpoint_name"] = sagemaker.endpoint.name
    if cfg.kubernetes.enabled:
        from infra.kubernetes import KubernetesArgs, KubernetesServing

        kube = KubernetesServing(
            name,
            KubernetesArgs(
                prefix=cfg.prefix,
                config=cfg.kubernetes,
                image=cfg.kubernetes.image or image,
                model_uri=serving.model_uri,
                region=cfg.aws_region,
                max_batch_size=cfg.serving.max_batch_size,
                labels={"app.kubernetes.io/managed-by": "pulumi", "stack": cfg.stack},
            ),
        )
        outputs["k8s_namespace"] = kube.namespace.metadata["name"]
        outputs["k8s_service_name"] = kube.service.metadata["name"]
    return outputs
