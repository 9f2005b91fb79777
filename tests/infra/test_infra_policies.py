"""IAM documents as pure functions: least privilege, checked statement by statement."""

from __future__ import annotations

from infra import policies

QUEUES = ["arn:aws:batch:eu-west-1:1:job-queue/a", "arn:aws:batch:eu-west-1:1:job-queue/b"]


def test_violations_catches_wildcards():
    doc = policies.document(
        policies.allow(["s3:*"], ["arn:aws:s3:::b"], "A"),
        policies.allow(["*"], ["arn:aws:s3:::b"], "B"),
        policies.allow(["s3:GetObject"], "*", "C"),
        policies.allow(["batch:DescribeJobs"], "*", "D"),  # unscopable: allowed
    )
    problems = policies.violations(doc)
    assert len(problems) == 3
    assert any("A: wildcard action 's3:*'" in p for p in problems)
    assert any("C: s3:GetObject on every resource" in p for p in problems)


def test_every_builder_is_free_of_wildcard_grants():
    docs = [
        policies.batch_job_role(["arn:aws:s3:::x"], "arn:aws:kms:k", ["arn:sm:s"]),
        policies.ecs_execution_role("arn:aws:ecr:r", "arn:aws:logs:g"),
        policies.step_functions_role(
            QUEUES, "arn:aws:batch:eu-west-1:1:", "arn:rule", "arn:aws:s3:::d", "arn:t"
        ),
        policies.foreach_table_access("arn:t"),
        policies.events_role("arn:aws:states:eu-west-1:1:stateMachine:p*"),
        policies.lambda_role("arn:aws:s3:::m", "claims-fraud", "arn:aws:kms:k", "arn:logs"),
    ]
    for doc in docs:
        assert policies.violations(doc) == []


def test_step_functions_submit_only_to_given_queues_and_metaflow_job_definitions():
    doc = policies.step_functions_role(
        QUEUES, "arn:aws:batch:eu-west-1:1:", "arn:rule", "arn:aws:s3:::d", "arn:t"
    )
    submit = [s for s in doc["Statement"] if "batch:SubmitJob" in s["Action"]]
    assert len(submit) == 1
    assert submit[0]["Resource"] == [
        *QUEUES,
        "arn:aws:batch:eu-west-1:1:job-definition/metaflow_*",
        "arn:aws:batch:eu-west-1:1:job/*",
    ]


def test_lambda_reads_only_its_model_prefix():
    doc = policies.lambda_role("arn:aws:s3:::m", "/claims-fraud/", "arn:k", "arn:g")
    reads = [s for s in doc["Statement"] if "s3:GetObject" in s["Action"]]
    assert reads[0]["Resource"] == ["arn:aws:s3:::m/claims-fraud/*"]
    listing = next(s for s in doc["Statement"] if "s3:ListBucket" in s["Action"])
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["claims-fraud", "claims-fraud/*"]
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert not any(a.startswith(("s3:Put", "s3:Delete")) for a in actions)


def test_tls_only_policy_denies_plain_http_on_bucket_and_objects():
    stmt = policies.tls_only_bucket("arn:aws:s3:::b")["Statement"][0]
    assert stmt["Effect"] == "Deny"
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert stmt["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
