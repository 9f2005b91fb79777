"""Storage: no public bucket, encryption everywhere, TLS only, versioned models, lifecycles."""

from __future__ import annotations

import json

from tests.infra.support import by_bucket

ROLES = {"datastore", "lakehouse", "models"}


def test_three_buckets_named_after_the_stack(dev):
    buckets = dev.of_type("aws:s3/bucket:Bucket")
    assert {b.inputs["bucketPrefix"] for b in buckets} == {
        f"fraud-mlops-dev-{role}-" for role in ROLES
    }


def test_no_bucket_can_be_public(build):
    for run in (build("dev"), build("prod")):
        blocks = by_bucket(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        assert set(blocks) == ROLES
        for block in blocks.values():
            for flag in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            ):
                assert block.inputs[flag] is True, (block.name, flag)
        owners = by_bucket(run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
        assert all(
            o.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced" for o in owners.values()
        )


def test_every_bucket_is_encrypted_and_models_use_the_stack_kms_key(dev):
    sse = by_bucket(
        dev,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    assert set(sse) == ROLES
    default = {
        k: r.inputs["rules"][0]["applyServerSideEncryptionByDefault"] for k, r in sse.items()
    }
    assert default["datastore"]["sseAlgorithm"] == "AES256"
    assert default["lakehouse"]["sseAlgorithm"] == "AES256"
    assert default["models"]["sseAlgorithm"] == "aws:kms"
    key = dev.one("aws:kms/key:Key", "fraud-mlops-dev-models")
    assert key.inputs["enableKeyRotation"] is True
    assert default["models"]["kmsMasterKeyId"].startswith("arn:aws:kms:eu-west-1:")


def test_bucket_policies_refuse_plain_http(dev):
    policies = by_bucket(dev, "aws:s3/bucketPolicy:BucketPolicy")
    assert set(policies) == ROLES
    for role, policy in policies.items():
        stmt = json.loads(policy.inputs["policy"])["Statement"][0]
        assert stmt["Effect"] == "Deny"
        assert stmt["Condition"]["Bool"]["aws:SecureTransport"] == "false"
        assert all(f"fraud-mlops-dev-{role}-" in r for r in stmt["Resource"])


def _lifecycle(run) -> dict[str, list[dict]]:
    return {
        k: r.inputs["rules"]
        for k, r in by_bucket(
            run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        ).items()
    }


def test_models_and_datastore_are_versioned_and_only_old_versions_expire(dev):
    versioning = by_bucket(dev, "aws:s3/bucketVersioning:BucketVersioning")
    assert set(versioning) == {"datastore", "models"}
    assert all(
        v.inputs["versioningConfiguration"]["status"] == "Enabled" for v in versioning.values()
    )
    rules = _lifecycle(dev)
    (datastore,) = rules["datastore"]
    # stacks/Pulumi.dev.yaml: datastoreRetentionDays 30 is how long noncurrent versions stay.
    assert datastore["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    assert "noncurrentVersionExpiration" in rules["models"][0]
    assert all(
        r[0]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7 for r in rules.values()
    )


def test_no_lifecycle_rule_expires_current_datastore_objects(build):
    """Metaflow's content-addressed store keeps a blob's first upload date: a deployed state
    machine's code package, IncludeFile data and reused artifacts must never expire by age."""
    for run in (build("dev"), build("prod")):
        for rule in _lifecycle(run)["datastore"]:
            expiration = rule.get("expiration") or {}
            assert not ({"days", "date"} & set(expiration)), (run.stack, rule)
            assert "transitions" not in rule, (run.stack, rule)  # no archive tier either


def test_force_destroy_only_where_the_stack_asks(dev, prod):
    assert all(b.inputs["forceDestroy"] for b in dev.of_type("aws:s3/bucket:Bucket"))
    assert not any(b.inputs["forceDestroy"] for b in prod.of_type("aws:s3/bucket:Bucket"))
