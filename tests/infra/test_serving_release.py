"""Serving releases under the mock runtime: versions, the live alias, caller policy, alarms,
dashboard, shadow, reserved concurrency (#13 items 4, 5; #14 items 2, 4; #15 item 3)."""

from __future__ import annotations

import json

from fraud_mlops.capture_format import CAPTURE_PREFIX
from infra.config import parse_stack_config
from tests.infra.support import policy_of

FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
STREAM = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _fn(run, stack="dev"):
    return run.one(FUNCTION, f"fraud-mlops-{stack}-score").inputs


def test_each_model_version_is_a_published_snapstart_version(build):
    run = build("dev", modelVersion="20260101T000000Z-7")
    fn = _fn(run)
    assert fn["publish"] is True
    assert fn["snapStart"] == {"applyOn": "PublishedVersions"}
    assert fn["description"] == "claims-fraud 20260101T000000Z-7"
    assert fn["environment"]["variables"]["MODEL_URI"].endswith("/claims-fraud/20260101T000000Z-7")
    assert run.outputs["lambda_version"] == "1"  # the mock's first published version
    off = _fn(build("dev", lambdaSnapStart="false"))
    assert "snapStart" not in off or off["snapStart"] is None


def test_the_url_is_on_the_live_alias_of_the_published_version(dev):
    (alias,) = dev.of_type(ALIAS)
    assert alias.inputs["name"] == "live" == dev.outputs["lambda_alias"]
    assert alias.inputs["functionName"] == "fraud-mlops-dev-score"
    assert alias.inputs["functionVersion"] == dev.outputs["lambda_version"]
    assert "routingConfig" not in alias.inputs  # promote owns the traffic split
    (url,) = dev.of_type("aws:lambda/functionUrl:FunctionUrl")
    assert url.inputs["qualifier"] == "live" and url.inputs["authorizationType"] == "AWS_IAM"


def test_a_least_privilege_caller_policy_is_created_and_exported(dev):
    (policy,) = dev.of_type("aws:iam/policy:Policy")
    assert dev.outputs["caller_policy_arn"].startswith("arn:aws:iam::123456789012:policy/")
    doc = json.loads(policy.inputs["policy"])
    fn = "arn:aws:lambda:eu-west-1:123456789012:function:fraud-mlops-dev-score"
    grants = {a: s["Resource"] for s in doc["Statement"] for a in s["Action"]}
    assert grants == {
        "lambda:InvokeFunctionUrl": [fn, f"{fn}:live"],
        "lambda:InvokeFunction": [fn, f"{fn}:live"],
    }
    url = next(s for s in doc["Statement"] if s["Sid"] == "InvokeScoringUrl")
    assert url["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}


def test_no_reserved_concurrency_unless_the_stack_sets_it(dev, prod, build):
    assert (
        parse_stack_config("dev", {"awsRegion": "eu-west-1"}).serving.reserved_concurrency is None
    )
    assert _fn(dev).get("reservedConcurrentExecutions") is None  # dev stack file sets none
    assert _fn(prod, "prod")["reservedConcurrentExecutions"] == 50
    assert _fn(build("dev", lambdaReservedConcurrency="3"))["reservedConcurrentExecutions"] == 3


def test_canary_alarms_watch_the_alias_and_the_new_model_version(build):
    run = build("dev", modelVersion="v42", alarmErrorRatePercent="2.5", alarmP99Ms="800")
    alarms = {a.inputs["name"]: a.inputs for a in run.of_type(ALARM)}
    assert sorted(alarms) == sorted(run.outputs["canary_alarm_names"])
    alias_dims = {"FunctionName": "fraud-mlops-dev-score", "Resource": "fraud-mlops-dev-score:live"}

    errors = alarms["fraud-mlops-dev-score-alias-5xx"]
    metrics = {q["id"]: q for q in errors["metricQueries"]}
    assert metrics["errors"]["metric"]["metricName"] == "Errors"
    assert metrics["total"]["metric"]["metricName"] == "Invocations"
    assert metrics["errors"]["metric"]["dimensions"] == alias_dims
    assert metrics["rate"]["expression"] == "IF(total > 0, 100 * errors / total, 0)"
    assert errors["threshold"] == 2.5

    version = {q["id"]: q for q in alarms["fraud-mlops-dev-score-version-5xx"]["metricQueries"]}
    assert version["errors"]["metric"]["namespace"] == "FraudMlops"
    assert version["errors"]["metric"]["metricName"] == "ServerErrors"
    assert version["total"]["metric"]["metricName"] == "Requests"
    assert version["errors"]["metric"]["dimensions"] == {"model_version": "v42"}  # the EMF ones

    p99 = alarms["fraud-mlops-dev-score-p99"]
    assert (p99["metricName"], p99["extendedStatistic"], p99["threshold"]) == (
        "Duration",
        "p99",
        800,
    )
    assert p99["dimensions"] == alias_dims
    for alarm in alarms.values():
        assert alarm["comparisonOperator"] == "GreaterThanThreshold"
        assert alarm["treatMissingData"] == "notBreaching"  # an idle canary is healthy


def test_the_dashboard_shows_the_alias_the_versions_and_the_alarms(dev):
    (board,) = dev.of_type("aws:cloudwatch/dashboard:Dashboard")
    assert board.inputs["dashboardName"] == dev.outputs["dashboard_name"]
    widgets = json.loads(board.inputs["dashboardBody"])["widgets"]
    text = json.dumps(widgets)
    assert "fraud-mlops-dev-score:live" in text and "p99" in text
    for metric in ("Requests", "ServerErrors", "ClientErrors", "ClaimsScored", "LatencyMs"):
        assert f'MetricName=\\"{metric}\\"' in text
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    assert len(alarm_widget["properties"]["alarms"]) == 3
    assert all(a.startswith("arn:aws:cloudwatch:") for a in alarm_widget["properties"]["alarms"])


def test_a_shadow_version_is_loaded_from_the_same_model_prefix(build, dev):
    assert "SHADOW_MODEL_URI" not in _fn(dev)["environment"]["variables"]
    run = build("dev", shadowVersion="20260301T000000Z-9")
    env = _fn(run)["environment"]["variables"]
    models = run.outputs["models_bucket"]
    assert env["SHADOW_MODEL_URI"] == f"s3://{models}/claims-fraud/20260301T000000Z-9"
    assert run.outputs["shadow_model_uri"] == env["SHADOW_MODEL_URI"]
    read = policy_of(run, "fraud-mlops-dev-score")["Statement"][0]
    assert read["Resource"] == [f"arn:aws:s3:::{models}/claims-fraud/*"]  # covers the shadow


def test_capture_lines_flow_from_the_log_group_through_firehose_to_scores(dev):
    (sub,) = dev.of_type("aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter")
    (stream,) = dev.of_type(STREAM)
    assert sub.inputs["logGroup"] == "/aws/lambda/fraud-mlops-dev-score"
    assert sub.inputs["filterPattern"] == f'"{CAPTURE_PREFIX.strip()}"'
    stream_arn = "arn:aws:firehose:eu-west-1:123456789012:deliverystream/fraud-mlops-dev-scores"
    assert sub.inputs["destinationArn"] == stream_arn
    s3 = stream.inputs["extendedS3Configuration"]
    lake = dev.outputs["lakehouse_bucket"]
    assert s3["bucketArn"] == f"arn:aws:s3:::{lake}"
    assert s3["prefix"] == "lakehouse/scores/date=!{timestamp:yyyy-MM-dd}/"
    assert s3["errorOutputPrefix"].startswith("lakehouse/scores-errors/")
    assert s3["fileExtension"] == ".jsonl"
    steps = [p["type"] for p in s3["processingConfiguration"]["processors"]]
    assert steps == ["Decompression", "CloudWatchLogProcessing", "AppendDelimiterToRecord"]
    assert dev.outputs["capture_scores_prefix"] == f"s3://{lake}/lakehouse/scores/"
    assert _fn(dev)["environment"]["variables"]["CAPTURE_KEY_SALT"] == "<secret>"


def test_capture_roles_are_least_privilege_and_trust_only_this_account(dev):
    lake = dev.outputs["lakehouse_bucket"]
    firehose = policy_of(dev, "fraud-mlops-dev-scores-firehose")["Statement"]
    grants = {a: s["Resource"] for s in firehose for a in s["Action"]}
    scores = [
        f"arn:aws:s3:::{lake}/lakehouse/scores/*",
        f"arn:aws:s3:::{lake}/lakehouse/scores-errors/*",
    ]
    assert grants["s3:PutObject"] == scores and grants["s3:AbortMultipartUpload"] == scores
    assert grants["s3:ListBucket"] == [f"arn:aws:s3:::{lake}"]
    assert "s3:GetObject" not in grants and "s3:DeleteObject" not in grants
    logs = policy_of(dev, "fraud-mlops-dev-scores-logs")["Statement"]
    assert [(s["Action"], s["Resource"]) for s in logs] == [
        (
            ["firehose:PutRecord", "firehose:PutRecordBatch"],
            ["arn:aws:firehose:eu-west-1:123456789012:deliverystream/fraud-mlops-dev-scores"],
        )
    ]
    roles = {
        r.name: json.loads(r.inputs["assumeRolePolicy"]) for r in dev.of_type("aws:iam/role:Role")
    }
    (firehose,) = roles["fraud-mlops-dev-scores-firehose"]["Statement"]
    assert firehose["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert firehose["Condition"] == {"StringEquals": {"sts:ExternalId": "123456789012"}}
    (logs,) = roles["fraud-mlops-dev-scores-logs"]["Statement"]
    assert logs["Principal"] == {"Service": "logs.amazonaws.com"}
    assert logs["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:logs:eu-west-1:123456789012:*"},
    }


def test_capture_off_creates_nothing_and_tells_the_api(build):
    run = build("dev", captureEnabled="false")
    assert run.of_type(STREAM) == []
    assert "capture_delivery_stream" not in run.outputs
    env = _fn(run)["environment"]["variables"]
    assert env["CAPTURE_ENABLED"] == "false" and "CAPTURE_KEY_SALT" not in env


def test_capture_without_a_salt_is_refused_naming_the_key():
    import pytest

    from fraud_mlops.errors import ConfigError

    with pytest.raises(ConfigError, match="captureKeySalt is required while captureEnabled"):
        parse_stack_config("dev", {"awsRegion": "eu-west-1", "captureEnabled": "true"})


def test_the_subscription_filter_pattern_matches_capture_lines_only(aws_env, tmp_path):
    """CloudWatch Logs filter syntax, evaluated by the moto server: capture lines pass, the
    request log, Lambda's own lines and a near miss do not."""
    import time

    import boto3

    from fraud_mlops import capture_format as cf
    from infra.capture import FILTER_PATTERN

    logs = boto3.client("logs", region_name="eu-west-1")
    group = f"/aws/lambda/capture-{tmp_path.name[-12:]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    rec = cf.record(
        claim_key="k" * 32, model_name="m", model_version="v1", role="champion", score=0.1,
        flagged=False, threshold=0.5, reasons=[], features={"region": "north"},
    )  # fmt: skip
    messages = [
        cf.log_line(rec),
        '{"level":"INFO","message":"request","path":"/v1/score"}',
        "START RequestId: 1 Version: 3",
        "FRAUD_MLOPS_CAPTUR near miss",
    ]
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)],
    )
    found = logs.filter_log_events(logGroupName=group, filterPattern=FILTER_PATTERN)["events"]
    assert [cf.parse_line(e["message"]) for e in found] == [rec]
