"""Monitoring rows: the monitoring computation over 1,000,000 captured scores, and its memory.

Not timed: a champion (random weights, a real reference profile) is published to a temporary
model store, and the captured scores are written as the API's file sink writes them
(``capture_format.log_line`` lines, ``scores/date=…/model_version=…/``, 30 days), with outcomes
for 2 % of the claims (``outcome_store.record_outcomes``). Timed: ``run_monitoring`` end to end
(capture reader, outcomes, drift, score shift, flag rate, precision with 1,000 bootstrap
resamples), each size in a fresh process, which also reports its peak RSS (``VmHWM``, reset after
the imports through ``/proc/self/clear_refs``) and the RSS after imports, so the growth is the
computation's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks import Row, synthetic_artifact, verdict, write_section

SIZES = (100_000, 1_000_000)
DAYS = 30
LABELLED_SHARE = 0.02
TARGET_S = 60.0
MODEL = "bench-fraud"
VERSION = "20260101T000000Z-bench"
START = datetime(2026, 10, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "monitoring.md"

CHILD = """
import json, sys, time
from fraud_mlops.monitoring import run_monitoring
from fraud_mlops.monitoring_config import MonitoringSettings, Window
from datetime import datetime

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

# The high-water mark survives fork + exec: reset it, so the peak is this process's own.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status("VmRSS")
lake, store, model, start, end, cache = sys.argv[1:7]
t = time.perf_counter()
report = run_monitoring(
    lakehouse_uri=lake, model_store_uri=store, model_name=model,
    window=Window(datetime.fromisoformat(start), datetime.fromisoformat(end)),
    cache_dir=cache, settings=MonitoringSettings(maturity_days=0, min_labelled=200),
)
seconds = time.perf_counter() - t
peak = status("VmHWM")
print(json.dumps({"seconds": seconds, "base_kib": base, "peak_kib": peak,
                  "scores": report.champion_scores, "labelled": report.performance["matured"],
                  "status": report.performance["status"], "alerts": len(report.alerts)}))
"""


def publish_champion(root: Path) -> str:
    from fraud_mlops.store import ModelStore

    artifact, _ = synthetic_artifact(
        root / "export",
        model_name=MODEL,
        version=VERSION,
        hidden=(4,),
        metrics={"mlp": {"test": {"pr_auc": 0.4, "precision_at_budget": 0.3}}},
        with_reference=True,
    )
    store = ModelStore(str(root / "models"))
    store.publish(artifact, MODEL, VERSION)
    store.set_champion(MODEL, VERSION, gate={"passed": True, "reasons": []}, metrics={})
    return store.uri


def write_scores(lake: Path, rows: int, seed: int = 7) -> None:
    """``rows`` capture lines over DAYS days (one sink file per day), outcomes for some."""
    from fraud_mlops import capture_format as cf
    from fraud_mlops.outcome_store import record_outcomes
    from fraud_mlops.outcomes import Outcome
    from fraud_mlops.synthetic import generate_claims

    claims = generate_claims(rows, seed=seed, drift=0.5)
    rng = np.random.default_rng(seed)
    y = claims["is_fraud"].to_numpy()
    score = 1 / (1 + np.exp(-(-3.5 + 2.5 * y + rng.normal(0, 1, rows))))
    seconds = np.sort(rng.uniform(0, DAYS * 86400, rows))
    feats = claims.drop(columns=["claim_id", "is_fraud", "policy_id", "customer_id"])
    feats["claim_date"] = feats["claim_date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    records = feats.astype(object).where(feats.notna(), None).to_dict("records")  # NaN: null
    keys = [cf.claim_key(c, "bench-salt") for c in claims["claim_id"]]
    handles: dict[str, object] = {}
    try:
        for i in range(rows):
            when = START + timedelta(seconds=float(seconds[i]))
            rec = cf.record(
                claim_key=keys[i],
                model_name=MODEL,
                model_version=VERSION,
                role="champion",
                score=float(score[i]),
                flagged=bool(score[i] >= 0.3),
                threshold=0.3,
                reasons=[],
                features=records[i],
                request_id=str(i),
                captured_at=when,
            )
            part = cf.partition(rec["captured_at"], VERSION)
            if part not in handles:
                (lake / part).mkdir(parents=True, exist_ok=True)
                handles[part] = open(lake / part / "bench.jsonl", "w")  # noqa: SIM115
            handles[part].write(cf.log_line(rec) + "\n")
    finally:
        for h in handles.values():
            h.close()
    labelled = rng.choice(rows, int(rows * LABELLED_SHARE), replace=False)
    decided = START + timedelta(days=DAYS + 5)
    outcomes = [Outcome(keys[i], "fraud" if y[i] else "legitimate", decided) for i in labelled]
    record_outcomes(str(lake), outcomes)


def measure(rows: int, tmp: Path, store_uri: str) -> dict:
    lake = tmp / f"lake-{rows}"
    write_scores(lake, rows)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(lake), store_uri, MODEL, START.isoformat(),
         (START + timedelta(days=DAYS)).isoformat(), str(tmp / "cache")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"monitoring benchmark child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run() -> list[Row]:
    sizes = tuple(int(s) for s in os.environ.get("BENCH_MONITORING_SIZES", "").split(",") if s)
    sizes = sizes or SIZES
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store_uri = publish_champion(tmp)
        results = {n: measure(n, tmp, store_uri) for n in sizes}
    rows: list[Row] = []
    big = max(sizes)
    for n, r in results.items():
        growth = (r["peak_kib"] - r["base_kib"]) / 1024
        rows.append(
            Row(
                "monitoring",
                f"monitoring run over {n:,} captured scores",
                f"{r['seconds']:.1f} s ({n / r['seconds']:,.0f} scores/s)",
                f"< {TARGET_S:.0f} s" if n == big else "",
                verdict(r["seconds"] < TARGET_S) if n == big else "",
                f"{r['labelled']:,} labelled, precision {r['status']}, {r['alerts']} alert(s)",
            )
        )
        rows.append(
            Row(
                "monitoring",
                f"peak RSS, {n:,} scores",
                f"{r['peak_kib'] / 1024:,.0f} MiB (+{growth:,.0f} MiB over imports)",
                "flat in scores" if n == big else "",
                "",
                "VmHWM of a fresh process (Linux)",
            )
        )
    if len(results) > 1:
        small = min(sizes)
        g_small = results[small]["peak_kib"] - results[small]["base_kib"]
        g_big = results[big]["peak_kib"] - results[big]["base_kib"]
        ratio = g_big / max(g_small, 1)
        rows.append(
            Row(
                "monitoring",
                f"memory growth {big:,} vs {small:,} scores",
                f"{ratio:.2f}x for {big // small}x the scores",
                "flat (< 2x)",
                verdict(ratio < 2.0),
                "batches of 100,000; labelled claims (2 %) are the only rows kept",
            )
        )
    rows += outcome_rows()
    if not os.environ.get("BENCH_MONITORING_SIZES"):  # a trial run does not rewrite the doc
        write_section(DOC, "monitoring", rows)
    return rows


OUTCOME_BATCH = 500
OUTCOME_DAY = 20_000


def outcome_rows() -> list[Row]:
    """Recording a batch of outcomes (as POST /v1/outcomes does) into an empty day and into a
    day already holding OUTCOME_DAY decisions: the idempotence check must not grow with the
    day (it scanned every name per outcome before)."""
    import time

    from fraud_mlops.outcome_store import record_outcomes
    from fraud_mlops.outcomes import Outcome

    decided = datetime(2026, 11, 2, 9, tzinfo=UTC)

    def batch(start: int, n: int) -> list[Outcome]:
        return [
            Outcome(f"{i:032x}", "fraud" if i % 7 == 0 else "legitimate", decided)
            for i in range(start, start + n)
        ]

    with tempfile.TemporaryDirectory() as tmp:
        empty_lake, full_lake = Path(tmp) / "empty", Path(tmp) / "full"
        for start in range(0, OUTCOME_DAY, 5_000):  # not timed: the day's earlier decisions
            record_outcomes(str(full_lake), batch(start, 5_000))
        timings: dict[str, list[float]] = {"empty": [], "full": []}
        for rep in range(3):  # alternate, so load on the shared machine hits both alike
            for kind, lake in (("empty", empty_lake), ("full", full_lake)):
                new = batch(10**9 + rep * OUTCOME_BATCH, OUTCOME_BATCH)
                t = time.perf_counter()
                result = record_outcomes(str(lake), new)
                timings[kind].append(time.perf_counter() - t)
                assert result.new == OUTCOME_BATCH, result
    empty, full = min(timings["empty"]), min(timings["full"])
    ratio = full / empty
    return [
        Row(
            "monitoring",
            f"record {OUTCOME_BATCH} outcomes into a day holding {OUTCOME_DAY:,}",
            f"{full * 1e3:.0f} ms ({empty * 1e3:.0f} ms into an empty day)",
            "flat in the day (< 2x)",
            verdict(ratio < 2.0),
            f"{ratio:.2f}x; local folder, one file per decision, best of 3",
        )
    ]
