"""``--labels outcomes`` on Metaflow's real local runtime (#15 item 1): the training flow learns
from captured champion scores labelled by outcomes, and refuses too few labels in start."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.evidence import captured_history
from tests.support.training_flow import TINY, read_run, run_flow

pytestmark = pytest.mark.slow


def _tiny_with_labels() -> list[str]:
    args = list(TINY)
    at = args.index("--sample-size")
    del args[at : at + 2]  # the claims come from the lakehouse
    return [*args, "--labels", "outcomes"]


def test_trains_on_captured_scores_labelled_by_outcomes(tmp_path) -> None:
    lake = tmp_path / "home" / "lakehouse"  # the flow's embedded lakehouse ($FRAUD_MLOPS_HOME)
    captured_history(lake, 3000, days=400, decided_share=0.9, now=datetime.now(UTC))
    proc, run_id = run_flow(tmp_path, "run", *_tiny_with_labels(), LABEL_MATURITY_DAYS="30")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "labels from outcomes: 3,000 captured claim(s), 2,700 with an outcome" in output
    info = read_run(tmp_path, run_id)
    assert info["successful"]
    assert 2750 <= info["summary"]["rows"] <= 2800  # the too-young claims were left out


def test_too_few_labelled_claims_are_refused_in_start(tmp_path) -> None:
    lake = tmp_path / "home" / "lakehouse"
    captured_history(lake, 300, days=400, decided_share=1.0, now=datetime.now(UTC))
    proc, _ = run_flow(tmp_path, "run", *_tiny_with_labels())
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "labels from outcomes: 300 captured claim(s), 300 with an outcome" in output
    assert "300 claims are fewer than the 500 needed to train" in output
    assert "Traceback" not in output and "prepare" not in output
