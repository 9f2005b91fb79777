"""Fixtures of the CLI tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def exit_code() -> Callable[[list[str]], int]:
    """Run ``fraud-mlops ARGV`` in-process; returns its exit code, usage errors included.

    argparse exits (SystemExit) on a usage error; the CLI's own errors come back as a return
    code. The output stays in ``capsys`` for the test to read.
    """
    from fraud_mlops.cli import main

    def run(argv: list[str]) -> int:
        try:
            return main(argv)
        except SystemExit as stop:
            return int(stop.code)

    return run
