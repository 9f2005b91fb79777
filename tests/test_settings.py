from __future__ import annotations

from pathlib import Path

import pytest

from fraud_mlops.errors import ConfigError
from fraud_mlops.settings import Settings


def test_embedded_defaults_live_under_home(tmp_path: Path) -> None:
    s = Settings.from_env({"FRAUD_MLOPS_HOME": str(tmp_path)})
    assert s.lakehouse_uri == str(tmp_path / "lakehouse")
    assert s.model_store_uri == str(tmp_path / "models")
    assert s.model_name == "claims-fraud"


def test_cloud_uris_pass_through() -> None:
    s = Settings.from_env(
        {
            "LAKEHOUSE_URI": "s3://lake/prefix/",
            "MODEL_STORE_URI": "abfss://m@a.dfs.core.windows.net/x",
        }
    )
    assert s.lakehouse_uri == "s3://lake/prefix"
    assert s.model_store_uri == "abfss://m@a.dfs.core.windows.net/x"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LAKEHOUSE_URI": "gs://bucket"}, "scheme 'gs' is not supported"),
        ({"MODEL_STORE_URI": "  "}, "MODEL_STORE_URI is empty"),
        ({"MODEL_NAME": "Fraud Model!"}, "not a valid model name"),
    ],
)
def test_bad_settings_say_what_to_do(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_every_bad_variable_is_named_at_once_and_derived_defaults_stay_quiet() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"LAKEHOUSE_URI": "gs://bucket", "MODEL_NAME": "Fraud Model!"})
    message = str(info.value)
    assert "scheme 'gs' is not supported" in message and "not a valid model name" in message
    assert "MODEL_STORE_URI" not in message  # its default was skipped, not wrong


def test_a_given_mapping_ignores_the_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODEL_NAME", "from-the-shell")
    assert Settings.from_env({"FRAUD_MLOPS_HOME": str(tmp_path)}).model_name == "claims-fraud"
    assert Settings.from_env().model_name == "from-the-shell"
