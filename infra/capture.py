"""Score capture in the cloud: the Lambda's capture log lines delivered to the lakehouse.

No network call on the request path: the API writes one line per scored claim
(``fraud_mlops.capture_format.log_line``) to its log; a CloudWatch Logs subscription filter
matching the line prefix hands them to Kinesis Data Firehose, which decompresses the CloudWatch
envelope, keeps only the messages (one capture line each, newline-delimited) and delivers them
under ``<lakehouse>/scores/date=YYYY-MM-DD/`` as ``.jsonl`` objects.

Partitioning: by delivery date only. Firehose's inline (jq) dynamic partitioning needs each
record to be a JSON document, and a capture line is the prefix followed by JSON; so the model
version stays inside each record (readers take it from there) rather than in the path. The
local file sink writes the full ``date=…/model_version=…`` layout. docs/releases.md explains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from fraud_mlops.capture_format import CAPTURE_PREFIX, SCORES
from infra import policies
from infra.naming import child, policy_json, type_token

LAKEHOUSE_ROOT = "lakehouse"  # LAKEHOUSE_URI = s3://<lakehouse bucket>/lakehouse
# A CloudWatch Logs filter term: the quoted prefix (without its trailing space).
FILTER_PATTERN = f'"{CAPTURE_PREFIX.strip()}"'


def scores_prefix() -> str:
    """Where Firehose delivers: the lakehouse ``scores/`` dataset, one folder per date."""
    return f"{LAKEHOUSE_ROOT}/{SCORES}/date=!{{timestamp:yyyy-MM-dd}}/"


def error_prefix() -> str:
    kind, date = "!{firehose:error-output-type}", "!{timestamp:yyyy-MM-dd}"
    return f"{LAKEHOUSE_ROOT}/{SCORES}-errors/{kind}/date={date}/"


def firehose_role_policy(bucket_arn: str) -> dict:
    """Firehose writes only the lakehouse ``scores/`` and ``scores-errors/`` prefixes."""
    objects = [
        f"{bucket_arn}/{LAKEHOUSE_ROOT}/{SCORES}/*",
        f"{bucket_arn}/{LAKEHOUSE_ROOT}/{SCORES}-errors/*",
    ]
    return policies.document(
        policies.allow(["s3:PutObject", "s3:AbortMultipartUpload"], objects, "WriteScores"),
        policies.allow(
            ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            [bucket_arn],
            "LocateBucket",
        ),
    )


def logs_role_policy(delivery_stream_arn: str) -> dict:
    """CloudWatch Logs may put records into this one delivery stream."""
    return policies.document(
        policies.allow(
            ["firehose:PutRecord", "firehose:PutRecordBatch"], [delivery_stream_arn], "Deliver"
        )
    )


def firehose_trust(account_id: str) -> dict:
    """Firehose may assume the role for this account only (AWS's documented ExternalId form)."""
    return policies.document(
        {
            "Effect": "Allow",
            "Principal": {"Service": "firehose.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": account_id}},
        }
    )


def logs_trust(account_id: str, region: str) -> dict:
    """CloudWatch Logs may assume the role only for this account's log groups in ``region``."""
    return policies.document(
        {
            "Effect": "Allow",
            "Principal": {"Service": "logs.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": f"arn:aws:logs:{region}:{account_id}:*"},
            },
        }
    )


@dataclass(frozen=True)
class CaptureArgs:
    prefix: str
    region: str
    account_id: pulumi.Input[str]
    log_group_name: pulumi.Input[str]
    log_group_arn: pulumi.Input[str]
    lakehouse_bucket_arn: pulumi.Input[str]
    buffer_seconds: int = 300
    tags: dict[str, str] = field(default_factory=dict)


class ScoreCapture(pulumi.ComponentResource):
    """Subscription filter (capture lines) -> Firehose -> lakehouse ``scores/``."""

    def __init__(
        self,
        name: str,
        args: CaptureArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: pulumi.ProviderResource | None = None,
    ):
        super().__init__(type_token("aws", "ScoreCapture"), name, None, opts)
        opts_ = child(self, provider)
        stream_name = f"{args.prefix}-scores"
        self.scores_prefix = f"{LAKEHOUSE_ROOT}/{SCORES}/"
        self.firehose_role = aws.iam.Role(
            f"{name}-scores-firehose",
            assume_role_policy=policy_json(firehose_trust, args.account_id),
            tags=args.tags,
            opts=opts_,
        )
        firehose_policy = aws.iam.RolePolicy(
            f"{name}-scores-firehose",
            role=self.firehose_role.id,
            policy=policy_json(firehose_role_policy, args.lakehouse_bucket_arn),
            opts=opts_,
        )
        self.stream = aws.kinesis.FirehoseDeliveryStream(
            f"{name}-scores",
            name=stream_name,
            destination="extended_s3",
            extended_s3_configuration={
                "role_arn": self.firehose_role.arn,
                "bucket_arn": args.lakehouse_bucket_arn,
                "prefix": scores_prefix(),
                "error_output_prefix": error_prefix(),
                "file_extension": ".jsonl",
                "buffering_interval": args.buffer_seconds,
                "buffering_size": 64,
                "compression_format": "UNCOMPRESSED",
                "processing_configuration": {
                    "enabled": True,
                    "processors": [
                        {
                            "type": "Decompression",
                            "parameters": [
                                {"parameter_name": "CompressionFormat", "parameter_value": "GZIP"}
                            ],
                        },
                        {
                            "type": "CloudWatchLogProcessing",
                            "parameters": [
                                {
                                    "parameter_name": "DataMessageExtraction",
                                    "parameter_value": "true",
                                }
                            ],
                        },
                        {"type": "AppendDelimiterToRecord"},
                    ],
                },
            },
            tags=args.tags,
            opts=pulumi.ResourceOptions.merge(
                opts_, pulumi.ResourceOptions(depends_on=[firehose_policy])
            ),
        )
        self.logs_role = aws.iam.Role(
            f"{name}-scores-logs",
            assume_role_policy=policy_json(logs_trust, args.account_id, args.region),
            tags=args.tags,
            opts=opts_,
        )
        logs_policy = aws.iam.RolePolicy(
            f"{name}-scores-logs",
            role=self.logs_role.id,
            policy=policy_json(logs_role_policy, self.stream.arn),
            opts=opts_,
        )
        self.subscription = aws.cloudwatch.LogSubscriptionFilter(
            f"{name}-scores",
            name=f"{args.prefix}-score-capture",
            log_group=args.log_group_name,
            filter_pattern=FILTER_PATTERN,
            destination_arn=self.stream.arn,
            role_arn=self.logs_role.arn,
            opts=pulumi.ResourceOptions.merge(
                opts_, pulumi.ResourceOptions(depends_on=[logs_policy])
            ),
        )
        self.register_outputs(
            {"delivery_stream": self.stream.name, "scores_prefix": self.scores_prefix}
        )
