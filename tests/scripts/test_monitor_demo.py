"""`make monitor-demo` end to end on a small champion: score with capture, outcomes, the flow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.monitoring_world import publish_champion

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_monitor_demo_prints_drift_precision_alerts_and_warehouse_rows(tmp_path: Path):
    home = tmp_path / "home"
    publish_champion(home)  # a champion already there: the demo does not train
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "FRAUD_MLOPS_"))}
    for var in ("LAKEHOUSE_URI", "MODEL_STORE_URI", "MODEL_NAME", "SHADOW_MODEL_URI"):
        env.pop(var, None)
    env.update(
        FRAUD_MLOPS_HOME=str(home),
        USERNAME="tester",
        MODEL_NAME="claims-fraud",
        MONITOR_DEMO_SEED="7",
    )
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "monitor_demo.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:] + out[-3000:]
    assert "no local champion" not in out
    assert "scored 6,000 drifted claims through POST /v1/score" in out
    assert "recorded 3,600 outcomes through POST /v1/outcomes" in out
    assert "the first batch sent again: recorded 0 new, 500 already recorded" in out
    assert "channel" in out and "major" in out  # the drift knob moves the channel mix
    assert "realised precision at the budget" in out and "3,600 labelled claims" in out
    assert "[ALERT] channel: PSI" in out or "[WARN] channel: PSI" in out
    assert "MONITORING_DRIFT        15 rows: 15 inserted" in out
    assert "precision_at_budget  __all__" in out  # the warehouse row, queried back
