"""`make pipeline-local`: the Jenkins stage sequence on embedded defaults, without Jenkins.

    Lint & Test → Build → Plan → Run flow → Gate → Promote (local) → Smoke test → Notify

Each stage runs the same make target or CLI command as its Jenkins stage (printed before it
runs); the cloud stages are replaced by their local forms: `pulumi up` by the offline plan, the
Step Functions run by Metaflow's local runtime, promotion to the Lambda by `promote --local`
(the local store's champion, which `fraud-mlops serve` serves), and the smoke request goes to
the API under uvicorn on 127.0.0.1. The first failing stage stops the pipeline with its exit code.

    python scripts/pipeline_local.py [--skip-tests]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLI = str(BIN / "fraud-mlops")
FLOW = REPO / "flows" / "fraud_detection_flow.py"
SMOKE_CLAIMS = 25


class StageFailed(Exception):
    def __init__(self, stage: str, code: int):
        super().__init__(f"stage {stage!r} failed (exit {code})")
        self.code = code or 1


def run(stage: str, command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    print(f"$ {' '.join(command)}", flush=True)
    result = subprocess.run(command, cwd=REPO, text=True, **kwargs)
    if result.returncode != 0:
        raise StageFailed(stage, result.returncode)
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, server: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise StageFailed("Smoke test", server.returncode or 1)
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if json.load(answer).get("loaded"):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise StageFailed("Smoke test", 1)


def smoke_test(version: str) -> None:
    """Serve the promoted champion on 127.0.0.1, score a few claims, check the version answers."""
    from fraud_mlops.synthetic import generate_claims

    claims = generate_claims(SMOKE_CLAIMS, seed=2026, drift=0.3)
    claims["claim_date"] = claims["claim_date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    records = json.loads(claims.drop(columns=["is_fraud"]).to_json(orient="records"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="pipeline-smoke-") as tmp:
        claims_file, answers = Path(tmp) / "claims.json", Path(tmp) / "answers.json"
        claims_file.write_text(json.dumps(records))
        print(f"$ {CLI} serve --port {port} &", flush=True)
        server = subprocess.Popen([CLI, "serve", "--port", str(port)], cwd=REPO)
        try:
            wait_until_serving(url, server)
            command = [
                CLI,
                "score",
                "--file",
                str(claims_file),
                "--url",
                url,
                "--out",
                str(answers),
            ]
            run("Smoke test", command)
        finally:
            server.terminate()
            server.wait(timeout=30)
        results = json.loads(answers.read_text())["results"]
    served = {r["model_version"] for r in results}
    if len(results) != SMOKE_CLAIMS or served != {version}:
        print(
            f"expected {SMOKE_CLAIMS} answers from {version}, got {len(results)} from {served}",
            file=sys.stderr,
        )
        raise StageFailed("Smoke test", 1)
    print(f"{SMOKE_CLAIMS} claims scored by {version} through the local API")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-tests", action="store_true", help="skip Lint & Test")
    parser.add_argument("--sample-size", default="20000", help="claims for the flow run")
    args = parser.parse_args(argv)

    home = Path(os.environ.setdefault("FRAUD_MLOPS_HOME", str(REPO / ".local")))
    os.environ.setdefault("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(home / "metaflow"))
    os.environ.setdefault("USERNAME", os.environ.get("USER") or "pipeline-local")
    home.mkdir(parents=True, exist_ok=True)
    run_id_file = home / "pipeline-run-id"
    state: dict[str, str] = {}

    def flow() -> None:
        run_id_file.unlink(missing_ok=True)
        run(
            "Run flow",
            [
                sys.executable,
                str(FLOW),
                "--no-pylint",
                "run",
                "--run-id-file",
                str(run_id_file),
                "--sample-size",
                args.sample_size,
                "--trials",
                "4",
                "--max-workers",
                "2",
            ],
        )
        state["run_id"] = run_id_file.read_text().strip()

    def gate() -> None:
        run("Gate", [CLI, "gate", "--run-id", state["run_id"]])
        from fraud_mlops.cloud.gate_check import gate_of_run, resolve_locations

        state["version"] = gate_of_run(resolve_locations(None, None), state["run_id"]).version

    stages: list[tuple[str, Callable[[], object]]] = [
        ("Lint & Test", lambda: run("Lint & Test", ["make", "lint", "test"])),
        ("Build", lambda: run("Build", ["make", "build"])),
        ("Plan (offline pulumi preview)", lambda: run("Plan", ["make", "plan"])),
        ("Run flow (local runtime)", flow),
        ("Gate", gate),
        (
            "Promote (local serving)",
            lambda: run("Promote", [CLI, "promote", "--local", "--version", state["version"]]),
        ),
        ("Smoke test (API on 127.0.0.1)", lambda: smoke_test(state["version"])),
        (
            "Notify",
            lambda: run(
                "Notify", [CLI, "notify", "--status", "success", "--run-id", state["run_id"]]
            ),
        ),
    ]
    if args.skip_tests:
        stages = stages[1:]
    started = time.perf_counter()
    for name, action in stages:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        try:
            action()
        except StageFailed as failed:
            print(f"\npipeline-local: {failed}", file=sys.stderr)
            return failed.code
        print(f"--- {name}: ok in {time.perf_counter() - t0:.0f} s", flush=True)
    print(
        f"\npipeline-local passed in {time.perf_counter() - started:.0f} s: run "
        f"{state['run_id']} → model {state['version']} served locally"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
