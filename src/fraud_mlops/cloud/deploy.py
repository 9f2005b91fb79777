"""Deploy the scoring API to a serving target of a stack: ``lambda``, ``sagemaker`` or ``k8s``.

Like promotion, a deployment never calls SageMaker or Kubernetes directly: it sets stack config
(the target's enable key, and ``modelVersion`` with ``--version``) and runs ``pulumi up``
targeted at that target's component, so the Pulumi program stays the source of truth. The
Lambda always exists; the other targets are off until a deploy (or the stack file) enables them.

Because ``modelVersion`` is shared, a deploy with ``--version`` also updates every other target
that is enabled, so no target is left serving a version the config no longer names. When
``pulumi up`` fails, every key it set is put back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fraud_mlops.cloud import promote
from fraud_mlops.cloud.promote import PROJECT, PromotionFailed, Runner, run_pulumi
from fraud_mlops.errors import ConfigError


@dataclass(frozen=True)
class Target:
    """A serving target: its enable key (None: always on) and its component type token."""

    name: str
    enable_key: str | None
    component_type: str
    uses_serving_image: bool


# Must match infra/config.py (keys) and infra/{serving,sagemaker,kubernetes}.py (type tokens);
# tests/cloud/test_deploy.py checks them against the Pulumi program.
TARGETS = {
    "lambda": Target("lambda", None, "fraud:aws:Serving", False),
    "sagemaker": Target(
        "sagemaker", f"{PROJECT}:sagemakerEnabled", "fraud:aws:SageMakerServing", True
    ),
    "k8s": Target("k8s", f"{PROJECT}:k8sEnabled", "fraud:k8s:Serving", True),
}
K8S_IMAGE_KEY = f"{PROJECT}:k8sImage"
SERVING_REPOSITORY_TYPE = "aws:ecr/repository:Repository"


def target_urns(stack: str, target: Target, with_repository: bool) -> list[str]:
    """URNs for ``pulumi up --target``: the component, its children (a glob), the image repo."""
    if target.name == "lambda":
        return promote.serving_targets(stack)
    prefix = f"{PROJECT}-{stack}"
    base = f"urn:pulumi:{stack}::{PROJECT}::{target.component_type}"
    urns = [f"{base}::{prefix}", f"{base}$**"]
    if with_repository:
        urns.append(f"urn:pulumi:{stack}::{PROJECT}::{SERVING_REPOSITORY_TYPE}::{prefix}-serving")
    return urns


def parse_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown serving target {name!r}: use one of {', '.join(TARGETS)}"
        ) from None


@dataclass
class DeployPlan:
    """Config changes (key -> (new value, previous value or None)), then one targeted up."""

    stack: str
    target: Target
    changes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    targets: list[str] = field(default_factory=list)

    @property
    def commands(self) -> list[list[str]]:
        sets = [
            ["pulumi", "config", "set", key, new, "--stack", self.stack]
            for key, (new, old) in self.changes.items()
            if new != old
        ]
        return [*sets, promote.up_command(self.stack, self.targets)]


def plan_deploy(
    stack: str, target: Target, version: str | None, run: Runner = run_pulumi
) -> DeployPlan:
    """Read the config the deploy changes or depends on; return what it will run."""
    plan = DeployPlan(stack, target)
    enabled = {target.name}
    if target.enable_key:
        plan.changes[target.enable_key] = (
            "true",
            promote.config_get(stack, target.enable_key, run),
        )
    if version is not None:
        plan.changes[promote.MODEL_VERSION_KEY] = (version, promote.current_version(stack, run))
        # Every enabled target serves modelVersion: update them all together.
        enabled.add("lambda")
        for other in TARGETS.values():
            if other.enable_key and other.name != target.name and _is_on(stack, other, run):
                enabled.add(other.name)
    repository = False
    for name in TARGETS:  # fixed order: readable commands, stable tests
        if name in enabled:
            plan.targets += target_urns(stack, TARGETS[name], False)
            repository = repository or _needs_repository(stack, TARGETS[name], run)
    if repository:
        plan.targets += target_urns(stack, TARGETS["sagemaker"], True)[-1:]
    return plan


def _is_on(stack: str, target: Target, run: Runner) -> bool:
    return (promote.config_get(stack, target.enable_key or "", run) or "").lower() == "true"


def _needs_repository(stack: str, target: Target, run: Runner) -> bool:
    """SageMaker always pulls from the stack's serving repository; k8s unless k8sImage is set."""
    if not target.uses_serving_image:
        return False
    return target.name == "sagemaker" or not promote.config_get(stack, K8S_IMAGE_KEY, run)


def apply_deploy(plan: DeployPlan, run: Runner = run_pulumi) -> None:
    """Run the plan; if any step fails, put every changed key back and raise.

    Raises:
        PromotionFailed: a pulumi command failed (config restored, or how to restore it).
    """
    *sets, up = plan.commands
    done: list[str] = []
    failed: Sequence[str] | None = None
    for cmd in sets:
        if run(cmd).returncode != 0:
            failed = cmd
            break
        done.append(cmd[3])
    proc = None
    if failed is None:
        proc = run(up)
        if proc.returncode == 0:
            return
        failed = up
    undo_failures = []
    for key in reversed(done):
        old = plan.changes[key][1]
        undo = (
            ["pulumi", "config", "rm", key, "--stack", plan.stack]
            if old is None
            else ["pulumi", "config", "set", key, old, "--stack", plan.stack]
        )
        if run(undo).returncode != 0:
            undo_failures.append(" ".join(undo))
    what = f"`{' '.join(failed[:3])}`" + (f" (exit {proc.returncode})" if proc else "")
    restored = (
        "the stack config is back as it was."
        if not undo_failures
        else "restoring the config ALSO failed: run " + "; ".join(f"`{u}`" for u in undo_failures)
    )
    raise PromotionFailed(
        f"deploying {plan.target.name} on {plan.stack}: {what} failed (output above); {restored}"
    )
