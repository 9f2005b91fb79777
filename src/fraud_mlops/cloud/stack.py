"""Read a Pulumi stack's outputs: from ``pulumi stack output --json`` or a saved JSON file.

The delivery commands (``flow deploy/trigger``, ``databricks run``, ``promote``) take
``--stack dev`` and find what they need (the Metaflow config, the Databricks job id, the
lakehouse URI) among the outputs, so nothing is copied by hand between Pulumi and the CLI.
Secret outputs stay ``"[secret]"`` in :func:`load_stack_outputs`; only :func:`secret_output`
reveals one named output, for the one command that must write it (the Metaflow profile's
``METAFLOW_SERVICE_AUTH_KEY``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraud_mlops.errors import ConfigError

# Output names, snake_case first; camelCase is accepted because Pulumi programs use both.
METAFLOW_CONFIG = ("metaflow_config", "metaflowConfig")
DATABRICKS_JOB_ID = ("databricks_job_id", "databricksJobId")
FLOW_ENVIRONMENT = ("flow_environment", "flowEnvironment")
LAKEHOUSE_URI = ("lakehouse_uri", "lakehouseUri")
AWS_REGION = ("region", "aws_region", "awsRegion")
PULUMI_TIMEOUT_S = 120


@dataclass(frozen=True)
class StackOutputs:
    """The outputs of one stack; ``source`` says where they came from (for error messages)."""

    stack: str
    values: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def find(self, names: tuple[str, ...]) -> Any:
        """The first output present under one of ``names``, or None."""
        for name in names:
            if self.values.get(name) not in (None, ""):
                return self.values[name]
        return None

    def require(self, names: tuple[str, ...], hint: str) -> Any:
        value = self.find(names)
        if value is None:
            raise ConfigError(
                f"stack {self.stack!r} has no output {names[0]!r} ({self.source}). {hint}"
            )
        return value

    def metaflow_config(self) -> dict[str, str]:
        """The ``METAFLOW_*`` settings the stack exported, as environment-variable strings."""
        raw = self.require(
            METAFLOW_CONFIG, "Run `pulumi up` for this stack, or pass --stack-outputs FILE."
        )
        return self._as_env(METAFLOW_CONFIG[0], raw)

    def flow_environment(self) -> dict[str, str]:
        """The library's settings for the flow (``LAKEHOUSE_URI``, ``MODEL_STORE_URI``, …)."""
        raw = self.find(FLOW_ENVIRONMENT)
        return {} if raw is None else self._as_env(FLOW_ENVIRONMENT[0], raw)

    def lakehouse_uri(self) -> str | None:
        """Where the stack's flow writes its lakehouse datasets, if the outputs say."""
        return self.find(LAKEHOUSE_URI) or self.flow_environment().get("LAKEHOUSE_URI")

    def _as_env(self, name: str, raw: Any) -> dict[str, str]:
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise ConfigError(
                    f"stack {self.stack!r}: output {name!r} is not a JSON object"
                ) from None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"stack {self.stack!r}: output {name!r} is not a map")
        return {str(k): _env_value(v) for k, v in raw.items()}


def _env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def load_stack_outputs(
    stack: str, outputs_file: str | Path | None = None, *, cwd: str | Path | None = None
) -> StackOutputs:
    """Outputs of ``stack`` from ``outputs_file`` if given, else from the Pulumi CLI.

    Raises:
        ConfigError: the file is unreadable, Pulumi is missing, or the stack does not exist.
    """
    if outputs_file is not None:
        path = Path(outputs_file)
        try:
            values = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"--stack-outputs {str(path)!r} does not exist: save it with "
                f"`pulumi stack output --json -s {stack} > {path}`"
            ) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--stack-outputs {str(path)!r} is not valid JSON: {exc}") from None
        return _checked(stack, values, str(path))
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise ConfigError(
            "the `pulumi` CLI is not on PATH, so the stack outputs cannot be read. Install it, "
            "or save them elsewhere with `pulumi stack output --json -s STACK > outputs.json` "
            "and pass --stack-outputs outputs.json."
        )
    command = f"`pulumi stack output --json --stack {stack}`"
    proc = _run_pulumi(
        [pulumi, "stack", "output", "--json", "--stack", stack],
        cwd,
        f"{command} did not answer in {PULUMI_TIMEOUT_S} s: check `pulumi whoami` and your "
        "backend login",
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ConfigError(
            f"{command} failed: {detail[-1] if detail else 'no output'}. Check the stack name "
            "(`pulumi stack ls`) and that you are logged in to its backend (`pulumi login`)."
        )
    try:
        values = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise ConfigError(f"pulumi printed something that is not JSON: {exc}") from None
    return _checked(stack, values, f"pulumi stack {stack}")


def secret_output(stack: str, name: str, *, cwd: str | Path | None = None) -> str:
    """One secret output in clear text (``pulumi stack output NAME --show-secrets``).

    Raises:
        ConfigError: Pulumi is missing or fails, or the stack has no such output.
    """
    pulumi = shutil.which("pulumi")
    command = f"`pulumi stack output {name} --show-secrets --stack {stack}`"
    if pulumi is None:
        raise ConfigError(f"the `pulumi` CLI is not on PATH: {command} is needed for {name}")
    proc = _run_pulumi(
        [pulumi, "stack", "output", name, "--show-secrets", "--stack", stack],
        cwd,
        f"{command} did not answer in {PULUMI_TIMEOUT_S} s",
    )
    value = (proc.stdout or "").strip()
    if proc.returncode != 0 or not value:
        detail = (proc.stderr or "").strip().splitlines()
        raise ConfigError(f"{command} failed: {detail[-1] if detail else 'no value'}")
    return value


def _run_pulumi(
    argv: list[str], cwd: str | Path | None, timeout_message: str
) -> subprocess.CompletedProcess[str]:
    """Run one ``pulumi`` read command; a hang becomes a ConfigError saying what to check."""
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, cwd=cwd, timeout=PULUMI_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(timeout_message) from None


def _checked(stack: str, values: Any, source: str) -> StackOutputs:
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a JSON object of stack outputs")
    return StackOutputs(stack=stack, values=values, source=source)
