"""Fixtures shared across the test tree (registered in tests/conftest.py).

A moto server that really executes state machines, the CLI run in-process, a stand-in ``pulumi``
CLI (the real one cannot be installed offline), a small real world of published model versions,
and the Pulumi program built once per stack and session under the mock runtime.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
import urllib.request
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.release_world import build_world

if TYPE_CHECKING:
    from tools.pulumi_mocks import MockRun


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


# A stand-in `pulumi`: records every call, keeps each config key in a file, fails `up` with
# FAKE_PULUMI_UP_EXIT, and runs the script FAKE_PULUMI_UP_HOOK on a successful `up`.
FAKE_PULUMI = """\
#!{python}
import json, os, sys
state = os.environ["FAKE_PULUMI_STATE"]
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as f:
    f.write(json.dumps(args) + "\\n")
path = lambda key: os.path.join(state, key.replace(":", "__"))
if args[:2] == ["config", "get"]:
    if not os.path.exists(path(args[2])):
        sys.exit(f"error: configuration key '{{args[2]}}' not found for stack 'dev'")
    print(open(path(args[2])).read())
elif args[:2] == ["config", "set"]:
    open(path(args[2]), "w").write(args[3])
elif args[:2] == ["config", "rm"]:
    os.remove(path(args[2]))
elif args[:1] == ["up"]:
    code = int(os.environ.get("FAKE_PULUMI_UP_EXIT", "0"))
    hook = os.environ.get("FAKE_PULUMI_UP_HOOK")  # what `up` would change (e.g. publish)
    if hook and code == 0:
        exec(open(hook).read())
    sys.exit(code)
"""


@pytest.fixture
def pulumi(tmp_path, monkeypatch):
    """The stand-in pulumi on PATH; call it to list the recorded calls."""
    bin_dir, state = tmp_path / "bin", tmp_path / "pulumi-state"
    bin_dir.mkdir()
    state.mkdir()
    exe = bin_dir / "pulumi"
    exe.write_text(textwrap.dedent(FAKE_PULUMI).format(python=os.sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(state))

    def calls() -> list[list[str]]:
        log = state / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def config(key: str) -> str | None:
        file = state / key.replace(":", "__")
        return file.read_text() if file.exists() else None

    def preset(key: str, value: str) -> None:
        (state / key.replace(":", "__")).write_text(value)

    calls.config, calls.preset = config, preset
    return calls


@pytest.fixture
def world(tmp_path):
    return build_world(tmp_path / "world")


@pytest.fixture(scope="session")
def build() -> Callable[..., MockRun]:
    """``build(stack, **overrides)`` runs the program for a stack file with raw overrides."""
    from tools.pulumi_mocks import run_program
    from tools.stack_files import config_from_stack_file

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
