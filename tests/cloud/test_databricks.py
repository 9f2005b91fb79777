"""``databricks run/inspect`` through databricks-sdk against a local Jobs API 2.2 server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from fraud_mlops.cloud import databricks as dbx
from tests.support.fake_databricks import FakeDatabricks, JobScript, Task

TOKEN = "dapi-test-0123456789abcdef"
TRACE = "Traceback (most recent call last):\n" + "".join(
    f'  File "frame{i}.py", line {i}\n' for i in range(40)
) + "RuntimeError: training diverged (loss=nan)"  # fmt: skip


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDatabricks]:
    with FakeDatabricks(TOKEN) as server:
        for var in (
            "DATABRICKS_CONFIG_PROFILE",
            "DATABRICKS_CLIENT_ID",
            "DATABRICKS_CLIENT_SECRET",
        ):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("DATABRICKS_HOST", server.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
        monkeypatch.setenv("DATABRICKS_CONFIG_FILE", "/nonexistent/.databrickscfg")
        yield server


def _calls(fake: FakeDatabricks, path: str) -> list[dict]:
    return [r for r in fake.requests if r["path"] == path]


def test_run_waits_for_success(fake, cli):
    fake.jobs[42] = JobScript(running=2)
    code, out, err = cli(
        "databricks", "run", "--job-id", "42", "--param", "trials=4",
        "--idempotency-token", "jenkins-fraud-7", "--wait", "--timeout", "30",
        "--poll-interval", "0.05",
    )  # fmt: skip
    assert code == 0, out + err
    assert "started Databricks run" in out
    assert "TERMINATED/SUCCESS" in out and "task train" in out
    (start,) = _calls(fake, "/api/2.2/jobs/run-now")
    assert start["body"] == {
        "job_id": 42,
        "job_parameters": {"trials": "4"},
        "idempotency_token": "jenkins-fraud-7",
    }
    assert start["auth"] == f"Bearer {TOKEN}"
    assert len(_calls(fake, "/api/2.2/jobs/runs/get")) >= 3  # two RUNNING polls, then terminal
    assert _calls(fake, "/api/2.2/jobs/runs/get-output") == []  # nothing failed: no output calls
    assert TOKEN not in out + err


def test_failed_multi_task_run_reports_each_task_from_its_own_output(fake, cli):
    fake.jobs[7] = JobScript(
        running=0,
        result_state="FAILED",
        message="Task train failed with message: Workload failed.",
        tasks=[
            Task("prepare"),
            Task(
                "train",
                "FAILED",
                "Workload failed",
                error="RuntimeError: diverged",
                error_trace=TRACE,
            ),
            Task("publish", "UPSTREAM_FAILED", "Upstream task failed."),
        ],
    )  # fmt: skip
    code, out, _ = cli("databricks", "run", "--job-id", "7", "--wait", "--poll-interval", "0.05")
    assert code == 1
    lines = out.splitlines()
    assert any("TERMINATED/FAILED: Task train failed" in line for line in lines)
    assert any(line.strip().startswith("task prepare") and "SUCCESS" in line for line in lines)
    assert "    error: RuntimeError: diverged" in lines
    assert "RuntimeError: training diverged (loss=nan)" in out  # the tail of the trace
    assert 'frame0.py"' not in out  # ... not its head
    assert any("task publish" in line and "UPSTREAM_FAILED" in line for line in lines)
    # Output is requested per failed task run only, never for the multi-task parent.
    parent = _calls(fake, "/api/2.2/jobs/run-now")
    run_id = next(iter(fake.runs))
    asked = {int(r["query"]["run_id"]) for r in _calls(fake, "/api/2.2/jobs/runs/get-output")}
    tasks = fake.runs[run_id].task_ids
    assert parent and asked == {tasks["train"], tasks["publish"]}
    assert run_id not in asked


def test_parent_output_is_refused_like_the_real_api(fake):
    """Why per-task: the documented error for the parent of a multi-task run."""
    from databricks.sdk.errors import DatabricksError

    fake.jobs[7] = JobScript(running=0, tasks=[Task("a"), Task("b")])
    client = dbx.workspace_client()
    run_id = dbx.run_job(client, 7)
    with pytest.raises(DatabricksError, match="multiple tasks"):
        client.jobs.get_run_output(run_id=run_id)


def test_timeout_exits_3_and_can_cancel(fake, cli):
    fake.jobs[9] = JobScript(running=-1)
    code, out, _ = cli(
        "databricks", "run", "--job-id", "9", "--wait", "--timeout", "0.3",
        "--poll-interval", "0.05", "--cancel-on-timeout",
    )  # fmt: skip
    assert code == 3
    assert "timed out after 0.3 s; the run is still RUNNING" in out
    assert "cancelled the run" in out
    (cancel,) = _calls(fake, "/api/2.2/jobs/runs/cancel")
    assert cancel["body"] == {"run_id": next(iter(fake.runs))}


def test_inspect_prints_a_finished_failed_run(fake, cli):
    fake.jobs[5] = JobScript(
        running=0, result_state="FAILED", tasks=[Task("train", "FAILED", "boom", error="OOM")]
    )
    run_id = dbx.run_job(dbx.workspace_client(), 5)
    code, out, _ = cli("databricks", "inspect", str(run_id))
    assert code == 1
    assert f"run {run_id} (job 5): TERMINATED/FAILED" in out and "error: OOM" in out


def test_job_id_comes_from_the_stack_outputs(fake, cli, tmp_path):
    fake.jobs[314] = JobScript(running=0)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"databricks_job_id": "314"}))
    code, out, _ = cli("databricks", "run", "--stack", "dev", "--stack-outputs", str(outputs))
    assert code == 0 and "of job 314" in out
    outputs.write_text(json.dumps({"region": "us-east-1"}))
    code, _, err = cli("databricks", "run", "--stack", "dev", "--stack-outputs", str(outputs))
    assert code == 2 and "databricks_job_id" in err and "databricksEnabled" in err


def test_api_errors_are_clear_and_never_show_the_token(fake, cli, monkeypatch):
    code, _, err = cli("databricks", "run", "--job-id", "999")
    assert code == 2 and "could not start job 999" in err and "Job 999 does not exist" in err
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-wrong-token")
    code, _, err = cli("databricks", "inspect", "1001")
    assert code == 2 and "Invalid access token" in err
    assert "dapi-wrong-token" not in err and TOKEN not in err
    assert "Traceback" not in err


def test_missing_configuration_is_a_clear_error(cli, monkeypatch, tmp_path):
    for var in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "none.cfg"))
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, err = cli("databricks", "inspect", "1")
    assert code == 2 and "DATABRICKS_HOST" in err
