"""Entry point of ``pulumi up -s <stack>``: read and validate config, compose, export outputs."""

from __future__ import annotations

import sys
from pathlib import Path

# Pulumi runs this file as a script from infra/: make `import infra.*` resolve from the repo.
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pulumi  # noqa: E402

from infra.config import KEYS, NAMESPACE, parse_stack_config  # noqa: E402
from infra.serving import require_lambda_zip  # noqa: E402
from infra.stack import build_stack  # noqa: E402


def read_config() -> dict:
    """Raw ``fraud-mlops:*`` values from the stack; secrets stay secret Outputs."""
    config = pulumi.Config(NAMESPACE)
    values: dict = {}
    for key in KEYS:
        if key.kind == "secret":
            value = config.get_secret(key.name)
        elif key.kind == "list":
            # Structured YAML lists arrive as JSON; `config set subnetIds a,b` as plain text.
            try:
                value = config.get_object(key.name)
            except (pulumi.ConfigTypeError, ValueError):
                value = config.get(key.name)
        else:
            value = config.get(key.name)
        if value is not None:
            values[key.name] = value
    return values


cfg = parse_stack_config(pulumi.get_stack(), read_config())
require_lambda_zip(cfg.serving.lambda_zip, REPO)
for name, value in build_stack(cfg).items():
    if value is not None:
        pulumi.export(name, value)
