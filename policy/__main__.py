"""Entry point of the fraud-mlops CrossGuard pack (``pulumi preview --policy-pack policy``).

Only wires: the rules and their tests live in ``rules.py`` / ``tests/policy``. Pulumi runs this
file with ``policy/`` as the working directory and first entry of ``sys.path``.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(
    name="fraud-mlops",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
