"""Run the stack's Databricks job and explain its failures, with databricks-sdk.

``run_now`` only queues a run. :func:`wait_for_run` polls ``jobs/runs/get`` (with the shared poller
of :mod:`fraud_mlops.cloud.polling`, which says why not the SDK's own waiter) until the run reaches
a terminal life-cycle state or a deadline passes, and :func:`task_reports` fetches each *task*
run's output: ``jobs/runs/get-output`` refuses the parent run of a multi-task job, and the error
and stack trace a person needs live on the task that failed.

Authentication is the SDK's own: ``DATABRICKS_HOST`` + ``DATABRICKS_TOKEN``, a profile in
``~/.databrickscfg`` or OAuth; this module never reads or prints the token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fraud_mlops.cloud import CloudError
from fraud_mlops.cloud.polling import poll_until

TERMINAL = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
_TRACE_LINES = 25  # a stack trace's tail names the failing line; the head is framework noise


@dataclass(frozen=True)
class TaskReport:
    task_key: str
    run_id: int
    life_cycle_state: str
    result_state: str | None
    state_message: str
    error: str | None = None
    error_trace: str | None = None

    @property
    def failed(self) -> bool:
        return self.result_state not in (None, "SUCCESS", "SUCCESS_WITH_FAILURES") or (
            self.life_cycle_state == "INTERNAL_ERROR"
        )


@dataclass(frozen=True)
class RunReport:
    run_id: int
    job_id: int | None
    life_cycle_state: str
    result_state: str | None
    state_message: str
    url: str | None
    timed_out: bool = False
    tasks: list[TaskReport] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.life_cycle_state == "TERMINATED" and self.result_state == "SUCCESS"

    def lines(self) -> list[str]:
        """A readable summary: the run, then every task, with errors for the failed ones."""
        state = f"{self.life_cycle_state}/{self.result_state or '-'}"
        head = f"run {self.run_id} (job {self.job_id}): {state}"
        out = [head + (f": {self.state_message}" if self.state_message else "")]
        if self.url:
            out.append(f"  {self.url}")
        for task in self.tasks:
            line = f"  task {task.task_key} (run {task.run_id}): "
            line += f"{task.life_cycle_state}/{task.result_state or '-'}"
            out.append(line + (f": {task.state_message}" if task.state_message else ""))
            if task.error:
                out.append(f"    error: {task.error}")
            if task.error_trace:
                tail = task.error_trace.rstrip().splitlines()[-_TRACE_LINES:]
                out.append("    trace (last lines):")
                out += [f"      {t}" for t in tail]
        return out


def workspace_client(host: str | None = None) -> Any:
    """A WorkspaceClient from the SDK's usual configuration (env, profile, OAuth)."""
    from databricks.sdk import WorkspaceClient

    with _api_errors("connect"):
        return WorkspaceClient(host=host) if host else WorkspaceClient()


def run_job(
    client: Any,
    job_id: int,
    parameters: Mapping[str, str] | None = None,
    idempotency_token: str | None = None,
) -> int:
    """Queue a run of ``job_id`` and return its run id (``run_now`` does not wait)."""
    with _api_errors(f"start job {job_id}"):
        waiter = client.jobs.run_now(
            job_id=job_id,
            job_parameters=dict(parameters) if parameters else None,
            idempotency_token=idempotency_token,
        )
    return int(waiter.response.run_id)


def wait_for_run(
    client: Any,
    run_id: int,
    *,
    timeout: float,
    poll_interval: float = 15.0,
    on_poll: Callable[[str, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RunReport:
    """Poll until the run is terminal or ``timeout`` seconds pass; then report on it."""

    def read() -> Any:
        with _api_errors(f"read run {run_id}"):
            return client.jobs.get_run(run_id=run_id)

    polled = poll_until(
        read,
        _life_cycle,
        TERMINAL,
        timeout=timeout,
        interval=poll_interval,
        on_poll=on_poll,
        clock=clock,
        sleep=sleep,
    )
    if polled.timed_out:
        return _report(polled.response, [], timed_out=True)
    return inspect_run(client, run_id)


def inspect_run(client: Any, run_id: int) -> RunReport:
    """The run's state and, for every task that did not succeed, its error and trace."""
    with _api_errors(f"read run {run_id}"):
        run = client.jobs.get_run(run_id=run_id)
        tasks = list(run.tasks or [])
        token = run.next_page_token
        while token:  # runs with more than 100 tasks come back in pages
            page = client.jobs.get_run(run_id=run_id, page_token=token)
            tasks += page.tasks or []
            token = page.next_page_token
    return _report(run, task_reports(client, tasks))


def task_reports(client: Any, tasks: list[Any]) -> list[TaskReport]:
    """One report per task run; output is fetched only for tasks that failed."""
    reports = []
    for task in tasks:
        state = task.state
        report = TaskReport(
            task_key=task.task_key or "?",
            run_id=int(task.run_id),
            life_cycle_state=_enum(state.life_cycle_state) if state else "UNKNOWN",
            result_state=_enum(state.result_state) if state and state.result_state else None,
            state_message=(state.state_message or "") if state else "",
        )
        if report.failed:
            error, trace = _task_output(client, report.run_id)
            report = TaskReport(**{**report.__dict__, "error": error, "error_trace": trace})
        reports.append(report)
    return reports


def _task_output(client: Any, task_run_id: int) -> tuple[str | None, str | None]:
    """``(error, error_trace)`` of one task run; a failure to fetch them is reported, not raised."""
    from databricks.sdk.errors import DatabricksError

    try:
        output = client.jobs.get_run_output(run_id=task_run_id)
    except DatabricksError as exc:
        return f"(could not fetch the task output: {exc})", None
    return output.error, output.error_trace


def _report(run: Any, tasks: list[TaskReport], *, timed_out: bool = False) -> RunReport:
    state = run.state
    return RunReport(
        run_id=int(run.run_id),
        job_id=run.job_id,
        life_cycle_state=_life_cycle(run),
        result_state=_enum(state.result_state) if state and state.result_state else None,
        state_message=(state.state_message or "") if state else "",
        url=run.run_page_url,
        timed_out=timed_out,
        tasks=tasks,
    )


def cancel_run(client: Any, run_id: int) -> None:
    with _api_errors(f"cancel run {run_id}"):
        client.jobs.cancel_run(run_id=run_id)


def _life_cycle(run: Any) -> str:
    return _enum(run.state.life_cycle_state) if run.state else "UNKNOWN"


def _enum(value: Any) -> str:
    return str(getattr(value, "value", value))


@contextmanager
def _api_errors(action: str) -> Iterator[None]:
    """SDK errors as CloudError: what we tried, what Databricks said, what to check."""
    from databricks.sdk.errors import DatabricksError

    try:
        yield
    except DatabricksError as exc:
        raise CloudError(
            f"Databricks: could not {action}: {exc}. Check DATABRICKS_HOST, that the token "
            "(DATABRICKS_TOKEN or your profile) is valid, and that it may run this job."
        ) from None
    except ValueError as exc:  # the SDK's configuration errors (no host, no credentials)
        raise CloudError(
            f"Databricks: could not {action}: {exc}. Set DATABRICKS_HOST and DATABRICKS_TOKEN "
            "(or DATABRICKS_CONFIG_PROFILE)."
        ) from None
