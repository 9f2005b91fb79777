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


def test_adls_settings_keep_secrets_secret_and_blank_means_unset() -> None:
    from fraud_mlops.settings import AdlsSettings

    s = AdlsSettings.from_env(
        {"AZURE_STORAGE_SAS_TOKEN": "?sv=1&sig=abc", "AZURE_STORAGE_ACCOUNT_KEY": "   "}
    )
    assert s.account_key is None and s.sas_token.get_secret_value() == "?sv=1&sig=abc"
    assert "sig=abc" not in repr(s) and "sig=abc" not in str(s.model_dump())
    assert AdlsSettings.from_env({}).namespace == "auto"
    assert AdlsSettings.from_env({"LAKEHOUSE_ADLS_NAMESPACE": " Flat "}).namespace == "flat"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"AZURE_STORAGE_ACCOUNT_KEY": "k3y", "AZURE_STORAGE_SAS_TOKEN": "sig=s3cret"},
            "both AZURE_STORAGE_ACCOUNT_KEY and AZURE_STORAGE_SAS_TOKEN are set",
        ),
        ({"AZURE_STORAGE_ENDPOINT": "127.0.0.1:10000"}, r"e\.g\. http://127\.0\.0\.1:10000"),
        ({"LAKEHOUSE_ADLS_NAMESPACE": "hns"}, "'hns' is not a namespace: use hierarchical"),
    ],
)
def test_bad_adls_settings_say_what_to_do_without_the_secret(env, message) -> None:
    from fraud_mlops.settings import AdlsSettings

    with pytest.raises(ConfigError, match=message) as info:
        AdlsSettings.from_env(env)
    assert "k3y" not in str(info.value) and "s3cret" not in str(info.value)
