"""``make plan``: an honest offline view of both stacks from the mock runtime."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plan():
    spec = importlib.util.spec_from_file_location("plan_script", REPO / "scripts" / "plan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plan_prints_both_stacks_labelled_as_not_a_diff(plan, capsys):
    assert plan.main([]) == 0
    out = capsys.readouterr().out
    assert out.count("offline plan from the Pulumi mock runtime (NOT a provider diff)") == 2
    assert "=== stack dev" in out and "=== stack prod" in out
    assert "aws:lambda/functionUrl:FunctionUrl" in out
    assert "authorizationType: AWS_IAM" in out
    assert "IAM check: OK" in out
    assert out.count("IAM documents, no findings") == 2  # parliament, both stacks
    assert "62 cloud resources (62 aws) in 5 components" in out
    assert "116 cloud resources (89 aws, 1 databricks, 26 snowflake) in 8 components" in out


def test_plan_hides_secret_inputs(plan, capsys):
    assert plan.main(["prod"]) == 0
    out = capsys.readouterr().out
    assert "<secret>" not in out


def test_plan_of_an_unknown_stack_is_a_clear_error(plan, capsys):
    assert plan.main(["staging"]) == 2
    assert "Pulumi.staging.yaml not found" in capsys.readouterr().err
