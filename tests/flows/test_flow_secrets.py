"""The flow's warehouse sync gets the Snowflake key from Secrets Manager on a Snowflake stack."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

FLOW = Path(__file__).resolve().parents[2] / "flows" / "fraud_detection_flow.py"


def _load_flow(monkeypatch: pytest.MonkeyPatch, secret_arn: str | None):
    if secret_arn is None:
        monkeypatch.delenv("SNOWFLAKE_PRIVATE_KEY_SECRET_ARN", raising=False)
    else:
        monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_SECRET_ARN", secret_arn)
    name = f"_flow_under_test_{abs(hash(secret_arn))}"
    spec = importlib.util.spec_from_file_location(name, FLOW)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module.FraudDetectionFlow


def _secret_sources(flow_class, step: str) -> list:
    decorators = getattr(flow_class, step).decorators
    return [s for d in decorators if d.name == "secrets" for s in d.attributes["sources"]]


def test_the_sync_step_fetches_the_stack_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:fraud-mlops-prod-sf-AbCdEf"
    flow = _load_flow(monkeypatch, arn)
    assert _secret_sources(flow, "end") == [arn]
    for other in ("start", "prepare", "train_trial", "evaluate", "publish"):
        assert _secret_sources(flow, other) == [], other  # the key reaches only the sync step


def test_without_a_snowflake_stack_no_secret_is_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _secret_sources(_load_flow(monkeypatch, None), "end") == []
