"""Check IAM documents with parliament (duo-labs), AWS's own IAM definitions in a linter.

Parliament knows every service's actions, their resource types and condition keys, so it finds
what a hand-written check cannot: an unknown or misspelt action, a resource ARN that does not fit
the action, a malformed or unknown condition. :func:`documents` collects every IAM document a
mocked program run registered (inline role policies, managed policies, trust policies, bucket
policies); :func:`findings` lints one. Used by the tests and ``make plan``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from dataclasses import dataclass
from importlib.resources import files

from tools.pulumi_mocks import MockRun

# Resource type -> the input holding its IAM document, and what kind of document it is.
POLICY_INPUTS: dict[str, tuple[str, str]] = {
    "aws:iam/rolePolicy:RolePolicy": ("policy", "identity"),
    "aws:iam/policy:Policy": ("policy", "identity"),
    "aws:iam/role:Role": ("assumeRolePolicy", "trust"),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy", "resource"),
}

# Parliament's findings that are advice, not errors, for documents this program writes on
# purpose; each with the reason. Everything else it reports is a failure.
ACCEPTED = {
    # Actions AWS does not scope by resource (infra.policies.UNSCOPABLE) need Resource "*".
    "RESOURCE_STAR": "only the unscopable actions of infra.policies.UNSCOPABLE use Resource *",
}


def _load_parliament():
    """Import parliament 1.6.4, which locates its data with ``pkg_resources``.

    setuptools >= 81 no longer ships ``pkg_resources``; parliament only calls its
    ``resource_filename`` for two files inside its own package, so that one function is given
    from ``importlib.resources`` when the module is missing.
    """
    if "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, name: str(files(package) / name)  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    import parliament

    return parliament


@dataclass(frozen=True)
class Document:
    """One IAM document of a run: where it comes from and its parsed JSON."""

    resource: str  # "<type> <name>"
    kind: str  # identity, trust or resource
    doc: dict


def documents(run: MockRun) -> list[Document]:
    """Every IAM document the program registered in ``run``."""
    found = []
    for r in run.resources:
        if r.type in POLICY_INPUTS:
            key, kind = POLICY_INPUTS[r.type]
            value = r.inputs.get(key)
            if value:
                doc = json.loads(value) if isinstance(value, str) else value
                found.append(Document(f"{r.type} {r.name}", kind, doc))
    return found


# A trust policy's statements have no Resource (the role is the resource). Parliament requires
# one, so trust statements are checked as grants of sts:AssumeRole* on a role ARN.
_TRUST_RESOURCE = "arn:aws:iam::*:role/*"


def findings(doc: dict, kind: str = "identity") -> list[str]:
    """Parliament's findings for one document, minus :data:`ACCEPTED`, as readable lines.

    ``kind`` is ``identity`` (role/managed policies), ``trust`` (assume-role policies: their
    actions and conditions are checked against the role resource) or ``resource`` (bucket
    policies, checked as written).
    """
    parliament = _load_parliament()
    if kind == "trust":
        doc = {
            **doc,
            "Statement": [
                s if "Resource" in s or "NotResource" in s else {**s, "Resource": _TRUST_RESOURCE}
                for s in doc.get("Statement", [])
            ],
        }
    policy = parliament.analyze_policy_string(json.dumps(doc))
    return [f"{f.issue}: {f.detail}".strip() for f in policy.findings if f.issue not in ACCEPTED]


def run_findings(run: MockRun) -> list[str]:
    """Every finding over every document of ``run``, each prefixed with its resource."""
    return [f"{d.resource}: {f}" for d in documents(run) for f in findings(d.doc, d.kind)]
