"""`make demo`: train, gate and publish a fraud model end to end on embedded defaults.

Runs ``flows/fraud_detection_flow.py`` on Metaflow's local runtime (20,000 synthetic claims,
4 trials, 2 workers) with its datastore under ``.local/metaflow``. The flow's ``end`` step prints
the run summary (MLP vs baseline (vs champion), the champion decision, data warnings, where the
artifact, lakehouse data and cards are) inside its log; this script then prints the same text,
from the same formatter (``fraud_mlops.reports.run_summary``), without the log prefixes. Extra
arguments go to the flow, e.g. to train on your own data::

    python scripts/demo.py --input-uri ../shared/datasets/fraud_oracle.csv --schema fraud_oracle
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOW = REPO / "flows" / "fraud_detection_flow.py"
DEFAULTS = ["--sample-size", "20000", "--trials", "4", "--max-workers", "2"]


def main(argv: list[str]) -> int:
    home = Path(os.environ.get("FRAUD_MLOPS_HOME") or REPO / ".local")
    os.environ.setdefault("FRAUD_MLOPS_HOME", str(home))
    # Metaflow reads this at import, so set it before anything imports metaflow.
    os.environ.setdefault("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(home / "metaflow"))
    os.environ.setdefault("USERNAME", os.environ.get("USER") or "fraud-mlops")
    home.mkdir(parents=True, exist_ok=True)
    id_file = home / "demo-run-id"
    id_file.unlink(missing_ok=True)
    # Flow options given on the command line win over the defaults (click keeps the last one).
    command = [sys.executable, str(FLOW), "--no-pylint", "run", "--run-id-file", str(id_file)]
    command += DEFAULTS + argv
    print("$ " + " ".join(command[1:]), flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        print(f"\nthe flow failed (exit {result.returncode}); its log is above.", file=sys.stderr)
        return result.returncode

    from metaflow import Run, namespace

    from fraud_mlops.reports import run_summary

    namespace(None)
    run = Run(f"FraudDetectionFlow/{id_file.read_text().strip()}")
    print(f"\nFlow finished in {seconds:.0f} s.\n")
    print(run_summary(run.data.summary))
    print("\nWarehouse sync (the Snowflake code path, on the embedded store here):")
    print(run.data.warehouse_sync)
    print('\n$ fraud-mlops warehouse query "SELECT * FROM RUN_OVERVIEW"', flush=True)
    from fraud_mlops.cli import main as cli

    return cli(["warehouse", "query", "SELECT * FROM RUN_OVERVIEW"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
