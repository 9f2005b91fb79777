"""``fraud-mlops metaflow-config``: stack outputs → the file Metaflow itself reads."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_mlops.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack_outputs() -> dict:
    """Real outputs of the dev stack, built by the program under Pulumi's mock runtime."""
    from tools.pulumi_mocks import run_program
    from tools.stack_files import config_from_stack_file

    return run_program(config_from_stack_file("dev")).outputs


@pytest.fixture
def outputs_file(tmp_path: Path, stack_outputs: dict) -> Path:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(stack_outputs))
    return path


@pytest.fixture
def metaflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mfhome"
    monkeypatch.setenv("METAFLOW_HOME", str(home))
    return home


def test_writes_the_profile_metaflow_reads(outputs_file, metaflow_home, stack_outputs, capsys):
    assert main(["metaflow-config", "--stack", "dev", "--from-json", str(outputs_file)]) == 0
    written = metaflow_home / "config_dev.json"
    assert json.loads(written.read_text()) == stack_outputs["metaflow_config"]
    out = capsys.readouterr().out
    assert "export METAFLOW_PROFILE=dev" in out
    assert "environment:vars=" in out and "MODEL_STORE_URI" in out

    # Metaflow itself, in a fresh interpreter, picks the values up from that profile.
    probe = (
        "from metaflow import metaflow_config as c;"
        "print(c.DATASTORE_SYSROOT_S3, c.BATCH_JOB_QUEUE, c.SFN_DYNAMO_DB_TABLE)"
    )
    env = {**os.environ, "METAFLOW_HOME": str(metaflow_home), "METAFLOW_PROFILE": "dev"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    mf = stack_outputs["metaflow_config"]
    assert done.stdout.split() == [
        mf["METAFLOW_DATASTORE_SYSROOT_S3"],
        mf["METAFLOW_BATCH_JOB_QUEUE"],
        mf["METAFLOW_SFN_DYNAMO_DB_TABLE"],
    ]


def test_out_and_profile_options(outputs_file, metaflow_home, tmp_path):
    assert (
        main(
            [
                "metaflow-config",
                "--stack",
                "dev",
                "--from-json",
                str(outputs_file),
                "--profile",
                "team",
            ]
        )
        == 0
    )
    assert (metaflow_home / "config_team.json").is_file()
    target = tmp_path / "elsewhere" / "mf.json"
    assert (
        main(
            [
                "metaflow-config",
                "--stack",
                "dev",
                "--from-json",
                str(outputs_file),
                "--out",
                str(target),
            ]
        )
        == 0
    )
    assert json.loads(target.read_text())["METAFLOW_DEFAULT_DATASTORE"] == "s3"


def test_calls_the_pulumi_cli_for_the_stack(stack_outputs, metaflow_home, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(stack_outputs))
    fake = bin_dir / "pulumi"
    # Records its arguments, answers like `pulumi stack output --json`.
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat {saved}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert main(["metaflow-config", "--stack", "dev"]) == 0
    assert (tmp_path / "args").read_text().split() == [
        "stack",
        "output",
        "--json",
        "--stack",
        "dev",
    ]
    assert (metaflow_home / "config_dev.json").is_file()


def test_pulumi_failure_is_reported(tmp_path, metaflow_home, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text("#!/bin/sh\necho 'error: no stack named \"qa\" found' >&2\nexit 255\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert main(["metaflow-config", "--stack", "qa"]) == 2
    err = capsys.readouterr().err
    assert 'no stack named "qa"' in err and "pulumi stack ls" in err
    assert not metaflow_home.exists()


def test_missing_pulumi_cli_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    assert main(["metaflow-config", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "`pulumi` CLI is not on PATH" in err and "--stack-outputs" in err
    assert "Traceback" not in err


def test_missing_output_names_what_the_stack_has(tmp_path, metaflow_home, capsys):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"bucket": "b"}))
    assert main(["metaflow-config", "--stack", "dev", "--from-json", str(path)]) == 2
    err = capsys.readouterr().err
    assert "no 'metaflow_config' output (outputs: bucket)" in err
    assert "pulumi up -s dev" in err
    assert not metaflow_home.exists()


def test_malformed_config_is_refused(tmp_path, metaflow_home, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"metaflow_config": {"METAFLOW_BATCH_JOB_QUEUE": "", "X": "y"}}))
    assert main(["metaflow-config", "--stack", "dev", "--from-json", str(path)]) == 2
    assert "offending keys: ['METAFLOW_BATCH_JOB_QUEUE', 'X']" in capsys.readouterr().err
    missing = tmp_path / "nope.json"
    assert main(["metaflow-config", "--stack", "dev", "--from-json", str(missing)]) == 2
    assert "pulumi stack output --json -s dev" in capsys.readouterr().err


@pytest.fixture(scope="module")
def prod_outputs() -> tuple[dict, str]:
    """Outputs of the prod stack (metadata service on): values, and the secret key's value."""
    from tools.pulumi_mocks import run_program
    from tools.stack_files import config_from_stack_file

    run = run_program(config_from_stack_file("prod"))
    shown = {k: ("[secret]" if k in run.secret_outputs else v) for k, v in run.outputs.items()}
    return shown, run.outputs["metaflow_service_auth_key"]


def test_with_the_metadata_service_the_profile_gets_the_key_from_pulumi(
    prod_outputs, metaflow_home, tmp_path, monkeypatch, capsys
):
    shown, key = prod_outputs
    bin_dir, saved = tmp_path / "bin", tmp_path / "prod.json"
    bin_dir.mkdir()
    saved.write_text(json.dumps(shown))  # what `pulumi stack output --json` prints
    fake = bin_dir / "pulumi"
    fake.write_text(
        '#!/bin/sh\necho "$@" >> ' + str(tmp_path / "args") + "\n"
        f'if [ "$3" = "metaflow_service_auth_key" ]; then echo {key}; else cat {saved}; fi\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert main(["metaflow-config", "--stack", "prod"]) == 0
    profile = metaflow_home / "config_prod.json"
    written = json.loads(profile.read_text())
    assert written["METAFLOW_DEFAULT_METADATA"] == "service"
    assert written["METAFLOW_SERVICE_URL"] == shown["metaflow_config"]["METAFLOW_SERVICE_URL"]
    assert written["METAFLOW_SERVICE_AUTH_KEY"] == key
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    calls = (tmp_path / "args").read_text().splitlines()
    assert "stack output metaflow_service_auth_key --show-secrets --stack prod" in calls
    assert key not in capsys.readouterr().out  # written, never printed


def test_a_saved_file_without_the_revealed_key_is_a_clear_error(
    prod_outputs, metaflow_home, tmp_path, capsys
):
    shown, _ = prod_outputs
    saved = tmp_path / "prod.json"
    saved.write_text(json.dumps(shown))
    assert main(["metaflow-config", "--stack", "prod", "--from-json", str(saved)]) == 2
    err = capsys.readouterr().err
    assert "metaflow_service_auth_key" in err and "--show-secrets" in err
    assert not metaflow_home.exists()  # nothing half-written
