"""Which warehouse to use, validated from the ``SNOWFLAKE_*`` environment variables.

With no ``SNOWFLAKE_ACCOUNT`` the embedded store is used: fakesnow on DuckDB files under
``$FRAUD_MLOPS_HOME/warehouse``, the same SQL as Snowflake. With an account, the connection uses
key-pair (JWT) authentication, because Snowflake no longer lets ``TYPE=SERVICE`` users sign in
with a password. The variables and their defaults are the fields below (README: "Configuration
reference").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator

from fraud_mlops.errors import ConfigError
from fraud_mlops.settings_base import EnvSettings, Problems, Text, environ, key_of, secret_value
from fraud_mlops.warehouse.specs import SCHEMA_NAME_DEFAULT

# Not FRAUD_MLOPS: DuckDB cannot bind views when a database and its schema share a name.
EMBEDDED_DATABASE_DEFAULT = "FRAUD_LOCAL"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
# org-account (preferred) or a legacy locator with optional region/cloud: xy12345.eu-west-1.aws
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
_MIN_RSA_BITS = 2048


def _database_default(data: dict[str, Any]) -> str:
    # Snowflake needs the database named; the embedded store has its own.
    return "" if data.get("account") else EMBEDDED_DATABASE_DEFAULT


class WarehouseSettings(EnvSettings):
    """Where the metrics warehouse is. Build it with :meth:`from_env`.

    ``kind`` is ``"snowflake"`` or ``"embedded"``. ``private_key`` (DER, PKCS#8, unencrypted in
    memory only) is a private attribute and the key fields are secrets, so neither reaches a log,
    ``repr`` or a traceback.
    """

    account: Text = Field(
        "",
        validation_alias="SNOWFLAKE_ACCOUNT",
        description="account identifier, e.g. `myorg-myaccount`; unset = the embedded store",
    )
    user: Text = Field(
        "", validation_alias="SNOWFLAKE_USER", description="the TYPE=SERVICE user (with an account)"
    )
    key_path: Text = Field(
        "",
        validation_alias="SNOWFLAKE_PRIVATE_KEY_PATH",
        description="PEM file with the user's private key (or SNOWFLAKE_PRIVATE_KEY)",
        repr=False,
    )
    key_pem: SecretStr | None = Field(
        None,
        validation_alias="SNOWFLAKE_PRIVATE_KEY",
        description="the PEM text itself (a CI secret; literal `\\n` escapes are accepted)",
        repr=False,
    )
    key_passphrase: SecretStr | None = Field(
        None,
        validation_alias="SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
        description="passphrase of an encrypted key",
        repr=False,
    )
    password: SecretStr | None = Field(
        None,
        validation_alias="SNOWFLAKE_PASSWORD",
        description="never used: TYPE=SERVICE users cannot sign in with passwords",
        repr=False,
    )
    warehouse: Text = Field(
        "", validation_alias="SNOWFLAKE_WAREHOUSE", description="virtual warehouse of the sync"
    )
    database: Text = Field(
        default_factory=_database_default,
        validation_alias="SNOWFLAKE_DATABASE",
        description="database holding the tables (required with an account)",
        json_schema_extra={"shown_default": f"embedded: `{EMBEDDED_DATABASE_DEFAULT}`"},
    )
    schema_name: Text = Field(
        SCHEMA_NAME_DEFAULT,
        validation_alias="SNOWFLAKE_SCHEMA",
        description="schema holding the tables",
    )
    role: Text = Field(
        "", validation_alias="SNOWFLAKE_ROLE", description="role to assume (default: the user's)"
    )
    _private_key: bytes = PrivateAttr(b"")
    _embedded_path: str = PrivateAttr("")

    @field_validator("warehouse", "database", "schema_name", "role")
    @classmethod
    def _plain_identifier(cls, value: str, info: ValidationInfo) -> str:
        """Names are interpolated into SQL, so only plain (unquoted) Snowflake identifiers pass."""
        if value and not _IDENTIFIER.match(value):
            variable = key_of(cls.model_fields[info.field_name or ""], info.field_name or "")
            raise ValueError(
                f"{variable}={value!r} is not a plain Snowflake identifier: use letters, digits, "
                "'_' or '$', starting with a letter or '_'."
            )
        return value.upper()

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        if value and ("snowflakecomputing.com" in value or "://" in value):
            raise ValueError(
                f"SNOWFLAKE_ACCOUNT={value!r} looks like a URL: set only the account identifier, "
                "e.g. myorg-myaccount (the part before .snowflakecomputing.com)."
            )
        if value and not _ACCOUNT.match(value):
            raise ValueError(
                f"SNOWFLAKE_ACCOUNT={value!r} is not an account identifier: use the form "
                "myorg-myaccount (or a legacy locator such as xy12345.eu-west-1)."
            )
        return value

    @model_validator(mode="after")
    def _resolve(self) -> WarehouseSettings:
        if self.is_embedded:
            self._embedded_path = self._check_embedded()
        else:
            self._private_key = self._check_snowflake()
        return self

    def _check_embedded(self) -> str:
        stray = [
            v
            for v, value in (
                ("SNOWFLAKE_USER", self.user),
                ("SNOWFLAKE_PRIVATE_KEY_PATH", self.key_path),
                ("SNOWFLAKE_PRIVATE_KEY", secret_value(self.key_pem)),
            )
            if value.strip()
        ]
        if stray:
            raise ValueError(
                f"{', '.join(stray)} set but SNOWFLAKE_ACCOUNT is not: set SNOWFLAKE_ACCOUNT "
                "(e.g. myorg-myaccount) to use Snowflake, or unset them to use the embedded "
                "warehouse."
            )
        if self.database == self.schema_name:
            raise ValueError(
                f"SNOWFLAKE_DATABASE and SNOWFLAKE_SCHEMA are both {self.database!r}: the "
                "embedded warehouse (DuckDB) cannot resolve views then; give them different names."
            )
        return _embedded_path()

    def _check_snowflake(self) -> bytes:
        missing = [
            f"{name} is not set: SNOWFLAKE_ACCOUNT is, so set {name} to {example}."
            for name, value, example in (
                ("SNOWFLAKE_USER", self.user, "the TYPE=SERVICE user, e.g. FRAUD_MLOPS_SYNC"),
                (
                    "SNOWFLAKE_WAREHOUSE",
                    self.warehouse,
                    "the virtual warehouse, e.g. FRAUD_MLOPS_WH",
                ),
                ("SNOWFLAKE_DATABASE", self.database, "the database, e.g. FRAUD_MLOPS"),
            )
            if not value
        ]
        try:
            key = load_private_key(
                path=self.key_path,
                pem=secret_value(self.key_pem),
                passphrase=secret_value(self.key_passphrase),
                password_set=bool(secret_value(self.password).strip()),
            )
        except ConfigError as exc:
            missing.append(str(exc))
            key = b""
        if missing:
            raise Problems(missing)
        return key

    @property
    def kind(self) -> str:
        return "snowflake" if self.account else "embedded"

    @property
    def is_embedded(self) -> bool:
        return self.kind == "embedded"

    @property
    def schema(self) -> str:  # type: ignore[override]  # BaseModel.schema() is pydantic v1's
        return self.schema_name

    @property
    def private_key(self) -> bytes:
        return self._private_key

    @property
    def embedded_path(self) -> str:
        return self._embedded_path

    def describe(self) -> str:
        """A one-line, secret-free description for command output."""
        where = f"{self.database}.{self.schema}"
        if self.is_embedded:
            return f"embedded warehouse (fakesnow/DuckDB) {where} at {self.embedded_path}"
        role = f", role {self.role}" if self.role else ""
        return f"Snowflake {self.account} {where} as {self.user} (warehouse {self.warehouse}{role})"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``snowflake.connector.connect`` (key-pair / JWT auth)."""
        if self.is_embedded:
            raise ConfigError("the embedded warehouse has no Snowflake connection arguments")
        kwargs: dict[str, Any] = {
            "account": self.account,
            "user": self.user,
            "authenticator": "SNOWFLAKE_JWT",
            "private_key": self.private_key,
            "warehouse": self.warehouse,
            "database": self.database,
            "schema": self.schema,
            "application": "fraud_mlops",
            "session_parameters": {"QUERY_TAG": "fraud-mlops"},
            "autocommit": True,
        }
        if self.role:
            kwargs["role"] = self.role
        return kwargs


def _embedded_path() -> str:
    from fraud_mlops.settings import Settings

    home = Settings.from_env(environ()).home
    if "://" in home:
        raise ValueError(
            f"FRAUD_MLOPS_HOME={home!r} is remote, but the embedded warehouse needs a local "
            "folder: point FRAUD_MLOPS_HOME at a local path or configure SNOWFLAKE_ACCOUNT."
        )
    return str(Path(home) / "warehouse")


def load_private_key(
    *, path: str = "", pem: str = "", passphrase: str = "", password_set: bool = False
) -> bytes:
    """Load an RSA private key (PEM) and return it as unencrypted PKCS#8 DER for the connector.

    Args:
        path: a PEM file (``SNOWFLAKE_PRIVATE_KEY_PATH``).
        pem: the PEM text (``SNOWFLAKE_PRIVATE_KEY``); literal ``\\n`` sequences, as CI secret
            stores often produce, are turned back into newlines.
        passphrase: the key's passphrase, if it is encrypted.
        password_set: ``SNOWFLAKE_PASSWORD`` is set; mentioned in the error when no key is.

    Raises:
        ConfigError: no key, both sources, unreadable file, garbage, encrypted without (or with a
            wrong) passphrase, not RSA, or shorter than 2048 bits. The key itself is never quoted.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if path and pem.strip():
        raise ConfigError(
            "both SNOWFLAKE_PRIVATE_KEY_PATH and SNOWFLAKE_PRIVATE_KEY are set: keep only one."
        )
    if not path and not pem.strip():
        hint = (
            " SNOWFLAKE_PASSWORD is set, but TYPE=SERVICE users cannot sign in with passwords."
            if password_set
            else ""
        )
        raise ConfigError(
            "no private key: set SNOWFLAKE_PRIVATE_KEY_PATH to a PEM file, or "
            f"SNOWFLAKE_PRIVATE_KEY to its text, for key-pair authentication.{hint} "
            "See docs/warehouse.md."
        )
    source = f"SNOWFLAKE_PRIVATE_KEY_PATH={path!r}" if path else "SNOWFLAKE_PRIVATE_KEY"
    if path:
        try:
            data = Path(path).expanduser().read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{source}: cannot read the key file ({exc.strerror or exc}). Check the path "
                "and that this user may read it."
            ) from None
    else:
        data = pem.strip().replace("\\n", "\n").encode()
    password = passphrase.encode() if passphrase else None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        # cryptography raises TypeError exactly for a passphrase mismatch in either direction
        if password is None:
            raise ConfigError(
                f"{source}: the private key is encrypted; set SNOWFLAKE_PRIVATE_KEY_PASSPHRASE."
            ) from None
        raise ConfigError(
            f"{source}: SNOWFLAKE_PRIVATE_KEY_PASSPHRASE is set but the key is not encrypted; "
            "unset the passphrase."
        ) from None
    except ValueError:
        if password is not None and b"ENCRYPTED" in data:
            raise ConfigError(
                f"{source}: could not decrypt the private key: SNOWFLAKE_PRIVATE_KEY_PASSPHRASE "
                "is wrong."
            ) from None
        raise ConfigError(
            f"{source}: not a PEM private key. Expected a PKCS#8 PEM block ('BEGIN PRIVATE KEY' "
            "or 'BEGIN ENCRYPTED PRIVATE KEY'), e.g. from "
            "`openssl genrsa 2048 | openssl pkcs8 -topk8`."
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(
            f"{source}: Snowflake key-pair authentication needs an RSA key, got "
            f"{type(key).__name__.lstrip('_')}."
        )
    if key.key_size < _MIN_RSA_BITS:
        raise ConfigError(
            f"{source}: the RSA key has {key.key_size} bits; Snowflake requires at least "
            f"{_MIN_RSA_BITS}."
        )
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
