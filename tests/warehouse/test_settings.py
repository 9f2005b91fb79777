"""SNOWFLAKE_* validation and key-pair loading. Keys are generated here, never committed."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fraud_mlops.errors import ConfigError
from fraud_mlops.warehouse.settings import WarehouseSettings


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key, passphrase: bytes | None = None) -> bytes:
    enc = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def _env(home: Path, **extra: str) -> dict[str, str]:
    base = {
        "FRAUD_MLOPS_HOME": str(home),
        "SNOWFLAKE_ACCOUNT": "myorg-myaccount",
        "SNOWFLAKE_USER": "FRAUD_MLOPS_SYNC",
        "SNOWFLAKE_WAREHOUSE": "fraud_wh",
        "SNOWFLAKE_DATABASE": "FRAUD_MLOPS",
    }
    return {**base, **extra}


def _write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "rsa_key.p8"
    path.write_bytes(data)
    return str(path)


def test_no_account_means_the_embedded_store_under_home(tmp_path: Path) -> None:
    s = WarehouseSettings.from_env({"FRAUD_MLOPS_HOME": str(tmp_path)})
    assert s.is_embedded
    assert s.embedded_path == str(tmp_path / "warehouse")
    assert (s.database, s.schema) == ("FRAUD_LOCAL", "FRAUD_MLOPS")
    with pytest.raises(ConfigError, match="no Snowflake connection"):
        s.connect_kwargs()


def test_key_file_gives_der_for_jwt_auth_and_never_shows_it(tmp_path, rsa_key) -> None:
    env = _env(
        tmp_path,
        SNOWFLAKE_PRIVATE_KEY_PATH=_write(tmp_path, _pem(rsa_key)),
        SNOWFLAKE_ROLE="fraud_sync",
    )
    s = WarehouseSettings.from_env(env)
    kwargs = s.connect_kwargs()
    assert kwargs["authenticator"] == "SNOWFLAKE_JWT"
    assert (kwargs["warehouse"], kwargs["role"], kwargs["schema"]) == (
        "FRAUD_WH",
        "FRAUD_SYNC",
        "FRAUD_MLOPS",
    )
    loaded = serialization.load_der_private_key(kwargs["private_key"], password=None)
    assert loaded.private_numbers() == rsa_key.private_numbers()
    assert "private_key" not in repr(s) and "MII" not in repr(s)
    assert "MII" not in s.describe() and "myorg-myaccount" in s.describe()


def test_encrypted_key_from_a_secret_variable_with_escaped_newlines(tmp_path, rsa_key) -> None:
    text = _pem(rsa_key, b"s3cret").decode().replace("\n", "\\n")  # as many CI secret stores do
    env = _env(tmp_path, SNOWFLAKE_PRIVATE_KEY=text, SNOWFLAKE_PRIVATE_KEY_PASSPHRASE="s3cret")
    der = WarehouseSettings.from_env(env).private_key
    assert serialization.load_der_private_key(der, None).private_numbers() == (
        rsa_key.private_numbers()
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"SNOWFLAKE_ACCOUNT": ""},
            "SNOWFLAKE_USER, SNOWFLAKE_PRIVATE_KEY_PATH set but SNOWFLAKE_ACCOUNT is not",
        ),
        ({"SNOWFLAKE_USER": ""}, "SNOWFLAKE_USER is not set"),
        ({"SNOWFLAKE_WAREHOUSE": ""}, "SNOWFLAKE_WAREHOUSE is not set"),
        ({"SNOWFLAKE_DATABASE": ""}, "SNOWFLAKE_DATABASE is not set"),
        ({"SNOWFLAKE_ACCOUNT": "https://x.snowflakecomputing.com"}, "looks like a URL"),
        ({"SNOWFLAKE_SCHEMA": "fraud; drop"}, "not a plain Snowflake identifier"),
    ],
)
def test_invalid_settings_say_what_to_fix(tmp_path, rsa_key, extra, message) -> None:
    env = _env(tmp_path, SNOWFLAKE_PRIVATE_KEY_PATH=_write(tmp_path, _pem(rsa_key)), **extra)
    with pytest.raises(ConfigError, match=message):
        WarehouseSettings.from_env(env)


def test_missing_key_mentions_that_passwords_are_not_allowed(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"no private key.*cannot sign in with passwords"):
        WarehouseSettings.from_env(_env(tmp_path, SNOWFLAKE_PASSWORD="hunter2"))


def test_both_key_sources_are_refused(tmp_path, rsa_key) -> None:
    pem = _pem(rsa_key)
    env = _env(
        tmp_path,
        SNOWFLAKE_PRIVATE_KEY_PATH=_write(tmp_path, pem),
        SNOWFLAKE_PRIVATE_KEY=pem.decode(),
    )
    with pytest.raises(ConfigError, match="keep only one"):
        WarehouseSettings.from_env(env)


def test_unreadable_key_file(tmp_path) -> None:
    env = _env(tmp_path, SNOWFLAKE_PRIVATE_KEY_PATH=str(tmp_path / "nope.p8"))
    with pytest.raises(ConfigError, match=r"nope\.p8.*cannot read the key file"):
        WarehouseSettings.from_env(env)


def test_encrypted_key_without_passphrase(tmp_path, rsa_key) -> None:
    env = _env(tmp_path, SNOWFLAKE_PRIVATE_KEY_PATH=_write(tmp_path, _pem(rsa_key, b"pw")))
    with pytest.raises(ConfigError, match="encrypted; set SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"):
        WarehouseSettings.from_env(env)


def test_wrong_passphrase(tmp_path, rsa_key) -> None:
    env = _env(
        tmp_path,
        SNOWFLAKE_PRIVATE_KEY_PATH=_write(tmp_path, _pem(rsa_key, b"pw")),
        SNOWFLAKE_PRIVATE_KEY_PASSPHRASE="not-it",
    )
    with pytest.raises(ConfigError, match="PASSPHRASE is wrong"):
        WarehouseSettings.from_env(env)


def test_passphrase_for_an_unencrypted_key(tmp_path, rsa_key) -> None:
    env = _env(
        tmp_path,
        SNOWFLAKE_PRIVATE_KEY_PATH=_write(tmp_path, _pem(rsa_key)),
        SNOWFLAKE_PRIVATE_KEY_PASSPHRASE="pw",
    )
    with pytest.raises(ConfigError, match="key is not encrypted"):
        WarehouseSettings.from_env(env)


def test_garbage_pem_never_echoes_the_secret(tmp_path) -> None:
    pem_label = "PRIVATE " + "KEY"  # built, so that no tracked file looks like it holds a key
    secret = f"-----BEGIN {pem_label}-----\nnot-really-a-key-but-secret\n-----END {pem_label}-----"
    with pytest.raises(ConfigError, match="not a PEM private key") as info:
        WarehouseSettings.from_env(_env(tmp_path, SNOWFLAKE_PRIVATE_KEY=secret))
    assert "not-really-a-key" not in str(info.value)


def test_non_rsa_and_short_keys_are_refused(tmp_path) -> None:
    ec_pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ConfigError, match="needs an RSA key"):
        WarehouseSettings.from_env(_env(tmp_path, SNOWFLAKE_PRIVATE_KEY=ec_pem.decode()))
    short = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ConfigError, match="1024 bits"):
        WarehouseSettings.from_env(_env(tmp_path, SNOWFLAKE_PRIVATE_KEY=short.decode()))


def test_embedded_database_must_differ_from_schema(tmp_path) -> None:
    env = {"FRAUD_MLOPS_HOME": str(tmp_path), "SNOWFLAKE_DATABASE": "fraud_mlops"}
    with pytest.raises(ConfigError, match="both 'FRAUD_MLOPS'"):
        WarehouseSettings.from_env(env)
