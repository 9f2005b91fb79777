"""Shared fixtures: fixed seeds, an isolated FRAUD_MLOPS_HOME, a real moto server and Azurite.

The moto server speaks the real AWS wire protocol on 127.0.0.1, so boto3 and pyarrow's S3 client
are exercised end to end; only the far side (AWS) is replaced. Azurite does the same for Azure
Blob storage (tests/support/azurite.py).

Hypothesis profiles: ``ci`` (the default: ``make test``) keeps property tests and the API fuzz
short; ``fuzz`` (``HYPOTHESIS_PROFILE=fuzz``, i.e. ``make fuzz``) is the long run.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings as hypothesis_settings

# The API fuzz sizes its request counts from the loaded profile (tests/api/test_fuzz.py): "fuzz"
# sends every request its tests name, "ci" a tenth of them. Tests that set max_examples
# themselves keep it.
hypothesis_settings.register_profile("ci", max_examples=100)
hypothesis_settings.register_profile("fuzz", max_examples=1000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Fixtures shared across the tree (cli, pulumi stand-in, moto Step Functions, mock stack runs).
pytest_plugins = ["tests.support.fixtures", "tests.support.live_alias"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
FRAUD_ORACLE = SHARED_DATASETS / "fraud_oracle.csv"


@pytest.fixture(autouse=True)
def _fixed_seeds() -> None:
    random.seed(0)
    np.random.seed(0)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own embedded state, so no test sees another's lakehouse or models."""
    home = tmp_path / "home"
    monkeypatch.setenv("FRAUD_MLOPS_HOME", str(home))
    # Nothing from a developer's shell may point a test at a cloud: locations, the Snowflake
    # account (unset = the embedded warehouse) and the stack settings the flow reads at import.
    for var in (
        "LAKEHOUSE_URI",
        "MODEL_STORE_URI",
        "MODEL_NAME",
        "SNOWFLAKE_ACCOUNT",
        "FRAUD_MLOPS_SEARCH_QUEUE",
        "SNOWFLAKE_PRIVATE_KEY_SECRET_ARN",
        "AZURE_STORAGE_ENDPOINT",
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
        "LAKEHOUSE_ADLS_NAMESPACE",
    ):
        monkeypatch.delenv(var, raising=False)
    # One known user for Metaflow (it refuses to run without one), whoever runs the tests.
    monkeypatch.setenv("USERNAME", "tester")
    monkeypatch.setenv("METAFLOW_USER", "tester")
    return home


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 for the whole session; yields its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 and pyarrow at the moto server with dummy credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


@pytest.fixture
def s3_bucket(aws_env: str) -> str:
    """A fresh, empty bucket on the moto server; yields its name."""
    import uuid

    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=aws_env).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Azurite's blob service on 127.0.0.1 for the whole session (skipped only without Node)."""
    from tests.support.azurite import missing_reason, running_azurite

    if reason := missing_reason():
        pytest.skip(reason)
    with running_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture
def adls_root(azurite, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty container on Azurite, with the environment pointed at it: its abfss:// URI."""
    import uuid

    from fraud_mlops.lakehouse import resolve_filesystem

    for name, value in azurite.env().items():
        monkeypatch.setenv(name, value)
    root = azurite.abfss(f"test-{uuid.uuid4().hex[:12]}")
    fs, container = resolve_filesystem(root)
    fs.create_dir(container)
    return root


@pytest.fixture
def fraud_oracle_path() -> Path:
    if not FRAUD_ORACLE.is_file():
        pytest.skip(f"real dataset not found at {FRAUD_ORACLE} (it lives in ../shared/datasets)")
    return FRAUD_ORACLE
