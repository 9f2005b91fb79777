"""Candidate selection tells validation signal from noise."""

from __future__ import annotations

import numpy as np

from fraud_mlops.candidates import Candidate, tied_with_best


def _candidate(name: str, family: str, scores: np.ndarray) -> Candidate:
    logits = {"validation": scores}
    return Candidate(name, family, {}, {}, logits, {}, val_pr_auc=0.0)


def test_a_lead_within_noise_is_a_tie_and_a_clear_lead_is_not():
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.05).astype(np.int64)
    signal = y * 1.5 + rng.normal(size=3000)
    candidates = {
        "blend": _candidate("blend", "blend", signal + 0.05 * rng.normal(size=3000)),
        "gbdt": _candidate("gbdt", "gbdt", signal + 0.05 * rng.normal(size=3000)),  # same model
        "mlp": _candidate("mlp", "mlp", rng.normal(size=3000)),  # no signal at all
    }
    assert tied_with_best(y, candidates, "blend") == ["gbdt"]
