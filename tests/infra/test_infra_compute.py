"""Compute: Spot with on-demand fallback (or Fargate), capped vCPUs, queues, roles, ECR."""

from __future__ import annotations

import json

from tests.infra.support import policy_of

CE = "aws:batch/computeEnvironment:ComputeEnvironment"
QUEUE = "aws:batch/jobQueue:JobQueue"


def _orders(run, queue: str) -> list[str]:
    q = run.one(QUEUE, queue)
    ordered = sorted(q.inputs["computeEnvironmentOrders"], key=lambda o: o["order"])
    return [o["computeEnvironment"].rsplit("/", 1)[-1].rsplit("-", 1)[0] for o in ordered]


def test_spot_search_queue_falls_back_to_on_demand(dev):
    assert _orders(dev, "fraud-mlops-dev-search") == [
        "fraud-mlops-dev-spot",
        "fraud-mlops-dev-ondemand",
    ]
    assert _orders(dev, "fraud-mlops-dev-ondemand") == ["fraud-mlops-dev-ondemand"]
    spot = dev.one(CE, "fraud-mlops-dev-spot").inputs["computeResources"]
    assert spot["type"] == "SPOT"
    assert spot["allocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    ondemand = dev.one(CE, "fraud-mlops-dev-ondemand").inputs["computeResources"]
    assert ondemand["type"] == "EC2"


def test_vcpus_are_capped_and_scale_to_zero(dev):
    for ce in dev.of_type(CE):
        assert ce.inputs["type"] == "MANAGED"
        resources = ce.inputs["computeResources"]
        assert resources["maxVcpus"] == 32  # stacks/Pulumi.dev.yaml
        assert resources["minVcpus"] == 0


def test_default_vpc_when_none_is_configured(dev, prod):
    subnets = dev.one(CE, "fraud-mlops-dev-ondemand").inputs["computeResources"]["subnets"]
    assert subnets == ["subnet-0a", "subnet-0b", "subnet-0c"]  # from the getSubnets invoke
    configured = prod.one(CE, "fraud-mlops-prod-ondemand").inputs["computeResources"]["subnets"]
    assert configured == [
        "subnet-0aaaaaaaaaaaaaaa1",
        "subnet-0bbbbbbbbbbbbbbb2",
        "subnet-0ccccccccccccccc3",
    ]
    sg = prod.one("aws:ec2/securityGroup:SecurityGroup", "fraud-mlops-prod-tasks")
    assert sg.inputs["vpcId"] == "vpc-0123456789abcdef0"
    assert "ingress" not in sg.inputs or not sg.inputs["ingress"]


def test_fargate_mode_has_no_instances(build):
    run = build("dev", computeType="fargate")
    types = {ce.inputs["computeResources"]["type"] for ce in run.of_type(CE)}
    assert types == {"FARGATE", "FARGATE_SPOT"}
    assert not run.of_type("aws:iam/instanceProfile:InstanceProfile")
    assert _orders(run, "fraud-mlops-dev-search") == [
        "fraud-mlops-dev-spot",
        "fraud-mlops-dev-ondemand",
    ]


def test_gpu_queue_only_when_enabled(dev, prod):
    assert "fraud-mlops-dev-gpu" not in {q.name for q in dev.of_type(QUEUE)}
    gpu = prod.one(CE, "fraud-mlops-prod-gpu").inputs["computeResources"]
    assert gpu["instanceTypes"] == ["g5"]
    assert gpu["maxVcpus"] == 32
    assert _orders(prod, "fraud-mlops-prod-gpu") == ["fraud-mlops-prod-gpu"]


def test_training_repository_scans_and_expires_images(dev):
    repo = dev.one("aws:ecr/repository:Repository", "fraud-mlops-dev-training")
    assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    lifecycle = json.loads(
        dev.one("aws:ecr/lifecyclePolicy:LifecyclePolicy", "fraud-mlops-dev-training").inputs[
            "policy"
        ]
    )
    assert [r["selection"]["tagStatus"] for r in lifecycle["rules"]] == ["untagged", "any"]


def test_job_role_reaches_the_stack_buckets_and_nothing_else(dev):
    role = dev.one("aws:iam/role:Role", "fraud-mlops-dev-job")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    doc = policy_of(dev, "fraud-mlops-dev-job")
    buckets = {b.inputs["bucketPrefix"] for b in dev.of_type("aws:s3/bucket:Bucket")}
    objects = next(s for s in doc["Statement"] if s["Sid"] == "ReadWriteObjects")["Resource"]
    assert len(objects) == 3
    assert all(any(r.startswith(f"arn:aws:s3:::{b}") for b in buckets) for r in objects)


def test_execution_role_pulls_only_the_training_image(dev):
    doc = policy_of(dev, "fraud-mlops-dev-execution")
    pull = next(s for s in doc["Statement"] if s["Sid"] == "PullTrainingImage")
    assert pull["Resource"] == [
        "arn:aws:ecr:eu-west-1:123456789012:repository/fraud-mlops-dev-training-"
        + pull["Resource"][0].rsplit("-", 1)[-1]
    ]


def test_batch_job_log_group_is_created_with_retention(dev, prod):
    for run, days in ((dev, 14), (prod, 90)):  # logRetentionDays of each stack file
        group = run.one("aws:cloudwatch/logGroup:LogGroup", f"fraud-mlops-{run.stack}-batch-jobs")
        assert group.inputs["name"] == "/aws/batch/job"
        assert group.inputs["retentionInDays"] == days


def test_a_second_stack_in_the_account_can_leave_the_batch_log_group_alone(build):
    run = build("dev", manageBatchLogGroup="false")
    names = {g.inputs["name"] for g in run.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert "/aws/batch/job" not in names
