"""Numpy scoring: matches torch, explains itself, and stays torch- and pandas-free."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from fraud_mlops.artifact import (
    build_architecture,
    export_artifact,
    fingerprint_columns,
    load_artifact,
    random_weights,
)
from fraud_mlops.errors import DataValidationError, ModelError
from fraud_mlops.preprocessing import fit_preprocessing
from fraud_mlops.schema import default_schema
from fraud_mlops.scoring import Scorer
from fraud_mlops.synthetic import generate_claims

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def data():
    schema = default_schema()
    claims = generate_claims(4000, seed=11)
    return SimpleNamespace(schema=schema, claims=claims, pre=fit_preprocessing(claims, schema))


def _artifact(
    tmp_path, data, hidden=(16, 8), weights=None, threshold=0.5, arch=None, calibration=None
):
    arch = arch or build_architecture(data.pre, hidden=hidden)
    path = export_artifact(
        tmp_path / "model",
        model_name="claims-fraud",
        version="v1",
        schema=data.schema,
        preprocessor=data.pre,
        architecture=arch,
        weights=weights if weights is not None else random_weights(arch, seed=5),
        threshold=threshold,
        metrics={},
        data_fingerprint=fingerprint_columns(data.claims, data.schema.feature_names),
        code_version="test",
        calibration=calibration,
    )
    return load_artifact(path)


class TorchMlp(torch.nn.Module):
    """The contract's architecture written in torch, independently of the numpy code."""

    def __init__(self, arch: dict):
        super().__init__()
        self.emb = torch.nn.ModuleList(
            torch.nn.Embedding(c, d)
            for c, d in zip(arch["cardinalities"], arch["embedding_dims"], strict=True)
        )
        width = arch["numeric_dim"] + sum(arch["embedding_dims"])
        layers = []
        for h in arch["hidden"]:
            block = torch.nn.Module()
            block.linear = torch.nn.Linear(width, h)
            block.norm = torch.nn.LayerNorm(h, eps=arch["norm_eps"])
            layers.append(block)
            width = h
        self.hidden = torch.nn.ModuleList(layers)
        self.drop = torch.nn.Dropout(arch["dropout"])
        self.out = torch.nn.Linear(width, 1)

    def embed(self, numeric, categorical):
        parts = [numeric] + [e(categorical[:, i]) for i, e in enumerate(self.emb)]
        return torch.cat(parts, dim=1)

    def head(self, h):
        for block in self.hidden:
            h = self.drop(torch.relu(block.norm(block.linear(h))))
        return self.out(h).squeeze(1)

    def forward(self, numeric, categorical):
        return self.head(self.embed(numeric, categorical))


def _torch_model(artifact):
    model = TorchMlp(artifact.architecture)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in artifact.weights.items()})
    return model.eval()


@pytest.mark.parametrize("hidden", [(16, 8), (32,), ()])
def test_numpy_forward_matches_torch(tmp_path, data, hidden):
    artifact = _artifact(tmp_path, data, hidden=hidden)
    scorer = Scorer(artifact)
    batch = data.pre.transform(data.claims.iloc[:500])
    ours = 1 / (1 + np.exp(-scorer.forward(batch.numeric, batch.categorical)))
    with torch.no_grad():
        logits = _torch_model(artifact)(
            torch.from_numpy(batch.numeric), torch.from_numpy(batch.categorical)
        )
    theirs = torch.sigmoid(logits).numpy()
    assert np.max(np.abs(ours - theirs)) < 1e-5
    assert ours.std() > 0.01  # a constant output would match trivially


def _reference_claim(pre, row: dict, feature: str) -> dict:
    """``row`` (raw values) with ``feature`` set to its training reference, as a user would."""
    out = dict(row)
    numeric = {f.name: f for f in pre.numeric}
    if feature in numeric:
        f = numeric[feature]
        out[feature] = [float(np.expm1(f.median)) if f.log else f.median]
    else:
        cat = pre.categorical[pre.categorical_names.index(feature)]
        top = int(np.argmax(cat.counts))
        out[feature] = [None if top == 0 else cat.vocabulary[top - 1]]
    return out


def _one(frame, i, names):
    return {
        c: [None if isinstance(v, float) and math.isnan(v) else v]
        for c, v in frame.iloc[i][names].items()
    }


def test_each_reason_is_the_logit_drop_when_that_feature_is_reset(tmp_path, data):
    """Occlusion, checked from the outside: re-score the raw claim with one feature reset."""
    scorer = Scorer(_artifact(tmp_path, data, hidden=(16, 8)))
    names = data.schema.feature_names
    for i in (0, 3, 11):
        claim = _one(data.claims, i, names)
        logits, contrib = scorer.contributions(data.pre.transform(claim))
        for j, feature in enumerate(data.pre.feature_names):
            reset = scorer.forward(*_inputs(data.pre, _reference_claim(data.pre, claim, feature)))
            assert contrib[0, j] == pytest.approx(logits[0] - reset[0], abs=2e-5), feature


def _inputs(pre, claim):
    batch = pre.transform(claim)
    return batch.numeric, batch.categorical


def test_the_single_change_that_moves_the_score_most_is_the_top_reason(tmp_path, data):
    """The issue's case: one categorical value drives the score; it must lead the reasons."""
    arch = build_architecture(data.pre, hidden=(16,))
    weights = random_weights(arch, seed=2)
    severity = data.pre.categorical_names.index("severity")
    rare = weights[f"emb.{severity}.weight"]
    rare[:] = 0.0
    rare[-1] = 6.0  # the least frequent severity value pushes hard towards fraud
    scorer = Scorer(_artifact(tmp_path, data, weights=weights, arch=arch))
    names = data.schema.feature_names
    value = data.pre.categorical[severity].vocabulary[-1]
    for i in range(20):
        claim = {**_one(data.claims, i, names), "severity": [value]}
        base = scorer.forward(*_inputs(data.pre, claim))[0]
        moves = {
            f: base - scorer.forward(*_inputs(data.pre, _reference_claim(data.pre, claim, f)))[0]
            for f in data.pre.feature_names
        }
        biggest = max(moves, key=moves.get)
        reasons = scorer.score(claim).reasons[0]
        assert biggest in [name for name, _ in reasons[:3]]
        assert reasons[0][0] == biggest
        assert reasons[0][1] == pytest.approx(moves[biggest], abs=1e-5)


def _train_logistic(x: np.ndarray, y: np.ndarray, steps: int = 400) -> np.ndarray:
    """Plain gradient descent on the log loss, numpy only, with a bias column."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        w -= 0.5 * xb.T @ (p - y) / len(y)
    return w


def test_absurd_amount_is_the_top_reason(tmp_path, data):
    """A logistic model (no hidden layer, no embeddings used) trained in numpy on the claims."""
    batch = data.pre.transform(data.claims)
    y = data.claims[data.schema.label_column].to_numpy().astype(float)
    w = _train_logistic(batch.numeric.astype(np.float64), y)
    amount_dim = data.pre.numeric_columns.index("claim_amount")
    assert w[amount_dim] > 0  # inflated amounts are a fraud mechanism of the generator
    arch = build_architecture(data.pre, hidden=(), embedding_dims=[2] * len(data.pre.categorical))
    weights = {
        f"emb.{i}.weight": np.zeros((c, 2), np.float32)
        for i, c in enumerate(data.pre.cardinalities)
    }
    weights["out.weight"] = np.concatenate([w[:-1], np.zeros(2 * len(data.pre.categorical))])[
        None
    ].astype(np.float32)
    weights["out.bias"] = np.array([w[-1]], np.float32)
    scorer = Scorer(_artifact(tmp_path, data, weights=weights, arch=arch))

    claims = data.claims.iloc[:5].copy()
    claims.loc[claims.index[2], "claim_amount"] = 5_000_000.0
    result = scorer.score(claims)
    assert result.reasons[2][0][0] == "claim_amount"
    assert result.reasons[2][0][1] > 0
    assert result.probability[2] > result.probability[[0, 1, 3, 4]].max()
    assert all(len(r) == 3 for r in result.reasons)
    assert all(r[0][1] >= r[1][1] >= r[2][1] for r in result.reasons)  # sorted, fraud-ward first
    # in a linear model the contributions are exact: they sum to logit - logit(reference)
    logits, contrib = scorer.contributions(data.pre.transform(claims))
    np.testing.assert_allclose(contrib.sum(axis=1), logits - w[-1], rtol=1e-6, atol=1e-6)


def test_batch_scoring_is_row_independent_and_complete(tmp_path, data):
    artifact = _artifact(tmp_path, data, threshold=0.3)
    scorer = Scorer(artifact)
    rows = data.claims.iloc[:50]
    whole = scorer.score(rows)
    assert whole.probability.dtype == np.float64 and whole.probability.shape == (50,)
    assert whole.model_version == "v1"
    np.testing.assert_array_equal(whole.flagged, whole.probability >= 0.3)
    for i in (0, 17, 49):
        single = scorer.score(
            {
                c: [None if isinstance(v, float) and math.isnan(v) else v]
                for c, v in rows.iloc[i][data.schema.feature_names].items()
            }
        )
        assert single.probability[0] == pytest.approx(whole.probability[i], abs=1e-6)
        assert [n for n, _ in single.reasons[0]] == [n for n, _ in whole.reasons[i]]


def test_reason_records_are_the_per_claim_reasons_in_order(tmp_path, data):
    """The API and capture write their JSON from the reason records, built from the flat
    reasons; ``reasons`` (pairs) holds the same features and values, claim by claim."""
    batch = Scorer(_artifact(tmp_path, data)).score(data.claims.iloc[:20])
    records = batch.reason_records
    assert batch.top == 3 and len(records) == 20
    assert len(batch.reason_features) == 20 * batch.top
    for i, reasons in enumerate(batch.reasons):
        assert records[i] == [{"feature": f, "contribution": v} for f, v in reasons]
    names = batch.categorical_names
    assert batch.unknown == [[names[j] for j in np.flatnonzero(m)] for m in batch.unknown_mask]


def test_unknown_categories_are_reported(tmp_path, data):
    scorer = Scorer(_artifact(tmp_path, data))
    rows = {c: data.claims[c].iloc[:3].tolist() for c in data.schema.feature_names}
    rows["vehicle_age"] = [None, None, None]
    frequent = data.pre.categorical[data.pre.categorical_names.index("provider_id")].vocabulary[0]
    rows["provider_id"] = ["PRV-never-seen", frequent, None]
    rows["channel"] = ["carrier_pigeon", "app", "app"]
    result = scorer.score(rows)
    assert result.unknown == [["channel", "provider_id"], [], []]


def test_bad_inputs_raise_clear_errors(tmp_path, data):
    scorer = Scorer(_artifact(tmp_path, data))
    with pytest.raises(ModelError, match="out of range"):
        scorer.forward(np.zeros((1, data.pre.numeric_dim)), np.full((1, 6), 10_000))
    with pytest.raises(ModelError, match="expects"):
        scorer.forward(np.zeros((1, 3)), np.zeros((1, 6), dtype=np.int64))
    with pytest.raises(DataValidationError, match=r"(?s)policy_premium.*severity"):
        scorer.score({c: data.claims[c].iloc[:2].tolist() for c in ["claim_amount"]})


def test_scoring_path_never_imports_torch_or_pandas():
    code = (
        "import sys, fraud_mlops.scoring, fraud_mlops.artifact, fraud_mlops.drift;"
        "bad = [m for m in ('torch', 'pandas') if m in sys.modules];"
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_real_claims_fraud_oracle(tmp_path, fraud_oracle_path):
    """The public vehicle-claims data: 23 categoricals, Age = 0 sentinels, text-typed CSV."""
    from fraud_mlops.ingest import load_claims
    from fraud_mlops.schema import load_schema

    schema = load_schema("fraud_oracle")
    claims = load_claims(str(fraud_oracle_path), schema)
    train, serve = claims.iloc[:12000], claims.iloc[12000:]
    data = SimpleNamespace(schema=schema, claims=train, pre=fit_preprocessing(train, schema))
    assert "Age__missing" in data.pre.numeric_columns  # Age = 0 means unknown in this data
    scorer = Scorer(_artifact(tmp_path, data, hidden=(16,)))
    result = scorer.score(serve)
    assert len(result) == len(serve) == 3420
    assert np.isfinite(result.probability).all()
    assert {name for r in result.reasons for name, _ in r} <= set(schema.feature_names)
    # the same claims as the API would send them: plain lists of text and numbers
    rows = {c: serve[c].head(20).tolist() for c in schema.feature_names}
    rows["Age"] = [None if v != v else v for v in rows["Age"]]
    again = scorer.score(rows)
    np.testing.assert_allclose(again.probability, result.probability[:20], atol=1e-6)


def test_an_empty_batch_scores_to_nothing(tmp_path, data):
    result = Scorer(_artifact(tmp_path, data)).score({c: [] for c in data.schema.feature_names})
    assert len(result) == 0 and result.reasons == [] and result.unknown == []


def test_calibration_from_the_manifest_maps_the_logit_and_keeps_the_ranking(tmp_path, data):
    claims = data.claims.head(300)
    plain = Scorer(_artifact(tmp_path / "plain", data)).score(claims)
    scorer = Scorer(_artifact(tmp_path / "cal", data, calibration=(0.5, -2.0)))
    calibrated = scorer.score(claims)
    logit = np.log(plain.probability) - np.log1p(-plain.probability)
    expected = 1.0 / (1.0 + np.exp(-(0.5 * logit - 2.0)))
    np.testing.assert_allclose(calibrated.probability, expected, atol=1e-6)
    assert (np.argsort(calibrated.probability) == np.argsort(plain.probability)).all()
    # reasons are contributions to the served (calibrated) logit: the same features, half the size
    for before, after in zip(plain.reasons[:20], calibrated.reasons[:20], strict=True):
        assert [f for f, _ in before] == [f for f, _ in after]
        np.testing.assert_allclose([v for _, v in after], [v / 2 for _, v in before], atol=2e-6)


def test_a_calibration_that_would_reverse_the_ranking_is_refused(tmp_path, data):
    with pytest.raises(ModelError, match="slope must be finite and > 0"):
        _artifact(tmp_path, data, calibration=(-1.0, 0.0))
