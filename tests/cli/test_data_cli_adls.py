"""``fraud-mlops ingest`` / ``generate`` with abfss:// input, output and lakehouse, on Azurite."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_mlops.cli import main
from fraud_mlops.lakehouse import RAW_CLAIMS, Lakehouse
from fraud_mlops.synthetic import generate_claims
from tests.support.azurite import ACCOUNT


@pytest.fixture
def adls_lake(adls_root: str, monkeypatch: pytest.MonkeyPatch) -> Lakehouse:
    monkeypatch.setenv("LAKEHOUSE_URI", f"{adls_root}/lakehouse")
    return Lakehouse(f"{adls_root}/lakehouse")


def _upload(azurite, root: str, name: str, data: bytes) -> str:
    """Put a file on the emulator with the Blob SDK (not pyarrow), as another system would."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient(
        f"{azurite.endpoint}/{ACCOUNT}",
        credential={"account_name": ACCOUNT, "account_key": azurite.account_key},
    )
    container = root.removeprefix("abfss://").partition("@")[0]
    service.get_container_client(container).upload_blob(name, data)
    return f"{root}/{name}"


def test_ingest_reads_an_abfss_csv_into_the_abfss_lakehouse(
    adls_root, adls_lake, azurite, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = generate_claims(1500, seed=5)
    uri = _upload(azurite, adls_root, "incoming/claims.csv", claims.to_csv(index=False).encode())
    code = main(["ingest", "--input", uri, "--schema", "synthetic", "--run-id", "i1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "ingested 1,500 claims" in out
    assert f"{adls_lake.uri}/raw/claims/run_id=i1/part-0.parquet" in out
    back = adls_lake.read(RAW_CLAIMS, "i1").to_pandas()
    assert back["claim_id"].tolist() == claims["claim_id"].tolist()
    assert back["claim_amount"].tolist() == pytest.approx(claims["claim_amount"].tolist())


def test_ingest_the_real_dataset_from_abfss(
    adls_root, adls_lake, azurite, fraud_oracle_path: Path, capsys
) -> None:
    uri = _upload(azurite, adls_root, "incoming/fraud_oracle.csv", fraud_oracle_path.read_bytes())
    code = main(["ingest", "--input", uri, "--schema", "fraud_oracle", "--run-id", "oracle"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ingested 15,420 claims, 923 labelled fraud (5.99%), 1994-" in out
    assert adls_lake.read(RAW_CLAIMS, "oracle").num_rows == 15420


def test_generate_to_an_abfss_csv_then_ingest_it(adls_root, adls_lake, capsys) -> None:
    out_uri = f"{adls_root}/exports/later.csv"
    assert main(["generate", "--rows", "3000", "--drift", "0.5", "--out", out_uri]) == 0
    assert main(["ingest", "--input", out_uri, "--schema", "synthetic", "--run-id", "g1"]) == 0
    assert "ingested 3,000 claims" in capsys.readouterr().out
    assert adls_lake.runs(RAW_CLAIMS) == ["g1"]


def test_a_missing_abfss_input_is_one_clear_line(adls_root, adls_lake, capsys) -> None:
    code = main(["ingest", "--input", f"{adls_root}/nope.csv", "--schema", "synthetic"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"input '{adls_root}/nope.csv' does not exist" in err
    assert "Traceback" not in err
    assert adls_lake.runs(RAW_CLAIMS) == []


def test_a_sas_token_is_never_printed_in_an_error(
    adls_root, adls_lake, azurite, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A SAS that may list but not read gets past the existence check; the read's error quotes
    the request URL, token and all: the signature must not reach the terminal."""
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    uri = _upload(azurite, adls_root, "incoming/claims.csv", b"claim_id\nc1\n")
    sas = generate_account_sas(
        ACCOUNT,
        azurite.account_key,
        resource_types=ResourceTypes(container=True, object=True),
        permission=AccountSasPermissions(list=True),
        expiry="2030-01-01",
    )
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY")
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", sas)
    assert main(["ingest", "--input", uri, "--schema", "synthetic"]) == 2
    err = capsys.readouterr().err
    assert "403" in err and "sig=<redacted>" in err
    assert sas.partition("sig=")[2].partition("&")[0] not in err
