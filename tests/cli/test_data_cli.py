from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fraud_mlops.cli import main
from fraud_mlops.lakehouse import RAW_CLAIMS, Lakehouse
from fraud_mlops.settings import Settings
from fraud_mlops.synthetic import generate_claims


def test_generate_writes_a_lakehouse_partition(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--rows", "1_000", "--seed", "3", "--run-id", "g1"]) == 0
    out, err = capsys.readouterr()
    assert "wrote 1,000 claims" in out and "run_id=g1/part-0.parquet" in out
    assert "generating 1,000 claims" in err  # progress goes to stderr
    lake = Lakehouse(Settings.from_env().lakehouse_uri)
    assert lake.read(RAW_CLAIMS, "g1").num_rows == 1000


def test_generate_to_a_csv_file_then_ingest_it(tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "later.csv"
    assert main(["generate", "--rows", "3000", "--drift", "0.5", "--out", str(out_file)]) == 0
    assert len(pd.read_csv(out_file)) == 3000
    assert (
        main(["ingest", "--input", str(out_file), "--schema", "synthetic", "--run-id", "i1"]) == 0
    )
    out, err = capsys.readouterr()
    assert "ingested 3,000 claims" in out
    assert "warning: the test split holds" in err  # few test frauds: trains, but says so


def test_ingest_fraud_oracle(fraud_oracle_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ingest", "--input", str(fraud_oracle_path), "--schema", "fraud_oracle"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ingested 15,420 claims, 923 labelled fraud (5.99%), 1994-" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--rows", "0"], "must be at least 1"),
        (["generate", "--rows", "ten"], "expected a whole number"),
        (["generate", "--rows", "5", "--drift", "2"], "between 0 and 1"),
        (["generate", "--rows", "5", "--out", "claims.xlsx"], "name a .parquet or .csv file"),
        (["generate", "--rows", "5", "--run-id", "../../etc"], "run id '../../etc' is not valid"),
        (["ingest", "--input", "x.csv", "--schema", "nope.yaml"], "schema file 'nope.yaml'"),
        (["generate", "--rows", "5", "--format", "export"], "--format export writes one local"),
        (
            ["ingest", "--input", "x.csv", "--schema", "synthetic", "--delimiter", ";;"],
            "--delimiter: ';;' is not a delimiter",
        ),
        (
            ["ingest", "--input", "x.csv", "--schema", "synthetic", "--decimal", ","],
            "--delimiter/--decimal: delimiter and decimal are both ','",
        ),
    ],
)
def test_user_mistakes_get_one_clear_line(argv, message, capsys, exit_code) -> None:
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_broken_input_writes_nothing(tmp_path: Path, capsys) -> None:
    frame = generate_claims(50, seed=1)
    frame.loc[0, "claim_amount"] = -3.0
    frame.loc[1, "claim_id"] = frame.loc[2, "claim_id"]
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path)
    assert main(["ingest", "--input", str(path), "--schema", "synthetic", "--run-id", "x"]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s) found, nothing was written" in err
    assert Lakehouse(Settings.from_env().lakehouse_uri).runs(RAW_CLAIMS) == []


def test_console_script_entry_point_and_help() -> None:
    exe = Path(sys.executable).with_name("fraud-mlops")
    help_text = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "generate" in help_text and "ingest" in help_text and "LAKEHOUSE_URI" in help_text
    run = subprocess.run([exe, "generate", "--rows", "-1"], capture_output=True, text=True)
    assert run.returncode == 2 and "must be at least 1" in run.stderr


@pytest.fixture
def export_file(tmp_path: Path, capsys) -> Path:
    path = tmp_path / "examples" / "insurer_export.csv"
    assert main(["generate", "--rows", "3000", "--format", "export", "--out", str(path)]) == 0
    out = capsys.readouterr().out
    assert "as an insurer export" in out and "--schema insurer_export" in out
    return path


def test_the_export_example_ingests_with_its_schema(export_file: Path, capsys) -> None:
    assert export_file.read_bytes().startswith(b"\xef\xbb\xbfclaim_ref;")  # BOM, semicolons
    argv = ["ingest", "--input", str(export_file), "--schema", "insurer_export", "--run-id", "e1"]
    assert main(argv) == 0, capsys.readouterr().err
    assert "ingested 3,000 claims" in capsys.readouterr().out
    table = Lakehouse(Settings.from_env().lakehouse_uri).read(RAW_CLAIMS, "e1").to_pandas()
    assert table["policy_tenure_days"].notna().all()
    assert table["police_report_available"].isna().any()  # '?' became missing


def test_dialect_flags_override_the_schema_and_mistakes_get_hints(export_file: Path, capsys):
    base = ["ingest", "--input", str(export_file), "--schema", "insurer_export"]
    assert main([*base, "--delimiter", "|"]) == 2
    err = capsys.readouterr().err
    assert "looks ';'-separated. Pass --delimiter ';'" in err and "Traceback" not in err
    assert main([*base, "--decimal", "."]) == 2
    err = capsys.readouterr().err
    assert "column 'total_claim_amount': expected a number (float); if ',' is the decimal" in err
    assert Lakehouse(Settings.from_env().lakehouse_uri).runs(RAW_CLAIMS) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(is_fraud=0), "label 'is_fraud' has one class only"),
        (lambda f: f.iloc[:300], "300 claims are fewer than the 500 needed to train"),
    ],
)
def test_data_that_cannot_train_is_refused_before_writing(tmp_path, capsys, change, message):
    path = tmp_path / "claims.parquet"
    change(generate_claims(3000, seed=2)).to_parquet(path)
    assert main(["ingest", "--input", str(path), "--schema", "synthetic", "--run-id", "r1"]) == 2
    err = capsys.readouterr().err
    assert message in err and "nothing was written" in err
    assert Lakehouse(Settings.from_env().lakehouse_uri).runs(RAW_CLAIMS) == []
