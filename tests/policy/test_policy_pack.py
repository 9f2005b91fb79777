"""The CrossGuard pack (policy/): every rule passes on dev and prod and fails its fixture.

The rules run on the resources of a mocked program run, converted to the argument objects the
pulumi-policy SDK hands a policy during ``pulumi preview --policy-pack policy`` (wire-named
props, resource options with ``protect``, the provider's inputs, property dependencies). What
this cannot show is the engine's own delivery of those objects: that part needs the Pulumi CLI.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from policy import rules
from tools.pulumi_mocks import MockRun, Recorded

STACKS = [("dev", {}), ("prod", {}), ("dev", {"computeType": "fargate"})]


def _opts(r: Recorded) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=r.protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=r.parent or None,
    )


def _providers(resources: list[Recorded]) -> dict[str, PolicyProviderResource]:
    return {
        r.urn: PolicyProviderResource(r.type, r.inputs, r.urn, r.name)
        for r in resources
        if r.type.startswith("pulumi:providers:")
    }


def _provider_of(r: Recorded, providers: dict) -> PolicyProviderResource | None:
    return providers.get((r.provider or "").rsplit("::", 1)[0])


def stack_args(resources: list[Recorded]) -> StackValidationArgs:
    providers = _providers(resources)
    by_urn = {
        r.urn: PolicyResource(
            r.type, r.inputs, r.urn, r.name, _opts(r), _provider_of(r, providers), None, [], {}
        )
        for r in resources
    }
    for r in resources:
        by_urn[r.urn].property_dependencies = {
            key: [by_urn[u] for u in urns if u in by_urn]
            for key, urns in r.property_dependencies.items()
        }
    return StackValidationArgs(list(by_urn.values()))


def violations(name: str, resources: list[Recorded], config: dict | None = None) -> list[str]:
    """Run policy ``name`` as the engine would: once for the stack, or once per resource."""
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    validate: Callable = rules.VALIDATORS[name]
    if name in rules.STACK_POLICIES:
        validate(stack_args(resources), report)
        return found
    providers = _providers(resources)
    for r in resources:
        if r.type.startswith("pulumi:providers:"):
            continue
        args = ResourceValidationArgs(
            r.type, r.inputs, r.urn, r.name, _opts(r), _provider_of(r, providers), config or {}
        )
        validate(args, report)
    return found


def _copy(run: MockRun) -> list[Recorded]:
    return copy.deepcopy(run.resources)


def _first(resources: list[Recorded], type_: str) -> Recorded:
    return next(r for r in resources if r.type == type_)


def test_the_pack_lists_every_rule_once():
    assert [p.name for p in rules.POLICIES] == list(rules.VALIDATORS)
    assert set(rules.VALIDATORS) >= rules.STACK_POLICIES
    main = Path(rules.__file__).with_name("__main__.py").read_text()
    assert "policies=POLICIES" in main and "from rules import POLICIES" in main


@pytest.mark.parametrize(("stack", "overrides"), STACKS)
@pytest.mark.parametrize("name", list(rules.VALIDATORS))
def test_dev_and_prod_pass_every_rule(build, name, stack, overrides):
    assert violations(name, build(stack, **overrides).resources) == []


# One mutation per rule, each a mistake the rule exists to catch.
def _public_block_off(res):
    _first(res, rules.PUBLIC_ACCESS_BLOCK).inputs["restrictPublicBuckets"] = False


def _no_encryption(res):
    res.remove(_first(res, rules.BUCKET_SSE))


def _allows_http(res):
    policy = _first(res, rules.BUCKET_POLICY)
    doc = json.loads(policy.inputs["policy"])
    doc["Statement"][0]["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
    policy.inputs["policy"] = json.dumps(doc)


def _key_without_rotation(res):
    _first(res, "aws:kms/key:Key").inputs["enableKeyRotation"] = False


def _open_function_url(res):
    _first(res, rules.FUNCTION_URL).inputs["authorizationType"] = "NONE"


def _wildcard_grant(res):
    policy = _first(res, "aws:iam/rolePolicy:RolePolicy")
    doc = json.loads(policy.inputs["policy"])
    doc["Statement"][0]["Action"] = ["s3:*"]
    policy.inputs["policy"] = json.dumps(doc)


def _logs_forever(res):
    del _first(res, rules.LOG_GROUP).inputs["retentionInDays"]


def _untagged(res):
    for r in res:
        if r.type == "pulumi:providers:aws":
            r.inputs.pop("defaultTags", None)
    _first(res, "aws:iam/instanceProfile:InstanceProfile")  # relies on the provider's tags


def _unprotected_bucket(res):
    _first(res, rules.BUCKET).protect = False


FIXTURES = {
    "s3-no-public-bucket": ("dev", _public_block_off, "restrictPublicBuckets"),
    "s3-encryption-at-rest": ("dev", _no_encryption, "no default encryption"),
    "s3-tls-only": ("dev", _allows_http, "denying plain HTTP"),
    "encryption-at-rest": ("dev", _key_without_rotation, "enable_key_rotation"),
    "lambda-url-iam-auth": ("dev", _open_function_url, "use AWS_IAM"),
    "iam-no-wildcard-actions": ("dev", _wildcard_grant, "wildcard action 's3:*'"),
    "log-retention": ("dev", _logs_forever, "set retention_in_days"),
    "required-tags": ("dev", _untagged, "lacks tags"),
    "protect-prod-data": ("prod", _unprotected_bucket, "set protect=True"),
}


def test_every_rule_has_a_fixture_that_must_fail_it():
    assert set(FIXTURES) == set(rules.VALIDATORS)


@pytest.mark.parametrize("name", list(FIXTURES))
def test_the_fixture_fails_its_rule(build, name):
    stack, mutate, message = FIXTURES[name]
    resources = _copy(build(stack))
    mutate(resources)
    found = violations(name, resources)
    assert found and any(message in f for f in found), found


def test_a_bucket_without_any_public_access_block_fails(dev):
    resources = [r for r in _copy(dev) if r.type != rules.PUBLIC_ACCESS_BLOCK]
    assert len(violations("s3-no-public-bucket", resources)) == 3


def test_protect_applies_to_the_configured_stacks_only(dev):
    resources = _copy(dev)  # nothing is protected in dev
    assert violations("protect-prod-data", resources) == []
    assert len(violations("protect-prod-data", resources, {"protectedStacks": ["dev"]})) == 4
