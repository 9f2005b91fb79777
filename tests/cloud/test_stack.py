"""Reading stack outputs from a saved file or the pulumi CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from fraud_mlops.cloud.stack import StackOutputs, load_stack_outputs, secret_output
from fraud_mlops.errors import ConfigError


def _fake_pulumi(bin_dir: Path, script: str) -> None:
    """The pulumi CLI is not installed here; a stand-in on PATH checks the argv we pass it."""
    bin_dir.mkdir()
    exe = bin_dir / "pulumi"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


def test_reads_outputs_through_the_pulumi_cli(tmp_path, monkeypatch):
    outputs = {"metaflow_config": {"METAFLOW_BATCH_JOB_QUEUE": "q", "METAFLOW_X": 3}}
    _fake_pulumi(
        tmp_path / "bin",
        '[ "$*" = "stack output --json --stack dev" ] || { echo "bad args: $*" >&2; exit 9; }\n'
        f"echo '{json.dumps(outputs)}'\n",
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    loaded = load_stack_outputs("dev")
    assert loaded.stack == "dev" and loaded.values == outputs
    assert loaded.metaflow_config() == {"METAFLOW_BATCH_JOB_QUEUE": "q", "METAFLOW_X": "3"}


def test_pulumi_failure_is_reported_with_its_last_line(tmp_path, monkeypatch):
    _fake_pulumi(tmp_path / "bin", "echo 'error: no stack named \"prod\" found' >&2\nexit 255\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(ConfigError, match=r'no stack named "prod" found.*pulumi stack ls'):
        load_stack_outputs("prod")


def test_missing_pulumi_cli_suggests_a_saved_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="--stack-outputs"):
        load_stack_outputs("dev")


def test_saved_file_errors_say_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="pulumi stack output --json -s dev >"):
        load_stack_outputs("dev", tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_stack_outputs("dev", bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_stack_outputs("dev", bad)


def test_metaflow_config_accepts_a_json_string_and_rejects_other_shapes():
    as_text = StackOutputs("dev", {"metaflowConfig": '{"METAFLOW_A": true}'})
    assert as_text.metaflow_config() == {"METAFLOW_A": "true"}
    with pytest.raises(ConfigError, match="not a JSON object"):
        StackOutputs("dev", {"metaflow_config": "nope"}).metaflow_config()
    with pytest.raises(ConfigError, match="not a map"):
        StackOutputs("dev", {"metaflow_config": [1]}).metaflow_config()


def test_a_hanging_pulumi_becomes_a_clear_error(tmp_path, monkeypatch):
    _fake_pulumi(tmp_path / "bin", "sleep 5\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr("fraud_mlops.cloud.stack.PULUMI_TIMEOUT_S", 0.2)
    with pytest.raises(ConfigError, match=r"did not answer in 0.2 s: check `pulumi whoami`"):
        load_stack_outputs("dev")
    with pytest.raises(ConfigError, match=r"--show-secrets --stack dev` did not answer"):
        secret_output("dev", "metaflow_service_auth_key")


def test_secret_output_reads_one_value_and_reports_failures(tmp_path, monkeypatch):
    _fake_pulumi(
        tmp_path / "bin",
        'if [ "$*" = "stack output auth_key --show-secrets --stack dev" ]; then echo s3cr3t; '
        'else echo "error: no output named $3" >&2; exit 1; fi\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert secret_output("dev", "auth_key") == "s3cr3t"
    with pytest.raises(ConfigError, match="failed: error: no output named other"):
        secret_output("dev", "other")
