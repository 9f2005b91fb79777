"""Training learns on tiny data, is reproducible, and its knobs are validated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from fraud_mlops.errors import ConfigError, FraudMlopsError
from fraud_mlops.train import (
    FAIL_ONCE_ENV,
    InjectedFailure,
    TrainConfig,
    fail_once_if_requested,
    predict,
    resolve_pos_weight,
    train_model,
)


@dataclass
class Batch:
    numeric: np.ndarray
    categorical: np.ndarray


def _data(n: int, seed: int):
    """Fraud depends on a numeric feature and on one 'bad' category (~8 % positives)."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 3)).astype(np.float32)
    categorical = rng.integers(0, 6, size=(n, 1)).astype(np.int64)
    logit = -3.6 + 1.6 * numeric[:, 0] + 2.0 * (categorical[:, 0] == 5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return Batch(numeric, categorical), y


SMALL = {"hidden": (16,), "max_epochs": 12, "patience": 12, "batch_size": 128}


def test_a_tiny_run_learns():
    (tr, ytr), (va, yva) = _data(3000, 0), _data(1500, 1)
    result = train_model(tr, ytr, va, yva, [6], TrainConfig(**SMALL, learning_rate=5e-3))
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0]
    base_rate = yva.mean()
    assert result.val_pr_auc > 3 * base_rate  # far above what a random ranking scores
    # The returned weights are the best epoch's, and predict() reproduces its PR-AUC.
    assert average_precision_score(yva, predict(result, va)) == pytest.approx(result.val_pr_auc)
    assert result.best_epoch == max(result.history, key=lambda h: h["val_pr_auc"])["epoch"]


def test_focal_loss_with_balanced_weight_also_learns():
    (tr, ytr), (va, yva) = _data(3000, 2), _data(1500, 3)
    config = TrainConfig(**SMALL, loss="focal", pos_weight="balanced", learning_rate=5e-3)
    result = train_model(tr, ytr, va, yva, [6], config)
    assert result.val_pr_auc > 3 * yva.mean()


@pytest.mark.parametrize(
    "params",
    [
        {"family": "mlp", "num_embeddings": "periodic", "d_embedding": 8, "n_frequencies": 8},
        {"family": "mlp", "num_embeddings": "piecewise_linear", "d_embedding": 8, "n_bins": 16},
        {"family": "tabm", "k": 4, "d_block": 32, "n_blocks": 2, "num_embeddings": "none"},
        {
            "family": "tabm",
            "k": 4,
            "d_block": 32,
            "n_blocks": 2,
            "num_embeddings": "piecewise_linear",
            "d_embedding": 8,
            "n_bins": 16,
        },
    ],
    ids=["mlp-periodic", "mlp-pwl", "tabm", "tabm-pwl"],
)
def test_every_neural_family_learns(params):
    """Loss goes down and validation PR-AUC is far above chance, for each architecture."""
    (tr, ytr), (va, yva) = _data(3000, 0), _data(1500, 1)
    base = {k: v for k, v in SMALL.items() if params["family"] == "mlp" or k != "hidden"}
    config = TrainConfig.from_params({**base, **params, "learning_rate": 5e-3})
    result = train_model(tr, ytr, va, yva, [6], config)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0]
    assert result.val_pr_auc > 3 * yva.mean()
    assert result.architecture["type"] == (
        "tabm" if params["family"] == "tabm" else "mlp_embeddings"
    )
    assert average_precision_score(yva, predict(result, va)) == pytest.approx(result.val_pr_auc)


def test_same_seed_same_weights_other_seed_differs():
    (tr, ytr), (va, yva) = _data(1000, 4), _data(500, 5)
    config = TrainConfig(hidden=(8,), max_epochs=3, patience=3, seed=7)
    a = train_model(tr, ytr, va, yva, [6], config)
    b = train_model(tr, ytr, va, yva, [6], config)
    c = train_model(tr, ytr, va, yva, [6], TrainConfig(hidden=(8,), max_epochs=3, seed=8))
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert a.val_pr_auc == b.val_pr_auc
    assert not np.array_equal(a.weights["out.weight"], c.weights["out.weight"])


def test_threads_are_applied():
    (tr, ytr), (va, yva) = _data(400, 6), _data(400, 7)
    before = torch.get_num_threads()
    try:
        train_model(tr, ytr, va, yva, [6], TrainConfig(hidden=(4,), max_epochs=1, threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_early_stopping_stops_after_patience():
    (tr, ytr), (va, yva) = _data(600, 8), _data(300, 9)
    result = train_model(
        tr, ytr, va, yva, [6], TrainConfig(hidden=(4,), max_epochs=40, patience=2, seed=1)
    )
    assert len(result.history) <= 40
    assert len(result.history) - result.best_epoch <= 2


def test_single_class_split_is_a_clear_error():
    tr, ytr = _data(300, 10)
    with pytest.raises(FraudMlopsError, match="validation split has only class"):
        train_model(tr, ytr, tr, np.zeros_like(ytr), [6], TrainConfig(max_epochs=1))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"dropout": 1.5}, "dropout=1.5"),
        ({"loss": "hinge"}, "loss='hinge'"),
        ({"pos_weight": "lots"}, "pos_weight='lots'"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"learning_rate": -1}, "learning_rate=-1"),
        ({"hiden": [8]}, "unknown training parameter"),
        ({"family": "tabm", "hidden": [8]}, r"\['hidden'\] belong to family 'mlp'"),
        ({"family": "resnet"}, "family='resnet'"),
        ({"num_embeddings": "splines"}, "num_embeddings='splines'"),
        ({"family": "tabm", "arch_type": "tabm-packed"}, "arch_type='tabm-packed'"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_params(params)


def test_pos_weight_modes():
    y = np.array([1] + [0] * 99)
    assert resolve_pos_weight("balanced", y) == pytest.approx(99.0)
    assert resolve_pos_weight("sqrt", y) == pytest.approx(99.0**0.5)
    assert resolve_pos_weight(2.5, y) == 2.5


def test_fail_once_hook_fails_exactly_once(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv(FAIL_ONCE_ENV, str(marker))
    with pytest.raises(InjectedFailure):
        fail_once_if_requested()
    assert marker.exists()
    fail_once_if_requested()  # the retry passes
