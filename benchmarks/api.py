"""Scoring-API rows: latency through the Mangum handler, cold start, and the Lambda zip size.

Everything goes through ``lambda_api.app.handler`` with a Lambda Function URL event (payload 2.0)
in this process, as Lambda would call it. In the same run, as the floor, a trivial FastAPI +
Mangum handler that returns a constant is measured the same way, and the ratio printed; cold
start (a fresh interpreter importing the handler and loading the model) is compared with the same
handler plus torch (importing torch and building the torch model from the same weights).

The model is the default architecture (hidden 64, 32) with random weights and preprocessing
fitted on 20,000 synthetic claims: the latency depends on the shapes, not on the weights.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import Row, verdict

AREA = "api"
REPO = Path(__file__).resolve().parents[1]
EVENT = REPO / "tests" / "events" / "function_url_score.json"
COLD_RUNS = 5


def _make_artifact(root: Path) -> tuple[Path, list[dict[str, Any]]]:
    from fraud_mlops.artifact import (
        build_architecture,
        export_artifact,
        random_weights,
    )
    from fraud_mlops.preprocessing import fit_preprocessing
    from fraud_mlops.schema import default_schema
    from fraud_mlops.synthetic import generate_claims

    schema = default_schema()
    frame = generate_claims(20_000, seed=1)
    pre = fit_preprocessing(frame, schema)
    arch = build_architecture(pre, hidden=(64, 32))
    path = export_artifact(
        root / "model",
        model_name="claims-fraud",
        version="bench",
        schema=schema,
        preprocessor=pre,
        architecture=arch,
        weights=random_weights(arch, seed=0),
        threshold=0.5,
        metrics={},
        data_fingerprint="0" * 64,
        code_version="bench",
    )
    cols = [schema.id_column, *schema.feature_names]
    claims = json.loads(frame.iloc[:1000][cols].to_json(orient="records"))
    return path, claims


def _event(claims: list[dict[str, Any]]) -> dict[str, Any]:
    event = json.loads(EVENT.read_text())
    event["body"] = json.dumps({"claims": claims})
    return event


def _trivial_handler() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import Response
    from mangum import Mangum

    app = FastAPI()

    @app.post("/v1/score")
    async def constant() -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    return Mangum(app, lifespan="off")


def _latencies(handler: Any, event: dict[str, Any], calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        response = handler(event, None)
        out.append(time.perf_counter() - start)
        if response["statusCode"] != 200:
            raise RuntimeError(f"benchmark request failed: {response}")
    return out


def _interleaved(a: Any, b: Any, event: dict[str, Any], blocks: int, per: int) -> tuple[list, list]:
    """Alternate blocks of calls so that load on the shared machine hits both sides alike."""
    la: list[float] = []
    lb: list[float] = []
    _latencies(a, event, per)
    _latencies(b, event, per)
    for _ in range(blocks):
        la += _latencies(a, event, per)
        lb += _latencies(b, event, per)
    return la, lb


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


COLD = r"""
import json, sys, time
start = time.perf_counter()
from lambda_api.app import handler, holder
assert holder.loaded, holder.reason
loaded = time.perf_counter()
if sys.argv[1] == "torch":
    import numpy as np
    import torch
    from fraud_mlops.model import FraudMLP
    torch.set_num_threads(1)
    art = holder.service.scorer.artifact
    model = FraudMLP.from_numpy_weights(art.architecture, art.weights).eval()
    batch = art.preprocessor.transform({k: [v] for k, v in json.loads(sys.argv[2]).items()})
    with torch.no_grad():
        model(torch.from_numpy(batch.numeric), torch.from_numpy(batch.categorical))
    loaded = time.perf_counter()
print(json.dumps({"cold_s": loaded - start}))
"""


def _cold_start(model_uri: str, kind: str, claim: dict[str, Any], cache: str) -> float:
    env = {
        **os.environ,
        "MODEL_URI": model_uri,
        "MODEL_CACHE_DIR": cache,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
    }
    runs = []
    for _ in range(COLD_RUNS):
        done = subprocess.run(
            [sys.executable, "-c", COLD, kind, json.dumps(claim)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"cold start ({kind}) failed: {done.stderr[-2000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1])["cold_s"])
    return statistics.median(runs)


def _zip_mb() -> float:
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_lambda", REPO / "scripts/build_lambda.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    with tempfile.TemporaryDirectory() as tmp:
        result = module.build(Path(tmp) / "lambda.zip", Path(tmp) / "build", 100.0, "3.12", True)
    return result["unzipped_bytes"] / 1e6


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, claims = _make_artifact(Path(tmp))
        os.environ["MODEL_URI"] = str(model_dir)
        os.environ["MODEL_CACHE_DIR"] = str(Path(tmp) / "cache")
        from lambda_api.app import handler, holder
        from lambda_api.logs import configure_logging

        with open(os.devnull, "w") as null:
            configure_logging("INFO", null)  # keep the per-request log line, drop the output
            one = _event(claims[:1])
            api, floor = _interleaved(handler, _trivial_handler(), one, blocks=20, per=150)
            batch = _latencies(handler, _event(claims), 10)
            batch = _latencies(handler, _event(claims), 100)
        assert holder.loaded
        cold = _cold_start(str(model_dir), "numpy", claims[0], str(Path(tmp) / "cache"))
        cold_torch = _cold_start(str(model_dir), "torch", claims[0], str(Path(tmp) / "cache"))
    zip_mb = _zip_mb()

    p50, p99, floor50 = _pct(api, 50) * 1e3, _pct(api, 99) * 1e3, _pct(floor, 50) * 1e3
    batch50 = _pct(batch, 50) * 1e3
    ratio = p50 / floor50
    return [
        Row(AREA, "one claim p50 (Mangum, Function URL event)", f"{p50:.3f} ms"),
        Row(AREA, "trivial FastAPI+Mangum handler p50 (floor)", f"{floor50:.3f} ms"),
        Row(AREA, "one claim p50 / floor", f"{ratio:.2f}x", "<= 1.25x", verdict(ratio <= 1.25)),
        Row(AREA, "one claim p99", f"{p99:.3f} ms", "<= 2 ms", verdict(p99 <= 2.0)),
        Row(AREA, "batch of 1000 p50", f"{batch50:.2f} ms", "<= 8 ms", verdict(batch50 <= 8.0)),
        Row(
            AREA,
            "cold start: import handler + load model (median)",
            f"{cold:.3f} s",
            "<= 0.4 s",
            verdict(cold <= 0.4),
            f"{COLD_RUNS} fresh interpreters",
        ),
        Row(
            AREA,
            "cold start with torch (reference)",
            f"{cold_torch:.3f} s",
            "",
            "",
            f"numpy is {cold_torch / cold:.1f}x faster to start",
        ),
        Row(AREA, "lambda.zip unzipped", f"{zip_mb:.1f} MB", "<= 70 MB", verdict(zip_mb <= 70)),
        *capture_rows(),
    ]


# --- score capture (release helper): its own artifact, handlers and rows -------------------


def _capture_handler(model_dir: Path, cache: Path, null: Any, **env: str) -> Any:
    """A Mangum handler over a fresh holder; capture lines go to ``null`` (the function log)."""
    from mangum import Mangum

    from lambda_api.app import create_app
    from lambda_api.loader import ModelHolder

    holder = ModelHolder.load({"MODEL_URI": str(model_dir), "MODEL_CACHE_DIR": str(cache), **env})
    assert holder.loaded, holder.reason
    if holder.capture.stream is not None:
        holder.capture.stream = null
    return Mangum(create_app(holder), lifespan="off"), holder


def capture_rows(blocks: int = 20, per: int = 200) -> list[Row]:
    """Score capture's cost: one claim through Mangum with capture on vs off, interleaved in
    the same run (target: <= 0.1 ms added to p50), with and without the local file sink."""
    from lambda_api.logs import configure_logging

    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as null:
        root = Path(tmp)
        model_dir, claims = _make_artifact(root)
        os.environ.setdefault("MODEL_URI", str(model_dir))  # lambda_api.app loads one at import
        import lambda_api.app  # noqa: F401 - its import-time logging setup, before ours

        configure_logging("INFO", null)
        off, _ = _capture_handler(model_dir, root / "cache", null, CAPTURE_ENABLED="false")
        salt = {"CAPTURE_KEY_SALT": "bench-salt"}
        log_only, held = _capture_handler(model_dir, root / "cache", null, **salt)
        sink, held_sink = _capture_handler(
            model_dir, root / "cache", null, CAPTURE_SINK=str(root / "lake"), **salt
        )
        one = _event(claims[:1])
        base, logged = _interleaved(off, log_only, one, blocks=blocks, per=per)
        base2, sunk = _interleaved(off, sink, one, blocks=blocks, per=per)
        assert held.capture.captured > 0 and held.capture.errors == 0
        assert held_sink.capture.captured > 0 and held_sink.capture.errors == 0
        batch_off = _latencies(off, _event(claims), 30)
        batch_on = _latencies(log_only, _event(claims), 30)
    added = (_pct(logged, 50) - _pct(base, 50)) * 1e3
    added_sink = (_pct(sunk, 50) - _pct(base2, 50)) * 1e3
    added_batch = (_pct(batch_on, 50) - _pct(batch_off, 50)) * 1e3
    return [
        Row(
            AREA,
            "capture: added to one-claim p50 (log line)",
            f"{added:+.3f} ms",
            "<= 0.1 ms",
            verdict(added <= 0.1),
            f"p50 {_pct(base, 50) * 1e3:.3f} ms off, {_pct(logged, 50) * 1e3:.3f} ms on",
        ),
        Row(
            AREA,
            "capture: added to one-claim p50 (log line + file sink)",
            f"{added_sink:+.3f} ms",
            "<= 0.1 ms",
            verdict(added_sink <= 0.1),
            "local sink, flushed per request",
        ),
        Row(
            AREA,
            "capture: added to batch-of-1000 p50 (log line)",
            f"{added_batch:+.2f} ms",
            "",
            "",
            "1000 capture lines per request",
        ),
    ]
