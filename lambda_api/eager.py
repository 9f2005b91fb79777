"""Mangum's HTTP cycle, run by hand until the app first waits, then on the event loop.

Mangum runs every invocation as a task on the event loop: a task, a loop start, a selector
poll and a stop, about 15 µs, which is a fifth of a trivial FastAPI request. A scoring request
never waits for anything: the body is already in the event, scoring is synchronous numpy and the
answer is collected in memory. :class:`EagerCycle` therefore steps the app's coroutine itself,
with the loop set as the running loop and in a copy of the context, as a task would. If the app
awaits something that is not ready (a thread pool, a sleep, a second ``receive``), what is left
of the coroutine runs as a task on the loop, as in Mangum. Python 3.12's
``asyncio.eager_task_factory`` does the same for tasks; this also skips the loop's turn, and
runs on 3.11.

The scoring routes only (:class:`lambda_api.events.LambdaEntry` decides): code that asks for
the *current task* without waiting (anyio's thread pool, as ``POST /v1/outcomes`` uses) finds
none here, so every other route keeps Mangum's own cycle.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator
from typing import Any

from mangum.protocols import HTTPCycle


class _Rest:
    """The rest of a coroutine that was stepped by hand, as an awaitable for a task."""

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self.coro = coro
        self.waiting = waiting  # what the coroutine yielded: the future it waits for

    def __await__(self) -> Generator[Any, Any, Any]:
        waiting = self.waiting
        while True:
            try:
                try:
                    sent = yield waiting  # the task waits for it, then resumes us
                except BaseException as exc:  # e.g. the task was cancelled: pass it on
                    waiting = self.coro.throw(exc)
                else:
                    waiting = self.coro.send(sent)
            except StopIteration as stop:
                return stop.value


_ANSWERED = object()


async def _finish(rest: _Rest) -> Any:
    return await rest


class EagerCycle(HTTPCycle):
    """:class:`mangum.protocols.HTTPCycle` (its queue, ``send`` and error answers), stepped by
    hand while the app does not wait."""

    def __call__(self, app: Any) -> dict[str, Any]:
        if asyncio.events._get_running_loop() is not None:  # inside a running loop: as Mangum
            return super().__call__(app)
        coro = self.run(app)
        loop = asyncio.get_event_loop()
        context = contextvars.copy_context()
        asyncio.events._set_running_loop(loop)  # futures made meanwhile belong to this loop
        try:
            waiting = context.run(coro.send, None)
        except StopIteration:
            waiting = _ANSWERED  # the usual case: it never waited
        finally:
            asyncio.events._set_running_loop(None)
        if waiting is not _ANSWERED:
            task = loop.create_task(_finish(_Rest(coro, waiting)), context=context)
            loop.run_until_complete(task)
        return {"status": self.status, "headers": self.headers, "body": self.body}
