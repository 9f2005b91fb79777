"""The API's settings: the library store's champion by default, ranges and levels checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_mlops.errors import ConfigError
from lambda_api.settings import ApiSettings


def test_defaults_serve_the_library_stores_champion(tmp_path: Path) -> None:
    settings = ApiSettings.from_env({"FRAUD_MLOPS_HOME": str(tmp_path), "MODEL_NAME": "m1"})
    assert settings.model_uri == f"{tmp_path}/models/m1/champion"
    assert (settings.max_batch_size, settings.max_string_length) == (1000, 128)
    assert settings.cache_dir.name == "fraud-mlops-models"
    assert settings.log_level == "INFO"


def test_values_are_typed_and_levels_case_insensitive(tmp_path: Path) -> None:
    settings = ApiSettings.from_env(
        {"MODEL_URI": " s3://b/m/claims-fraud/v1 ", "MAX_BATCH_SIZE": "5", "LOG_LEVEL": "debug",
         "MODEL_CACHE_DIR": str(tmp_path)}
    )  # fmt: skip
    assert settings.model_uri == "s3://b/m/claims-fraud/v1"
    assert (settings.max_batch_size, settings.log_level, settings.cache_dir) == (
        5,
        "DEBUG",
        tmp_path,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"MAX_BATCH_SIZE": "lots"},
            "MAX_BATCH_SIZE='lots': expected a whole number; set it to 1..10000",
        ),
        ({"MAX_BATCH_SIZE": "0"}, "MAX_BATCH_SIZE='0': MAX_BATCH_SIZE must be 1..10000"),
        ({"MAX_STRING_LENGTH": "5000"}, "MAX_STRING_LENGTH must be 1..4096"),
        (
            {"LOG_LEVEL": "loud"},
            "LOG_LEVEL='LOUD': use one of 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        ),
        ({"MODEL_URI": "", "MODEL_NAME": "Bad Name"}, "MODEL_NAME='Bad Name' is not a valid"),
    ],
)
def test_bad_values_say_what_to_set(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ApiSettings.from_env(env)
    assert message in str(info.value)


def test_telemetry_settings_use_powertools_names(tmp_path: Path) -> None:
    default = ApiSettings.from_env({"MODEL_URI": str(tmp_path)})
    assert (default.service_name, default.metrics_namespace) == ("fraud-scoring", "FraudMlops")
    assert default.metrics_disabled is False and default.trace_disabled is True
    custom = ApiSettings.from_env(
        {"MODEL_URI": str(tmp_path), "POWERTOOLS_SERVICE_NAME": "scoring-eu",
         "POWERTOOLS_METRICS_NAMESPACE": "FraudMlopsStaging",
         "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "false"}
    )  # fmt: skip
    assert (custom.service_name, custom.metrics_namespace) == ("scoring-eu", "FraudMlopsStaging")
    assert custom.metrics_disabled is True and custom.trace_disabled is False


def test_a_bad_telemetry_switch_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        ApiSettings.from_env({"MODEL_URI": "/x", "POWERTOOLS_TRACE_DISABLED": "maybe"})
    assert "POWERTOOLS_TRACE_DISABLED='maybe'" in str(info.value)
