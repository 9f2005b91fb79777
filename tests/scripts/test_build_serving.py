"""``Dockerfile.serving`` and its staged context: torch-free, the lock's serving pins, port 8080.

No Docker engine here, so the Dockerfile is parsed, and the staged context it copies is run the
way the image runs it (the ``serve`` command's uvicorn line, from the staged folder only).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.dockerfiles import lock_pins, parse_dockerfile

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile.serving"
HEAVY = {"torch", "pandas", "pyarrow", "sklearn", "scipy", "metaflow", "pulumi"}


def _load(name: str):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "scripts"))


build_serving = _load("build_serving")


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serving") / "serving"
    build_serving.stage(out)
    return out


def _requirements(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"{line!r} is not pinned"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_requirements_are_exactly_the_serving_pins_of_the_lock(staged):
    pins = _requirements(staged / build_serving.REQUIREMENTS)
    lock = lock_pins()
    expected = {n.lower() for n in (*build_serving.build_lambda.SERVING, "uvicorn", "boto3")}
    assert set(pins) == expected
    for name, version in pins.items():
        assert lock[name] == version, f"{name}=={version} differs from requirements.lock"
    assert not HEAVY & set(pins)


def test_the_image_installs_only_those_pins_constrained_by_the_lock(instructions):
    base = next(arg for kw, arg in instructions if kw == "FROM")
    assert re.fullmatch(r"python:3\.1[12]-slim", base)
    installs = [arg for kw, arg in instructions if kw == "RUN" and "pip install" in arg]
    assert len(installs) == 1
    words = shlex.split(installs[0].split("&&")[0])
    assert words[:2] == ["pip", "install"]
    assert words[words.index("-c") + 1] == "/tmp/requirements.lock"
    assert words[words.index("-r") + 1] == "/tmp/requirements-serving.txt"
    # nothing named on the command line besides the files: no second, unpinned package list
    assert [w for w in words[2:] if not w.startswith("-") and not w.startswith("/tmp/")] == []
    text = DOCKERFILE.read_text().lower()
    code = "\n".join(arg for _, arg in instructions).lower()
    assert not any(re.search(rf"\b{h}\b", code) for h in HEAVY), "heavy package in the image"
    assert "download.pytorch.org" not in text


def test_it_copies_the_staged_context_that_exists_after_staging(instructions, staged):
    copies = [shlex.split(arg) for kw, arg in instructions if kw == "COPY"]
    sources = [src for words in copies for src in words[:-1]]
    assert "requirements.lock" in sources
    for src in sources:
        if src.startswith("dist/serving/"):
            rel = src.removeprefix("dist/serving/").rstrip("/")
            assert (staged / rel).exists(), f"COPY {src}: not produced by build_serving.py"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "dist" not in ignored and "dist/" not in ignored


def test_it_serves_on_8080_as_a_non_root_user_with_a_sagemaker_serve_command(instructions):
    assert ("EXPOSE", "8080") in instructions
    users = [arg for kw, arg in instructions if kw == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert json.loads(next(arg for kw, arg in instructions if kw == "CMD")) == ["serve"]
    assert not [kw for kw, _ in instructions if kw == "ENTRYPOINT"]  # `serve` must replace CMD
    script = next(arg for kw, arg in instructions if kw == "RUN" and "/usr/local/bin/serve" in arg)
    assert "exec uvicorn lambda_api.app:app --host 0.0.0.0 --port 8080" in script
    assert "MODEL_URI" not in "".join(arg for kw, arg in instructions if kw == "ENV")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_staged_app_starts_under_uvicorn_without_torch_or_pandas(staged, tmp_path):
    """Run the image's command from the staged folder alone; the library is not on the path."""
    app = staged / "app"
    probe = (
        "import sys, lambda_api.app, fraud_mlops; "
        f"assert fraud_mlops.__file__.startswith({str(app)!r}), fraud_mlops.__file__; "
        f"print(sorted(set({sorted(HEAVY)!r}) & {{m.split('.')[0] for m in sys.modules}}))"
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(app), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "lambda_api.app:app", "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=tmp_path, env={**env, "MODEL_URI": str(tmp_path / "no-model")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        body = None
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.1)
        assert body is not None, server.communicate(timeout=5)[0]
        assert body["loaded"] is False  # no model at MODEL_URI: reported, not crashed
    finally:
        server.terminate()
        server.wait(timeout=10)
