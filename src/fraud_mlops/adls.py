"""ADLS Gen2 (``abfss://``) for the lakehouse: the filesystem, its credentials, atomic publishing.

URI: ``abfss://<container>@<account>.dfs.core.windows.net/<path>`` (any cloud's ``dfs.`` suffix).
Everything else comes from the environment, validated by
:class:`fraud_mlops.settings.AdlsSettings` (see docs/lakehouse.md):

- ``AZURE_STORAGE_ACCOUNT_KEY``: the account's shared key; or
- ``AZURE_STORAGE_SAS_TOKEN``: a SAS token (with or without the leading ``?``); or neither:
  pyarrow's ``DefaultAzureCredential`` (environment service principal, workload identity,
  managed identity, Azure CLI);
- ``AZURE_STORAGE_ENDPOINT``: ``http://host:port`` of an emulator such as Azurite (the account
  name then goes in the URL path);
- ``LAKEHOUSE_ADLS_NAMESPACE``: ``hierarchical``, ``flat`` or ``auto`` (default, detected).

Publishing: on a hierarchical namespace (real ADLS Gen2) a staged file is renamed into place, one
atomic Rename Path call. pyarrow refuses ``move`` on a flat namespace (Azurite, plain Blob
accounts), and writing straight to the final name is not atomic there either: opening an output
stream replaces the blob with an empty one at once, and a failed write commits what it had. So on
a flat namespace the staged blob is copied server-side onto the final name (Copy Blob replaces
the destination whole) and then deleted.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from fraud_mlops.errors import LakehouseError
from fraud_mlops.settings import ADLS_NAMESPACES, AdlsSettings

NAMESPACE_VARIABLE = "LAKEHOUSE_ADLS_NAMESPACE"
ENDPOINT_VARIABLE = "AZURE_STORAGE_ENDPOINT"
KEY_VARIABLE = "AZURE_STORAGE_ACCOUNT_KEY"
SAS_VARIABLE = "AZURE_STORAGE_SAS_TOKEN"
NAMESPACES = ADLS_NAMESPACES
PUBLIC_SUFFIX = "dfs.core.windows.net"

_SAS_SIGNATURE = re.compile(r"(sig=)[^&\s'\"]+", re.IGNORECASE)
_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def redact(text: str) -> str:
    """Hide SAS signatures: pyarrow's Azure errors quote request URLs, SAS token included."""
    return _SAS_SIGNATURE.sub(r"\1<redacted>", text)


def namespace_setting(env: Mapping[str, str] | None = None) -> str:
    """``LAKEHOUSE_ADLS_NAMESPACE``: ``hierarchical``, ``flat`` or ``auto`` (unset).

    Raises:
        ConfigError: the value is none of those (from :class:`AdlsSettings`).
    """
    return AdlsSettings.from_env(env).namespace


def azure_filesystem(
    uri: str, env: Mapping[str, str] | None = None
) -> tuple[pafs.AzureFileSystem, str]:
    """The pyarrow filesystem for an ``abfss://`` URI and the ``container/path`` in it.

    Raises:
        LakehouseError: not an ADLS Gen2 URI, or pyarrow refuses the account.
        ConfigError: the ADLS variables are invalid (:class:`AdlsSettings`), naming each.
    """
    parsed = urlparse(uri)
    container, _, host = parsed.netloc.partition("@")
    account, _, suffix = host.partition(".")
    if not container or not account or not suffix.startswith("dfs."):
        raise LakehouseError(
            f"{uri!r} is not an ADLS Gen2 URI: use "
            "abfss://<container>@<account>.dfs.core.windows.net/<path>"
        )
    if not _CONTAINER.match(container):  # Azure's own answer would be a bare OutOfRangeInput
        raise LakehouseError(
            f"{uri!r}: container name {container!r} is not valid in Azure storage: use 3 to 63 "
            "lowercase letters, digits and single hyphens, starting and ending with a letter "
            "or digit."
        )
    settings = AdlsSettings.from_env(env)
    kwargs = {"account_name": account, **_credentials(settings), **_endpoints(suffix, settings)}
    try:
        fs = pafs.AzureFileSystem(**kwargs)
    except (pa.ArrowException, ValueError) as exc:
        raise LakehouseError(f"cannot open {uri!r}: {redact(str(exc))}") from None
    return fs, f"{container}{parsed.path}".rstrip("/")


def _credentials(settings: AdlsSettings) -> dict[str, str]:
    # AdlsSettings refuses both at once
    if settings.account_key is not None:
        return {"account_key": settings.account_key.get_secret_value()}
    if settings.sas_token is not None:
        # pyarrow appends the token to the account URL as it is: it must start with '?'
        return {"sas_token": "?" + settings.sas_token.get_secret_value().removeprefix("?")}
    return {}  # pyarrow then uses DefaultAzureCredential


def _endpoints(suffix: str, settings: AdlsSettings) -> dict[str, str]:
    if endpoint := settings.endpoint:  # AdlsSettings checked it is scheme://host:port
        parsed = urlparse(endpoint)
        return {
            "blob_storage_authority": parsed.netloc,
            "dfs_storage_authority": parsed.netloc,
            "blob_storage_scheme": parsed.scheme,
            "dfs_storage_scheme": parsed.scheme,
        }
    if suffix == PUBLIC_SUFFIX:
        return {}
    # Sovereign clouds: a leading '.' makes pyarrow build <account>.<suffix> host names.
    return {
        "dfs_storage_authority": f".{suffix}",
        "blob_storage_authority": "." + suffix.replace("dfs.", "blob.", 1),
    }


def publish(fs: pafs.AzureFileSystem, staging: str, final: str) -> None:
    """Put the finished ``staging`` file at ``final`` whole, then drop ``staging``.

    Raises:
        LakehouseError: ``LAKEHOUSE_ADLS_NAMESPACE=hierarchical`` on a flat-namespace account.
    """
    namespace = namespace_setting()
    if namespace != "flat":
        try:
            fs.move(staging, final)  # hierarchical namespace: one atomic Rename Path
            return
        except pa.ArrowNotImplementedError:
            # pyarrow checks the account and implements move only with a hierarchical namespace.
            if namespace == "hierarchical":
                raise LakehouseError(
                    f"{NAMESPACE_VARIABLE}=hierarchical, but the storage account has a flat "
                    f"namespace (no hierarchical namespace): set {NAMESPACE_VARIABLE}=flat, or "
                    "unset it to detect the namespace."
                ) from None
    fs.copy_file(staging, final)  # Copy Blob within the account: the destination switches whole
    with contextlib.suppress(OSError, pa.ArrowException):
        fs.delete_file(staging)  # a leftover is harmless: readers skip '_' names
