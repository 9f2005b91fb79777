"""Training rows: torch throughput, parallel search speed-up, local flow wall time, and model
quality on synthetic and real claims — every family's test PR-AUC / ROC-AUC with 95 % bootstrap
intervals, the published champion, and the issue's targets.

The flow runs are real local Metaflow runs in subprocesses, each with its own datastore and
FRAUD_MLOPS_HOME under a temporary folder; the search wall time is read from the Client API
(first trial task created -> last trial task finished), so it excludes the steps around it.

Besides the table, this area rewrites the measured section of docs/training.md (between the
``<!-- bench:training -->`` markers), so the figures there always come from a run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import Row, replace_section, verdict, write_section

REPO = Path(__file__).resolve().parents[1]
FLOW = REPO / "flows" / "fraud_detection_flow.py"
FRAUD_ORACLE = REPO.parent / "shared" / "datasets" / "fraud_oracle.csv"
ORACLE_SCHEMA = REPO / "src" / "fraud_mlops" / "schemas" / "fraud_oracle.yaml"
TRAINING_DOC = REPO / "docs" / "training.md"
README = REPO / "README.md"
ROWS, TRIALS = 20_000, 4
ORACLE_TRIALS = 6
SMALL_ROWS = 1_000
SYNTHETIC_BEFORE = 0.255  # test PR-AUC of the MLP-only flow before the families (issue 10)
AREA = "training"

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
    """Rows/s per epoch of the MLP anchor at 20,000 claims, 1 and 2 torch threads."""
    from fraud_mlops.ingest import validate_claims
    from fraud_mlops.pipeline import prepare_data
    from fraud_mlops.schema import default_schema
    from fraud_mlops.search import load_search_space
    from fraud_mlops.synthetic import generate_claims
    from fraud_mlops.train import TrainConfig, train_model

    schema = default_schema()
    data = prepare_data(validate_claims(generate_claims(ROWS, seed=1), schema), schema.to_dict(), 1)
    anchor = load_search_space(REPO / "flows" / "config" / "search_space.yaml").spaces["mlp"]
    params = {**anchor.fixed, **anchor.anchor}
    out = {}
    for threads in (1, 2):
        config = TrainConfig.from_params(params, max_epochs=4, patience=4, threads=threads)
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


def _ci(entry: dict, metric: str) -> str:
    e = entry["intervals"][metric]
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


def quality_rows(name: str, summary: dict, wall: float) -> list[Row]:
    """Per family, test PR-AUC and ROC-AUC with 95 % intervals; then the champion vs targets."""
    families = summary["families"]
    rows = [
        Row(
            AREA,
            f"{name}: {cand} test PR-AUC [95 % CI]",
            _ci(entry, "pr_auc"),
            note=f"ROC-AUC {_ci(entry, 'roc_auc')}; validation PR-AUC {entry['val_pr_auc']:.3f}"
            + ("" if entry.get("cv_pr_auc") is None else f", CV {entry['cv_pr_auc']:.3f}"),
        )
        for cand, entry in families.items()
    ]
    chosen = families[summary["candidate"]]
    pr = chosen["test_pr_auc"]
    sel = summary["selection"]
    rows.append(
        Row(
            AREA,
            f"{name}: published champion",
            f"{summary['candidate']} {_ci(chosen, 'pr_auc')}",
            note=f"chosen by {sel['method']}; gate {'passed' if summary['promoted'] else 'refused'}"
            f"; threshold rule {summary['threshold_rule']}; flow {wall:.0f} s; "
            f"{summary['frauds']['test']} test frauds",
        )
    )
    if "gbdt" in families:
        gbdt = families["gbdt"]
        rows.append(
            Row(
                AREA,
                f"{name}: champion PR-AUC >= best GBDT of the run",
                f"{pr:.3f} vs {gbdt['test_pr_auc']:.3f}",
                "champion >= GBDT",
                verdict(pr >= gbdt["test_pr_auc"] - 1e-12),
                "same test claims",
            )
        )
        neural = [families[f] for f in ("mlp", "tabm") if f in families]
        if neural:
            best = max(neural, key=lambda e: e["test_pr_auc"])
            low = gbdt["intervals"]["pr_auc"]["low"]
            rows.append(
                Row(
                    AREA,
                    f"{name}: best neural within the GBDT's 95 % interval",
                    f"{best['family']} {best['test_pr_auc']:.3f} vs GBDT low {low:.3f}",
                    "neural >= GBDT interval low",
                    verdict(best["test_pr_auc"] >= low),
                )
            )
    return rows


def _small_sample(root: Path) -> Path:
    """A 1,000-claim random subsample of fraud_oracle.csv (the flow orders it by time)."""
    import pandas as pd

    frame = pd.read_csv(FRAUD_ORACLE)
    path = root / "fraud_oracle_1000.csv"
    frame.sample(SMALL_ROWS, random_state=0).to_csv(path, index=False)
    return path


def run() -> list[Row]:
    rows: list[Row] = []
    tput = _throughput()
    rows.append(
        Row(
            AREA,
            "torch training throughput, 1 thread",
            f"{tput[1]:,.0f} rows/s per epoch",
            note="20,000 claims, MLP anchor config",
        )
    )
    rows.append(
        Row(
            AREA,
            "torch training throughput, 2 threads",
            f"{tput[2]:,.0f} rows/s per epoch",
            note=f"{tput[2] / tput[1]:.2f}x of 1 thread: trials use 1 thread each",
        )
    )
    common = ["--sample-size", str(ROWS), "--trials", str(TRIALS)]
    oracle = ["--schema", str(ORACLE_SCHEMA), "--max-workers", "2"]
    with tempfile.TemporaryDirectory() as tmp:
        root1, root2, root3, root4 = (Path(tmp) / n for n in ("w1", "w2", "oracle", "small"))
        _, one = _flow(root1, *common, "--max-workers", "1")
        wall, two = _flow(root2, *common, "--max-workers", "2")
        speedup = one["search_seconds"] / two["search_seconds"]
        rows.append(
            Row(
                AREA,
                f"search wall time, {TRIALS} trials (mlp, mlp, tabm, gbdt)",
                f"{one['search_seconds']:.1f} s (1 worker) vs "
                f"{two['search_seconds']:.1f} s (2 workers)",
                note="first trial start to last trial end, Client API",
            )
        )
        rows.append(
            Row(
                AREA,
                "search speed-up with --max-workers 2",
                f"{speedup:.2f}x",
                ">= 1.8x",
                verdict(speedup >= 1.8),
            )
        )
        rows.append(
            Row(
                AREA,
                f"local flow wall time (make demo), {ROWS:,} claims, {TRIALS} trials",
                f"{wall:.1f} s",
                "< 60 s",
                verdict(wall < 60),
                note="--max-workers 2, every step incl. selection, cards and publish",
            )
        )
        synthetic = two["summary"]
        write_demo_summary(synthetic, root2)
        chosen = synthetic["families"][synthetic["candidate"]]
        rows += quality_rows("synthetic", synthetic, wall)
        rows.append(no_regression_row(chosen))
        if FRAUD_ORACLE.is_file():
            args = ["--input-uri", str(FRAUD_ORACLE), "--trials", str(ORACLE_TRIALS), *oracle]
            wall_o, real = _flow(root3, *args)
            rows += quality_rows("fraud_oracle.csv", real["summary"], wall_o)
            root4.mkdir(parents=True, exist_ok=True)
            small = _small_sample(root4)
            args = ["--input-uri", str(small), "--trials", str(TRIALS), *oracle]
            wall_s, tiny = _flow(root4, *args)
            rows += quality_rows(
                f"fraud_oracle {SMALL_ROWS:,}-claim sample", tiny["summary"], wall_s
            )
        else:
            rows.append(
                Row(AREA, "fraud_oracle.csv quality", "skipped", note=f"{FRAUD_ORACLE} not found")
            )
    write_training_doc(rows)
    return rows


def no_regression_row(chosen: dict) -> Row:
    """Synthetic quality against the MLP-only flow's 0.255, judged as the gate judges: a
    regression is a champion whose 95 % interval lies wholly below the old figure, not a point
    estimate a little lower on 69 test frauds (and training differs slightly between machines)."""
    ci = chosen["intervals"]["pr_auc"]
    value, low, high = ci["value"], ci["low"], ci["high"]
    gap = value - SYNTHETIC_BEFORE
    if value >= SYNTHETIC_BEFORE:
        note = f"{gap:+.3f} vs the MLP-only flow's {SYNTHETIC_BEFORE}"
    elif high >= SYNTHETIC_BEFORE:
        note = (
            f"{gap:+.3f} vs the MLP-only flow's {SYNTHETIC_BEFORE}: inside the 95 % interval, "
            "so not distinguishable from no change"
        )
    else:
        note = f"{gap:+.3f}: the whole 95 % interval is below the MLP-only flow's figure"
    return Row(
        AREA,
        "synthetic: champion test PR-AUC, no regression",
        f"{value:.3f} [{low:.3f}, {high:.3f}]",
        f">= {SYNTHETIC_BEFORE}, or {SYNTHETIC_BEFORE} inside its 95 % CI",
        verdict(high >= SYNTHETIC_BEFORE),
        note,
    )


def write_demo_summary(summary: dict, root: Path) -> None:
    """The README's example of what `make demo` prints: this run's summary (the same flow and
    arguments as the demo), with the run's temporary folders shown as the demo's ``.local``."""
    from fraud_mlops.reports import run_summary

    text = run_summary(summary).replace(str(root / "home"), ".local")
    text = text.replace(str(root / "metaflow"), ".local/metaflow")
    replace_section(README, "training:demo", f"```\n{text}\n```")


def write_training_doc(rows: list[Row]) -> None:
    """Replace the measured section of the doc with these rows."""
    write_section(TRAINING_DOC, "training", rows)
