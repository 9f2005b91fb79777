"""Training rows: torch throughput by thread count, parallel search speed-up, local flow wall
time, and model quality (MLP vs gradient-boosting baseline) on synthetic and real claims.

The flow runs are real local Metaflow runs in subprocesses, each with its own datastore and
FRAUD_MLOPS_HOME under a temporary folder; the search wall time is read from the Client API
(first trial task created -> last trial task finished), so it excludes the steps around it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import Row, verdict

REPO = Path(__file__).resolve().parents[1]
FLOW = REPO / "flows" / "fraud_detection_flow.py"
FRAUD_ORACLE = REPO.parent / "shared" / "datasets" / "fraud_oracle.csv"
ROWS, TRIALS = 20_000, 4

CLIENT = """
import json, sys
from metaflow import Run, namespace
namespace(None)
run = Run("FraudDetectionFlow/" + sys.argv[1])
tasks = list(run["train_trial"])
start = min(t.created_at for t in tasks)
end = max(t.finished_at for t in tasks)
print(json.dumps({"search_seconds": (end - start).total_seconds(),
                  "summary": run.data.summary}, default=str))
"""


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "FRAUD_MLOPS_"))}
    for var in ("LAKEHOUSE_URI", "MODEL_STORE_URI", "MODEL_NAME"):
        env.pop(var, None)
    env.update(
        USERNAME=env.get("USERNAME") or "bench",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(root / "metaflow"),
        FRAUD_MLOPS_HOME=str(root / "home"),
    )
    return env


def _flow(root: Path, *args: str) -> tuple[float, dict]:
    """Run the flow; return its wall time and the Client's view of it."""
    id_file = root / "run-id"
    command = [sys.executable, str(FLOW), "--no-pylint", "run", "--run-id-file", str(id_file)]
    start = time.perf_counter()
    proc = subprocess.run(
        command + list(args), cwd=REPO, env=_env(root), capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"flow failed: {proc.stderr[-2000:]}")
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, id_file.read_text().strip()],
        cwd=REPO,
        env=_env(root),
        capture_output=True,
        text=True,
        check=True,
    )
    return seconds, json.loads(out.stdout.strip().splitlines()[-1])


def _throughput() -> dict[int, float]:
    """Rows/s per epoch of the anchor configuration at 20,000 claims, 1 and 2 torch threads."""
    from fraud_mlops.ingest import validate_claims
    from fraud_mlops.pipeline import prepare_data
    from fraud_mlops.schema import default_schema
    from fraud_mlops.search import load_search_space
    from fraud_mlops.synthetic import generate_claims
    from fraud_mlops.train import TrainConfig, train_model

    schema = default_schema()
    data = prepare_data(validate_claims(generate_claims(ROWS, seed=1), schema), schema.to_dict(), 1)
    anchor = load_search_space(REPO / "flows" / "config" / "search_space.yaml").sample(1, 0)[0]
    out = {}
    for threads in (1, 2):
        config = TrainConfig.from_params(anchor.params, max_epochs=4, patience=4, threads=threads)
        result = train_model(
            data.features["train"],
            data.labels["train"],
            data.features["validation"],
            data.labels["validation"],
            data.preprocessor.cardinalities,
            config,
        )
        out[threads] = result.rows_per_second
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    return out


def _quality_rows(name: str, summary: dict, target: str) -> list[Row]:
    mlp = summary["test_metrics"]["mlp"]
    base = summary["test_metrics"]["baseline"]
    gap = mlp["pr_auc"] - base["pr_auc"]
    ok = gap >= -0.01
    return [
        Row(
            "training",
            f"{name}: test PR-AUC MLP vs baseline",
            f"{mlp['pr_auc']:.3f} vs {base['pr_auc']:.3f} ({gap:+.3f})",
            target,
            verdict(ok) if target else "",
            f"ROC-AUC {mlp['roc_auc']:.3f} vs {base['roc_auc']:.3f}; time-ordered split",
        ),
    ]


def run() -> list[Row]:
    rows: list[Row] = []
    tput = _throughput()
    rows.append(
        Row(
            "training",
            "torch training throughput, 1 thread",
            f"{tput[1]:,.0f} rows/s per epoch",
            note="20,000 claims, anchor config",
        )
    )
    rows.append(
        Row(
            "training",
            "torch training throughput, 2 threads",
            f"{tput[2]:,.0f} rows/s per epoch",
            note=f"{tput[2] / tput[1]:.2f}x of 1 thread: trials use 1 thread each",
        )
    )
    common = ["--sample-size", str(ROWS), "--trials", str(TRIALS)]
    with tempfile.TemporaryDirectory() as tmp:
        root1, root2, root3 = (Path(tmp) / n for n in ("w1", "w2", "oracle"))
        _, one = _flow(root1, *common, "--max-workers", "1")
        wall, two = _flow(root2, *common, "--max-workers", "2")
        speedup = one["search_seconds"] / two["search_seconds"]
        rows.append(
            Row(
                "training",
                f"search wall time, {TRIALS} trials",
                f"{one['search_seconds']:.1f} s (1 worker) vs "
                f"{two['search_seconds']:.1f} s (2 workers)",
                note="first trial start to last trial end, Client API",
            )
        )
        rows.append(
            Row(
                "training",
                "search speed-up with --max-workers 2",
                f"{speedup:.2f}x",
                ">= 1.8x",
                verdict(speedup >= 1.8),
            )
        )
        rows.append(
            Row(
                "training",
                f"local flow wall time, {ROWS:,} claims, {TRIALS} trials",
                f"{wall:.1f} s",
                "< 45 s",
                verdict(wall < 45),
                note="--max-workers 2, every step incl. cards and publish",
            )
        )
        rows += _quality_rows("synthetic", two["summary"], "MLP >= baseline - 0.01")
        if FRAUD_ORACLE.is_file():
            schema = REPO / "src" / "fraud_mlops" / "schemas" / "fraud_oracle.yaml"
            _, oracle = _flow(
                root3,
                "--input-uri",
                str(FRAUD_ORACLE),
                "--schema",
                str(schema),
                "--trials",
                str(TRIALS),
                "--max-workers",
                "2",
            )
            rows += _quality_rows("fraud_oracle.csv", oracle["summary"], "")
        else:
            rows.append(
                Row(
                    "training",
                    "fraud_oracle.csv quality",
                    "skipped",
                    note=f"{FRAUD_ORACLE} not found",
                )
            )
    return rows
