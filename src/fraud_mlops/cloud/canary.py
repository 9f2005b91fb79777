"""Weighted releases on the scoring Lambda's ``live`` alias, watched by CloudWatch alarms.

``pulumi up`` publishes a Lambda version per model version (infra/serving.py); this module then
moves the alias' traffic: ``canary`` routes a share (e.g. 10 %) to the new version for N
minutes while polling the canary alarms (5xx rate per alias and per model version, p99
duration), then sends 100 % to it; any alarm in ALARM during the watch sends 100 % back to the
stable version. ``rollback`` moves the alias back to the version it served before. Every phase
is printed with its UTC time and the seconds since the release started.

The stack outputs say where: ``lambda_function_name``, ``lambda_alias``, ``canary_alarm_names``
and ``region``. boto3 is imported inside functions; ``AWS_ENDPOINT_URL`` points it at a moto
server in the tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fraud_mlops.cloud import CloudError
from fraud_mlops.errors import ConfigError
from fraud_mlops.progress import say

PREVIOUS_MARK = "previous="  # the alias description records the version it replaced
# Read at call time, so tests can run a five-minute canary on a fake clock.
_clock: Callable[[], float] = time.monotonic
_sleep: Callable[[float], None] = time.sleep


class CanaryRefused(CloudError):
    """A canary that may not start (an alarm already fires): nothing shifted (exit 1)."""

    exit_code = 1


def version_description(model_name: str, model_version: str) -> str:
    """The description of a published Lambda version: which model it serves (infra/serving.py
    writes it, ``promote`` finds the version by it)."""
    return f"{model_name} {model_version}"


@dataclass(frozen=True)
class CanaryPolicy:
    """How a release shifts traffic: ``percent`` for ``minutes``, polling every ``poll_s``."""

    percent: float = 10.0
    minutes: float = 5.0
    poll_s: float = 15.0

    def __post_init__(self) -> None:
        if not 0 < self.percent < 100:
            raise ConfigError(f"--canary-percent {self.percent}: use a share between 0 and 100")
        if self.minutes < 0 or self.poll_s <= 0:
            raise ConfigError("--canary-minutes must be >= 0 and the poll interval > 0")


@dataclass(frozen=True)
class Target:
    """The alias a stack serves through, and the alarms that guard it."""

    region: str
    function_name: str
    alias: str = "live"
    alarm_names: tuple[str, ...] = ()

    @classmethod
    def from_outputs(cls, outputs: Any) -> Target:
        """From a :class:`~fraud_mlops.cloud.stack.StackOutputs` of a stack with releases."""
        hint = "Run `pulumi up` for the stack (the releases version of infra/serving.py)."
        alarms = outputs.require(("canary_alarm_names", "canaryAlarmNames"), hint)
        return cls(
            region=str(outputs.require(("region", "aws_region"), hint)),
            function_name=str(outputs.require(("lambda_function_name",), hint)),
            alias=str(outputs.find(("lambda_alias", "lambdaAlias")) or "live"),
            alarm_names=tuple(alarms if isinstance(alarms, list) else [alarms]),
        )


@dataclass
class Phases:
    """Prints each phase with its UTC time and seconds since the start; keeps them for tests."""

    clock: Callable[[], float] | None = None
    start: float = field(default=0.0)
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = self.clock or _clock
        self.start = self.clock()

    def __call__(self, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%SZ")
        line = f"[{stamp} +{self.clock() - self.start:6.1f}s] {message}"
        self.lines.append(line)
        say(line)


@dataclass(frozen=True)
class Outcome:
    """How a release ended: ``promoted`` (100 % on the new version) or rolled back."""

    promoted: bool
    stable: str
    candidate: str
    alarms: tuple[str, ...] = ()


class LiveAlias:
    """The Lambda + CloudWatch calls of a release, through boto3."""

    def __init__(self, target: Target, lambda_client: Any = None, cloudwatch: Any = None):
        import boto3

        self.target = target
        self.aws = lambda_client or boto3.client("lambda", region_name=target.region)
        self.cloudwatch = cloudwatch or boto3.client("cloudwatch", region_name=target.region)

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise CloudError(
                f"{what} failed: {err.get('Code')}: {err.get('Message')}. Check the stack's "
                "outputs (function, alias, alarms) and your AWS credentials/region."
            ) from None
        except BotoCoreError as exc:
            raise CloudError(f"{what} failed: {exc}") from None

    def state(self) -> tuple[str, dict[str, float], str]:
        """(version, extra routing weights, description) of the alias."""
        t = self.target
        alias = self._call(
            f"reading alias {t.function_name}:{t.alias}",
            self.aws.get_alias,
            FunctionName=t.function_name,
            Name=t.alias,
        )
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return str(alias["FunctionVersion"]), dict(weights), alias.get("Description") or ""

    def version_of(self, description: str) -> str | None:
        """The newest published version whose description is ``description`` (a model)."""
        found: list[int] = []
        marker = None
        while True:
            kwargs: dict[str, Any] = {"FunctionName": self.target.function_name}
            if marker:
                kwargs["Marker"] = marker
            page = self._call("listing versions", self.aws.list_versions_by_function, **kwargs)
            found += [
                int(v["Version"])
                for v in page.get("Versions", [])
                if v["Version"] != "$LATEST" and v.get("Description") == description
            ]
            marker = page.get("NextMarker")
            if not marker:
                break
        return str(max(found)) if found else None

    def description_of(self, version: str) -> str:
        conf = self._call(
            f"reading version {version}",
            self.aws.get_function_configuration,
            FunctionName=self.target.function_name,
            Qualifier=version,
        )
        return conf.get("Description") or ""

    def wait_ready(self, version: str) -> None:
        """Wait (SDK waiter) until a published version is Active: SnapStart takes a while."""
        from botocore.exceptions import WaiterError

        waiter = self.aws.get_waiter("published_version_active")
        try:
            waiter.wait(
                FunctionName=self.target.function_name,
                Qualifier=version,
                WaiterConfig={"Delay": 5, "MaxAttempts": 120},
            )
        except WaiterError as exc:
            raise CloudError(
                f"version {version} of {self.target.function_name} did not become Active: "
                f"{exc}. Check its state (SnapStart snapshot errors appear there)."
            ) from None

    def route(self, stable: str, canary: str | None, weight: float, description: str) -> None:
        """Point the alias at ``stable`` with ``weight`` (0-1) of traffic on ``canary``."""
        t = self.target
        routing = {"AdditionalVersionWeights": {canary: round(weight, 4)} if canary else {}}
        self._call(
            f"updating alias {t.function_name}:{t.alias}",
            self.aws.update_alias,
            FunctionName=t.function_name,
            Name=t.alias,
            FunctionVersion=stable,
            Description=description[:256],
            RoutingConfig=routing,
        )

    def alarms_firing(self) -> list[str]:
        """Names of the guard alarms in ALARM; an alarm the stack lists but AWS lacks is an
        error (a canary must not run unguarded)."""
        names = list(self.target.alarm_names)
        if not names:
            raise ConfigError(
                "the stack lists no canary alarms (output canary_alarm_names): refusing an "
                "unguarded canary; run `pulumi up`, or pass --no-canary"
            )
        found = self._call(
            "reading the canary alarms", self.cloudwatch.describe_alarms, AlarmNames=names
        ).get("MetricAlarms", [])
        states = {a["AlarmName"]: a["StateValue"] for a in found}
        missing = [n for n in names if n not in states]
        if missing:
            raise CloudError(
                f"canary alarm(s) {', '.join(missing)} do not exist in {self.target.region}: "
                "run `pulumi up` for the stack first"
            )
        return [n for n in names if states[n] == "ALARM"]


def _description(model: str, stable: str) -> str:
    return f"{model} ({PREVIOUS_MARK}{stable})"


def previous_version(description: str) -> str | None:
    """The version an alias served before the last release, from its description."""
    if PREVIOUS_MARK not in description:
        return None
    rest = description.split(PREVIOUS_MARK, 1)[1]
    version = "".join(ch for ch in rest if ch.isdigit())
    return version or None


def release(
    live: LiveAlias,
    candidate: str,
    policy: CanaryPolicy | None,
    phases: Phases,
    sleep: Callable[[float], None] | None = None,
) -> Outcome:
    """Shift ``live`` to ``candidate``: canary under the alarms (or at once when ``policy`` is
    None), then 100 %; back to the stable version on any ALARM."""
    sleep = sleep or _sleep
    stable, weights, _ = live.state()
    model = live.description_of(candidate)
    if stable == candidate and not weights:
        phases(f"{live.target.alias} already serves version {candidate}: nothing to shift")
        return Outcome(True, stable, candidate)
    live.wait_ready(candidate)
    if policy is None:
        live.route(candidate, None, 0.0, _description(model, stable))
        phases(f"{live.target.alias}: 100 % on version {candidate} (no canary)")
        return Outcome(True, stable, candidate)
    firing = live.alarms_firing()
    if firing:
        raise CanaryRefused(
            f"refusing to start a canary while {', '.join(firing)} is in ALARM: fix or wait for "
            "the stable version's alarms first"
        )
    live.route(stable, candidate, policy.percent / 100, f"canary of {model} on {stable}")
    phases(
        f"canary: {live.target.alias} -> version {stable} + {policy.percent:g} % on version "
        f"{candidate} ({model}) for {policy.minutes:g} min, watching "
        f"{len(live.target.alarm_names)} alarms"
    )
    deadline = phases.clock() + policy.minutes * 60
    while True:
        firing = live.alarms_firing()
        if firing:
            live.route(stable, None, 0.0, live.description_of(stable) or f"version {stable}")
            phases(f"ALARM {', '.join(firing)}: rolled back, 100 % on version {stable}")
            return Outcome(False, stable, candidate, tuple(firing))
        left = deadline - phases.clock()
        if left <= 0:
            break
        phases(f"watching: alarms OK, {left / 60:.1f} min left")
        sleep(min(policy.poll_s, left))
    live.route(candidate, None, 0.0, _description(model, stable))
    phases(f"promoted: {live.target.alias} -> 100 % on version {candidate} ({model})")
    return Outcome(True, stable, candidate)


def rollback(live: LiveAlias, phases: Phases, to: str | None = None) -> tuple[str, str]:
    """Send 100 % of ``live`` back to ``to`` (default: the version it served before the last
    release); returns (from, to)."""
    current, weights, description = live.state()
    target = to or previous_version(description)
    if target is None:
        raise ConfigError(
            f"alias {live.target.alias} records no previous version (description "
            f"{description!r}): name one with --to VERSION "
            "(`aws lambda list-versions-by-function` lists them)"
        )
    live.description_of(target)  # exists, or a clear error
    if weights:
        phases(f"{live.target.alias} was mid-canary ({weights}): stopping it")
    live.route(target, None, 0.0, live.description_of(target) or f"version {target}")
    phases(f"rolled back: {live.target.alias} -> 100 % on version {target} (was {current})")
    return current, target
