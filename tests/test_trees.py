"""The numpy tree ensemble scores and explains exactly as LightGBM does, and refuses bad exports.

LightGBM is the oracle: ``booster.predict(raw_score=True)`` for the margin and
``booster.predict(pred_contrib=True)`` for TreeSHAP, on models with categorical splits, depth >= 6,
NaN- and Zero-typed missing values, unseen codes and one-leaf trees.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pytest

from fraud_mlops.errors import ModelError
from fraud_mlops.gbdt import export_booster, model_matrix
from fraud_mlops.trees import ARRAY_SPECS, TREE_FAMILY, TreeEnsemble, expected_shapes

N_NUMERIC, CARDINALITIES = 4, [9, 5, 3]


@dataclass
class Data:
    numeric: np.ndarray
    categorical: np.ndarray
    y: np.ndarray


def _data(n: int, seed: int, *, nan_share: float = 0.0, zero_share: float = 0.0) -> Data:
    """Fraud from interactions of numerics and categories (many categorical splits)."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, N_NUMERIC))
    numeric[rng.random(n) < zero_share, 1] = 0.0
    numeric[rng.random(n) < nan_share, 0] = np.nan
    categorical = np.column_stack([rng.integers(1, c, n) for c in CARDINALITIES])
    x0 = np.nan_to_num(numeric[:, 0], nan=1.5)
    logit = (
        -2.5
        + 1.4 * x0
        - 1.8 * np.isin(categorical[:, 0], [2, 5, 7])
        + 1.2 * (categorical[:, 1] == 3) * (numeric[:, 2] > 0)
        + np.sin(3 * numeric[:, 3])
        + 0.8 * (numeric[:, 1] == 0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return Data(numeric, categorical.astype(np.int64), y)


def _train(data: Data, rounds: int = 40, **params) -> lgb.Booster:
    base = {
        "objective": "binary",
        "num_leaves": 48,
        "max_depth": 7,
        "min_data_in_leaf": 10,
        "min_data_per_group": 5,
        "max_cat_to_onehot": 2,
        "cat_smooth": 1.0,
        "learning_rate": 0.1,
        "deterministic": True,
        "num_threads": 1,
        "seed": 0,
        "verbosity": -1,
    }
    dataset = lgb.Dataset(
        model_matrix(data.numeric, data.categorical),
        label=data.y,
        categorical_feature=list(range(N_NUMERIC, N_NUMERIC + len(CARDINALITIES))),
        params={"verbosity": -1, **{k: v for k, v in params.items() if k == "zero_as_missing"}},
    )
    return lgb.train({**base, **params}, dataset, num_boost_round=rounds)


def _export(booster: lgb.Booster) -> TreeEnsemble:
    arch, arrays = export_booster(
        booster, n_numeric=N_NUMERIC, n_categorical=len(CARDINALITIES), num_iteration=-1
    )
    return TreeEnsemble.from_arrays(arch, arrays)


@pytest.fixture(scope="module")
def model():
    train = _data(4000, 0)
    booster = _train(train)
    return booster, _export(booster), train


def _unseen_codes(data: Data, seed: int) -> Data:
    """Code 0 (never in training here), codes past the vocabulary and negative codes."""
    rng = np.random.default_rng(seed)
    cat = data.categorical.copy()
    pick = rng.random(cat.shape) < 0.2
    cat[pick] = rng.choice([0, 11, 40, -3], size=int(pick.sum()))
    return Data(data.numeric, cat, data.y)


def test_export_has_categorical_splits_and_depth(model):
    _, ensemble, _ = model
    a = ensemble.arrays
    assert ensemble.architecture["n_cat_splits"] > 10
    assert ensemble.architecture["max_depth"] >= 6
    assert a["node_categorical"].sum() == ensemble.architecture["n_cat_splits"]
    assert expected_shapes(ensemble.architecture) == {k: v.shape for k, v in a.items()}
    assert TREE_FAMILY == "gbdt"


@pytest.mark.parametrize("split", ["train", "other", "unseen codes"])
def test_logit_matches_lightgbm_raw_score(model, split):
    booster, ensemble, train = model
    data = {"train": train, "other": _data(1500, 7)}.get(split) or _unseen_codes(_data(1500, 8), 9)
    expected = booster.predict(model_matrix(data.numeric, data.categorical), raw_score=True)
    got = ensemble.logit(data.numeric, data.categorical)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    # float32 inputs (what the preprocessor emits) score as their float64 values do.
    as32 = data.numeric.astype(np.float32)
    expected32 = booster.predict(model_matrix(as32, data.categorical), raw_score=True)
    np.testing.assert_allclose(ensemble.logit(as32, data.categorical), expected32, atol=1e-9)


@pytest.mark.parametrize("rows", [1, 7, 300])
def test_contributions_match_lightgbm_pred_contrib(model, rows):
    booster, ensemble, _ = model
    data = _unseen_codes(_data(rows, 11), 12)
    matrix = model_matrix(data.numeric, data.categorical)
    expected = booster.predict(matrix, pred_contrib=True)
    got = ensemble.contributions(data.numeric, data.categorical)
    assert got.shape == (rows, N_NUMERIC + len(CARDINALITIES) + 1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert np.abs(got - expected).max() < 1e-9  # in fact exact up to rounding
    np.testing.assert_allclose(got.sum(axis=1), booster.predict(matrix, raw_score=True), atol=1e-9)
    assert got[:, -1] == pytest.approx(ensemble.expected_value)


def test_many_rows_are_chunked_consistently(model):
    booster, ensemble, _ = model
    data = _data(3000, 13)
    got = ensemble.contributions(data.numeric, data.categorical)
    first = ensemble.contributions(data.numeric[:5], data.categorical[:5])
    np.testing.assert_array_equal(got[:5], first)
    expected = booster.predict(model_matrix(data.numeric, data.categorical), pred_contrib=True)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_nan_and_zero_missing_values_follow_lightgbm():
    for params, kwargs in (
        ({}, {"nan_share": 0.15}),
        ({"zero_as_missing": True}, {"zero_share": 0.3}),
    ):
        train = _data(3000, 21, **kwargs)
        booster = _train(train, rounds=25, **params)
        ensemble = _export(booster)
        types = set(ensemble.arrays["node_missing_type"].tolist())
        assert types - {0}, f"expected NaN/Zero-typed splits with {params or kwargs}"
        test = _data(400, 22, nan_share=0.2, zero_share=0.2)
        test.numeric[:5, 1] = [1e-36, -1e-35, 1e-35, -1e-36, 0.0]  # inside LightGBM's zero band
        matrix = model_matrix(test.numeric, test.categorical)
        np.testing.assert_allclose(
            ensemble.logit(test.numeric, test.categorical),
            booster.predict(matrix, raw_score=True),
            atol=1e-9,
        )
        np.testing.assert_allclose(
            ensemble.contributions(test.numeric, test.categorical),
            booster.predict(matrix, pred_contrib=True),
            atol=1e-6,
        )


def test_nan_in_a_model_trained_without_missing_values(model):
    booster, ensemble, _ = model
    data = _data(200, 31, nan_share=0.5)
    matrix = model_matrix(data.numeric, data.categorical)
    np.testing.assert_allclose(
        ensemble.logit(data.numeric, data.categorical),
        booster.predict(matrix, raw_score=True),
        atol=1e-9,
    )
    np.testing.assert_allclose(
        ensemble.contributions(data.numeric, data.categorical),
        booster.predict(matrix, pred_contrib=True),
        atol=1e-6,
    )


def test_one_leaf_trees_are_constants():
    train = _data(300, 41)
    booster = _train(train, rounds=3, min_data_in_leaf=1000)  # no split is possible
    ensemble = _export(booster)
    assert ensemble.architecture["n_nodes"] == 0
    data = _data(20, 42)
    matrix = model_matrix(data.numeric, data.categorical)
    np.testing.assert_allclose(
        ensemble.logit(data.numeric, data.categorical), booster.predict(matrix, raw_score=True)
    )
    np.testing.assert_allclose(
        ensemble.contributions(data.numeric, data.categorical),
        booster.predict(matrix, pred_contrib=True),
        atol=1e-12,
    )


def test_export_round_trips_through_npz_without_pickle(model, tmp_path):
    _, ensemble, _ = model
    path = tmp_path / "weights.npz"
    np.savez(path, **ensemble.arrays)
    (tmp_path / "architecture.json").write_text(json.dumps(ensemble.architecture))
    with np.load(path, allow_pickle=False) as loaded:
        again = TreeEnsemble.from_arrays(
            json.loads((tmp_path / "architecture.json").read_text()), dict(loaded)
        )
    data = _data(50, 51)
    np.testing.assert_array_equal(
        again.contributions(data.numeric, data.categorical),
        ensemble.contributions(data.numeric, data.categorical),
    )


def test_scoring_needs_no_lightgbm(model, tmp_path):
    """The scoring side loads and explains an export with lightgbm made unimportable."""
    booster, ensemble, _ = model
    np.savez(tmp_path / "w.npz", **ensemble.arrays)
    (tmp_path / "a.json").write_text(json.dumps(ensemble.architecture))
    data = _data(5, 61)
    np.save(tmp_path / "num.npy", data.numeric)
    np.save(tmp_path / "cat.npy", data.categorical)
    code = f"""
import sys, json, numpy as np
sys.modules["lightgbm"] = None  # any import of lightgbm now fails
from fraud_mlops.trees import TreeEnsemble
d = r"{tmp_path}"
with np.load(d + "/w.npz", allow_pickle=False) as w:
    e = TreeEnsemble.from_arrays(json.load(open(d + "/a.json")), dict(w))
c = e.contributions(np.load(d + "/num.npy"), np.load(d + "/cat.npy"))
print(json.dumps(c.sum(axis=1).tolist()))
print("lightgbm" in sys.modules and sys.modules["lightgbm"] is not None)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    sums, imported = out.stdout.splitlines()
    expected = booster.predict(model_matrix(data.numeric, data.categorical), raw_score=True)
    np.testing.assert_allclose(json.loads(sums), expected, atol=1e-9)
    assert imported == "False"


# -- malformed exports ---------------------------------------------------------------------------
def _copy(ensemble: TreeEnsemble) -> tuple[dict, dict]:
    return dict(ensemble.architecture), {k: v.copy() for k, v in ensemble.arrays.items()}


def _first_internal_child(a: dict) -> int:
    return int(np.flatnonzero(a["node_left"] >= 0)[0])


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda arch, a: arch.update(type="mlp_embeddings"), "not a tree ensemble"),
        (lambda arch, a: arch.pop("n_leaves"), "n_leaves"),
        (lambda arch, a: a.pop("leaf_count"), "missing \\['leaf_count'\\]"),
        (lambda arch, a: a.update(extra=np.zeros(1)), "unexpected \\['extra'\\]"),
        (lambda arch, a: a.update(leaf_value=a["leaf_value"][:-1]), "leaf_value"),
        (lambda arch, a: a.update(node_left=a["node_left"].astype(np.float64)), "dtype"),
        (lambda arch, a: a["node_feature"].__setitem__(0, 99), "split features outside"),
        (lambda arch, a: a["node_left"].__setitem__(0, 10**6), "child indices outside"),
        (lambda arch, a: a["leaf_count"].__setitem__(0, 0.0), "counts"),
        (lambda arch, a: a["leaf_value"].__setitem__(0, np.nan), "not finite"),
        (lambda arch, a: a["node_missing_type"].__setitem__(0, 7), "node_missing_type"),
        (lambda arch, a: arch.update(max_depth=2), "deeper than max_depth"),
        (lambda arch, a: arch.update(shap_table_entries=5), "different exports"),
        (
            lambda arch, a: a["node_left"].__setitem__(
                _first_internal_child(a), int(a["tree_root"][0])
            ),
            "exactly one tree",
        ),
    ],
)
def test_malformed_exports_are_refused(model, breakage, message):
    _, ensemble, _ = model
    arch, arrays = _copy(ensemble)
    breakage(arch, arrays)
    with pytest.raises(ModelError, match=message):
        TreeEnsemble.from_arrays(arch, arrays)


def test_a_cycle_is_refused(model):
    _, ensemble, _ = model
    arch, a = _copy(ensemble)
    # Node c (left child of p) is bypassed and made its own child: every node and leaf is still
    # referenced exactly once, but c is a cycle that no root reaches.
    parent = _first_internal_child(a)
    c = int(a["node_left"][parent])
    a["node_left"][parent] = a["node_left"][c]
    a["node_left"][c] = c
    with pytest.raises(ModelError, match="no root reaches"):
        TreeEnsemble.from_arrays(arch, a)


def test_categorical_split_on_a_numeric_column_is_refused(model):
    _, ensemble, _ = model
    arch, a = _copy(ensemble)
    node = int(np.flatnonzero(a["node_categorical"] == 1)[0])
    a["node_feature"][node] = 0
    with pytest.raises(ModelError, match="categorical split on a numeric column"):
        TreeEnsemble.from_arrays(arch, a)


def test_wrong_input_shapes_are_refused(model):
    _, ensemble, _ = model
    data = _data(3, 71)
    with pytest.raises(ModelError, match="numeric inputs have shape"):
        ensemble.logit(data.numeric[:, :2], data.categorical)
    with pytest.raises(ModelError, match="categorical inputs have shape"):
        ensemble.contributions(data.numeric, data.categorical[:2])


def test_array_specs_are_numeric_only():
    for name, (dtype, _) in ARRAY_SPECS.items():
        assert np.dtype(dtype).kind in "iuf", name
