"""Which warehouse to use, validated from the ``SNOWFLAKE_*`` environment variables.

With no ``SNOWFLAKE_ACCOUNT`` the embedded store is used: fakesnow on DuckDB files under
``$FRAUD_MLOPS_HOME/warehouse``, the same SQL as Snowflake. With an account, the connection uses
key-pair (JWT) authentication, because Snowflake no longer lets ``TYPE=SERVICE`` users sign in
with a password.

| variable | required | meaning |
|---|---|---|
| ``SNOWFLAKE_ACCOUNT`` | for Snowflake | account identifier, e.g. ``myorg-myaccount`` |
| ``SNOWFLAKE_USER`` | yes | the service user |
| ``SNOWFLAKE_PRIVATE_KEY_PATH`` | one of the two | PEM file with the user's private key |
| ``SNOWFLAKE_PRIVATE_KEY`` | one of the two | the PEM text itself (a secret variable in CI) |
| ``SNOWFLAKE_PRIVATE_KEY_PASSPHRASE`` | if the key is encrypted | its passphrase |
| ``SNOWFLAKE_WAREHOUSE`` | yes | virtual warehouse that runs the sync |
| ``SNOWFLAKE_DATABASE`` | yes (embedded: ``FRAUD_LOCAL``) | database holding the tables |
| ``SNOWFLAKE_SCHEMA`` | no (``FRAUD_MLOPS``) | schema holding the tables |
| ``SNOWFLAKE_ROLE`` | no | role to assume (default: the user's default role) |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraud_mlops.errors import ConfigError
from fraud_mlops.warehouse.specs import SCHEMA_NAME_DEFAULT

# Not FRAUD_MLOPS: DuckDB cannot bind views when a database and its schema share a name.
EMBEDDED_DATABASE_DEFAULT = "FRAUD_LOCAL"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
# org-account (preferred) or a legacy locator with optional region/cloud: xy12345.eu-west-1.aws
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
_KEY_VARS = ("SNOWFLAKE_PRIVATE_KEY_PATH", "SNOWFLAKE_PRIVATE_KEY")
_MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the metrics warehouse is. Build it with :meth:`from_env`.

    ``kind`` is ``"snowflake"`` or ``"embedded"``. ``private_key`` (DER, PKCS#8, unencrypted in
    memory only) is excluded from ``repr`` so it never reaches a log or a traceback.
    """

    kind: str
    database: str
    schema: str
    account: str = ""
    user: str = ""
    warehouse: str = ""
    role: str = ""
    embedded_path: str = ""
    private_key: bytes = field(default=b"", repr=False)

    @property
    def is_embedded(self) -> bool:
        return self.kind == "embedded"

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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WarehouseSettings:
        """Validate the ``SNOWFLAKE_*`` variables; every problem is a :class:`ConfigError`."""
        env = dict(os.environ if env is None else env)
        get = lambda name: (env.get(name) or "").strip()  # noqa: E731 - a local shorthand
        schema = _identifier(get("SNOWFLAKE_SCHEMA") or SCHEMA_NAME_DEFAULT, "SNOWFLAKE_SCHEMA")
        account = get("SNOWFLAKE_ACCOUNT")
        if not account:
            stray = [v for v in ("SNOWFLAKE_USER", *_KEY_VARS) if get(v)]
            if stray:
                raise ConfigError(
                    f"{', '.join(stray)} set but SNOWFLAKE_ACCOUNT is not: set SNOWFLAKE_ACCOUNT "
                    "(e.g. myorg-myaccount) to use Snowflake, or unset them to use the embedded "
                    "warehouse."
                )
            database = _identifier(
                get("SNOWFLAKE_DATABASE") or EMBEDDED_DATABASE_DEFAULT, "SNOWFLAKE_DATABASE"
            )
            if database == schema:
                raise ConfigError(
                    f"SNOWFLAKE_DATABASE and SNOWFLAKE_SCHEMA are both {database!r}: the embedded "
                    "warehouse (DuckDB) cannot resolve views then; give them different names."
                )
            return cls(
                kind="embedded",
                database=database,
                schema=schema,
                embedded_path=_embedded_path(env),
            )
        return cls(
            kind="snowflake",
            account=_account(account),
            user=_required(get, "SNOWFLAKE_USER", "the TYPE=SERVICE user, e.g. FRAUD_MLOPS_SYNC"),
            private_key=load_private_key(
                path=get("SNOWFLAKE_PRIVATE_KEY_PATH"),
                pem=env.get("SNOWFLAKE_PRIVATE_KEY") or "",
                passphrase=env.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE") or "",
                password_set=bool(get("SNOWFLAKE_PASSWORD")),
            ),
            warehouse=_identifier(
                _required(get, "SNOWFLAKE_WAREHOUSE", "the virtual warehouse, e.g. FRAUD_MLOPS_WH"),
                "SNOWFLAKE_WAREHOUSE",
            ),
            database=_identifier(
                _required(get, "SNOWFLAKE_DATABASE", "the database, e.g. FRAUD_MLOPS"),
                "SNOWFLAKE_DATABASE",
            ),
            schema=schema,
            role=_identifier(get("SNOWFLAKE_ROLE"), "SNOWFLAKE_ROLE")
            if get("SNOWFLAKE_ROLE")
            else "",
        )


def _required(get: Any, name: str, example: str) -> str:
    value = get(name)
    if not value:
        raise ConfigError(f"{name} is not set: SNOWFLAKE_ACCOUNT is, so set {name} to {example}.")
    return value


def _identifier(value: str, variable: str) -> str:
    """Names are interpolated into SQL, so only plain (unquoted) Snowflake identifiers pass."""
    if not _IDENTIFIER.match(value):
        raise ConfigError(
            f"{variable}={value!r} is not a plain Snowflake identifier: use letters, digits, '_' "
            "or '$', starting with a letter or '_'."
        )
    return value.upper()


def _account(value: str) -> str:
    if "snowflakecomputing.com" in value or "://" in value:
        raise ConfigError(
            f"SNOWFLAKE_ACCOUNT={value!r} looks like a URL: set only the account identifier, "
            "e.g. myorg-myaccount (the part before .snowflakecomputing.com)."
        )
    if not _ACCOUNT.match(value):
        raise ConfigError(
            f"SNOWFLAKE_ACCOUNT={value!r} is not an account identifier: use the form "
            "myorg-myaccount (or a legacy locator such as xy12345.eu-west-1)."
        )
    return value


def _embedded_path(env: dict[str, str]) -> str:
    from fraud_mlops.settings import Settings

    home = Settings.from_env(env).home
    if "://" in home:
        raise ConfigError(
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
