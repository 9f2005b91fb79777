"""ADLS Gen2 specifics against Azurite: namespace, credentials, endpoints and what lands in storage.

Azurite has a flat namespace; the hierarchical-namespace rename needs a real ADLS Gen2 account.
The Blob SDK (azure-storage-blob) is a second, independent client: it mints real SAS tokens and
reads back what pyarrow wrote.
"""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from fraud_mlops import adls
from fraud_mlops.errors import ConfigError, LakehouseError, ModelError
from fraud_mlops.lakehouse import METRICS, Lakehouse, resolve_filesystem
from fraud_mlops.outcome_reader import open_store
from fraud_mlops.outcome_store import record_outcomes
from fraud_mlops.outcomes import validate_outcomes
from fraud_mlops.store import ModelStore
from tests.support.azurite import ACCOUNT


def _table(n: int, value: float = 1.0) -> pa.Table:
    return pa.table({"metric": [f"m{i}" for i in range(n)], "value": [value] * n})


def _blob_service(azurite):
    from azure.storage.blob import BlobServiceClient

    url = f"{azurite.endpoint}/{ACCOUNT}"
    return BlobServiceClient(
        url, credential={"account_name": ACCOUNT, "account_key": azurite.account_key}
    )


def _container(root: str) -> str:
    return root.removeprefix("abfss://").partition("@")[0]


def _account_sas(azurite) -> str:
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    return generate_account_sas(
        ACCOUNT,
        azurite.account_key,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True
        ),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )


def test_the_bytes_land_in_blob_storage_under_the_partition_name(adls_root, azurite) -> None:
    lake = Lakehouse(f"{adls_root}/lakehouse")
    lake.write(METRICS, "a", _table(3, 1.0))
    lake.write(METRICS, "a", _table(2, 4.0))  # a re-run: replaced, not added
    container = _blob_service(azurite).get_container_client(_container(adls_root))
    blobs = {b.name: b.size for b in container.list_blobs(name_starts_with="lakehouse/metrics/")}
    files = sorted(name for name, size in blobs.items() if not name.endswith("/") and size)
    assert files == ["lakehouse/metrics/run_id=a/part-0.parquet"]
    data = container.download_blob("lakehouse/metrics/run_id=a/part-0.parquet").readall()
    assert pq.read_table(io.BytesIO(data)).equals(_table(2, 4.0))


@pytest.mark.parametrize("namespace", ["", "auto", "flat", "FLAT"])
def test_a_flat_namespace_is_detected_or_declared_and_written_whole(
    adls_root, monkeypatch: pytest.MonkeyPatch, namespace: str
) -> None:
    monkeypatch.setenv(adls.NAMESPACE_VARIABLE, namespace)
    lake = Lakehouse(f"{adls_root}/lakehouse")
    lake.write(METRICS, "a", _table(3, 1.0))
    lake.write(METRICS, "a", _table(4, 2.0))
    assert lake.read(METRICS, "a").column("value").to_pylist() == [2.0] * 4


def test_declaring_a_hierarchical_namespace_on_a_flat_account_fails_cleanly(
    adls_root, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename is tried (as on ADLS Gen2), refused by the account, and nothing is half-done."""
    lake = Lakehouse(f"{adls_root}/lakehouse")
    lake.write(METRICS, "a", _table(3, 1.0))
    monkeypatch.setenv(adls.NAMESPACE_VARIABLE, "hierarchical")
    with pytest.raises(
        LakehouseError, match=r"has a flat namespace.*LAKEHOUSE_ADLS_NAMESPACE=flat"
    ):
        lake.write(METRICS, "a", _table(9, 9.0))
    assert lake.read(METRICS, "a").column("value").to_pylist() == [1.0] * 3
    infos = lake.fs.get_file_info(pafs.FileSelector(f"{lake.root}/{METRICS}", recursive=True))
    assert [i.base_name for i in infos if i.type == pafs.FileType.File] == ["part-0.parquet"]


def test_an_unknown_namespace_names_the_variable_and_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(adls.NAMESPACE_VARIABLE, "hns")
    with pytest.raises(ConfigError, match=r"LAKEHOUSE_ADLS_NAMESPACE='hns'.*hierarchical.*flat"):
        adls.namespace_setting()


@pytest.mark.parametrize("leading", ["?", ""])
def test_a_sas_token_works_with_or_without_its_question_mark(
    adls_root, azurite, monkeypatch: pytest.MonkeyPatch, leading: str
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY")
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", leading + _account_sas(azurite))
    lake = Lakehouse(f"{adls_root}/lakehouse")
    lake.write(METRICS, "sas", _table(2))
    assert lake.runs(METRICS) == ["sas"]
    assert lake.read(METRICS, "sas").num_rows == 2


def test_a_rejected_sas_token_is_not_repeated_in_the_error(
    adls_root, azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow quotes request URLs, SAS included, in its errors: the signature is redacted."""
    sas = _account_sas(azurite)
    forged = sas.replace("sig=", "sig=AAAA")
    signature = forged.partition("sig=")[2].partition("&")[0]
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY")
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", forged)
    lake = Lakehouse(f"{adls_root}/lakehouse")
    for attempt in (lambda: lake.write(METRICS, "a", _table(1)), lambda: lake.runs(METRICS)):
        with pytest.raises(LakehouseError, match="403") as caught:
            attempt()
        assert signature not in str(caught.value)
    assert "sig=<redacted>" in str(caught.value)  # the listing error quotes the URL
    # the outcome writer's store lists the day's names, then writes: both errors redacted
    outcomes = validate_outcomes(
        [{"claim_id": "C1", "outcome": "fraud", "decided_at": "2026-11-30T09:00:00Z"}],
        "test-salt-0123456789",
    )
    root = f"{adls_root}/lakehouse"
    with pytest.raises(LakehouseError, match="403") as caught:
        record_outcomes(root, outcomes, store=open_store(root))
    assert signature not in str(caught.value)
    assert "sig=<redacted>" in str(caught.value)
    with pytest.raises(ModelError, match="403") as caught:  # and the model store's
        ModelStore(f"{adls_root}/models").models()
    assert signature not in str(caught.value)


def test_an_account_key_and_a_sas_token_together_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", "a2V5")
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2025-01-05&sig=x")
    with pytest.raises(ConfigError, match="set one of them, or neither"):
        resolve_filesystem("abfss://lake@fraudlake.dfs.core.windows.net/x")


def test_without_key_or_sas_the_default_credential_chain_is_used() -> None:
    fs, path = resolve_filesystem("abfss://lake@fraudlake.dfs.core.windows.net/x")
    options = fs.__reduce__()[1][0]
    assert not options.get("account_key") and not options.get("sas_token")
    assert not options.get("client_id")  # pyarrow's DefaultAzureCredential, nothing pinned
    assert path == "lake/x"


def test_abfss_filesystem_is_built_from_the_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", "c2VjcmV0")
    fs, path = resolve_filesystem("abfss://claims@fraudlake.dfs.core.windows.net/lakehouse/")
    assert isinstance(fs, pafs.AzureFileSystem)
    assert path == "claims/lakehouse"
    options = fs.__reduce__()[1][0]
    assert options["account_name"] == "fraudlake"
    assert options["account_key"] == "c2VjcmV0"
    assert options["dfs_storage_scheme"] == "https"
    assert options["dfs_storage_authority"] == ".dfs.core.windows.net"


def test_a_sovereign_cloud_suffix_gives_account_host_names() -> None:
    fs, _ = resolve_filesystem("abfss://claims@fraudlake.dfs.core.chinacloudapi.cn/lakehouse")
    options = fs.__reduce__()[1][0]
    # A leading '.' makes pyarrow build https://fraudlake.dfs.core.chinacloudapi.cn/.
    assert options["dfs_storage_authority"] == ".dfs.core.chinacloudapi.cn"
    assert options["blob_storage_authority"] == ".blob.core.chinacloudapi.cn"


def test_an_emulator_endpoint_maps_the_uri_onto_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(adls.ENDPOINT_VARIABLE, "http://127.0.0.1:10000")
    fs, _ = resolve_filesystem("abfss://claims@fraudlake.dfs.core.windows.net/lakehouse")
    options = fs.__reduce__()[1][0]
    assert (
        options["blob_storage_authority"] == options["dfs_storage_authority"] == "127.0.0.1:10000"
    )
    assert options["blob_storage_scheme"] == options["dfs_storage_scheme"] == "http"


@pytest.mark.parametrize("endpoint", ["127.0.0.1:10000", "ftp://host:1", "http://h:1/acct"])
def test_a_malformed_endpoint_says_what_it_should_look_like(
    monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    monkeypatch.setenv(adls.ENDPOINT_VARIABLE, endpoint)
    with pytest.raises(ConfigError, match=r"AZURE_STORAGE_ENDPOINT=.*http://127\.0\.0\.1:10000"):
        resolve_filesystem("abfss://claims@fraudlake.dfs.core.windows.net/lakehouse")


@pytest.mark.parametrize(
    "uri", ["abfss://fraudlake.dfs.core.windows.net/x", "abfss://c@acct.blob.core.windows.net/x"]
)
def test_malformed_abfss_uris_are_refused(uri: str) -> None:
    with pytest.raises(LakehouseError, match="ADLS Gen2"):
        resolve_filesystem(uri)


@pytest.mark.parametrize("container", ["ab", "Claims", "my--lake", "-lake", "x" * 64])
def test_an_invalid_container_name_is_explained_before_any_request(container: str) -> None:
    with pytest.raises(LakehouseError, match=f"container name '{container}' is not valid"):
        resolve_filesystem(f"abfss://{container}@fraudlake.dfs.core.windows.net/lakehouse")


def test_redact_hides_only_the_signature() -> None:
    url = "http://h/acct/c?se=2026-01-01&sig=abc%2Bdef%3D&sp=rl"
    assert adls.redact(url) == "http://h/acct/c?se=2026-01-01&sig=<redacted>&sp=rl"
