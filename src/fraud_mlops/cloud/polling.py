"""Wait for a cloud run to end: the one polling loop of Step Functions and Databricks.

boto3 has no waiter for Step Functions executions. databricks-sdk has one for job runs
(``jobs.wait_get_run_job_terminated_or_skipped``), but it backs off on its own schedule (1 s
rising to 10 s, plus jitter) from the wall clock, so it cannot honour ``--poll-interval``, and it
raises on ``INTERNAL_ERROR`` and at the deadline, where the CLI needs the run's report. Both
therefore use :func:`poll_until`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Polled(Generic[T]):
    """The last response read, its status, and whether the deadline passed first."""

    response: T
    status: str
    timed_out: bool


def poll_until(
    read: Callable[[], T],
    status_of: Callable[[T], str],
    done: Collection[str],
    *,
    timeout: float,
    interval: float,
    on_poll: Callable[[str, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Polled[T]:
    """Call ``read`` until its status is in ``done`` or ``timeout`` seconds pass.

    ``on_poll(status, elapsed seconds)`` sees every poll; the last sleep is cut short so the
    deadline is kept.
    """
    start = clock()
    while True:
        response = read()
        status = status_of(response)
        elapsed = clock() - start
        if on_poll is not None:
            on_poll(status, elapsed)
        if status in done:
            return Polled(response, status, timed_out=False)
        remaining = timeout - elapsed
        if remaining <= 0:
            return Polled(response, status, timed_out=True)
        sleep(min(interval, remaining))
