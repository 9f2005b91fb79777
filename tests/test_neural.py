"""The numpy mirror of every neural architecture matches torch, and occlusion is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fraud_mlops.errors import ModelError
from fraud_mlops.model import (
    FraudMLP,
    FraudTabM,
    build_architecture,
    build_tabm_architecture,
    compute_numeric_bins,
)
from fraud_mlops.neural import NeuralNet, expected_shapes, feature_groups

CARDS = [4, 7]
P = 5  # 4 values + 1 missing indicator that never fired (a constant column)


def _inputs(n=96, seed=0):
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, P)).astype(np.float32)
    numeric[:, 3] = np.round(numeric[:, 3])  # few distinct values, like binned features
    numeric[:, 4] = 0.0
    categorical = np.column_stack([rng.integers(0, c, n) for c in CARDS]).astype(np.int64)
    return numeric, categorical


def _embedding(kind, numeric):
    if kind == "none":
        return None, None
    if kind == "piecewise_linear":
        bins = compute_numeric_bins(numeric, 8)
        spec = {
            "kind": kind,
            "d_embedding": 6,
            "n_bins": [len(b) - 1 for b in bins],
            "activation": False,
        }
        return spec, bins
    if kind == "periodic":
        return {"kind": kind, "d_embedding": 6, "n_frequencies": 5, "activation": True}, None
    return {"kind": kind, "d_embedding": 6}, None


ARCHITECTURES = [
    (family, kind)
    for family in ("mlp", "tabm", "tabm-mini")
    for kind in ("none", "linear_relu", "periodic", "piecewise_linear")
]


def _model(family, kind, seed=0):
    torch.manual_seed(seed)
    numeric, categorical = _inputs()
    spec, bins = _embedding(kind, numeric)
    if family == "mlp":
        arch = build_architecture(P, CARDS, hidden=[16, 8], dropout=0.1, num_embedding=spec)
        model = FraudMLP(arch, bins)
    else:
        arch = build_tabm_architecture(
            P, CARDS, k=4, n_blocks=3, d_block=16, dropout=0.1, arch_type=family, num_embedding=spec
        )
        model = FraudTabM(arch, bins)
    # Move every parameter away from its initialisation (e.g. PLE version B starts at zero).
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.3 * torch.randn_like(param))
    return arch, model.eval(), numeric, categorical


@pytest.mark.parametrize(("family", "kind"), ARCHITECTURES)
def test_numpy_forward_matches_torch_for_every_architecture(family, kind):
    arch, model, numeric, categorical = _model(family, kind)
    weights = model.to_numpy_weights()
    assert {k: v.shape for k, v in weights.items()} == expected_shapes(arch)
    torch_logit = model.predict_logit(numeric, categorical)
    numpy_logit = NeuralNet(arch, weights).logit(numeric, categorical)
    gap = np.max(np.abs(1 / (1 + np.exp(-numpy_logit)) - 1 / (1 + np.exp(-torch_logit))))
    assert gap <= 1e-5, f"{family}/{kind}: probabilities differ by {gap:.2e}"
    assert np.max(np.abs(numpy_logit - torch_logit)) <= 1e-4


@pytest.mark.parametrize("family", ["mlp", "tabm"])
def test_periodic_embeddings_match_torch_on_wide_inputs(family):
    """Robust-scaled outliers reach hundreds of IQRs: angles (2 pi w) x in the hundreds.

    The frequencies must be torch's float32 product bit for bit (float32(2 pi) * w); the float64
    product rounded to float32 is 1 ulp off for about a third of them, and at such angles that
    ulp moved the probabilities by ~1.6e-5.
    """
    arch, model, numeric, categorical = _model(family, "periodic")
    net = NeuralNet(arch, model.to_numpy_weights())
    module = model.num_module if family == "mlp" else model.net.num_module
    torch_freq = (2 * np.pi * module.periodic.weight).detach().numpy()
    np.testing.assert_array_equal(net.embed.freq, torch_freq)
    wide = numeric * 300
    torch_logit = model.predict_logit(wide, categorical)
    numpy_logit = net.logit(wide, categorical)
    gap = np.max(np.abs(1 / (1 + np.exp(-numpy_logit)) - 1 / (1 + np.exp(-torch_logit))))
    assert gap <= 1e-6, f"{family}/periodic on wide inputs: probabilities differ by {gap:.2e}"


@pytest.mark.parametrize(("family", "kind"), ARCHITECTURES)
def test_weights_round_trip_through_numpy(family, kind):
    arch, model, numeric, categorical = _model(family, kind)
    rebuilt = type(model).from_numpy_weights(arch, model.to_numpy_weights())
    np.testing.assert_array_equal(
        rebuilt.predict_logit(numeric, categorical), model.predict_logit(numeric, categorical)
    )


@pytest.mark.parametrize(("family", "kind"), [("mlp", "periodic"), ("tabm", "piecewise_linear")])
def test_occlusion_equals_rescoring_with_the_feature_reset(family, kind):
    """Each contribution is exactly logit(x) - logit(x with that feature at its reference)."""
    arch, model, numeric, categorical = _model(family, kind)
    net = NeuralNet(arch, model.to_numpy_weights())
    # numeric dims 0..3 are features a..d; dim 4 is feature d's missing indicator
    sources = ["a", "b", "c", "d", "d"]
    groups = feature_groups(sources, ["a", "b", "c", "d"])
    ref_num, ref_cat = np.zeros(P, dtype=np.float32), np.array([1, 2])
    logit, contrib = net.occlusion(numeric, categorical, groups, 6, ref_num, ref_cat)
    np.testing.assert_allclose(logit, model.predict_logit(numeric, categorical), atol=1e-4)
    for f, dims in enumerate([[0], [1], [2], [3, 4]]):
        reset = numeric.copy()
        reset[:, dims] = 0.0
        expected = logit - model.predict_logit(reset, categorical)
        np.testing.assert_allclose(contrib[:, f], expected, atol=2e-4)
    for i in range(len(CARDS)):
        reset = categorical.copy()
        reset[:, i] = ref_cat[i]
        expected = logit - model.predict_logit(numeric, reset)
        np.testing.assert_allclose(contrib[:, 4 + i], expected, atol=2e-4)


def test_a_malformed_architecture_is_refused_with_the_reason():
    arch, model, _, _ = _model("tabm", "none")
    with pytest.raises(ModelError, match="arch_type 'tabm-packed' is not supported"):
        expected_shapes({**arch, "arch_type": "tabm-packed"})
    with pytest.raises(ModelError, match="num_embedding kind 'splines'"):
        expected_shapes({**arch, "num_embedding": {"kind": "splines"}})
    weights = model.to_numpy_weights()
    weights.pop("net.output.bias")
    with pytest.raises(ModelError, match=r"missing \['net.output.bias'\]"):
        NeuralNet(arch, weights)
