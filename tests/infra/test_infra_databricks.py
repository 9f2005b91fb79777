"""Databricks: the training job, serverless or on a cluster, from Git or the wheel."""

from __future__ import annotations

JOB = "databricks:index/job:Job"
GIT = {
    "databricksEnabled": "true",
    "databricksHost": "https://dbc-1.cloud.databricks.com",
    "databricksGitUrl": "https://github.com/example-org/fraud-mlops",
}


def test_serverless_job_runs_the_flow_from_git(prod):
    (job,) = prod.of_type(JOB)
    args = job.inputs
    (task,) = args["tasks"]
    assert task["sparkPythonTask"] == {
        "pythonFile": "flows/fraud_detection_flow.py",
        "source": "GIT",
        "parameters": ["run", "--trials", "{{job.parameters.trials}}", "--max-workers", "4"],
    }
    assert args["gitSource"]["url"] == "https://github.com/example-org/fraud-mlops"
    assert task["environmentKey"] == args["environments"][0]["environmentKey"]
    assert "newCluster" not in task
    assert {p["name"] for p in args["parameters"]} == {"trials", "model_name"}
    assert args["schedule"]["quartzCronExpression"] == "0 0 3 ? * MON"
    variables = args["environmentVariables"][0]["spec"]["variables"]
    models = prod.outputs["models_bucket"]
    assert variables["MODEL_STORE_URI"] == f"s3://{models}"
    assert variables["LAKEHOUSE_URI"].startswith("s3://fraud-mlops-prod-lakehouse-")
    assert prod.outputs["databricks_job_id"]


def test_cluster_job_with_the_wheel(build):
    run = build(
        "dev",
        **{k: v for k, v in GIT.items() if k != "databricksGitUrl"},
        databricksCompute="cluster",
        databricksWheel="/Volumes/main/default/wheels/fraud_mlops-0.1.0-py3-none-any.whl",
        databricksFlowFile="/Workspace/Shared/fraud-mlops/fraud_detection_flow.py",
    )
    (task,) = run.one(JOB, "fraud-mlops-dev-train").inputs["tasks"]
    assert task["sparkPythonTask"]["source"] == "WORKSPACE"
    assert task["newCluster"]["numWorkers"] == 0
    assert task["newCluster"]["isSingleNode"] is True
    assert task["libraries"] == [
        {"whl": "/Volumes/main/default/wheels/fraud_mlops-0.1.0-py3-none-any.whl"}
    ]


def test_workspace_token_stays_secret(prod):
    (provider,) = prod.of_type("pulumi:providers:databricks")
    assert provider.inputs["host"] == "https://dbc-00000000-0000.cloud.databricks.com"
    assert "token" in provider.secret_inputs
