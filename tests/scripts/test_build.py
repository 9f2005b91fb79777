"""``make build``: the wheel and build record, the training Dockerfile, and the image tag scheme.

No Docker engine here, so the Dockerfile is parsed and checked against requirements.lock
instead of built; the tag the build records is the one the stack's Metaflow config points at.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.support.dockerfiles import lock_pins, parse_dockerfile

REPO = Path(__file__).resolve().parents[2]


def _load_build_script():
    spec = importlib.util.spec_from_file_location("build_script", REPO / "scripts" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build_script()


# -- Dockerfile ------------------------------------------------------------------------------
def pip_installs(instructions: list[tuple[str, str]]) -> list[list[str]]:
    """The argument lists of every ``pip install`` inside RUN instructions."""
    calls = []
    for keyword, rest in instructions:
        if keyword != "RUN":
            continue
        lexer = shlex.shlex(rest, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        command: list[str] = []
        for token in [*lexer, ";"]:
            if token not in (";", "&&", "||", "&", "|"):
                command.append(token)
                continue
            if command[:2] == ["pip", "install"] or command[1:4] == ["-m", "pip", "install"]:
                calls.append(command[command.index("install") + 1 :])
            command = []
    return calls


def check_training_dockerfile(text: str, pins: dict[str, str]) -> list[str]:
    """Every way ``text`` departs from 'python:3.11-slim + exactly the lock + the wheel'."""
    problems = []
    instructions = parse_dockerfile(text)
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    if froms != ["python:3.11-slim"]:
        problems.append(f"base image {froms}, expected ['python:3.11-slim']")
    copies = [rest for keyword, rest in instructions if keyword == "COPY"]
    if not any(c.split()[0] == "requirements.lock" for c in copies):
        problems.append("requirements.lock is not copied into the image")
    if not any(c.split()[0] == "dist/fraud_mlops-*.whl" for c in copies):
        problems.append("the wheel from dist/ is not copied into the image")
    locked = wheel = False
    for args in pip_installs(instructions):
        for i, word in enumerate(args):
            previous = args[i - 1] if i else ""
            if word.startswith("-") or previous in ("--index-url", "--extra-index-url"):
                continue
            if previous == "-r":
                locked = locked or word == "requirements.lock"
                if word != "requirements.lock":
                    problems.append(f"installs requirements file {word!r}, not requirements.lock")
            elif word.endswith(".whl"):
                wheel = "fraud_mlops-" in word
                if "--no-deps" not in args:
                    problems.append(f"wheel {word} installed without --no-deps")
            else:
                name, sep, version = word.partition("==")
                key = name.lower().replace("_", "-")
                if not sep or pins.get(key) != version:
                    problems.append(
                        f"installs {word!r}; requirements.lock pins {key}=={pins.get(key)}"
                    )
    if not locked:
        problems.append("never runs pip install -r requirements.lock")
    if not wheel:
        problems.append("never installs the fraud_mlops wheel")
    return problems


def test_training_dockerfile_installs_exactly_the_lock_and_the_wheel():
    text = (REPO / "Dockerfile").read_text()
    assert check_training_dockerfile(text, lock_pins()) == []
    instructions = parse_dockerfile(text)
    # The lock is installed before the wheel is even copied (layer caching, --no-deps is safe).
    order = [k + " " + r for k, r in instructions]
    lock_at = next(i for i, line in enumerate(order) if "-r requirements.lock" in line)
    wheel_at = next(i for i, line in enumerate(order) if line.startswith("COPY dist/"))
    assert lock_at < wheel_at
    assert ("USER", "fraud") in instructions


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (("torch==2.13.0", "torch"), "installs 'torch'"),
        (("torch==2.13.0", "torch==2.12.0"), "requirements.lock pins torch==2.13.0"),
        (("-r requirements.lock", "-r requirements-dev.txt"), "not requirements.lock"),
        (("pip install --no-deps", "pip install"), "without --no-deps"),
        (("FROM python:3.11-slim", "FROM python:3.12"), "base image"),
        (("&& pip install -r requirements.lock", "&& pip install boto3==1.0"), "boto3"),
    ],
)
def test_the_dockerfile_check_catches_departures(edit, problem):
    text = (REPO / "Dockerfile").read_text()
    old, new = edit
    assert old in text
    problems = check_training_dockerfile(text.replace(old, new), lock_pins())
    assert any(problem in p for p in problems), problems


# -- image tag ↔ stack ------------------------------------------------------------------------
def test_image_tag_scheme():
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert build.image_tag(sha) == "git-0123456789ab"
    assert build.image_tag(sha.upper(), dirty=True) == "git-0123456789ab-dirty"
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", build.image_tag(sha, dirty=True))
    with pytest.raises(build.BuildError, match="not a git commit"):
        build.image_tag("HEAD")


def test_stack_metaflow_image_points_at_the_built_tag_in_ecr():
    from tools.pulumi_mocks import run_program
    from tools.stack_files import config_from_stack_file

    tag = build.image_tag(build.git_commit(REPO)[0])
    run = run_program(config_from_stack_file("dev", overrides={"imageTag": tag}))
    repository = run.outputs["training_repository_url"]
    assert re.fullmatch(r"\d{12}\.dkr\.ecr\.eu-west-1\.amazonaws\.com/[\w.-]+", repository)
    image = run.outputs["metaflow_config"]["METAFLOW_BATCH_CONTAINER_IMAGE"]
    assert image == f"{repository}:{tag}"
    assert (
        run.outputs["metaflow_config"]["METAFLOW_BATCH_CONTAINER_REGISTRY"]
        == (repository.split("/")[0])
    )


# -- wheel and build record -------------------------------------------------------------------
def test_build_writes_the_wheel_and_a_record_of_the_commit(tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "lambda.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip archive
    (dist / "fraud_mlops-0.0.1-py3-none-any.whl").write_bytes(b"old")  # replaced, not kept
    sha, dirty = build.git_commit(REPO)

    wheel = build.build_wheel(REPO, dist)
    info = build.write_build_info(dist, wheel, sha=sha, dirty=dirty, version="0.1.0")

    assert [p.name for p in dist.glob("*.whl")] == [wheel.name]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "fraud_mlops/__init__.py" in names and "fraud_mlops/cli/__init__.py" in names
    assert {"fraud_mlops/schemas/synthetic_claims.yaml"} <= names
    assert not any(n.startswith(("tests/", "infra/", "flows/")) for n in names)

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    assert info["git_sha"] == head.stdout.strip()
    assert info["version"] == f"0.1.0+g{sha[:12]}"
    assert info["image_tag"] == build.image_tag(sha, dirty)
    assert info["wheel"] == {"file": wheel.name, "sha256": build.sha256_of(wheel)}
    assert info["lambda_zip"]["sha256"] == build.sha256_of(dist / "lambda.zip")
    assert json.loads((dist / "build-info.json").read_text()) == info
    assert (dist / "VERSION").read_text() == info["version"] + "\n"


def test_build_record_refuses_a_missing_lambda_package(tmp_path):
    wheel = tmp_path / "fraud_mlops-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    with pytest.raises(build.BuildError, match="make build-lambda"):
        build.write_build_info(tmp_path, wheel, sha="a" * 40, dirty=False, version="0.1.0")
    assert not (tmp_path / "build-info.json").exists()


def test_make_build_runs_build_lambda_then_the_script():
    text = (REPO / "Makefile").read_text()
    rule = re.search(r"^build:([^\n#]*)(?:##[^\n]*)?\n((?:\t[^\n]*\n)+)", text, re.M)
    assert rule, "Makefile has no build target"
    assert "build-lambda" in rule.group(1).split()
    assert "scripts/build.py" in rule.group(2)
