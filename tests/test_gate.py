"""The champion gate: both conditions, boundaries and reasons."""

from __future__ import annotations

import pytest

from fraud_mlops.errors import ConfigError
from fraud_mlops.gate import GatePolicy, decide

POLICY = GatePolicy(pr_auc_tolerance=0.01, baseline_margin=0.02)


def test_first_model_only_needs_the_baseline_check():
    d = decide(0.30, 0.31, None, POLICY)
    assert d.passed and "no champion yet" in d.reasons[0]
    assert not decide(0.28, 0.31, None, POLICY).passed


def test_boundaries_are_inclusive():
    assert decide(0.49, 0.51, 0.50, POLICY, "v1").passed  # exactly at both floors
    d = decide(0.4899, 0.40, 0.50, POLICY, "v1")
    assert not d.passed
    assert d.reasons[0].startswith("FAIL") and "champion v1" in d.reasons[0]
    assert d.reasons[1].startswith("pass")


def test_incomparable_champion_fails_with_its_reason():
    d = decide(0.9, 0.1, None, POLICY, "v7", champion_problem="other schema")
    assert not d.passed and "other schema" in d.reasons[0]
    assert d.to_dict()["policy"] == {"pr_auc_tolerance": 0.01, "baseline_margin": 0.02}


@pytest.mark.parametrize("kw", [{"pr_auc_tolerance": -0.1}, {"baseline_margin": 2}])
def test_bad_policy(kw):
    with pytest.raises(ConfigError, match="--"):
        GatePolicy(**kw)
