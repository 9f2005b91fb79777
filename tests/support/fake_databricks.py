"""A local HTTP server answering the Jobs API 2.2 calls databricks-sdk makes, as documented.

Only the far side is fake: the SDK builds the real requests (paths, query strings, JSON bodies,
bearer auth) and parses the real response shapes. Each job plays a script: the life-cycle
states successive ``runs/get`` calls see, then a final result with per-task states and outputs.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MULTI_TASK_OUTPUT = (
    "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the "
    "output of each individual task run instead."
)


@dataclass
class Task:
    key: str
    result_state: str = "SUCCESS"
    message: str = ""
    error: str | None = None
    error_trace: str | None = None


@dataclass
class JobScript:
    """``running``: how many polls see RUNNING before the run terminates (-1: never)."""

    running: int = 1
    result_state: str = "SUCCESS"
    message: str = ""
    tasks: list[Task] = field(default_factory=lambda: [Task("train")])


@dataclass
class _Run:
    run_id: int
    job_id: int
    script: JobScript
    polls: int = 0
    cancelled: bool = False
    task_ids: dict[str, int] = field(default_factory=dict)


class FakeDatabricks:
    def __init__(self, token: str):
        self.token = token
        self.jobs: dict[int, JobScript] = {}
        self.runs: dict[int, _Run] = {}
        self.requests: list[dict] = []
        self._next_id = 1000
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeDatabricks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    # --- the API ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
        with self._lock:
            if method == "POST" and path == "/api/2.2/jobs/run-now":
                return self._run_now(body)
            if method == "GET" and path == "/api/2.2/jobs/runs/get":
                return self._get_run(int(query["run_id"]))
            if method == "GET" and path == "/api/2.2/jobs/runs/get-output":
                return self._get_output(int(query["run_id"]))
            if method == "POST" and path == "/api/2.2/jobs/runs/cancel":
                return self._cancel(int(body["run_id"]))
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API found for {path}"}

    def _run_now(self, body: dict) -> tuple[int, dict]:
        job_id = int(body["job_id"])
        if job_id not in self.jobs:
            return 400, {
                "error_code": "INVALID_PARAMETER_VALUE",
                "message": f"Job {job_id} does not exist.",
            }
        run = _Run(self._id(), job_id, self.jobs[job_id])
        run.task_ids = {t.key: self._id() for t in run.script.tasks}
        self.runs[run.run_id] = run
        return 200, {"run_id": run.run_id, "number_in_job": 1}

    def _find(self, run_id: int) -> tuple[_Run, Task | None] | None:
        if run_id in self.runs:
            return self.runs[run_id], None
        for run in self.runs.values():
            for task in run.script.tasks:
                if run.task_ids[task.key] == run_id:
                    return run, task
        return None

    def _state(self, run: _Run, task: Task | None) -> dict:
        done = run.cancelled or (run.script.running >= 0 and run.polls > run.script.running)
        if not done:
            return {"life_cycle_state": "RUNNING", "state_message": "In run"}
        if run.cancelled:
            return {
                "life_cycle_state": "TERMINATED",
                "result_state": "CANCELED",
                "state_message": "Run cancelled.",
                "user_cancelled_or_timedout": True,
            }
        result, message = (
            (task.result_state, task.message)
            if task
            else (run.script.result_state, run.script.message)
        )
        return {"life_cycle_state": "TERMINATED", "result_state": result, "state_message": message}

    def _get_run(self, run_id: int) -> tuple[int, dict]:
        found = self._find(run_id)
        if found is None or found[1] is not None:
            return 400, {
                "error_code": "INVALID_PARAMETER_VALUE",
                "message": f"Run {run_id} does not exist.",
            }
        run = found[0]
        run.polls += 1
        return 200, {
            "job_id": run.job_id,
            "run_id": run.run_id,
            "run_page_url": f"{self.url}/#job/{run.job_id}/run/{run.run_id}",
            "state": self._state(run, None),
            "tasks": [
                {"run_id": run.task_ids[t.key], "task_key": t.key, "state": self._state(run, t)}
                for t in run.script.tasks
            ],
        }

    def _get_output(self, run_id: int) -> tuple[int, dict]:
        found = self._find(run_id)
        if found is None:
            return 400, {
                "error_code": "INVALID_PARAMETER_VALUE",
                "message": f"Run {run_id} does not exist.",
            }
        run, task = found
        if task is None and len(run.script.tasks) > 1:
            return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": MULTI_TASK_OUTPUT}
        task = task or run.script.tasks[0]
        out: dict = {"metadata": {"run_id": run_id, "job_id": run.job_id, "task_key": task.key}}
        if task.error:
            out["error"] = task.error
        if task.error_trace:
            out["error_trace"] = task.error_trace
        return 200, out

    def _cancel(self, run_id: int) -> tuple[int, dict]:
        if run_id not in self.runs:
            return 400, {
                "error_code": "INVALID_PARAMETER_VALUE",
                "message": f"Run {run_id} does not exist.",
            }
        self.runs[run_id].cancelled = True
        return 200, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                fake.requests.append(
                    {
                        "method": method,
                        "path": url.path,
                        "query": query,
                        "body": body,
                        "auth": self.headers.get("Authorization"),
                    }
                )
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    status, payload = (
                        403,
                        {"error_code": "PERMISSION_DENIED", "message": "Invalid access token."},
                    )
                else:
                    status, payload = fake.handle(method, url.path, query, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

        return Handler
