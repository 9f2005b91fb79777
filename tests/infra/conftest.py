"""Build stacks under Pulumi's mock runtime once per session and share the recorded resources."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tools.pulumi_mocks import MockRun, run_program
from tools.stack_files import config_from_stack_file


@pytest.fixture(scope="session")
def build() -> Callable[..., MockRun]:
    """``build(stack, **overrides)`` runs the program for a stack file with raw overrides."""
    cache: dict[tuple, MockRun] = {}

    def _build(stack: str = "dev", **overrides) -> MockRun:
        key = (stack, tuple(sorted((k, json.dumps(v)) for k, v in overrides.items())))
        if key not in cache:
            cache[key] = run_program(config_from_stack_file(stack, overrides=overrides))
        return cache[key]

    return _build


@pytest.fixture(scope="session")
def dev(build) -> MockRun:
    return build("dev")


@pytest.fixture(scope="session")
def prod(build) -> MockRun:
    return build("prod")
