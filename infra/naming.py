"""Names and small Output helpers shared by the components."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import policies

# Component type tokens: <package>:<cloud>:<Component>.
TOKEN = "fraud"


def type_token(cloud: str, component: str) -> str:
    return f"{TOKEN}:{cloud}:{component}"


def child(
    parent: pulumi.Resource, provider: pulumi.ProviderResource | None
) -> pulumi.ResourceOptions:
    """Options for a component's children: parented, on the component's explicit provider."""
    return pulumi.ResourceOptions(parent=parent, provider=provider)


def policy_json(build: Callable[..., dict], *args: Any) -> pulumi.Output[str]:
    """Render a pure policy function of (possibly unresolved) ARNs to a JSON string Output."""
    return pulumi.Output.all(*args).apply(lambda values: json.dumps(build(*values), indent=1))


def service_role(
    name: str,
    service: str,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
    account_id: pulumi.Input[str] | None = None,
) -> aws.iam.Role:
    """An IAM role that only ``service`` (e.g. ``lambda.amazonaws.com``) may assume.

    With ``account_id``, only on behalf of that account (``aws:SourceAccount``).
    """
    trust: pulumi.Input[str] = json.dumps(policies.assume_role(service))
    if account_id is not None:
        trust = policy_json(policies.assume_role, service, account_id)
    return aws.iam.Role(name, assume_role_policy=trust, tags=tags, opts=opts)
