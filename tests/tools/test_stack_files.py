"""Reading stack files offline: known keys only, secrets encrypted, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_mlops.errors import ConfigError
from infra.config import KEYS
from tools.stack_files import SECRET_PLACEHOLDER, config_from_stack_file, read_stack_file

REPO = Path(__file__).resolve().parents[2]


def test_stack_files_use_only_known_keys_and_encrypt_secrets():
    for stack in ("dev", "prod"):
        values, secrets = read_stack_file(REPO / "stacks" / f"Pulumi.{stack}.yaml")
        known = {k.name for k in KEYS}
        assert set(values) <= known
        secret_keys = {k.name for k in KEYS if k.kind == "secret"}
        # A secret key present in a stack file must be encrypted, never plain text.
        assert {k for k in values if k in secret_keys} <= secrets


def test_missing_stack_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="pulumi stack init"):
        read_stack_file(tmp_path / "Pulumi.nope.yaml")


def test_encrypted_values_become_secret_outputs_and_provider_keys_are_skipped(tmp_path):
    (tmp_path / "Pulumi.t.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  fraud-mlops:awsRegion: eu-west-1\n"
        "  fraud-mlops:databricksToken:\n    secure: v1:abc\n"
    )
    values, secrets = read_stack_file(tmp_path / "Pulumi.t.yaml")
    assert values == {"awsRegion": "eu-west-1", "databricksToken": SECRET_PLACEHOLDER}
    assert secrets == {"databricksToken"}
    cfg = config_from_stack_file("t", tmp_path)
    assert cfg.aws_region == "eu-west-1" and not cfg.databricks.enabled
