"""Model artifact: export, verified load, no pickle, stable data fingerprints."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fraud_mlops.artifact import (
    MANIFEST,
    REFERENCE,
    WEIGHTS,
    build_architecture,
    export_artifact,
    fingerprint_columns,
    load_artifact,
    random_weights,
)
from fraud_mlops.drift import build_reference
from fraud_mlops.errors import ModelError
from fraud_mlops.preprocessing import fit_preprocessing
from fraud_mlops.schema import default_schema
from fraud_mlops.synthetic import generate_claims


@pytest.fixture(scope="module")
def parts():
    schema = default_schema()
    claims = generate_claims(2000, seed=3)
    pre = fit_preprocessing(claims, schema)
    arch = build_architecture(pre, hidden=(16, 8))
    return SimpleNamespace(schema=schema, claims=claims, pre=pre, arch=arch)


def _export(directory: Path, parts: SimpleNamespace, **overrides) -> Path:
    schema, claims, pre, arch = parts.schema, parts.claims, parts.pre, parts.arch
    kwargs = dict(
        model_name="claims-fraud",
        version="20260101T000000Z-run1",
        schema=schema,
        preprocessor=pre,
        architecture=arch,
        weights=random_weights(arch, seed=1),
        threshold=0.42,
        metrics={"test": {"pr_auc": 0.61, "roc_auc": 0.9}},
        data_fingerprint=fingerprint_columns(claims, schema.feature_names),
        code_version="abc1234",
        reference=build_reference(claims, schema),
        params={"lr": 0.001, "hidden": [16, 8]},
    )
    kwargs.update(overrides)
    return export_artifact(directory, **kwargs)


def test_export_then_load_round_trips(tmp_path, parts):
    path = _export(tmp_path / "model", parts)
    assert sorted(p.name for p in path.iterdir()) == [MANIFEST, REFERENCE, WEIGHTS]
    art = load_artifact(path)
    assert art.version == "20260101T000000Z-run1" and art.model_name == "claims-fraud"
    assert art.threshold == 0.42
    assert art.schema == parts.schema
    assert art.preprocessor == parts.pre
    assert art.architecture == parts.arch
    assert art.metrics["test"]["pr_auc"] == 0.61
    assert art.manifest["params"]["hidden"] == [16, 8]
    assert art.manifest["created_at"].endswith("Z")
    assert set(art.manifest["files"]) == {WEIGHTS, REFERENCE}
    expected = random_weights(parts.arch, seed=1)
    assert set(art.weights) == set(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(art.weights[name], value)
    assert art.reference is not None and set(art.reference.numeric) == set(
        parts.schema.numeric_names
    )


def test_modified_weights_are_refused_naming_the_file(tmp_path, parts):
    path = _export(tmp_path / "model", parts)
    data = bytearray((path / WEIGHTS).read_bytes())
    data[-100] ^= 0xFF
    (path / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"weights\.npz does not match its checksum"):
        load_artifact(path)


def test_missing_file_and_missing_manifest_are_refused(tmp_path, parts):
    path = _export(tmp_path / "model", parts)
    (path / REFERENCE).unlink()
    with pytest.raises(ModelError, match=r"reference\.npz is missing"):
        load_artifact(path)
    (path / MANIFEST).unlink()
    with pytest.raises(ModelError, match=r"manifest\.json is missing"):
        load_artifact(path)


def test_pickled_weights_are_never_loaded(tmp_path, parts):
    """An npz holding an object array (which needs pickle) is refused even with a valid checksum."""
    path = _export(tmp_path / "model", parts)
    evil = tmp_path / "evil.npz"
    np.savez(evil, **{"out.bias": np.array([object()], dtype=object)})
    (path / WEIGHTS).write_bytes(evil.read_bytes())
    manifest = json.loads((path / MANIFEST).read_text())
    from fraud_mlops.artifact import sha256_file

    manifest["files"][WEIGHTS] = sha256_file(path / WEIGHTS)
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"not a readable weights file.*allow_pickle"):
        load_artifact(path)
    with zipfile.ZipFile(path / WEIGHTS) as z:  # the file really was a pickle-bearing npz
        assert z.namelist() == ["out.bias.npy"]


def test_export_refuses_bad_inputs_and_leaves_nothing(tmp_path, parts):
    weights = random_weights(parts.arch)
    weights["out.weight"] = weights["out.weight"][:, :-1]
    with pytest.raises(ModelError, match=r"'out.weight' has shape"):
        _export(tmp_path / "a", parts, weights=weights)
    with pytest.raises(ModelError, match="threshold"):
        _export(tmp_path / "b", parts, threshold=1.5)
    with pytest.raises(ModelError, match="JSON-safe"):
        _export(tmp_path / "c", parts, metrics={"pr_auc": float("nan")})
    assert list(tmp_path.iterdir()) == []  # no partial artifact, no staging folder left behind
    _export(tmp_path / "d", parts)
    with pytest.raises(ModelError, match="not empty"):
        _export(tmp_path / "d", parts)


def test_wrong_architecture_for_the_preprocessor_is_refused(tmp_path, parts):
    wrong = {**parts.arch, "numeric_dim": parts.arch["numeric_dim"] + 1}
    with pytest.raises(ModelError, match="numeric_dim"):
        _export(tmp_path / "m", parts, architecture=wrong, weights=random_weights(wrong))


def test_fingerprint_is_stable_and_sensitive(parts):
    names = parts.schema.feature_names
    a = fingerprint_columns(parts.claims, names)
    assert a == fingerprint_columns(parts.claims.copy(), names)
    assert a == fingerprint_columns({n: parts.claims[n].to_numpy() for n in names}, names)
    changed = parts.claims.copy()
    changed.loc[5, "claim_amount"] += 0.01
    assert fingerprint_columns(changed, names) != a
    assert fingerprint_columns(parts.claims.iloc[::-1].reset_index(drop=True), names) != a
    assert len(a) == 64
