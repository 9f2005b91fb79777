"""Progress lines for long work, on stderr so that stdout stays clean for tables and JSON."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def step(message: str) -> Iterator[None]:
    """Print ``message…`` now and ``done in N s`` when the block ends."""
    say(f"{message}…")
    start = time.perf_counter()
    yield
    say(f"  done in {time.perf_counter() - start:.1f} s")
