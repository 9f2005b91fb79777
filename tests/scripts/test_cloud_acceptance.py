"""``make cloud-acceptance``: its control flow, against moto and a stand-in ``pulumi``.

The real account is replaced at its edges only: ``pulumi`` is a stand-in that records its calls
and prints the dev stack's outputs (from the program under the mock runtime); Step Functions is
the moto server, which really executes the state machine the stand-in flow file creates when
``step-functions create`` runs it; the Function URL is a local HTTP server that accepts a request
only if it carries a SigV4 signature for service ``lambda``. The CLI commands are the real ones.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import boto3
import pytest

from tests.support.release_world import write_metrics

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"  # stacks/Pulumi.dev.yaml

STAND_IN_PULUMI = """#!{python}
import json, os, sys
state = os.environ["ACCEPTANCE_STATE"]
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a") as f:
    f.write(json.dumps(args) + "\\n")
if args[:3] == ["stack", "output", "--json"]:
    print(open(os.path.join(state, "outputs.json")).read())
elif args[:1] in (["up"], ["destroy"]):
    sys.exit(int(os.environ.get("ACCEPTANCE_" + args[0].upper() + "_EXIT", "0")))
"""

# Stands in for the training flow: `step-functions create` makes the state machine (on moto).
STAND_IN_FLOW = """
import json, os, sys
import boto3
assert sys.argv[-2:] == ["step-functions", "create"], sys.argv
name = os.environ["METAFLOW_SFN_STATE_MACHINE_PREFIX"] + "_FraudDetectionFlow"
definition = {"StartAt": "start", "States": {"start": {"Type": "Pass", "End": True}}}
boto3.client("stepfunctions", region_name="eu-west-1").create_state_machine(
    name=name, definition=json.dumps(definition), roleArn=os.environ["METAFLOW_SFN_IAM_ROLE"]
)
"""


class FunctionUrl(BaseHTTPRequestHandler):
    """Answers POST /v1/score like the scoring API, if the request is SigV4-signed for lambda."""

    seen: ClassVar[list[dict]] = []

    def do_POST(self):  # the http.server method name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization", "")
        signed = (
            auth.startswith("AWS4-HMAC-SHA256 Credential=testing/")
            and f"/{REGION}/lambda/aws4_request" in auth
            and "Signature=" in auth
            and self.headers.get("X-Amz-Date")
        )
        FunctionUrl.seen.append({"path": self.path, "signed": bool(signed), "body": body})
        if not signed:
            self.send_response(403)
            self.end_headers()
            self.wfile.write(b'{"message": "Forbidden"}')
            return
        results = [{"probability": 0.1, "flagged": False} for _ in body["claims"]]
        payload = json.dumps({"model_version": "20261201T000000Z-sfn", "results": results})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def acceptance():
    spec = importlib.util.spec_from_file_location(
        "cloud_acceptance", REPO / "scripts" / "cloud_acceptance.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dev_outputs() -> dict:
    from tools.pulumi_mocks import run_program
    from tools.stack_files import config_from_stack_file

    return run_program(config_from_stack_file("dev")).outputs


@pytest.fixture
def function_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FunctionUrl)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FunctionUrl.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def world(sfn_endpoint, dev_outputs, function_url, tmp_path, monkeypatch):
    """A stand-in pulumi on PATH answering with the dev outputs, pointed at moto and the URL."""
    state, bin_dir = tmp_path / "pulumi", tmp_path / "bin"
    state.mkdir()
    bin_dir.mkdir()
    prefix = f"fraud-mlops-t{uuid.uuid4().hex[:8]}"  # the moto server is shared by the session
    outputs = json.loads(json.dumps(dev_outputs))
    outputs["metaflow_config"]["METAFLOW_SFN_STATE_MACHINE_PREFIX"] = prefix
    outputs["lambda_url"] = function_url + "/"
    lakehouse = tmp_path / "lake"
    outputs["flow_environment"]["LAKEHOUSE_URI"] = str(lakehouse)
    (state / "outputs.json").write_text(json.dumps(outputs))
    exe = bin_dir / "pulumi"
    exe.write_text(STAND_IN_PULUMI.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    flow = tmp_path / "flow.py"
    flow.write_text(STAND_IN_FLOW)
    zip_path = tmp_path / "lambda.zip"
    zip_path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ACCEPTANCE_STATE", str(state))
    monkeypatch.setenv("METAFLOW_HOME", str(tmp_path / "mfhome"))
    execution = f"acceptance-{uuid.uuid4().hex[:8]}"
    write_metrics(lakehouse, f"sfn-{execution}")

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]

    args = ["--stack", "dev", "--flow-file", str(flow), "--lambda-zip", str(zip_path)]
    args += ["--execution-name", execution, "--timeout", "60"]
    return {
        "args": args,
        "calls": calls,
        "prefix": prefix,
        "execution": execution,
        "sfn": boto3.client("stepfunctions", region_name=REGION),
        "home": tmp_path / "mfhome",
    }


def _machines(world) -> list[str]:
    names = [m["name"] for m in world["sfn"].list_state_machines()["stateMachines"]]
    return [n for n in names if n.startswith(world["prefix"])]


def test_every_step_runs_in_order_and_passes(acceptance, world, capsys):
    assert acceptance.main(world["args"]) == 0
    out = capsys.readouterr().out
    steps = [
        "pulumi up",
        "Metaflow profile",
        "deploy flow",
        "run flow (--wait)",
        "signed score request",
    ]
    for i, step in enumerate(steps, 1):
        assert f"[{i}/5] {step}: ok (" in out
    assert "acceptance of stack dev: PASSED" in out
    assert world["calls"]()[0] == [
        "up",
        "--stack",
        "dev",
        "--yes",
        "--non-interactive",
        "--policy-pack",
        "policy",
    ]
    profile = json.loads((world["home"] / "config_dev.json").read_text())
    assert profile["METAFLOW_SFN_STATE_MACHINE_PREFIX"] == world["prefix"]
    # the run really executed on (moto's) Step Functions
    (machine,) = _machines(world)
    arn = f"arn:aws:states:{REGION}:123456789012:execution:{machine}:{world['execution']}"
    assert world["sfn"].describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    (request,) = FunctionUrl.seen
    assert request["path"] == "/v1/score" and request["signed"]
    assert len(request["body"]["claims"]) == acceptance.SAMPLE_CLAIMS
    assert "is_fraud" not in request["body"]["claims"][0]  # the API's input, not training rows
    assert "5 claims scored by model 20261201T000000Z-sfn" in out
    assert not any(c[0] == "destroy" for c in world["calls"]())  # only with --destroy


def test_destroy_removes_the_state_machine_then_the_stack(acceptance, world, capsys):
    assert acceptance.main([*world["args"], "--destroy"]) == 0
    out = capsys.readouterr().out
    assert "[6/6] destroy: ok (" in out
    assert f"deleted state machine {world['prefix']}_FraudDetectionFlow" in out
    assert _machines(world) == []
    assert world["calls"]()[-1] == ["destroy", "--stack", "dev", "--yes", "--non-interactive"]


def test_a_failed_up_stops_everything_after_it(acceptance, world, monkeypatch, capsys):
    monkeypatch.setenv("ACCEPTANCE_UP_EXIT", "1")
    assert acceptance.main([*world["args"], "--destroy"]) == 1
    out = capsys.readouterr().out
    assert "[1/6] pulumi up: FAILED" in out and "exited with 1" in out
    assert out.count("(not run)") == 5
    assert "acceptance of stack dev: FAILED" in out
    assert [c[0] for c in world["calls"]()] == ["up"]
    assert _machines(world) == [] and FunctionUrl.seen == []


def test_an_unsigned_or_refused_score_fails_the_run(acceptance, world, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone-else")  # signature no longer for `testing`
    assert acceptance.main(world["args"]) == 1
    out, err = capsys.readouterr()
    assert "[5/5] signed score request: FAILED" in out
    assert "403" in err  # the score command's own error, printed above the step result
    assert FunctionUrl.seen and not FunctionUrl.seen[0]["signed"]


def test_a_missing_lambda_package_says_how_to_build_it(acceptance, world, tmp_path, capsys):
    args = [*world["args"], "--lambda-zip", str(tmp_path / "nope.zip")]
    assert acceptance.main(args) == 1
    out = capsys.readouterr().out
    assert "make build-lambda" in out
    assert not (Path(os.environ["ACCEPTANCE_STATE"]) / "calls.jsonl").exists()


def test_make_target_runs_the_script_with_the_stack():
    import subprocess

    argv = ["make", "-n", "-W", ".venv/.installed-stamp", "cloud-acceptance", "STACK=dev"]
    recipe = subprocess.run(
        [*argv, "ACCEPTANCE_ARGS=--destroy"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert ".venv/bin/python scripts/cloud_acceptance.py --stack dev --destroy" in recipe
    assert "build_lambda.py" in recipe  # the package is built first
