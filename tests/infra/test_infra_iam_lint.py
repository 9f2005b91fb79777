"""Every IAM document the program builds passes parliament (AWS's IAM definitions).

Parliament finds unknown actions, resources that do not fit the action, unknown or malformed
conditions; the fixtures below prove each kind of mistake is reported.
"""

from __future__ import annotations

import pytest

from infra import policies
from tools import iam_lint

ROLE = "arn:aws:iam::123456789012:role/x"


@pytest.mark.parametrize(
    ("stack", "overrides"),
    [
        ("dev", {}),
        ("prod", {}),
        ("dev", {"computeType": "fargate"}),
        ("dev", {"sagemakerEnabled": "true"}),
    ],
)
def test_every_document_of_the_stack_passes_parliament(build, stack, overrides):
    run = build(stack, **overrides)
    docs = iam_lint.documents(run)
    kinds = {d.kind for d in docs}
    assert kinds == {"identity", "trust", "resource"}, kinds
    # One document per role, role policy, managed policy and bucket policy: none skipped.
    assert len(docs) == sum(len(run.of_type(t)) for t in iam_lint.POLICY_INPUTS) >= 14
    assert iam_lint.run_findings(run) == []


@pytest.mark.parametrize(
    ("doc", "kind", "issue"),
    [
        (
            policies.document(policies.allow(["s3:GetObjekt"], ["arn:aws:s3:::b/*"])),
            "identity",
            "UNKNOWN_ACTION",
        ),
        # GetObject acts on objects: a bucket ARN cannot match.
        (
            policies.document(policies.allow(["s3:GetObject"], ["arn:aws:s3:::b"])),
            "identity",
            "RESOURCE_MISMATCH",
        ),
        # SubmitJob is also authorized on the job: queue + definition alone is what it used to miss.
        (
            policies.document(
                policies.allow(
                    ["batch:SubmitJob"],
                    [
                        "arn:aws:batch:eu-west-1:123456789012:job-queue/q",
                        "arn:aws:batch:eu-west-1:123456789012:job-definition/metaflow_*",
                    ],
                )
            ),
            "identity",
            "RESOURCE_MISMATCH",
        ),
        (
            policies.document(
                {
                    **policies.allow(["s3:ListBucket"], ["arn:aws:s3:::b"]),
                    "Condition": {"StringLikee": {"s3:prefix": ["m/*"]}},
                }
            ),
            "identity",
            "UNKNOWN_OPERATOR",
        ),
        (
            {
                **policies.assume_role("states.amazonaws.com", "123456789012"),
                "Statement": [
                    {
                        **policies.assume_role("states.amazonaws.com")["Statement"][0],
                        "Condition": {"StringEquals": {"aws:SourceAcount": "123456789012"}},
                    }
                ],
            },
            "trust",
            "UNKNOWN_CONDITION_FOR_ACTION",
        ),
        (
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        **policies.tls_only_bucket("arn:aws:s3:::b")["Statement"][0],
                        "Action": "s3:Get0bject",
                    }
                ],
            },
            "resource",
            "UNKNOWN_ACTION",
        ),
    ],
    ids=[
        "unknown-action",
        "object-action-on-bucket",
        "submitjob-without-job",
        "bad-operator",
        "bad-trust-condition",
        "bad-bucket-policy",
    ],
)
def test_parliament_reports_the_fixture(doc, kind, issue):
    found = iam_lint.findings(doc, kind)
    assert any(f.startswith(issue) for f in found), found


def test_every_policy_builder_passes_parliament():
    batch = "arn:aws:batch:eu-west-1:123456789012:"
    docs = [
        policies.batch_job_role(
            ["arn:aws:s3:::x"],
            "arn:aws:kms:eu-west-1:123456789012:key/k",
            ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:s"],
        ),
        policies.step_functions_role(
            [f"{batch}job-queue/q"],
            batch,
            "arn:aws:events:eu-west-1:123456789012:rule/r",
            "arn:aws:s3:::d",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/t",
        ),
        policies.events_role("arn:aws:states:eu-west-1:123456789012:stateMachine:p*"),
    ]
    for doc in docs:
        assert iam_lint.findings(doc) == []
    assert iam_lint.findings(policies.assume_role("ecs-tasks.amazonaws.com", "1"), "trust") == []
