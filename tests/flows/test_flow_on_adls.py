"""The training flow once, end to end, with its lakehouse on abfss:// (Azurite), on small data.

Metaflow's local runtime runs in a subprocess whose environment points LAKEHOUSE_URI at the
emulator; every step that reads or writes the lakehouse goes through Azure's Blob API.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_mlops.lakehouse import (
    DRIFT,
    METRICS,
    PREDICTIONS,
    RAW_CLAIMS,
    SCORING_SUMMARY,
    Lakehouse,
)

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "flows" / "fraud_detection_flow.py"
# The smallest synthetic sample whose time-ordered splits pass the readiness check at seed 42.
ROWS = 3000
SMALL = ["--sample-size", str(ROWS), "--trials", "1", "--max-epochs", "2", "--max-workers", "1"]

pytestmark = pytest.mark.slow


def test_a_flow_run_writes_its_lakehouse_on_adls(adls_root: str, azurite, tmp_path: Path) -> None:
    lakehouse = f"{adls_root}/lakehouse"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "FRAUD_MLOPS_"))}
    env.update(
        azurite.env(),
        USERNAME="tester",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(tmp_path / "metaflow"),
        FRAUD_MLOPS_HOME=str(tmp_path / "home"),
        PYTHONPATH=str(REPO / "src"),
        LAKEHOUSE_URI=lakehouse,
    )
    env.pop("MODEL_STORE_URI", None)
    id_file = tmp_path / "run-id"
    proc = subprocess.run(
        [sys.executable, str(FLOW), "--no-pylint", "run", "--run-id-file", str(id_file), *SMALL],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = id_file.read_text().strip()

    lake = Lakehouse(lakehouse)
    assert lake.read(RAW_CLAIMS, run_id).num_rows == ROWS
    predictions = lake.read(PREDICTIONS, run_id).to_pandas()
    assert len(predictions) == ROWS
    assert set(predictions["split"]) == {"train", "validation", "test"}
    metrics = lake.read(METRICS, run_id).to_pandas()
    assert {"mlp", "baseline"} <= set(metrics["model_kind"])
    assert metrics["value"].notna().all()
    assert lake.read(SCORING_SUMMARY, run_id).num_rows > 0
    assert lake.read(DRIFT, run_id).num_rows == 15  # one row per schema feature
    for dataset in (RAW_CLAIMS, PREDICTIONS, METRICS, SCORING_SUMMARY, DRIFT):
        assert lake.runs(dataset) == [run_id]
    assert not (tmp_path / "home" / "lakehouse").exists()  # nothing fell back to the local default
