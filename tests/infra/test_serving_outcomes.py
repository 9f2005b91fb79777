"""The Lambda may record outcomes (#15 item 1): LAKEHOUSE_URI in its environment, and its role
may get/put objects and list keys under lakehouse/outcomes/ only (mock runtime, parliament)."""

from __future__ import annotations

from infra.serving import scoring_role_policy
from tests.infra.support import policy_of
from tests.infra.test_serving_release import _fn
from tools import iam_lint


def test_the_function_records_outcomes_in_the_lakehouse(dev) -> None:
    lake = dev.outputs["lakehouse_bucket"]
    env = _fn(dev)["environment"]["variables"]
    assert env["LAKEHOUSE_URI"] == f"s3://{lake}/lakehouse"  # where Firehose writes scores/
    doc = policy_of(dev, "fraud-mlops-dev-score")
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    record = by_sid["RecordOutcomes"]
    assert record["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert record["Resource"] == [f"arn:aws:s3:::{lake}/lakehouse/outcomes/*"]
    listing = by_sid["ListOutcomes"]
    assert listing["Resource"] == [f"arn:aws:s3:::{lake}"]
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": ["lakehouse/outcomes", "lakehouse/outcomes/*"]}
    }
    lake_grants = [
        r for s in doc["Statement"] for r in s["Resource"] if f":::{lake}" in r
    ]  # nothing else of the lakehouse: not scores/, not raw/
    assert sorted(lake_grants) == [
        f"arn:aws:s3:::{lake}",
        f"arn:aws:s3:::{lake}/lakehouse/outcomes/*",
    ]


def test_without_capture_there_is_no_salt_so_no_outcomes_grant(build) -> None:
    run = build("dev", captureEnabled="false")
    assert "LAKEHOUSE_URI" not in _fn(run)["environment"]["variables"]
    sids = {s["Sid"] for s in policy_of(run, "fraud-mlops-dev-score")["Statement"]}
    assert "RecordOutcomes" not in sids and "ListOutcomes" not in sids


def test_the_role_policy_passes_parliament() -> None:
    doc = scoring_role_policy(
        "arn:aws:s3:::models",
        "claims-fraud",
        "arn:aws:kms:eu-west-1:123456789012:key/k",
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/f",
        "arn:aws:s3:::lake",
    )
    assert iam_lint.findings(doc) == []
