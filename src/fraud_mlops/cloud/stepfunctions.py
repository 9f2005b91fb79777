"""Deploy, start and follow the training flow on AWS Step Functions.

Metaflow's own ``step-functions trigger`` only starts an execution (and its Deployer's
``wait_for_run`` only waits for the run to *start*), so a pipeline cannot tell whether training
worked. :func:`wait_for_execution` polls ``DescribeExecution`` (boto3 has no waiter for it; see
:mod:`fraud_mlops.cloud.polling`) until the execution finishes or a deadline passes, and
:func:`failure_details` reads the execution history to name the state that failed and its error,
which is what the person reading the Jenkins log needs first.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraud_mlops.cloud import CloudError
from fraud_mlops.cloud.polling import poll_until
from fraud_mlops.errors import ConfigError

FLOW_NAME = "FraudDetectionFlow"
FLOW_FILE = "flows/fraud_detection_flow.py"
MONITORING_FLOW_NAME = "MonitoringFlow"
# `flow deploy --flow NAME`: each flow's class name (its state machine's) and file.
FLOWS = {
    "training": (FLOW_NAME, FLOW_FILE),
    "monitoring": (MONITORING_FLOW_NAME, "flows/monitoring_flow.py"),
}
# Compiled into the monitoring flow's steps: the state machine a retrain on alert starts.
TRAINING_STATE_MACHINE_VAR = "FRAUD_MLOPS_TRAINING_STATE_MACHINE"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# Step Functions execution names: 1-80 characters from this set.
_EXEC_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ExecutionResult:
    """How an execution ended, as far as we waited."""

    arn: str
    name: str
    status: str  # RUNNING when we stopped waiting at the deadline
    timed_out: bool = False
    error: str | None = None
    cause: str | None = None
    failed_state: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def metaflow_run_id(self) -> str:
        """Metaflow names a Step Functions run ``sfn-<execution name>``."""
        return f"sfn-{self.name}"


def sfn_client(region: str | None = None) -> Any:
    """A boto3 Step Functions client with standard retries (throttling is common when polling)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "stepfunctions",
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 8}),
    )


def state_machine_name(metaflow_config: Mapping[str, str], flow_name: str = FLOW_NAME) -> str:
    """The name Metaflow gives the flow's state machine (``<prefix>_<Flow>`` with a prefix)."""
    prefix = metaflow_config.get("METAFLOW_SFN_STATE_MACHINE_PREFIX")
    if prefix and not flow_name.startswith(prefix):
        return f"{prefix}_{flow_name}"
    return flow_name


def find_state_machine(client: Any, name: str) -> str:
    """ARN of the state machine called ``name``.

    Raises:
        CloudError: it does not exist (the message lists the ones that do).
    """
    names: list[str] = []
    for page in _pages(client, "list_state_machines"):
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
            names.append(machine["name"])
    raise CloudError(
        f"no Step Functions state machine named {name!r} in this account/region "
        f"(found: {', '.join(sorted(names)) or 'none'}). Deploy the flow first with "
        "`fraud-mlops flow deploy --stack STACK`, or pass --state-machine-arn."
    )


def unique_execution_name(prefix: str = "fraud", now: datetime | None = None) -> str:
    """``<prefix>-<UTC time>-<random>``: unique, sortable, and a valid Metaflow run id suffix."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    clean = _EXEC_NAME.sub("-", prefix).strip("-")[:40] or "run"
    return f"{clean}-{stamp}-{uuid.uuid4().hex[:8]}"


def start_execution(
    client: Any,
    state_machine_arn: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
) -> tuple[str, str]:
    """Start an execution with Metaflow's input format; returns ``(execution_arn, name)``."""
    name = name or unique_execution_name()
    if len(name) > 80 or _EXEC_NAME.search(name):
        raise ConfigError(
            f"execution name {name!r} is not valid: use 1-80 letters, digits, '-' or '_' "
            "(it also becomes the Metaflow run id sfn-<name>)"
        )
    # Metaflow's start step reads flow parameters from a JSON string under "Parameters".
    payload = json.dumps({"Parameters": json.dumps(dict(parameters or {}))})
    if len(payload) > 20480:
        raise ConfigError("flow parameters exceed Step Functions' 20 KiB input limit")
    response = _call(
        client.start_execution, stateMachineArn=state_machine_arn, name=name, input=payload
    )
    return response["executionArn"], name


def wait_for_execution(
    client: Any,
    execution_arn: str,
    *,
    timeout: float,
    poll_interval: float = 15.0,
    on_poll: Callable[[str, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ExecutionResult:
    """Poll until the execution ends or ``timeout`` seconds pass (then status stays RUNNING)."""
    polled = poll_until(
        lambda: _call(client.describe_execution, executionArn=execution_arn),
        lambda info: info["status"],
        TERMINAL,
        timeout=timeout,
        interval=poll_interval,
        on_poll=on_poll,
        clock=clock,
        sleep=sleep,
    )
    info, status = polled.response, polled.status
    if polled.timed_out:
        return ExecutionResult(execution_arn, info["name"], status, timed_out=True)
    if status == "SUCCEEDED":
        return ExecutionResult(execution_arn, info["name"], status)
    error, cause, state = failure_details(client, execution_arn)
    return ExecutionResult(
        execution_arn,
        info["name"],
        status,
        error=info.get("error") or error,
        cause=info.get("cause") or cause,
        failed_state=state,
    )


def failure_details(client: Any, execution_arn: str) -> tuple[str | None, str | None, str | None]:
    """``(error, cause, failed state)`` from the execution history.

    The failed state is the last state entered and never exited; its task's own error (e.g. the
    Batch job's status reason) is preferred over the execution-level summary.
    """
    open_states: list[str] = []
    error = cause = None
    for page in _pages(client, "get_execution_history", executionArn=execution_arn):
        for event in page["events"]:
            kind = event["type"]
            if entered := event.get("stateEnteredEventDetails"):
                open_states.append(entered["name"])
            elif (exited := event.get("stateExitedEventDetails")) and exited["name"] in open_states:
                open_states.remove(exited["name"])
            if kind.endswith("Failed") or kind.endswith("TimedOut") or kind.endswith("Aborted"):
                details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
                # Keep the first (innermost) error: later events repeat it at execution level.
                error = error or details.get("error")
                cause = cause or details.get("cause")
    return error, cause, (open_states[-1] if open_states else None)


def stop_execution(client: Any, execution_arn: str, reason: str) -> None:
    _call(client.stop_execution, executionArn=execution_arn, cause=reason[:32768])


def deploy_command(
    flow_file: str | Path = FLOW_FILE,
    *,
    only_json: bool = False,
    extra: Sequence[str] = (),
    step_environment: Mapping[str, str] | None = None,
) -> list[str]:
    """The command line that compiles the flow into a Step Functions state machine.

    ``step_environment`` (the stack's ``flow_environment``: ``LAKEHOUSE_URI``, ``MODEL_STORE_URI``
    …) is attached to every step with Metaflow's ``environment`` decorator: the deploying shell's
    variables never reach the Batch jobs, only what the state machine itself carries does.
    """
    cmd = [sys.executable, str(flow_file), "--with", "retry"]
    if step_environment:
        variables = json.dumps(dict(sorted(step_environment.items())), separators=(",", ":"))
        cmd += ["--with", f"environment:vars={variables}"]
    cmd += ["step-functions", "create"]
    if only_json:
        cmd.append("--only-json")
    return cmd + list(extra)


def deploy_environment(
    metaflow_config: Mapping[str, str], base: Mapping[str, str], username: str | None = None
) -> dict[str, str]:
    """``base`` (usually ``os.environ``) plus the stack's METAFLOW_* settings.

    The stack's values win over stale ones in the shell, and a user name is always set because
    Metaflow refuses to deploy without one.
    """
    unexpected = sorted(k for k in metaflow_config if not k.startswith("METAFLOW_"))
    if unexpected:
        raise ConfigError(
            f"the stack's Metaflow config has keys that are not METAFLOW_* settings: "
            f"{', '.join(unexpected)}. Fix the metaflow_config output of the Pulumi program."
        )
    env = {k: v for k, v in base.items() if not k.startswith("METAFLOW_")}
    env.update(metaflow_config)
    user = username or base.get("METAFLOW_USER") or base.get("USERNAME") or base.get("USER")
    if not user:
        raise ConfigError("set USERNAME (Metaflow records who deployed the flow)")
    env.setdefault("USERNAME", user)
    env["METAFLOW_USER"] = user
    return env


def _call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call boto3, turning client errors into messages that say which call failed and why."""
    with _aws_errors():
        return fn(**kwargs)


def _pages(client: Any, operation: str, **kwargs: Any) -> Iterator[dict]:
    """Every page of a paginated call (errors surface while iterating, so wrap the loop)."""
    with _aws_errors():
        yield from client.get_paginator(operation).paginate(**kwargs)


@contextmanager
def _aws_errors() -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise CloudError(
            f"Step Functions {exc.operation_name} failed: {err.get('Code')}: "
            f"{err.get('Message')}. Check the region (AWS_REGION) and that your credentials "
            "allow states:* on this state machine."
        ) from None
    except BotoCoreError as exc:
        raise CloudError(f"cannot reach Step Functions: {exc}") from None
