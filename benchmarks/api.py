"""Scoring-API rows: latency through the Lambda handler, cold start, and the Lambda zip size.

Everything goes through ``lambda_api.app.handler`` with a Lambda Function URL event (payload 2.0)
in this process, as Lambda would call it, with the request log line and the EMF metrics
document written (to /dev/null) as in production. In the same run, as the floor, a trivial
FastAPI + Mangum handler that returns a constant is measured the same way, and the handler once
more with its log line and EMF document switched off (their cost), in interleaved blocks.
A batch of 1,000 is also split into its stages, timed inside the same requests.
Cold start (a fresh interpreter importing the handler, loading the model and answering one
claim) is compared with fresh interpreters that only run ``import fastapi, mangum`` (and with
that plus numpy), alternating the kinds; with valgrind installed, each kind's instructions are
also counted (cachegrind), as they do not move with the machine's load. Besides the table, this
area rewrites the measured section of docs/scoring-api.md (between the ``<!-- bench:api -->``
markers).

The model is the default architecture (hidden 64, 32) with random weights and preprocessing
fitted on 20,000 synthetic claims: the latency depends on the shapes, not on the weights.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks import Row, synthetic_artifact, verdict, write_section

AREA = "api"
REPO = Path(__file__).resolve().parents[1]
EVENT = REPO / "tests" / "events" / "function_url_score.json"
DOC = REPO / "docs" / "scoring-api.md"
COLD_RUNS = 11


def _make_artifact(root: Path) -> tuple[Path, list[dict[str, Any]]]:
    from fraud_mlops.schema import default_schema

    path, frame = synthetic_artifact(
        root / "model", model_name="claims-fraud", version="bench", hidden=(64, 32)
    )
    schema = default_schema()
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


@contextlib.contextmanager
def _telemetry_off() -> Any:
    """The log line and the EMF document switched off, to measure what they cost."""
    from lambda_api import telemetry
    from lambda_api.logs import logger

    level = logger.log_level
    telemetry.metrics.enabled = False
    logger.setLevel("WARNING")
    try:
        yield
    finally:
        telemetry.metrics.enabled = True
        logger.setLevel(level)


def _three_way(handler: Any, floor: Any, event: dict[str, Any], blocks: int, per: int) -> tuple:
    """Blocks of: the handler, the floor, the handler without telemetry, in turn."""
    api: list[float] = []
    base: list[float] = []
    quiet: list[float] = []
    _latencies(handler, event, per)
    _latencies(floor, event, per)
    for _ in range(blocks):
        api += _latencies(handler, event, per)
        base += _latencies(floor, event, per)
        with _telemetry_off():
            quiet += _latencies(handler, event, per)
    return api, base, quiet


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


def _batch_stages(
    handler: Any, service: Any, event: dict[str, Any], calls: int = 100
) -> list[tuple[str, float, str]]:
    """Where a batch request's time goes, p50 per stage over the same ``calls`` requests: the
    request check (pydantic), scoring (preprocessing, the network with occlusion reasons, the
    top reasons), and the rest of each request (the answer's JSON, Mangum, the app, telemetry).
    The two stages are timed inside the requests, by wrapping the service's own methods; then,
    for scale, parsing the same body with orjson and checking nothing."""
    spent: dict[str, list[float]] = {"parse": [], "score": []}

    def timed(stage: str, method: Any) -> Any:
        def call(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args)
            finally:
                spent[stage].append(time.perf_counter() - start)

        return call

    service.parse = timed("parse", service.parse)
    service.scorer.score = timed("score", service.scorer.score)
    try:
        whole = _latencies(handler, event, calls)
    finally:
        del service.parse, service.scorer.score  # the instance attributes: methods again
    rest = [w - p - s for w, p, s in zip(whole, spent["parse"], spent["score"], strict=True)]
    body = event["body"].encode()
    parse_only = []
    for _ in range(calls):
        start = time.perf_counter()
        orjson.loads(body)
        parse_only.append(time.perf_counter() - start)
    return [
        ("request check (pydantic validate_json)", _pct(spent["parse"], 50) * 1e3, ""),
        (
            "JSON parse alone (orjson.loads, nothing checked)",
            _pct(parse_only, 50) * 1e3,
            "what any request check costs at least: the same body",
        ),
        ("scoring with reasons (Scorer.score)", _pct(spent["score"], 50) * 1e3, ""),
        (
            "the rest of the request",
            _pct(rest, 50) * 1e3,
            "the columns, the answer's JSON, Mangum, the app, log line and EMF",
        ),
    ]


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


COLD = r"""
import json, sys, time
start = time.perf_counter()
if sys.argv[1] == "floor":
    import fastapi, mangum
elif sys.argv[1] == "floor+numpy":
    import fastapi, mangum, numpy
elif sys.argv[1] == "floor+libraries":
    import fastapi, mangum, numpy, pydantic_settings
    from aws_lambda_powertools import Logger, Metrics
elif sys.argv[1] == "empty":
    pass
else:
    from lambda_api.app import handler, holder
    assert holder.loaded, holder.reason
    event = json.loads(sys.argv[2])
    answer = handler(event, None)
    assert answer["statusCode"] == 200, answer
print(json.dumps({"cold_s": time.perf_counter() - start}))
"""


def _cold_env(model_uri: str, cache: str) -> dict[str, str]:
    """The environment of the cold-start interpreters.

    Both sides import bytecode, as on Lambda (scripts/build_lambda.py compiles the zip): the
    floor's packages have theirs from pip, and ours is written to a cache folder by one untimed
    run of each kind first (make sets PYTHONDONTWRITEBYTECODE, which would otherwise compile
    every one of our modules from source at every start, and only ours).
    """
    return {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPYCACHEPREFIX": str(Path(cache) / "pycache"),
        "PYTHONHASHSEED": "0",  # the same dict and set layouts in every run
        # as lambda_api.app sets it before numpy loads, for the numpy-only kinds too (a BLAS
        # thread pool also makes instruction counts vary: its threads spin while they wait)
        "OPENBLAS_NUM_THREADS": "1",
        "MODEL_URI": model_uri,
        "MODEL_CACHE_DIR": cache,
        "LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",  # one EMF line would only clutter the pipe
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
    }


def _cold_run(
    kind: str, event: dict[str, Any], env: dict[str, str], wrap: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """One fresh interpreter of ``kind`` (under ``wrap``, e.g. valgrind); raises if it failed."""
    done = subprocess.run(
        [*wrap, sys.executable, "-c", COLD, kind, json.dumps(event)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold start ({kind}) failed: {done.stderr[-2000:]}")
    return done


def _cold_starts(event: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    """Median cold start of the handler (import + load + first claim), of the floor, and of
    the floor plus ``import numpy`` (what scoring cannot do without), by kind."""
    runs: dict[str, list[float]] = {"handler": [], "floor": [], "floor+numpy": []}
    for run in range(COLD_RUNS + 1):
        for kind in runs:  # alternate, so load on the shared machine hits both alike
            out = _cold_run(kind, event, env).stdout
            if run:  # run 0 writes the bytecode cache
                runs[kind].append(json.loads(out.strip().splitlines()[-1])["cold_s"])
    return {kind: statistics.median(times) for kind, times in runs.items()}


def _cold_instructions(event: dict[str, Any], env: dict[str, str]) -> dict[str, int] | None:
    """Instructions each kind of cold start executes, counted by valgrind's cachegrind, less
    those of an interpreter that imports nothing; None without valgrind.

    Wall time on a shared 2-core VM swings by a quarter from run to run of the same code; an
    instruction count is the same every time, so the ratios here are the ones to compare.
    (Run after :func:`_cold_starts`, so the bytecode cache is written.)
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    wrap = (valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")
    counts = {}
    for kind in ("empty", "floor", "floor+numpy", "floor+libraries", "handler"):
        stderr = _cold_run(kind, event, env, wrap).stderr
        refs = re.search(r"I\s+refs:\s+([\d,]+)", stderr)
        if refs is None:
            raise RuntimeError(
                f"cachegrind ({kind}) printed no instruction count: {stderr[-2000:]}"
            )
        counts[kind] = int(refs.group(1).replace(",", ""))
    empty = counts.pop("empty")
    return {kind: count - empty for kind, count in counts.items()}


def _instruction_rows(counts: dict[str, int] | None, why: str) -> list[Row]:
    if counts is None:
        return [Row(AREA, "cold start in instructions", "n/a", "", "", why)]
    floor = counts["floor"]
    libraries, handler = counts["floor+libraries"] / floor, counts["handler"] / floor
    return [
        Row(
            AREA,
            "cold start in instructions (cachegrind): handler / floor",
            f"{handler:.2f}x",
            "",
            "",
            f"{counts['handler'] / 1e9:.2f} G vs {floor / 1e9:.2f} G, less an empty "
            "interpreter's: the same in every run",
        ),
        Row(
            AREA,
            "cold start in instructions: floor + import numpy / floor",
            f"{counts['floor+numpy'] / floor:.2f}x",
            "",
            "",
            "numpy's import alone",
        ),
        Row(
            AREA,
            "cold start in instructions: floor + numpy, pydantic-settings, Powertools / floor",
            f"{libraries:.3f}x",
            "",
            "",
            f"the libraries the handler loads: {1.3 - libraries:.3f}x of the floor is left for "
            f"the API, the model and the first claim, which take {handler - libraries:.3f}x",
        ),
    ]


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
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, claims = _make_artifact(Path(tmp))
        os.environ["MODEL_URI"] = str(model_dir)
        os.environ["MODEL_CACHE_DIR"] = str(Path(tmp) / "cache")
        from lambda_api import telemetry
        from lambda_api.app import handler, holder
        from lambda_api.logs import configure_logging

        with open(os.devnull, "w") as null:
            configure_logging("INFO", null)  # keep the per-request log line, drop the output
            telemetry.metrics.stream = null  # and the EMF document
            one = _event(claims[:1])
            api, floor, quiet = _three_way(handler, _trivial_handler(), one, blocks=20, per=150)
            batch = _latencies(handler, _event(claims), 10)
            batch = _latencies(handler, _event(claims), 100)
            stages = _batch_stages(handler, holder.service, _event(claims))
        assert holder.loaded
        env = _cold_env(str(model_dir), str(Path(tmp) / "cache"))
        colds = _cold_starts(one, env)
        cold, cold_floor = colds["handler"], colds["floor"]
        try:
            instructions, why = _cold_instructions(one, env), "valgrind is not installed"
        except RuntimeError as exc:  # a counting tool that fails is no reason to lose the rest
            instructions, why = None, str(exc).splitlines()[0][:160]
    zip_mb = _zip_mb()

    p50, p99, floor50 = _pct(api, 50) * 1e3, _pct(api, 99) * 1e3, _pct(floor, 50) * 1e3
    batch50 = _pct(batch, 50) * 1e3
    ratio = p50 / floor50
    cold_ratio = cold / cold_floor
    numpy_ratio = colds["floor+numpy"] / cold_floor
    rows = [
        Row(AREA, "one claim p50 (Lambda handler, Function URL event)", f"{p50:.3f} ms"),
        Row(AREA, "trivial FastAPI+Mangum handler p50 (floor)", f"{floor50:.3f} ms"),
        Row(AREA, "one claim p50 / floor", f"{ratio:.2f}x", "<= 2.5x", verdict(ratio <= 2.5)),
        Row(
            AREA,
            "one claim p50 without log line and EMF metrics",
            f"{_pct(quiet, 50) * 1e3:.3f} ms",
            "",
            "",
            "what telemetry costs per request: the difference to the first row",
        ),
        Row(AREA, "one claim p99", f"{p99:.3f} ms", "<= 2 ms", verdict(p99 <= 2.0)),
        Row(AREA, "batch of 1000 p50", f"{batch50:.2f} ms", "<= 6 ms", verdict(batch50 <= 6.0)),
        *(
            Row(AREA, f"batch of 1000: {name}", f"{value:.2f} ms", "", "", note)
            for name, value, note in stages
        ),
        Row(
            AREA,
            "cold start: import handler + load model + first claim (median)",
            f"{cold:.3f} s",
            "",
            "",
            f"{COLD_RUNS} fresh interpreters, bytecode cached as in the Lambda zip",
        ),
        Row(AREA, "cold start floor: import fastapi, mangum (median)", f"{cold_floor:.3f} s"),
        Row(
            AREA,
            "cold start floor + import numpy / floor",
            f"{numpy_ratio:.2f}x",
            "",
            "",
            "numpy's import alone, which scoring needs: the target leaves 1.3x for everything",
        ),
        Row(
            AREA,
            "cold start / floor",
            f"{cold_ratio:.2f}x",
            "<= 1.3x",
            verdict(cold_ratio <= 1.3),
        ),
        *_instruction_rows(instructions, why),
        Row(AREA, "lambda.zip unzipped", f"{zip_mb:.1f} MB", "<= 70 MB", verdict(zip_mb <= 70)),
        Row(
            AREA,
            "machine load (1-min load average, start / end)",
            f"{load_before:.1f} / {os.getloadavg()[0]:.1f}",
            "",
            "",
            f"{os.cpu_count()} cores shared with other jobs: latencies scale with it",
        ),
        *capture_rows(),
    ]
    write_doc(rows)
    return rows


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
        salt = {"CAPTURE_KEY_SALT": "bench-salt-not-a-secret-0123"}  # >= 16 characters
        log_only, held = _capture_handler(model_dir, root / "cache", null, **salt)
        sink, held_sink = _capture_handler(
            model_dir, root / "cache", null, CAPTURE_SINK=str(root / "lake"), **salt
        )
        from lambda_api import telemetry

        # each create_app() installed a fresh EMF writer (on stdout): to /dev/null, as above
        telemetry.metrics.stream = null
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


def write_doc(rows: list[Row]) -> None:
    """Replace the measured section of the doc with these rows."""
    write_section(DOC, "api", rows)
