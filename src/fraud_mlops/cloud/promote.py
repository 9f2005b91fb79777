"""Promote (or roll back) the model a stack serves, through its Pulumi program and its alias.

The served version is the stack config key ``fraud-mlops:modelVersion`` (``infra/config.py``);
the Lambda's ``MODEL_URI`` is derived from it. Promotion checks the version, sets that key and
runs ``pulumi up`` targeted at the serving component, which publishes a new Lambda version (the
infrastructure code stays the source of truth). Traffic then moves on the ``live`` alias by
weight, watched by the canary alarms (``fraud_mlops.cloud.canary``): an ALARM sends it back and
puts the config key back. ``rollback`` moves the alias to the version it served before.
``--shadow VERSION`` does the same with ``fraud-mlops:shadowVersion`` (docs/releases.md).

Refused, before anything changes: a version whose recorded gate did not pass, and one whose
files do not verify against their checksums. When ``pulumi up`` fails, the previous config value
is put back, so the stack config keeps describing what is deployed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fraud_mlops.cloud import CloudError
from fraud_mlops.cloud.gate_check import GateVerdict, Locations, gate_of_version
from fraud_mlops.errors import ConfigError, FraudMlopsError

# Must match infra/config.py (key) and infra/serving.py + infra/stack.py (component type/name);
# tests/cloud/test_promote.py checks both against the Pulumi program.
PROJECT = "fraud-mlops"
MODEL_VERSION_KEY = f"{PROJECT}:modelVersion"
SHADOW_VERSION_KEY = f"{PROJECT}:shadowVersion"
DEFAULT_SERVED_VERSION = "champion"
SERVING_TYPE = "fraud:aws:Serving"
FUNCTION_TYPE = "aws:lambda/function:Function"


class PromotionRefused(FraudMlopsError):
    """The version may not be served: its gate failed or its files do not verify."""

    exit_code = 1


class PromotionFailed(CloudError):
    """A pulumi command of the promotion failed (the config key has been restored)."""

    exit_code = 1


class CanaryRolledBack(CloudError):
    """An alarm fired during the canary: traffic and the config key are back (exit 1)."""

    exit_code = 1


def serving_targets(stack: str, project: str = PROJECT) -> list[str]:
    """URNs of the serving component and its Lambda, for ``pulumi up --target``."""
    prefix = f"{project}-{stack}"
    base = f"urn:pulumi:{stack}::{project}::{SERVING_TYPE}"
    return [f"{base}::{prefix}", f"{base}${FUNCTION_TYPE}::{prefix}-score"]


def up_command(stack: str, targets: Sequence[str] | None = None) -> list[str]:
    """``pulumi up`` limited to serving (or ``targets``); ``--target-dependents`` takes the
    Function URL along."""
    cmd = ["pulumi", "up", "--stack", stack, "--yes", "--non-interactive", "--skip-preview"]
    for urn in serving_targets(stack) if targets is None else targets:
        cmd += ["--target", urn]
    return [*cmd, "--target-dependents"]


@dataclass
class Plan:
    """What a promotion does, in order; ``dry_run`` prints it and runs nothing."""

    stack: str
    verdict: GateVerdict
    previous: str | None
    commands: list[list[str]] = field(default_factory=list)
    key: str = MODEL_VERSION_KEY

    @property
    def is_rollback(self) -> bool:
        """Versions start with their UTC publish time, so an older one sorts first."""
        previous = self.previous or DEFAULT_SERVED_VERSION
        return previous != DEFAULT_SERVED_VERSION and self.verdict.version < previous


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def run_pulumi(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a ``pulumi`` command; its output streams to the console (``up`` prints its diff)."""
    exe = shutil.which("pulumi")
    if exe is None:
        raise ConfigError(
            "the `pulumi` CLI is not on PATH: install it (https://www.pulumi.com/docs/install/) "
            "or use --dry-run to see the commands"
        )
    capture = list(args[:2]) == ["pulumi", "config"]
    return subprocess.run(
        [exe, *args[1:]], capture_output=capture, text=True, check=False, timeout=3600
    )


def check_version(locations: Locations, version: str | None) -> GateVerdict:
    """The version to serve (default: the store's champion), refused unless gate + files are ok.

    Raises:
        ModelError: the version does not exist, or no champion exists and none was named.
        PromotionRefused: its gate did not pass, or its checksums do not verify.
    """
    from fraud_mlops.errors import ModelError
    from fraud_mlops.store import ModelStore

    store = ModelStore(locations.model_store_uri)
    name = locations.model_name
    if version is None:
        pointer = store.champion(name)
        if pointer is None:
            raise ModelError(
                f"{name} has no champion in {store.uri}: name a version with --version "
                "(`fraud-mlops models` lists them)"
            )
        version = str(pointer["version"])
    known = store.versions(name)
    if version not in known:
        raise ModelError(
            f"{name}/{version} is not in the model store {store.uri} "
            f"(latest: {', '.join(known[-5:]) or 'none'})"
        )
    verdict = gate_of_version(store.manifest(name, version), name, version)
    if not verdict.passed:
        raise PromotionRefused(
            f"refusing to serve {name}/{version}: its quality gate did not pass\n"
            + "\n".join(f"  {r}" for r in verdict.reasons)
            + "\nPick a version that passed (`fraud-mlops models`), or retrain."
        )
    with tempfile.TemporaryDirectory(prefix="promote-verify-") as cache:
        try:
            store.fetch(name, version, cache)  # downloads and checks every sha256
        except ModelError as exc:
            raise PromotionRefused(
                f"refusing to serve {name}/{version}: its files do not verify: {exc}"
            ) from None
    return verdict


def current_version(stack: str, run: Runner = run_pulumi) -> str | None:
    """The stack's ``modelVersion`` config value, or None when the key is unset (default)."""
    return config_get(stack, MODEL_VERSION_KEY, run)


def config_get(stack: str, key: str, run: Runner = run_pulumi) -> str | None:
    """A stack config value (``fraud-mlops:<key>``), or None when the key is unset."""
    proc = run(["pulumi", "config", "get", key, "--stack", stack])
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip()
        if "not found" in detail.lower():
            return None
        raise CloudError(
            f"`pulumi config get {key} --stack {stack}` failed: "
            f"{detail.splitlines()[-1] if detail else 'no output'}. Check the stack name and "
            "that you are logged in to its backend (`pulumi login`)."
        )
    return proc.stdout.strip() or None


def plan_promotion(
    stack: str, verdict: GateVerdict, previous: str | None, key: str = MODEL_VERSION_KEY
) -> Plan:
    set_cmd = ["pulumi", "config", "set", key, verdict.version, "--stack", stack]
    return Plan(stack, verdict, previous, [set_cmd, up_command(stack)], key)


def undo_command(plan: Plan) -> list[str]:
    """The command that puts the plan's config key back as it was."""
    if plan.previous is None:
        return ["pulumi", "config", "rm", plan.key, "--stack", plan.stack]
    return ["pulumi", "config", "set", plan.key, plan.previous, "--stack", plan.stack]


def apply_promotion(plan: Plan, run: Runner = run_pulumi) -> None:
    """Set the config key and run the targeted ``pulumi up``; undo the key if ``up`` fails.

    Raises:
        PromotionFailed: a pulumi command failed (the config key is restored first).
    """
    set_cmd, up_cmd = plan.commands
    proc = run(set_cmd)
    if proc.returncode != 0:
        raise PromotionFailed(f"`{' '.join(set_cmd)}` failed: {(proc.stderr or '').strip()}")
    proc = run(up_cmd)
    if proc.returncode == 0:
        return
    undo = undo_command(plan)
    restored = run(undo).returncode == 0
    raise PromotionFailed(
        f"`pulumi up` for the serving component of {plan.stack} failed (exit {proc.returncode}, "
        "output above); "
        + (
            f"{plan.key} is back to {plan.previous or 'unset (champion)'}."
            if restored
            else f"restoring {plan.key} ALSO failed: run `{' '.join(undo)}`."
        )
    )


def check_files(locations: Locations, version: str) -> GateVerdict:
    """A version's files verify (shadow challengers need not have passed the gate)."""
    from fraud_mlops.errors import ModelError
    from fraud_mlops.store import ModelStore

    store = ModelStore(locations.model_store_uri)
    name = locations.model_name
    known = store.versions(name)
    if version not in known:
        raise ModelError(
            f"{name}/{version} is not in the model store {store.uri} "
            f"(latest: {', '.join(known[-5:]) or 'none'})"
        )
    verdict = gate_of_version(store.manifest(name, version), name, version)
    with tempfile.TemporaryDirectory(prefix="promote-verify-") as cache:
        try:
            store.fetch(name, version, cache)
        except ModelError as exc:
            raise PromotionRefused(
                f"refusing {name}/{version}: its files do not verify: {exc}"
            ) from None
    return verdict


def shift_traffic(
    plan: Plan,
    outputs_file: str | None,
    policy: Any,
    run: Runner = run_pulumi,
    sleep: Callable[[float], None] | None = None,
) -> Any:
    """After ``apply_promotion``: move the ``live`` alias to the version ``up`` published,
    under the canary ``policy`` (None: at once). On ALARM the alias is back on the stable
    version and the config key is restored; raises :class:`CanaryRolledBack`."""
    from fraud_mlops.cloud import canary
    from fraud_mlops.cloud.stack import load_stack_outputs

    live = canary.LiveAlias(
        canary.Target.from_outputs(load_stack_outputs(plan.stack, outputs_file))
    )
    phases = canary.Phases()
    model_text = served_description(plan, run)
    candidate = live.version_of(model_text)
    if candidate is None:
        raise PromotionFailed(
            f"`pulumi up` published no Lambda version described {model_text!r} on "
            f"{live.target.function_name}: check the up output above"
        )
    phases(f"pulumi up published version {candidate} ({model_text})")
    try:
        outcome = canary.release(live, candidate, policy, phases, sleep=sleep)
    except FraudMlopsError as exc:  # refused or failed before traffic moved for good
        undo = undo_command(plan)
        restored = run(undo).returncode == 0
        note = (
            f"{plan.key} is back to {plan.previous or 'unset'}"
            if restored
            else (f"restoring {plan.key} ALSO failed: run `{' '.join(undo)}`")
        )
        raise type(exc)(f"{exc} ({note})") from None
    if outcome.promoted:
        return outcome
    undo = undo_command(plan)
    restored = run(undo).returncode == 0
    raise CanaryRolledBack(
        f"canary of version {candidate} rolled back on {', '.join(outcome.alarms)}: "
        f"{live.target.alias} serves version {outcome.stable} again; "
        + (
            f"{plan.key} is back to {plan.previous or 'unset'} (the published version stays, "
            "unused)."
            if restored
            else f"restoring {plan.key} ALSO failed: run `{' '.join(undo)}`."
        )
    )


def served_description(plan: Plan, run: Runner = run_pulumi) -> str:
    """The description ``up`` gave the version it published (infra/serving.py): the model
    served, which for a shadow change is the stack's unchanged modelVersion."""
    from fraud_mlops.cloud.canary import version_description

    served = plan.verdict.version
    if plan.key != MODEL_VERSION_KEY:
        served = current_version(plan.stack, run) or DEFAULT_SERVED_VERSION
    return version_description(plan.verdict.model_name, served)


def move_champion(locations: Locations, verdict: GateVerdict) -> str | None:
    """Point the store's champion at the served version (after a rollback); return the old one.

    The next training run compares its candidate against the champion, so it must be the model
    actually being served.
    """
    from fraud_mlops.store import ModelStore

    store = ModelStore(locations.model_store_uri)
    old = store.champion_version_or_none(locations.model_name)
    if old == verdict.version:
        return old
    manifest = store.manifest(locations.model_name, verdict.version)
    gate = manifest.get("metrics", {}).get("gate", {})
    store.set_champion(locations.model_name, verdict.version, gate=gate, metrics=verdict.metrics)
    return old
