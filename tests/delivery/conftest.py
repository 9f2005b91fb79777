"""Fixtures for the delivery tests: a moto server that really executes state machines."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest


def _set_moto_config(endpoint: str, config: dict) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps(config).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)


@pytest.fixture
def sfn_endpoint(aws_env: str) -> Iterator[str]:
    """The moto server with Step Functions execution on; switched off again afterwards.

    Moto only runs executions (instead of leaving them RUNNING forever) when this is set before
    the state machines are created, and the setting is process-wide, so it is restored for the
    tests that share the session's server.
    """
    _set_moto_config(aws_env, {"stepfunctions": {"execute_state_machine": True}})
    try:
        yield aws_env
    finally:
        _set_moto_config(aws_env, {"stepfunctions": {"execute_state_machine": False}})


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``fraud-mlops ARGS`` in-process; returns ``(exit code, stdout, stderr)``."""
    from fraud_mlops.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
