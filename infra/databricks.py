"""The Databricks job that runs the training flow inside a workspace.

The job runs ``flows/fraud_detection_flow.py run`` with Metaflow's local runtime on the job's
compute: from a Git checkout (``databricksGitUrl``) or from the library wheel
(``databricksWheel``, with the flow file uploaded to ``databricksFlowFile`` in the workspace), on
serverless compute with a pinned environment, or on a single job cluster. The lakehouse and model
store point at the stack's S3 buckets, so a Databricks run publishes into the same store that the
Lambda serves from. The workspace needs S3 access to those buckets (instance profile or Unity
Catalog external location): that is workspace setup, outside this stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_databricks as databricks

from infra.config import DatabricksConfig
from infra.naming import child, type_token

FLOW_FILE = "flows/fraud_detection_flow.py"
ENVIRONMENT_KEY = "fraud-mlops"
# Serverless environment version with Python 3.11-compatible packages.
ENVIRONMENT_VERSION = "2"


@dataclass(frozen=True)
class DatabricksArgs:
    prefix: str
    config: DatabricksConfig
    lakehouse_uri: pulumi.Input[str]
    model_store_uri: pulumi.Input[str]
    model_name: str
    tags: dict[str, str] = field(default_factory=dict)


def job_parameters(cfg: DatabricksConfig, model_name: str) -> list[dict]:
    """Job-level parameters, overridable per run (``databricks jobs run-now --job-parameters``)."""
    return [
        {"name": "trials", "default": str(cfg.trials)},
        {"name": "model_name", "default": model_name},
    ]


def flow_arguments() -> list[str]:
    """argv of the flow: Metaflow's local runtime inside the job; knobs from job parameters."""
    return ["run", "--trials", "{{job.parameters.trials}}", "--max-workers", "4"]


class DatabricksJob(pulumi.ComponentResource):
    """One multi-purpose Databricks job that trains the model with the flow."""

    def __init__(
        self,
        name: str,
        args: DatabricksArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: pulumi.ProviderResource | None = None,
    ):
        super().__init__(type_token("databricks", "Job"), name, None, opts)
        cfg = args.config
        env = {
            "LAKEHOUSE_URI": args.lakehouse_uri,
            "MODEL_STORE_URI": args.model_store_uri,
            "MODEL_NAME": "{{job.parameters.model_name}}",
            "USERNAME": "databricks",
        }
        task: dict = {
            "task_key": "train",
            "max_retries": 1,
            "timeout_seconds": 4 * 3600,
            "environment_variables_key": ENVIRONMENT_KEY,
            # Git: the flow file inside the checkout; wheel: a copy uploaded to the workspace.
            "spark_python_task": {
                "python_file": FLOW_FILE if cfg.git_url else cfg.flow_file,
                "source": "GIT" if cfg.git_url else "WORKSPACE",
                "parameters": flow_arguments(),
            },
        }
        job_args: dict = {
            "name": f"{args.prefix}-train",
            "description": "Trains, evaluates and (if it wins) publishes the fraud model.",
            "max_concurrent_runs": 1,
            "parameters": job_parameters(cfg, args.model_name),
            "environment_variables": [
                {"environment_variables_key": ENVIRONMENT_KEY, "spec": {"variables": env}}
            ],
            "tags": args.tags,
        }
        if cfg.git_url:
            job_args["git_source"] = {
                "url": cfg.git_url,
                "branch": cfg.git_branch,
                "provider": "gitHub" if "github.com" in cfg.git_url else "gitLab",
            }
        dependencies = [cfg.wheel] if cfg.wheel else ["-r requirements.lock", "-e ."]
        if cfg.compute == "serverless":
            task["environment_key"] = ENVIRONMENT_KEY
            job_args["environments"] = [
                {
                    "environment_key": ENVIRONMENT_KEY,
                    "spec": {
                        "environment_version": ENVIRONMENT_VERSION,
                        "dependencies": dependencies,
                    },
                }
            ]
        else:
            task["new_cluster"] = {
                "spark_version": cfg.spark_version,
                "node_type_id": cfg.node_type,
                "num_workers": cfg.workers,
                "data_security_mode": "SINGLE_USER",
                **({"is_single_node": True, "kind": "CLASSIC_PREVIEW"} if cfg.workers == 0 else {}),
            }
            task["libraries"] = (
                [{"whl": cfg.wheel}] if cfg.wheel else [{"requirements": "requirements.lock"}]
            )
        if cfg.schedule:
            job_args["schedule"] = {
                "quartz_cron_expression": cfg.schedule,
                "timezone_id": "UTC",
                "pause_status": "UNPAUSED",
            }
        job_args["tasks"] = [task]
        self.job = databricks.Job(f"{name}-train", **job_args, opts=child(self, provider))
        self.register_outputs({"job_id": self.job.id, "job_url": self.job.url})


def make_provider(name: str, cfg: DatabricksConfig) -> databricks.Provider:
    """Explicit workspace provider; without a token it uses DATABRICKS_* env or a profile."""
    token = pulumi.Output.secret(cfg.token) if cfg.token is not None else None
    return databricks.Provider(name, host=cfg.host, token=token)
