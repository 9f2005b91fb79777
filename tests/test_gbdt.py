"""LightGBM training learns, early-stops, is reproducible, exports exactly, and validates input."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from fraud_mlops.errors import ConfigError, FraudMlopsError
from fraud_mlops.gbdt import (
    GbdtConfig,
    export_booster,
    model_matrix,
    predict_logit,
    predict_proba,
    resolve_scale_pos_weight,
    train_booster,
    train_gbdt,
)
from fraud_mlops.trees import TreeEnsemble

CARDINALITIES = [6, 4]
FAST = {"n_estimators": 150, "early_stopping_rounds": 20, "num_leaves": 15, "max_depth": 5}


@dataclass
class Batch:
    numeric: np.ndarray
    categorical: np.ndarray


def _data(n: int, seed: int) -> tuple[Batch, np.ndarray]:
    """Fraud depends on a numeric feature and one 'bad' category (~10 % positives)."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 3)).astype(np.float32)
    categorical = np.column_stack([rng.integers(0, c, n) for c in CARDINALITIES]).astype(np.int64)
    logit = -3.2 + 1.5 * numeric[:, 0] + 2.2 * (categorical[:, 0] == 4)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return Batch(numeric, categorical), y


@pytest.fixture(scope="module")
def trained():
    train, y_train = _data(3000, 0)
    val, y_val = _data(1000, 1)
    result = train_gbdt(train, y_train, val, y_val, CARDINALITIES, GbdtConfig.from_params(FAST))
    return result, (train, y_train), (val, y_val)


def test_it_learns_and_early_stops(trained):
    result, _, (_, y_val) = trained
    assert result.val_pr_auc > 3 * y_val.mean()  # far above the fraud rate (chance)
    assert 1 <= result.best_iteration < result.iterations_run <= FAST["n_estimators"]
    assert result.architecture["n_trees"] == result.best_iteration  # exported at the best round
    test, y_test = _data(1000, 2)
    assert average_precision_score(y_test, predict_proba(result, test)) > 3 * y_test.mean()
    p = predict_proba(result, test)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-predict_logit(result, test))))


def test_summary_has_the_keys_of_the_neural_trials(trained):
    result, _, _ = trained
    summary = result.summary()
    assert set(summary) == {
        "params",
        "best_epoch",
        "val_pr_auc",
        "epochs_run",
        "rows_per_second",
        "seconds",
    }
    assert summary["best_epoch"] == result.best_iteration
    assert summary["rows_per_second"] > 0
    json.dumps(summary)  # JSON-safe
    json.dumps(result.architecture)
    assert result.architecture["shap_table_entries"] > 0


def test_same_seed_same_trees_and_seed_matters(trained):
    result, (train, y_train), (val, y_val) = trained
    again = train_gbdt(train, y_train, val, y_val, CARDINALITIES, GbdtConfig.from_params(FAST))
    assert again.architecture == {**result.architecture}
    for name, values in result.arrays.items():
        np.testing.assert_array_equal(again.arrays[name], values, err_msg=name)
    bagged = {**FAST, "bagging_fraction": 0.7, "feature_fraction": 0.7}
    other = [
        train_gbdt(
            train, y_train, val, y_val, CARDINALITIES, GbdtConfig.from_params(bagged, seed=s)
        ).arrays["leaf_value"]
        for s in (1, 2)
    ]
    assert not (len(other[0]) == len(other[1]) and np.array_equal(*other))


def test_result_pickles_without_its_derived_tables(trained):
    import pickle

    result, _, (val, _) = trained
    assert result.ensemble() is result.ensemble()  # built once
    again = pickle.loads(pickle.dumps(result))
    assert "_ensemble" not in again.__dict__
    np.testing.assert_array_equal(predict_logit(again, val), predict_logit(result, val))


def test_export_matches_the_booster(trained):
    _, (train, y_train), (val, y_val) = trained
    config = GbdtConfig.from_params(FAST)
    booster = train_booster(train, y_train, val, y_val, CARDINALITIES, config)
    arch, arrays = export_booster(booster, n_numeric=3, n_categorical=2)
    ensemble = TreeEnsemble.from_arrays(arch, arrays)
    matrix = model_matrix(val.numeric, val.categorical)
    expected = booster.predict(matrix, raw_score=True, num_iteration=booster.best_iteration)
    np.testing.assert_allclose(ensemble.logit(val.numeric, val.categorical), expected, atol=1e-9)
    contrib = booster.predict(matrix, pred_contrib=True, num_iteration=booster.best_iteration)
    np.testing.assert_allclose(
        ensemble.contributions(val.numeric, val.categorical), contrib, atol=1e-6
    )
    assert ensemble.arrays["node_categorical"].any()  # the bad category is split natively


def test_scale_pos_weight():
    y = np.array([1] * 10 + [0] * 90)
    assert resolve_scale_pos_weight("balanced", y) == pytest.approx(9.0)
    assert resolve_scale_pos_weight("sqrt", y) == pytest.approx(3.0)
    assert resolve_scale_pos_weight(2.5, y) == 2.5


def test_config_round_trips_and_refuses_unknown_keys():
    config = GbdtConfig.from_params({"learning_rate": 0.1, "num_leaves": 7.0}, seed=3)
    assert config.num_leaves == 7 and isinstance(config.num_leaves, int) and config.seed == 3
    assert GbdtConfig.from_params(json.loads(json.dumps(config.to_params()))) == config
    with pytest.raises(ConfigError, match=r"unknown gbdt parameter\(s\) \['leaves', 'lr'\]"):
        GbdtConfig.from_params({"lr": 0.1, "leaves": 3})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"learning_rate": 0}, "learning_rate=0"),
        ({"max_depth": 12}, "max_depth=12 \\(use 1..8"),
        ({"max_depth": -1}, "max_depth=-1"),
        ({"num_leaves": 1}, "num_leaves=1"),
        ({"feature_fraction": 1.5}, "feature_fraction=1.5"),
        ({"scale_pos_weight": "double"}, "scale_pos_weight='double'"),
        ({"early_stopping_metric": "f1"}, "early_stopping_metric='f1'"),
        ({"n_estimators": 2.5}, "n_estimators=2.5 must be a whole number"),
        ({"lambda_l2": "a lot"}, "invalid gbdt parameters"),
    ],
)
def test_bad_parameters_name_the_key(params, message):
    with pytest.raises(ConfigError, match=message):
        GbdtConfig.from_params(params)


def test_bad_inputs_are_refused_with_counts():
    train, y_train = _data(400, 3)
    val, y_val = _data(200, 4)
    config = GbdtConfig.from_params(FAST)
    few = y_train.copy()
    few[np.flatnonzero(few)[3:]] = 0  # 3 frauds left
    with pytest.raises(FraudMlopsError, match="train split has 3 fraud\\(s\\) among 400 claims"):
        train_gbdt(train, few, val, y_val, CARDINALITIES, config)
    with pytest.raises(FraudMlopsError, match="validation split has only class \\[0\\]"):
        train_gbdt(train, y_train, val, np.zeros_like(y_val), CARDINALITIES, config)
    with pytest.raises(FraudMlopsError, match="199 labels"):
        train_gbdt(train, y_train, val, y_val[:199], CARDINALITIES, config)
    bad = Batch(train.numeric, train.categorical.copy())
    bad.categorical[0, 1] = 9
    with pytest.raises(FraudMlopsError, match=r"categorical column 1 holds codes outside 0\.\.3"):
        train_gbdt(bad, y_train, val, y_val, CARDINALITIES, config)
    nan = Batch(train.numeric.copy(), train.categorical)
    nan.numeric[0, 0] = np.nan
    with pytest.raises(FraudMlopsError, match="NaN or infinite"):
        train_gbdt(nan, y_train, val, y_val, CARDINALITIES, config)
