"""Helpers to read what the mocked program registered."""

from __future__ import annotations

import json

from tools.pulumi_mocks import MockRun, Recorded


def policy_of(run: MockRun, name: str) -> dict:
    """The parsed inline policy document of the RolePolicy called ``name``."""
    return json.loads(run.one("aws:iam/rolePolicy:RolePolicy", name).inputs["policy"])


def statements(doc: dict, sid: str) -> list[dict]:
    return [s for s in doc["Statement"] if s.get("Sid") == sid]


def by_bucket(run: MockRun, type_: str) -> dict[str, Recorded]:
    """Companion resources of the buckets keyed by role (datastore, lakehouse, models)."""
    return {r.name.rsplit("-", 1)[-1]: r for r in run.of_type(type_)}
