"""Buckets: Metaflow datastore, lakehouse and models — private, encrypted, TLS-only.

Every bucket gets: owner-enforced object ownership (no ACLs), all four public-access blocks,
default encryption (SSE-S3, or SSE-KMS with the stack's key for models), a bucket policy denying
plain HTTP, and a lifecycle configuration. The models bucket is versioned so an overwritten or
deleted champion pointer can be recovered.

The datastore's current objects never expire. Metaflow's store is content-addressed: a blob that
already exists is never uploaded again, so a deployed state machine's code package, an
``IncludeFile`` (``data/<flow>/<sha>``) or an artifact reused by later runs keeps its first upload
date; expiring by age would delete what a deployment still reads. The bucket is versioned instead,
and only noncurrent versions (overwritten or deleted objects) expire.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.naming import child, policy_json, type_token

# Incomplete multipart uploads are invisible and billed; drop them after a week everywhere.
_ABORT_MULTIPART = {"days_after_initiation": 7}


@dataclass(frozen=True)
class StorageArgs:
    prefix: str
    datastore_retention_days: int
    force_destroy: bool = False
    noncurrent_model_days: int = 90
    # Pulumi `protect` on the buckets and the key: deleting or replacing them fails the update.
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class Storage(pulumi.ComponentResource):
    """The three buckets of a stack and the KMS key of the models bucket."""

    def __init__(
        self,
        name: str,
        args: StorageArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: pulumi.ProviderResource | None = None,
    ):
        super().__init__(type_token("aws", "Storage"), name, None, opts)
        self._args, self._provider = args, provider
        opts_ = child(self, provider)
        self.models_key = aws.kms.Key(
            f"{name}-models",
            description=f"{args.prefix}: encrypts model artifacts",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=args.tags,
            opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(protect=args.protect)),
        )
        aws.kms.Alias(
            f"{name}-models",
            name=f"alias/{args.prefix}-models",
            target_key_id=self.models_key.key_id,
            opts=opts_,
        )
        self.datastore = self._bucket(
            name,
            "datastore",
            versioned=True,
            lifecycle=[datastore_lifecycle(args.datastore_retention_days)],
        )
        self.lakehouse = self._bucket(
            name,
            "lakehouse",
            lifecycle=[_abort_only("abort-multipart")],
        )
        self.models = self._bucket(
            name,
            "models",
            kms_key=self.models_key,
            versioned=True,
            lifecycle=[
                {
                    **_abort_only("expire-old-versions"),
                    "noncurrent_version_expiration": {
                        "noncurrent_days": args.noncurrent_model_days
                    },
                }
            ],
        )
        self.register_outputs(
            {
                "datastore_bucket": self.datastore.bucket,
                "lakehouse_bucket": self.lakehouse.bucket,
                "models_bucket": self.models.bucket,
                "models_key_arn": self.models_key.arn,
            }
        )

    def _bucket(
        self,
        name: str,
        role: str,
        *,
        lifecycle: list[dict],
        kms_key: aws.kms.Key | None = None,
        versioned: bool = False,
    ) -> aws.s3.Bucket:
        args, opts = self._args, child(self, self._provider)
        bucket = aws.s3.Bucket(
            f"{name}-{role}",
            bucket_prefix=f"{args.prefix}-{role}-",
            force_destroy=args.force_destroy,
            tags={**args.tags, "role": role},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=args.protect)),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-{role}",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=opts,
        )
        public = aws.s3.BucketPublicAccessBlock(
            f"{name}-{role}",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        by_default: dict = {"sse_algorithm": "AES256"}
        if kms_key is not None:
            by_default = {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key.arn}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-{role}",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": by_default,
                    # S3 Bucket Keys cut KMS request costs by ~99% for SSE-KMS.
                    "bucket_key_enabled": kms_key is not None,
                }
            ],
            opts=opts,
        )
        if versioned:
            aws.s3.BucketVersioning(
                f"{name}-{role}",
                bucket=bucket.id,
                versioning_configuration={"status": "Enabled"},
                opts=opts,
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-{role}", bucket=bucket.id, rules=lifecycle, opts=opts
        )
        # The policy waits for the public-access block: S3 rejects policies while it is settling.
        aws.s3.BucketPolicy(
            f"{name}-{role}",
            bucket=bucket.id,
            policy=policy_json(policies.tls_only_bucket, bucket.arn),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[public])),
        )
        return bucket


def datastore_lifecycle(noncurrent_days: int) -> dict:
    """Datastore rule: drop noncurrent versions and stale delete markers, never current objects."""
    return {
        **_abort_only("expire-noncurrent-versions"),
        "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
        # A delete marker with no versions left behind it is only clutter in listings.
        "expiration": {"expired_object_delete_marker": True},
    }


def _abort_only(rule_id: str) -> dict:
    return {
        "id": rule_id,
        "status": "Enabled",
        "filter": {},
        "abort_incomplete_multipart_upload": _ABORT_MULTIPART,
    }
