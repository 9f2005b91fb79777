"""Orchestration: the Step Functions and EventBridge roles, the foreach table, the log group."""

from __future__ import annotations

import json
import re

from tests.infra.support import policy_of


def test_foreach_table_is_keyed_by_pathspec_with_ttl(dev):
    table = dev.one("aws:dynamodb/table:Table", "fraud-mlops-dev-foreach")
    assert table.inputs["hashKey"] == "pathspec"
    assert table.inputs["attributes"] == [{"name": "pathspec", "type": "S"}]
    assert table.inputs["ttl"] == {"attributeName": "ttl", "enabled": True}
    assert table.inputs["serverSideEncryption"] == {"enabled": True}


def test_step_functions_role_submits_only_to_this_stacks_queues(build):
    for stack in ("dev", "prod"):
        run = build(stack)
        role = run.one("aws:iam/role:Role", f"fraud-mlops-{stack}-sfn")
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        assert trust["Principal"] == {"Service": "states.amazonaws.com"}
        doc = policy_of(run, f"fraud-mlops-{stack}-sfn")
        submit = [s for s in doc["Statement"] if "batch:SubmitJob" in s["Action"]]
        assert len(submit) == 1, "SubmitJob must be granted in exactly one statement"
        queues = {
            f"arn:aws:batch:eu-west-1:123456789012:job-queue/{q}"
            for q in run.outputs["job_queues"].values()
        }
        resources = set(submit[0]["Resource"])
        assert {r for r in resources if ":job-queue/" in r} == queues
        assert resources - queues == {
            "arn:aws:batch:eu-west-1:123456789012:job-definition/metaflow_*",
            "arn:aws:batch:eu-west-1:123456789012:job/*",  # SubmitJob also authorizes the job
        }


def test_step_functions_role_manages_the_sync_rule_and_the_table(dev):
    doc = policy_of(dev, "fraud-mlops-dev-sfn")
    rule = next(s for s in doc["Statement"] if s["Sid"] == "SyncIntegrationRule")
    assert rule["Resource"] == [
        "arn:aws:events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForBatchJobsRule"
    ]
    table = next(s for s in doc["Statement"] if s["Sid"] == "ForeachCardinality")
    assert table["Resource"][0].startswith(
        "arn:aws:dynamodb:eu-west-1:123456789012:table/fraud-mlops-dev-foreach-"
    )


def test_events_role_starts_only_this_stacks_state_machines(dev):
    role = dev.one("aws:iam/role:Role", "fraud-mlops-dev-events")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    (stmt,) = policy_of(dev, "fraud-mlops-dev-events")["Statement"]
    assert stmt["Action"] == ["states:StartExecution"]
    assert stmt["Resource"] == [
        "arn:aws:states:eu-west-1:123456789012:stateMachine:fraud-mlops-dev*"
    ]


def test_batch_tasks_may_record_foreach_cardinality(dev):
    doc = policy_of(dev, "fraud-mlops-dev-job-foreach")
    assert doc["Statement"][0]["Action"] == [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    attached = dev.one("aws:iam/rolePolicy:RolePolicy", "fraud-mlops-dev-job-foreach")
    assert attached.inputs["role"].startswith("fraud-mlops-dev-job-")


def test_execution_log_group_has_retention(dev):
    group = dev.one("aws:cloudwatch/logGroup:LogGroup", "fraud-mlops-dev-executions")
    assert group.inputs["name"] == "/aws/vendedlogs/states/fraud-mlops-dev"
    assert group.inputs["retentionInDays"] == 14


def test_metaflow_gets_the_log_group_as_a_logging_destination_ending_in_colon_star(dev):
    """Step Functions takes `arn:aws:logs:<region>:<account>:log-group:<name>:*` only."""
    group = dev.one("aws:cloudwatch/logGroup:LogGroup", "fraud-mlops-dev-executions")
    arn = dev.outputs["metaflow_config"]["METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN"]
    assert arn.endswith(f":log-group:{group.inputs['name']}:*")
    assert re.fullmatch(r"arn:aws:logs:eu-west-1:\d{12}:log-group:[^:*]+:\*", arn)


def test_batch_tasks_may_start_only_the_training_state_machine(dev):
    """The monitoring flow's retrain on alert: states:StartExecution on the training flow's
    state machine (Metaflow's name for it), attached to the job role, nothing wider."""
    from fraud_mlops.cloud.stepfunctions import state_machine_name

    (stmt,) = policy_of(dev, "fraud-mlops-dev-job-retrain")["Statement"]
    assert stmt["Action"] == ["states:StartExecution"]
    name = state_machine_name(dev.outputs["metaflow_config"])
    assert stmt["Resource"] == [f"arn:aws:states:eu-west-1:123456789012:stateMachine:{name}"]
    attached = dev.one("aws:iam/rolePolicy:RolePolicy", "fraud-mlops-dev-job-retrain")
    foreach = dev.one("aws:iam/rolePolicy:RolePolicy", "fraud-mlops-dev-job-foreach")
    assert attached.inputs["role"] == foreach.inputs["role"]  # the Batch job role
