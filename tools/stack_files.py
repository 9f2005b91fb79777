"""Read ``stacks/Pulumi.<stack>.yaml`` without Pulumi: for ``make plan`` and the tests.

``pulumi up`` reads the same values through ``pulumi.Config`` (``infra/__main__.py``); offline,
encrypted values cannot be decrypted, so they become secret placeholders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fraud_mlops.errors import ConfigError
from infra.config import NAMESPACE, StackConfig, parse_stack_config

STACKS_DIR = Path(__file__).resolve().parents[1] / "stacks"
SECRET_PLACEHOLDER = "<secret>"


def read_stack_file(path: Path) -> tuple[dict[str, Any], set[str]]:
    """Read ``fraud-mlops:*`` values from a stack file; return (values, names of secret keys).

    Encrypted values (``{secure: ...}``) are returned as the placeholder ``"<secret>"`` and their
    names reported, so callers can wrap them as secrets.
    """
    import yaml

    if not path.is_file():
        raise ConfigError(f"stack file {path} not found: create it with `pulumi stack init`")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for full, value in (doc.get("config") or {}).items():
        namespace, _, name = str(full).partition(":")
        if namespace != NAMESPACE:
            continue  # provider keys (aws:region, ...) are not read by the program
        if isinstance(value, dict) and "secure" in value:
            values[name] = SECRET_PLACEHOLDER
            secrets.add(name)
        else:
            values[name] = value
    return values, secrets


def config_from_stack_file(
    stack: str, stacks_dir: Path | str | None = None, overrides: dict | None = None
) -> StackConfig:
    """Parse ``stacks/Pulumi.<stack>.yaml`` offline; encrypted values become secret Outputs.

    ``overrides`` replace or add raw values (tests use it to flip toggles).
    """
    import pulumi

    root = Path(stacks_dir) if stacks_dir else STACKS_DIR
    values, secrets = read_stack_file(root / f"Pulumi.{stack}.yaml")
    values.update(overrides or {})
    wrapped = {k: (pulumi.Output.secret(v) if k in secrets else v) for k, v in values.items()}
    return parse_stack_config(stack, wrapped)
