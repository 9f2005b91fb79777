"""The torch MLP honours the weight contract, and a numpy forward pass reproduces it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fraud_mlops.artifact import embedding_dim
from fraud_mlops.errors import ConfigError
from fraud_mlops.model import FraudMLP, build_architecture


def _arch(**kw):
    base = {"numeric_dim": 5, "cardinalities": [4, 30], "hidden": [16, 8], "dropout": 0.2}
    return build_architecture(**{**base, **kw})


def _inputs(arch, n=64, seed=0):
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, arch["numeric_dim"])).astype(np.float32)
    categorical = np.column_stack([rng.integers(0, c, n) for c in arch["cardinalities"]])
    return numeric, categorical.astype(np.int64)


def numpy_forward(arch, w, numeric, categorical):
    """The architecture contract, written out independently of the torch module."""
    h = np.concatenate(
        [numeric.astype(np.float64)]
        + [w[f"emb.{i}.weight"][categorical[:, i]] for i in range(len(arch["cardinalities"]))],
        axis=1,
    )
    for layer in range(len(arch["hidden"])):
        z = h @ w[f"hidden.{layer}.linear.weight"].T + w[f"hidden.{layer}.linear.bias"]
        mu = z.mean(axis=-1, keepdims=True)
        var = z.var(axis=-1, keepdims=True)  # biased, like LayerNorm
        z = (z - mu) / np.sqrt(var + arch["norm_eps"])
        h = np.maximum(z * w[f"hidden.{layer}.norm.weight"] + w[f"hidden.{layer}.norm.bias"], 0)
    logit = h @ w["out.weight"].T + w["out.bias"]
    return 1 / (1 + np.exp(-logit[:, 0]))


def test_weight_names_and_shapes_follow_the_contract():
    arch = _arch()
    w = FraudMLP(arch).to_numpy_weights()
    expected = {
        "emb.0.weight": (4, arch["embedding_dims"][0]),
        "emb.1.weight": (30, arch["embedding_dims"][1]),
        "hidden.0.linear.weight": (16, 5 + sum(arch["embedding_dims"])),
        "hidden.0.linear.bias": (16,),
        "hidden.0.norm.weight": (16,),
        "hidden.0.norm.bias": (16,),
        "hidden.1.linear.weight": (8, 16),
        "hidden.1.linear.bias": (8,),
        "hidden.1.norm.weight": (8,),
        "hidden.1.norm.bias": (8,),
        "out.weight": (1, 8),
        "out.bias": (1,),
    }
    assert {k: v.shape for k, v in w.items()} == expected
    assert all(v.dtype == np.float32 for v in w.values())
    assert arch["norm"] == "layernorm" and arch["norm_eps"] == 1e-5 and arch["activation"] == "relu"


def test_numpy_forward_matches_torch_within_1e_5():
    torch.manual_seed(3)
    arch = _arch()
    model = FraudMLP(arch)
    # Move norm parameters away from their 1/0 init so the test exercises them.
    with torch.no_grad():
        for block in model.hidden:
            block.norm.weight.normal_(1.0, 0.3)
            block.norm.bias.normal_(0.0, 0.3)
    numeric, categorical = _inputs(arch, n=257)
    expected = model.predict_proba(numeric, categorical)
    got = numpy_forward(arch, model.to_numpy_weights(), numeric, categorical)
    assert np.max(np.abs(got - expected)) < 1e-5


def test_dropout_is_off_in_predict_and_weights_round_trip():
    arch = _arch(dropout=0.5)
    model = FraudMLP(arch)
    numeric, categorical = _inputs(arch)
    first = model.predict_proba(numeric, categorical)
    assert np.array_equal(first, model.predict_proba(numeric, categorical))
    assert model.training  # predict_proba restores the mode it found
    rebuilt = FraudMLP.from_numpy_weights(arch, model.to_numpy_weights())
    assert np.array_equal(first, rebuilt.predict_proba(numeric, categorical))


def test_from_numpy_weights_refuses_missing_names():
    arch = _arch()
    w = FraudMLP(arch).to_numpy_weights()
    del w["out.bias"]
    with pytest.raises(ConfigError, match=r"missing \['out.bias'\]"):
        FraudMLP.from_numpy_weights(arch, w)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"hidden": []}, "hidden"),
        ({"dropout": 1.0}, "dropout"),
        ({"cardinalities": [0]}, "cardinality"),
        ({"numeric_dim": 0, "cardinalities": []}, "no inputs"),
    ],
)
def test_bad_architecture_is_refused(kw, message):
    with pytest.raises(ConfigError, match=message):
        _arch(**kw)


def test_embedding_dim_grows_with_cardinality_and_is_capped():
    assert embedding_dim(2) == 2
    assert embedding_dim(10) < embedding_dim(100) <= 16
    assert embedding_dim(100_000) == 16


def test_artifact_scorer_matches_torch(tmp_path):
    """The served path: export_artifact + the numpy Scorer reproduce torch probabilities."""
    from fraud_mlops.artifact import export_artifact, load_artifact
    from fraud_mlops.preprocessing import fit_preprocessing
    from fraud_mlops.schema import default_schema
    from fraud_mlops.scoring import Scorer
    from fraud_mlops.synthetic import generate_claims

    schema = default_schema()
    frame = generate_claims(600, seed=1)
    pre = fit_preprocessing(frame, schema, min_frequency=3)
    arch = build_architecture(pre.numeric_dim, pre.cardinalities, [16, 8], 0.1)
    torch.manual_seed(0)
    model = FraudMLP(arch)
    path = export_artifact(
        tmp_path / "v1",
        model_name="m",
        version="v1",
        schema=schema,
        preprocessor=pre,
        architecture=arch,
        weights=model.to_numpy_weights(),
        threshold=0.5,
        metrics={},
        data_fingerprint="x",
        code_version="test",
    )
    batch = pre.transform(frame)
    expected = model.predict_proba(batch.numeric, batch.categorical)
    got = Scorer(load_artifact(path)).score(frame).probability
    assert np.max(np.abs(got - expected)) < 1e-5
