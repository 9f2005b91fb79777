"""`fraud-mlops models` and `fraud-mlops drift` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fraud_mlops.artifact import build_architecture, export_artifact, random_weights
from fraud_mlops.cli import main
from fraud_mlops.drift import build_reference
from fraud_mlops.preprocessing import fit_preprocessing
from fraud_mlops.schema import default_schema
from fraud_mlops.settings import Settings
from fraud_mlops.store import ModelStore
from fraud_mlops.synthetic import generate_claims


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Reference, same-period and drifted claims files, and an artifact trained on the first."""
    root = tmp_path_factory.mktemp("claims")
    schema = default_schema()
    train = generate_claims(3000, seed=1)
    out = {"train": root / "train.parquet", "same": root / "same.csv", "late": root / "late.csv"}
    train.to_parquet(out["train"])
    generate_claims(3000, seed=2).to_csv(out["same"], index=False)
    generate_claims(3000, seed=3, drift=1.0).to_csv(out["late"], index=False)
    pre = fit_preprocessing(train, schema)
    arch = build_architecture(pre, hidden=(8,))
    for version in ("v1", "v2"):
        out[version] = export_artifact(
            root / version,
            model_name="claims-fraud",
            version=version,
            schema=schema,
            preprocessor=pre,
            architecture=arch,
            weights=random_weights(arch),
            threshold=0.3,
            metrics={"mlp": {"test": {"pr_auc": 0.42}}},
            data_fingerprint="0" * 64,
            code_version="0.1.0+gabc",
            reference=build_reference(train, schema),
        )
    return out


def _rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines()[2:]]


def test_drift_between_claims_files_sorted_by_psi(files, capsys):
    assert main(["drift", "--reference", str(files["train"]), "--current", str(files["late"])]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert out.splitlines()[0].split() == ["feature", "kind", "psi", "ks", "verdict"]
    assert len(rows) == len(default_schema().feature_names)
    psis = [float(r[2]) for r in rows]
    assert psis == sorted(psis, reverse=True)
    assert rows[0][0] == "channel" and rows[0][-1] == "major"
    assert {r[0]: r[3] for r in rows}["region"] == "-"  # no KS for categoricals


def test_drift_against_an_artifact_and_the_champion(files, capsys):
    args = ["drift", "--reference", str(files["v1"]), "--current", str(files["same"]), "--json"]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["reference"] == "model claims-fraud/v1"
    assert all(f["verdict"] == "stable" for f in payload["features"])

    store = ModelStore(Settings.from_env().model_store_uri)
    store.publish(files["v1"], "claims-fraud", "v1")
    store.set_champion("claims-fraud", "v1", gate={"passed": True}, metrics={})
    args = [
        "drift",
        "--reference",
        "champion",
        "--current",
        str(files["late"]),
        "--fail-on",
        "major",
    ]
    assert main(args) == 1  # a CI gate can stop on major drift
    out = capsys.readouterr().out
    assert "drift at or above 'major': channel" in out


def test_models_lists_versions_with_the_champion_marked(files, capsys):
    assert main(["models"]) == 0
    assert "no versions of 'claims-fraud'" in capsys.readouterr().out
    store = ModelStore(Settings.from_env().model_store_uri)
    store.publish(files["v1"], "claims-fraud", "v1")
    store.publish(files["v2"], "claims-fraud", "v2")
    store.set_champion("claims-fraud", "v1", gate={}, metrics={})
    assert main(["models"]) == 0
    rows = _rows(capsys.readouterr().out.split("\n", 1)[1])
    assert rows[0][:2] == ["*", "v1"] and rows[1][0] == "v2"
    assert "0.4200" in rows[0] and "0.3000" in rows[0]
    assert main(["models", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["champion"]) for v in data["versions"]] == [
        ("v1", True),
        ("v2", False),
    ]


def test_drift_of_unlabelled_new_claims(files, capsys, tmp_path):
    """Production claims have no label yet: drift needs only the feature columns."""
    import pandas as pd

    unlabelled = tmp_path / "new.csv"
    frame = pd.read_csv(files["late"]).drop(columns=["is_fraud", "claim_id", "claim_date"])
    frame.to_csv(unlabelled, index=False)
    assert main(["drift", "--reference", str(files["train"]), "--current", str(unlabelled)]) == 0
    out, err = capsys.readouterr()
    assert "checking feature columns only" in err
    assert _rows(out)[0][:2] == ["channel", "categorical"]
    frame.assign(claim_amount="lots").drop(columns=["severity"]).to_csv(unlabelled, index=False)
    assert main(["drift", "--reference", str(files["train"]), "--current", str(unlabelled)]) == 2
    assert "'severity': missing" in capsys.readouterr().err
    frame.assign(claim_amount="lots").to_csv(unlabelled, index=False)
    assert main(["drift", "--reference", str(files["train"]), "--current", str(unlabelled)]) == 2
    assert "'claim_amount': expected a number (float)" in capsys.readouterr().err


def test_drift_without_schema_reads_claims_with_the_champions_schema(files, capsys, tmp_path):
    """A claims-file reference takes the schema of MODEL_NAME's champion, and says so."""
    from fraud_mlops.ingest import load_claims
    from fraud_mlops.schema import load_schema
    from fraud_mlops.synthetic import insurer_export, write_insurer_export

    paths = {}
    for name, drift in (("early", 0.0), ("late", 1.0)):
        paths[name] = tmp_path / f"{name}.csv"
        claims = generate_claims(2000, seed=5, drift=drift)
        write_insurer_export(insurer_export(claims, seed=5), str(paths[name]))
    argv = ["drift", "--reference", str(paths["early"]), "--current", str(paths["late"])]
    assert main(argv) == 2  # no champion: the synthetic schema cannot read an export
    err = capsys.readouterr().err
    assert "no --schema given: reading the claims with the bundled 'synthetic' schema" in err
    assert "pass --schema for your data" in err

    schema = load_schema("insurer_export")
    train = load_claims(str(paths["early"]), schema)
    pre = fit_preprocessing(train, schema)
    arch = build_architecture(pre, hidden=(8,))
    artifact = export_artifact(
        tmp_path / "export-v1",
        model_name="export-fraud",
        version="v1",
        schema=schema,
        preprocessor=pre,
        architecture=arch,
        weights=random_weights(arch),
        threshold=0.3,
        metrics={},
        data_fingerprint="0" * 64,
        code_version="test",
        reference=build_reference(train, schema),
    )
    store = ModelStore(Settings.from_env().model_store_uri)
    store.publish(artifact, "export-fraud", "v1")
    store.set_champion("export-fraud", "v1", gate={"passed": True}, metrics={})
    assert main([*argv, "--model-name", "export-fraud"]) == 0
    out, err = capsys.readouterr()
    assert "the schema in the manifest of champion export-fraud/v1" in err
    features = [r[0] for r in _rows(out)]
    assert sorted(features) == sorted(schema.feature_names)  # policy_tenure_days included
    assert main(["drift", "--reference", "champion", "--model-name", "export-fraud",
                 "--current", str(paths["late"])]) == 0  # fmt: skip


def test_user_mistakes_exit_2_without_a_traceback(files, capsys, tmp_path):
    cases = [
        (["drift", "--reference", "champion", "--current", str(files["same"])], "no champion"),
        (["drift", "--reference", "nope.json", "--current", str(files["same"])], "neither"),
        (["drift", "--reference", str(files["train"]), "--current", "missing.csv"], "not exist"),
        (["drift", "--reference", str(tmp_path), "--current", str(files["same"])], "manifest"),
        (["models", "--model-name", "../x"], "not valid"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
