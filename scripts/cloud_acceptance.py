"""Acceptance run on a real AWS account: the whole cloud path once, each step timed.

``make cloud-acceptance STACK=dev`` (after ``make build-lambda``) runs, stopping at the first
failure:

1. ``pulumi up`` of the stack (with the policy pack),
2. ``fraud-mlops metaflow-config`` — the Metaflow profile from the stack outputs,
3. ``fraud-mlops flow deploy`` — ``step-functions create`` with the stack's roles and queues,
4. ``fraud-mlops flow trigger --wait`` — one training run on Step Functions + Batch,
5. ``fraud-mlops score`` — a SigV4-signed request to the Function URL, answered by the model
   that run published,

and prints each step's result and time. ``--destroy`` then deletes the flow's state machine
(Metaflow created it, not Pulumi) and runs ``pulumi destroy``. What it proves: the program
deploys, its outputs configure Metaflow with nothing set by hand, Batch and Step Functions run
the flow with the stack's roles, and the served model answers signed calls. It costs a few
dollars of Batch time; run it on a dev account before a platform goes to users.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLE_CLAIMS = 5


class StepFailed(Exception):
    """A step did not do what it should; the message says what and how to look further."""


@dataclass
class Result:
    step: str
    ok: bool
    seconds: float
    detail: str


def _pulumi(*argv: str) -> None:
    exe = shutil.which("pulumi")
    if exe is None:
        raise StepFailed("the `pulumi` CLI is not on PATH (https://www.pulumi.com/docs/install/)")
    proc = subprocess.run([exe, *argv], cwd=REPO, check=False)
    if proc.returncode != 0:
        raise StepFailed(f"`pulumi {' '.join(argv)}` exited with {proc.returncode} (output above)")


def _cli(*argv: str) -> None:
    """``fraud-mlops ARGV`` in-process; a non-zero exit is a failed step."""
    from fraud_mlops.cli import main

    code = main(list(argv))
    if code != 0:
        raise StepFailed(f"`fraud-mlops {' '.join(argv)}` exited with {code} (output above)")


class Acceptance:
    """The steps, in order; each returns a one-line result or raises StepFailed."""

    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args, self.workdir = args, workdir
        self.stack = args.stack
        self.execution = args.execution_name or (
            f"acceptance-{self.stack}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
        )

    def outputs(self):
        from fraud_mlops.cloud.stack import load_stack_outputs

        return load_stack_outputs(self.stack, cwd=REPO)

    def up(self) -> str:
        zip_path = Path(self.args.lambda_zip)
        if not zip_path.is_absolute():
            zip_path = REPO / zip_path
        if not zip_path.is_file():
            raise StepFailed(f"{zip_path} is missing: run `make build-lambda` first")
        _pulumi(
            "up", "--stack", self.stack, "--yes", "--non-interactive", "--policy-pack", "policy"
        )
        url = self.outputs().find(("lambda_url",))
        return f"stack {self.stack} is up; Function URL {url}"

    def profile(self) -> str:
        _cli("metaflow-config", "--stack", self.stack)
        return f"Metaflow profile {self.stack} written (export METAFLOW_PROFILE={self.stack})"

    def deploy(self) -> str:
        _cli("flow", "deploy", "--stack", self.stack, *self._flow_file())
        return "state machine created or updated by step-functions create"

    def run(self) -> str:
        _cli(
            "flow",
            "trigger",
            "--stack",
            self.stack,
            "--execution-name",
            self.execution,
            "--wait",
            "--timeout",
            str(self.args.timeout),
            "--stop-on-timeout",
        )
        return f"execution {self.execution} succeeded (Metaflow run sfn-{self.execution})"

    def score(self) -> str:
        outputs = self.outputs()
        url = outputs.find(("lambda_url",))
        region = outputs.find(("region",))
        if not url:
            raise StepFailed(f"stack {self.stack} has no lambda_url output: is `pulumi up` done?")
        claims, answers = self.workdir / "claims.json", self.workdir / "answers.json"
        claims.write_text(json.dumps(sample_claims(SAMPLE_CLAIMS)))
        argv = ["score", "--file", str(claims), "--url", url, "--auth", "iam", "--out"]
        _cli(*argv, str(answers), *(["--region", region] if region else []))
        answer = json.loads(answers.read_text())
        results, version = answer.get("results", []), answer.get("model_version")
        if len(results) != SAMPLE_CLAIMS or not version:
            raise StepFailed(f"the Function URL answered {answer!r}, not {SAMPLE_CLAIMS} scores")
        return f"{len(results)} claims scored by model {version} through the signed Function URL"

    def destroy(self) -> str:
        from fraud_mlops.cloud import stepfunctions as sfn

        outputs = self.outputs()
        deleted = "no state machine to delete"
        try:
            config = outputs.metaflow_config()
        except Exception:  # a half-created stack has no config: nothing of Metaflow's to delete
            config = None
        if config:
            client = sfn.sfn_client(outputs.find(("region",)))
            name = sfn.state_machine_name(config)
            arns = [
                m["stateMachineArn"]
                for page in client.get_paginator("list_state_machines").paginate()
                for m in page["stateMachines"]
                if m["name"] == name
            ]
            for arn in arns:
                client.delete_state_machine(stateMachineArn=arn)
            deleted = f"deleted state machine {name}" if arns else deleted
        _pulumi("destroy", "--stack", self.stack, "--yes", "--non-interactive")
        return f"{deleted}; stack {self.stack} destroyed"

    def _flow_file(self) -> list[str]:
        return ["--flow-file", self.args.flow_file] if self.args.flow_file else []

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        chosen = [] if self.args.destroy_only else [
            ("pulumi up", self.up),
            ("Metaflow profile", self.profile),
            ("deploy flow", self.deploy),
            ("run flow (--wait)", self.run),
            ("signed score request", self.score),
        ]  # fmt: skip
        if self.args.destroy or self.args.destroy_only:
            chosen.append(("destroy", self.destroy))
        return chosen


def sample_claims(n: int) -> list[dict]:
    """``n`` synthetic claims as the API takes them (no label, ISO dates)."""
    from fraud_mlops.synthetic import generate_claims

    claims = generate_claims(n, seed=2026)
    claims["claim_date"] = claims["claim_date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.loads(claims.drop(columns=["is_fraud"]).to_json(orient="records"))


def run_steps(steps: list[tuple[str, Callable[[], str]]]) -> list[Result]:
    """Run ``steps`` in order, printing each result and time; stop at the first failure."""
    from fraud_mlops.errors import FraudMlopsError

    results: list[Result] = []
    for i, (name, step) in enumerate(steps, 1):
        print(f"\n[{i}/{len(steps)}] {name} ...", flush=True)
        start = time.monotonic()
        try:
            detail, ok = step(), True
        except (StepFailed, FraudMlopsError) as exc:
            detail, ok = str(exc), False
        results.append(Result(name, ok, time.monotonic() - start, detail))
        print(
            f"[{i}/{len(steps)}] {name}: {'ok' if ok else 'FAILED'} ({results[-1].seconds:.1f} s)"
        )
        print(f"    {detail}", flush=True)
        if not ok:
            break
    return results


def summary(results: list[Result], planned: int) -> str:
    lines = ["", "step                      result     time"]
    for r in results:
        lines.append(f"{r.step:<25} {'ok' if r.ok else 'FAILED':<10} {r.seconds:7.1f} s")
    for _ in range(planned - len(results)):
        lines.append(f"{'(not run)':<25} {'-':<10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Acceptance run of the cloud path on a real account (see the docstring)."
    )
    parser.add_argument("--stack", required=True, help="Pulumi stack, e.g. dev")
    parser.add_argument("--destroy", action="store_true", help="tear everything down afterwards")
    parser.add_argument(
        "--destroy-only", action="store_true", help="only tear down (state machine, then stack)"
    )
    parser.add_argument("--timeout", type=int, default=14400, help="seconds the run may take")
    parser.add_argument("--execution-name", help="Step Functions execution name (default: dated)")
    parser.add_argument("--flow-file", help="flow to deploy (default: the training flow)")
    parser.add_argument(
        "--lambda-zip",
        default="dist/lambda.zip",
        help="the scoring package pulumi up uploads (default dist/lambda.zip, `make build-lambda`)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cloud-acceptance-") as tmp:
        acceptance = Acceptance(args, Path(tmp))
        steps = acceptance.steps()
        results = run_steps(steps)
    print(summary(results, len(steps)))
    ok = len(results) == len(steps) and all(r.ok for r in results)
    print(f"\nacceptance of stack {args.stack}: {'PASSED' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
