"""The shared settings mechanism: a given mapping replaces os.environ, every problem is reported."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field, SecretStr

from fraud_mlops.errors import ConfigError
from fraud_mlops.settings_base import BLANK_IS_UNSET, EnvSettings, Text


class Example(EnvSettings):
    name: Text = Field("plain", validation_alias="EXAMPLE_NAME", description="a name")
    count: Annotated[int, BLANK_IS_UNSET] = Field(
        3, ge=1, le=9, validation_alias="EXAMPLE_COUNT", description="how many"
    )
    token: SecretStr | None = Field(None, validation_alias="EXAMPLE_TOKEN")
    flag: bool = Field(False, validation_alias="EXAMPLE_FLAG")


def test_a_given_mapping_is_read_instead_of_os_environ(monkeypatch) -> None:
    monkeypatch.setenv("EXAMPLE_NAME", "from-the-shell")
    assert Example.from_env({}).name == "plain"
    assert Example.from_env({"EXAMPLE_NAME": " given "}).name == "given"
    assert Example.from_env().name == "from-the-shell"


def test_names_are_exact_and_blank_means_the_default(monkeypatch) -> None:
    assert Example.from_env({"example_name": "lower"}).name == "plain"
    assert Example.from_env({"EXAMPLE_NAME": "   ", "EXAMPLE_COUNT": ""}).count == 3


def test_every_problem_is_reported_with_key_value_and_fix() -> None:
    with pytest.raises(ConfigError) as info:
        Example.from_env({"EXAMPLE_COUNT": "12", "EXAMPLE_FLAG": "maybe"})
    message = str(info.value)
    assert message.startswith("2 configuration problems:")
    assert "EXAMPLE_COUNT='12': EXAMPLE_COUNT must be 1..9 (how many)" in message
    assert "EXAMPLE_FLAG='maybe': expected true or false" in message
    with pytest.raises(ConfigError, match=r"^EXAMPLE_COUNT='x': expected a whole number; set it"):
        Example.from_env({"EXAMPLE_COUNT": "x"})


def test_secrets_are_hidden_in_repr() -> None:
    settings = Example.from_env({"EXAMPLE_TOKEN": "s3cret-value"})
    assert settings.token is not None and settings.token.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(settings)


def test_settings_are_frozen() -> None:
    settings = Example.from_env({})
    with pytest.raises(ValueError, match="frozen"):
        settings.name = "changed"  # type: ignore[misc]
