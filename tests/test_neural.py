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


# -- occlusion: skipped rows, blocks, chunks and threads --------------------------------------
SOURCES = ["a", "b", "c", "d", "d"]  # dim 4 is feature d's missing indicator


def _occlusion_inputs(n=96):
    numeric, categorical = _inputs(n)
    numeric[::3, 0] = 0.0  # feature a at its reference (the median) in a third of the claims
    numeric[::2, 3] = 0.0  # feature d: value and (always 0) indicator at the reference
    categorical[::4, 1] = 2  # the reference code of the second categorical
    return numeric, categorical


@pytest.mark.parametrize("n", [96, 3])  # 3 claims take the every-row path (DENSE_PAIRS)
@pytest.mark.parametrize(("family", "kind"), ARCHITECTURES)
def test_features_at_their_reference_contribute_exactly_zero(family, kind, n):
    """The occluded claim is the claim itself: its row is skipped and the contribution is 0.0
    exactly (positive zero), not the BLAS rounding noise (~1e-7) a re-run row would give."""
    arch, model, _, _ = _model(family, kind)
    net = NeuralNet(arch, model.to_numpy_weights())
    numeric, categorical = _occlusion_inputs(n)
    groups = feature_groups(SOURCES, ["a", "b", "c", "d"])
    ref_num, ref_cat = np.zeros(P, dtype=np.float32), np.array([1, 2])
    logit, contrib = net.occlusion(numeric, categorical, groups, 6, ref_num, ref_cat)
    at_reference = np.column_stack(
        [
            numeric[:, 0] == 0,
            numeric[:, 1] == 0,
            numeric[:, 2] == 0,
            (numeric[:, 3] == 0) & (numeric[:, 4] == 0),
            categorical[:, 0] == 1,
            categorical[:, 1] == 2,
        ]
    )
    assert at_reference[:, [0, 3, 5]].any(axis=0).all()
    assert not np.signbit(contrib[at_reference]).any() and (contrib[at_reference] == 0).all()
    # the other rows are still the occlusion: logit(x) - logit(x with f at its reference)
    moved = contrib[~at_reference]
    assert np.count_nonzero(moved) == moved.size
    np.testing.assert_allclose(logit, net.logit(numeric, categorical), atol=1e-5)


@pytest.mark.parametrize(("family", "kind"), [("mlp", "none"), ("tabm", "periodic")])
def test_occlusion_blocks_and_chunks_give_the_same_answer(family, kind, monkeypatch):
    """Blocks of claims and chunks of rows change only how BLAS blocks its products."""
    import fraud_mlops.neural as neural

    arch, model, _, _ = _model(family, kind)
    net = NeuralNet(arch, model.to_numpy_weights())
    numeric, categorical = _occlusion_inputs(200)
    # a permuted group layout: the features' first dims are not 0..3
    groups = feature_groups(["d", "c", "b", "a", "d"], ["a", "b", "c", "d"])
    args = (numeric, categorical, groups, 6, np.zeros(P, np.float32), np.array([1, 2]))
    logit, contrib = net.occlusion(*args)
    monkeypatch.setattr(neural, "OCCLUSION_BLOCK_VALUES", 7 * 64 * 17)  # ~17 claims a block
    monkeypatch.setattr(neural, "REST_CHUNK_ROWS", 5)
    small_logit, small_contrib = net.occlusion(*args)
    np.testing.assert_allclose(small_logit, logit, rtol=0, atol=1e-5)
    np.testing.assert_allclose(small_contrib, contrib, rtol=0, atol=1e-5)
    assert ((small_contrib == 0) == (contrib == 0)).all()
    monkeypatch.setattr(neural, "DENSE_PAIRS", 10**9)  # every row, as for a few claims
    monkeypatch.setattr(neural, "OCCLUSION_BLOCK_VALUES", 1 << 22)
    dense_logit, dense_contrib = net.occlusion(*args)
    np.testing.assert_allclose(dense_logit, logit, rtol=0, atol=1e-5)
    np.testing.assert_allclose(dense_contrib, contrib, rtol=0, atol=1e-5)
    assert ((dense_contrib == 0) == (contrib == 0)).all()


def test_concurrent_callers_do_not_share_scratch_arrays():
    """Each thread has its own work arrays: parallel calls give what sequential calls give."""
    from concurrent.futures import ThreadPoolExecutor

    arch, model, _, _ = _model("mlp", "linear_relu")
    net = NeuralNet(arch, model.to_numpy_weights())
    groups = feature_groups(SOURCES, ["a", "b", "c", "d"])
    batches = [_occlusion_inputs(n) for n in (1500, 400, 1000, 600)] * 2
    ref = (np.zeros(P, np.float32), np.array([1, 2]))

    def run(batch):
        return net.occlusion(*batch, groups, 6, *ref)

    sequential = [run(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(run, batches))
    for (la, ca), (lb, cb) in zip(sequential, parallel, strict=True):
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(ca, cb)


def test_repeated_layer_parameters_give_the_broadcast_bits(monkeypatch):
    """Bias, gamma and beta repeated to the chunk's shape are the same IEEE operations as
    broadcasting them: bit-identical logits."""
    import fraud_mlops.neural as neural

    arch, model, _, _ = _model("mlp", "none")
    net = NeuralNet(arch, model.to_numpy_weights())
    z = np.random.default_rng(5).standard_normal((700, net.width)).astype(np.float32)
    tiled = net._rest(z.copy())
    monkeypatch.setattr(neural, "TILE_FROM", 10**9)
    np.testing.assert_array_equal(net._rest(z.copy()), tiled)


@pytest.mark.parametrize("kind", ["none", "periodic"])
def test_mlp_layers_feeding_a_layernorm_output_centred_rows(kind):
    """The MLP's linear layers are centred over their outputs at load time, so LayerNorm can
    skip subtracting the row mean: every row a layer outputs must already have mean ~0."""
    arch, model, numeric, categorical = _model("mlp", kind)
    net = NeuralNet(arch, model.to_numpy_weights())
    z = net._first_layer(numeric, categorical)
    assert np.abs(z.mean(axis=1)).max() <= 1e-6 * np.abs(z).max()
    weight_t, bias = net.layers[1][:2]
    h = np.maximum(np.random.default_rng(3).standard_normal((64, weight_t.shape[0])), 0)
    z2 = h.astype(np.float32) @ weight_t + bias
    assert np.abs(z2.mean(axis=1)).max() <= 1e-6 * np.abs(z2).max()
    # and uncentred, the same rows would be far from it (the check can fail)
    raw = model.to_numpy_weights()["hidden.1.linear.weight"]
    assert np.abs((h @ raw.T).mean(axis=1)).max() > 1e-3
