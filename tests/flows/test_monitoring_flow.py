"""The monitoring flow on Metaflow's real local runtime, in subprocesses, on tiny data.

A champion (random weights, a real reference profile) sits in a real local model store; the
window's captured scores are capture lines in the lakehouse ``scores/`` layout, some with
outcomes; the flow writes ``monitoring/*``, the embedded warehouse and the card.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.monitoring_world import (
    CHAMPION,
    MODEL,
    publish_champion,
    record_outcomes,
    utc,
    write_captures,
)
from tests.support.training_flow import read_run, run_flow

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "flows" / "monitoring_flow.py"
WINDOW = ["--from", "2026-11-01", "--to", "2026-11-30"]

pytestmark = pytest.mark.slow

CLIENT = """
import json, sys
from metaflow import Run, namespace
namespace(None)
run = Run("MonitoringFlow/" + sys.argv[1])
out = {"successful": run.successful}
if run.successful:
    out["report"] = run.data.report
    out["outputs"] = run.data.outputs
    out["retrain"] = run.data.retrain
    out["sync"] = run.data.warehouse_sync
print(json.dumps(out, default=str))
"""


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "FRAUD_MLOPS_"))}
    for var in ("LAKEHOUSE_URI", "MODEL_STORE_URI", "MODEL_NAME", "SLACK_WEBHOOK_URL", "SMTP_HOST"):
        env.pop(var, None)
    env.update(
        USERNAME="tester",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(root / "metaflow"),
        FRAUD_MLOPS_HOME=str(root / "home"),
        MODEL_STORE_URI=str(root / "models"),
        MODEL_NAME=MODEL,
        MONITOR_LABEL_MATURITY_DAYS="14",
        PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}",
    )
    env.update(extra)
    return env


def _flow(root: Path, *args: str, **extra: str) -> tuple[subprocess.CompletedProcess, str]:
    return run_flow(root, "run", *args, flow=FLOW, env=_env(root, **extra))


def _client(root: Path, run_id: str) -> dict:
    return read_run(root, run_id, CLIENT, _env(root))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from fraud_mlops.synthetic import generate_claims

    root = tmp_path_factory.mktemp("monitor")
    publish_champion(root)
    lake = root / "home" / "lakehouse"
    claims = generate_claims(1500, seed=31, drift=1.0)  # a drifted later period
    keys = write_captures(lake, claims, start=utc(2026, 11, 10), days=15)
    write_captures(lake, claims, start=utc(2026, 11, 10), days=15, role="shadow",
                   version="20260201T000000Z-chall", seed=2, strength=3.5)  # fmt: skip
    write_captures(lake, claims.iloc[:50], start=utc(2026, 12, 5), days=1, writer="later")
    record_outcomes(lake, keys[:1000], claims["is_fraud"].iloc[:1000], utc(2026, 11, 29))
    return root


@pytest.fixture(scope="module")
def monitored(world: Path) -> tuple[subprocess.CompletedProcess, str, dict]:
    marker = world / "retrained"
    stand_in = world / "fake_training.py"
    stand_in.write_text(f"import sys; open({str(marker)!r}, 'w').write(' '.join(sys.argv[1:]))\n")
    proc, run_id = _flow(
        world, *WINDOW, "--retrain-on-alert", "True",
        FRAUD_MLOPS_TRAINING_FLOW_FILE=str(stand_in),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, run_id, _client(world, run_id)


def test_monitoring_run_reports_drift_precision_and_shadow(monitored):
    proc, _, info = monitored
    report = info["report"]
    assert report["reference_version"] == CHAMPION
    assert report["champion_scores"] == 1500 and report["shadow_scores"] == 1500
    assert report["window"]["end"].startswith("2026-12-01")  # --to is a whole day
    channel = next(d for d in report["drift"] if d["feature"] == "channel")
    assert channel["verdict"] == "major"
    perf = report["performance"]
    assert perf["labelled"] == 1000 and perf["status"] == "ok"
    assert perf["matured"] + perf["immature_excluded"] == 1000 and perf["immature_excluded"] > 0
    assert report["shadow"]["status"] == "shadow_better"
    assert "channel" in proc.stdout and "realised precision at the budget" in proc.stdout


def test_monitoring_run_writes_lakehouse_and_warehouse(world, monitored):
    from fraud_mlops.lakehouse import Lakehouse
    from fraud_mlops.warehouse.connection import connect
    from fraud_mlops.warehouse.settings import WarehouseSettings

    _, run_id, info = monitored
    assert set(info["outputs"]) == {
        f"monitoring/{d}" for d in ("drift", "metrics", "shadow", "alerts")
    }
    lake = Lakehouse(str(world / "home" / "lakehouse"))
    assert run_id in lake.runs("monitoring/metrics")
    assert "MONITORING_DRIFT" in info["sync"] and "inserted" in info["sync"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    env["FRAUD_MLOPS_HOME"] = str(world / "home")
    settings = WarehouseSettings.from_env(env)
    with connect(settings) as wh:
        _, rows = wh.query(
            f"SELECT COUNT(*) FROM {wh.qualified('MONITORING_ALERTS')} WHERE RUN_ID = %s", (run_id,)
        )
        assert rows[0][0] == len(info["report"]["alerts"]) > 0
        _, rows = wh.query(
            f"SELECT STATUS FROM {wh.qualified('SHADOW_COMPARISON')} WHERE RUN_ID = %s", (run_id,)
        )
        assert {r[0] for r in rows} == {"shadow_better"}


def test_an_alert_with_retrain_on_starts_the_training_flow(world, monitored):
    _, _, info = monitored
    assert info["retrain"]["mode"] == "local"
    marker = world / "retrained"
    for _ in range(50):  # the retrain runs detached: give it a moment
        if marker.exists():
            break
        time.sleep(0.1)
    assert marker.read_text() == "run"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-12-01", "--to", "2026-11-01"], "not before its end"),
        ([*WINDOW, "--thresholds", '{"MONITOR_PSI_ALERT": "high"}'], "MONITOR_PSI_ALERT='high'"),
        ([*WINDOW, "--thresholds", '{"PSI": 1}'], "are not monitoring settings"),
        (["--from", "2025-01-01", "--to", "2025-01-31"], "no champion scores were captured"),
    ],
)
def test_bad_window_and_thresholds_fail_fast_with_the_fix(world, args, message):
    proc, _ = _flow(world, *args)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and message in output
    assert "Traceback" not in output  # a user mistake, not a crash
