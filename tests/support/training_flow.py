"""Running a flow on Metaflow's local runtime, in subprocesses, for the flow tests (the training
flow by default; the monitoring flow's tests pass their own flow, client script and environment).

Each run gets its own datastore, FRAUD_MLOPS_HOME (lakehouse + model store) and user name; the
Client API is queried from a subprocess too, because Metaflow reads its datastore root at import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "flows" / "fraud_detection_flow.py"
# Two epochs on 3,000 claims do not make a good model; the margin lets the gate promote it so the
# tests exercise publishing (quality is measured by `make bench`, not here). `--trials 2` still
# trains every family once (MLP, TabM, GBDT); 16 test frauds make selection use time-series CV.
TINY = [
    "--sample-size",
    "3000",
    "--trials",
    "2",
    "--max-epochs",
    "2",
    "--max-workers",
    "2",
    "--baseline-margin",
    "1",
]

CLIENT = """
import json, sys
from metaflow import Run, namespace
namespace(None)
run = Run("FraudDetectionFlow/" + sys.argv[1])
out = {"successful": run.successful}
if run.successful:
    from fraud_mlops.reports import run_summary
    out["summary"] = run.data.summary
    out["summary_text"] = run_summary(run.data.summary)
    out["outputs"] = run.data.outputs
    out["trials"] = run.data.trial_summaries
tasks = list(run["train_trial"]) if "train_trial" in [s.id for s in run] else []
out["trial_attempts"] = [int(t.metadata_dict.get("attempt", 0)) for t in tasks]
out["trial_origin_runs"] = [t.metadata_dict.get("origin-run-id") for t in tasks]
print(json.dumps(out, default=str))
"""


def flow_env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "FRAUD_MLOPS_"))}
    env.update(
        USERNAME="tester",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(root / "metaflow"),
        FRAUD_MLOPS_HOME=str(root / "home"),
        PYTHONPATH=str(REPO / "src"),
    )
    for var in ("LAKEHOUSE_URI", "MODEL_STORE_URI", "MODEL_NAME"):
        env.pop(var, None)
    env.update(extra)
    return env


def run_flow(
    root: Path,
    command: str,
    *args: str,
    flow: Path = FLOW,
    env: dict[str, str] | None = None,
    **extra: str,
) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``flow`` (``run`` or ``resume``); ``env`` replaces :func:`flow_env`'s environment."""
    id_file = root / f"run-id-{len(list(root.glob('run-id-*')))}"
    proc = subprocess.run(
        [sys.executable, str(flow), "--no-pylint", command, "--run-id-file", str(id_file), *args],
        cwd=REPO,
        env=env if env is not None else flow_env(root, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
    run_id = id_file.read_text().strip() if id_file.exists() else ""
    return proc, run_id


def read_run(
    root: Path, run_id: str, client: str = CLIENT, env: dict[str, str] | None = None
) -> dict:
    """What the Client API script ``client`` prints about the run (its last line, as JSON)."""
    proc = subprocess.run(
        [sys.executable, "-c", client, run_id],
        cwd=REPO,
        env=env if env is not None else flow_env(root),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])
