"""Azurite, the Azure Storage emulator, on 127.0.0.1 for the tests (installed by `make azurite`).

Azurite speaks the real Blob REST API, so pyarrow's AzureFileSystem is exercised on the wire; it
has no hierarchical namespace, so it stands for a flat-namespace account. Each session declares
its own account with a fresh random key (AZURITE_ACCOUNTS), so no key is written down anywhere.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "fraudlake"
_LISTENING = re.compile(r"successfully listens on (http://127\.0\.0\.1:\d+)")


@dataclass(frozen=True)
class Azurite:
    endpoint: str  # http://127.0.0.1:<port>; the account name goes in the path
    account_key: str

    def abfss(self, container: str, path: str = "") -> str:
        """An ``abfss://`` URI that AZURE_STORAGE_ENDPOINT maps onto this emulator."""
        return f"abfss://{container}@{ACCOUNT}.dfs.core.windows.net/{path}".rstrip("/")

    def env(self) -> dict[str, str]:
        """The variables that point the lakehouse at this emulator with the account key."""
        return {
            "AZURE_STORAGE_ENDPOINT": self.endpoint,
            "AZURE_STORAGE_ACCOUNT_KEY": self.account_key,
        }


def missing_reason() -> str | None:
    """Why Azurite cannot run here, or None. Node.js absent is a skip; Azurite absent is a bug."""
    if shutil.which("node") is None:
        return "Node.js is not installed: the Azure (Azurite) tests need it (tested with v20)"
    if not AZURITE_BIN.exists():
        raise RuntimeError(
            f"Azurite is not installed at {AZURITE_BIN}: run `make azurite` "
            "(npm ci in tools/azurite; `make test` does it for you)."
        )
    return None


@contextmanager
def running_azurite(workspace: Path, timeout: float = 60.0) -> Iterator[Azurite]:
    """Start Azurite's blob service on an ephemeral port in ``workspace``; stop it on exit."""
    log = workspace / "azurite.log"
    command = [
        str(AZURITE_BIN),
        "--blobHost=127.0.0.1",
        "--blobPort=0",  # the OS picks a free port; Azurite prints the one it got
        f"--location={workspace / 'data'}",
        "--skipApiVersionCheck",  # pyarrow's bundled SDK may speak a newer API version
        "--loose",
        "--silent",
        "--disableTelemetry",  # no network beyond 127.0.0.1
    ]
    (workspace / "data").mkdir(parents=True, exist_ok=True)
    key = base64.b64encode(os.urandom(64)).decode()
    env = {**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{key}"}
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=workspace, env=env
        )
    try:
        endpoint = _wait_until_listening(process, log, timeout)
        yield Azurite(endpoint=endpoint, account_key=key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_listening(process: subprocess.Popen, log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with {process.returncode}:\n{log.read_text()}")
        if match := _LISTENING.search(log.read_text()):
            endpoint = match.group(1)
            if _answers(endpoint):
                return endpoint
        time.sleep(0.2)
    raise RuntimeError(f"Azurite did not answer within {timeout:.0f}s:\n{log.read_text()}")


def _answers(endpoint: str) -> bool:
    """Any HTTP answer (an unsigned request gets 403) means the service is up."""
    try:
        urllib.request.urlopen(f"{endpoint}/{ACCOUNT}?comp=list", timeout=2)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
