"""The champion gate: decisions on constructed intervals, boundaries and reasons."""

from __future__ import annotations

import pytest

from fraud_mlops.errors import ConfigError
from fraud_mlops.gate import Comparison, GatePolicy, decide

POLICY = GatePolicy(pr_auc_tolerance=0.01, baseline_margin=0.02)


def test_first_model_only_needs_the_gbdt_check():
    d = decide(0.30, 0.31, None, POLICY)
    assert d.passed and "no champion yet" in d.reasons[0]
    assert not decide(0.28, 0.31, None, POLICY).passed  # point fallback: 0.28 < 0.31 - 0.02


def test_point_boundaries_are_inclusive_without_intervals():
    assert decide(0.49, 0.51, 0.50, POLICY, "v1").passed  # exactly at both floors
    d = decide(0.4899, 0.40, 0.50, POLICY, "v1")
    assert not d.passed
    assert d.reasons[0].startswith("FAIL") and "champion v1" in d.reasons[0]
    assert d.reasons[1].startswith("pass")


def test_a_drop_the_interval_cannot_tell_from_noise_does_not_block():
    # 0.05 below the champion on points, but the interval reaches +0.03: not worse with confidence
    noisy = Comparison(-0.05, low=-0.14, high=0.03)
    d = decide(0.30, 0.31, 0.35, POLICY, "v1", vs_champion=noisy)
    assert d.passed
    assert "[95% CI -0.1400, +0.0300]" in d.reasons[0]
    assert d.vs_champion == {"difference": -0.05, "low": -0.14, "high": 0.03}


def test_worse_with_confidence_is_refused_even_when_close():
    sure = Comparison(-0.015, low=-0.02, high=-0.011)  # whole interval below -0.01
    d = decide(0.335, 0.20, 0.35, POLICY, "v1", vs_champion=sure)
    assert not d.passed and "with confidence" in d.reasons[0]
    # the same interval within the tolerance passes
    inside = Comparison(-0.008, low=-0.012, high=-0.004)
    assert decide(0.342, 0.20, 0.35, POLICY, "v1", vs_champion=inside).passed


def test_the_gbdt_check_reads_its_interval_and_the_gbdt_itself_always_passes_it():
    behind = Comparison(-0.2, low=-0.3, high=-0.1)
    assert not decide(0.33, 0.53, None, POLICY, vs_baseline=behind).passed
    d = decide(0.53, 0.53, None, POLICY, candidate_is_baseline=True)
    assert d.passed and "best GBDT" in d.reasons[1]


def test_warnings_travel_with_the_decision_and_do_not_change_it():
    d = decide(0.3, 0.3, None, POLICY, warnings=["test split holds 27 frauds"])
    assert d.passed and d.to_dict()["warnings"] == ["test split holds 27 frauds"]


def test_incomparable_champion_fails_with_its_reason():
    d = decide(0.9, 0.1, None, POLICY, "v7", champion_problem="other schema")
    assert not d.passed and "other schema" in d.reasons[0]
    assert d.to_dict()["policy"] == {
        "pr_auc_tolerance": 0.01,
        "baseline_margin": 0.02,
        "confidence": 0.95,
    }


@pytest.mark.parametrize("kw", [{"pr_auc_tolerance": -0.1}, {"baseline_margin": 2}])
def test_bad_policy(kw):
    with pytest.raises(ConfigError, match="--"):
        GatePolicy(**kw)
