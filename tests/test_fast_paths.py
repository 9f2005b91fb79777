"""The single-claim fast paths give exactly what the vectorised batch paths give.

One claim of plain values takes a scalar path through preprocessing
(``Preprocessor.transform``) and a path without index arrays through the scorer's
probability and top-reason selection. These tests generate claims (hypothesis) and hold both
paths to bit-identical features, probabilities, flags, reasons and unknown categories, for every
model family (mlp, tabm, gbdt, blend) and for preprocessing with every kind of parameter
(log amounts, sentinels, missing indicators, derived date features, missing-value tokens, an
empty vocabulary).
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud_mlops.artifact import (
    BLEND_TYPE,
    build_architecture,
    export_artifact,
    load_artifact,
    member_prefix,
    random_weights,
)
from fraud_mlops.errors import DataValidationError
from fraud_mlops.neural import expected_shapes
from fraud_mlops.preprocessing import (
    CategoricalParams,
    DateSource,
    NumericParams,
    Preprocessor,
    fit_preprocessing,
)
from fraud_mlops.schema import default_schema
from fraud_mlops.scoring import Scorer
from fraud_mlops.synthetic import generate_claims

# 1e308 and 3e38 are valid float64 inputs that overflow float32: both paths warn alike.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _batch_path(columns: dict[str, list]) -> types.MappingProxyType:
    """The same columns as a mapping that is not a dict: the vectorised path takes it."""
    return types.MappingProxyType(columns)


def _assert_same_features(one, other) -> None:
    for name in ("numeric", "categorical", "unknown"):
        a, b = getattr(one, name), getattr(other, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), f"{name}: {a!r} != {b!r}"  # bit for bit (-0.0 too)


# -- preprocessing with every kind of parameter ---------------------------------------------
PRE = Preprocessor(
    numeric=(
        NumericParams("amount", log=True, median=6.2, iqr=1.3, indicator=True, required=False),
        NumericParams(
            "age", log=False, median=41.0, iqr=17.0, indicator=True, missing_values=(0.0, -1.0)
        ),
        NumericParams("hour", log=False, median=12.0, iqr=1.0, indicator=False),
        NumericParams(
            "days_open",
            log=False,
            median=180.0,
            iqr=200.0,
            indicator=True,
            required=False,
            days_between=(
                DateSource("start", "%d/%m/%Y", ("?",), required=False),
                DateSource("end", None, (), required=False),
            ),
        ),
    ),
    categorical=(
        CategoricalParams("kind", ("theft", "fire", "glass"), (5, 40, 30, 20)),
        CategoricalParams(
            "region", ("north", "south"), (3, 50, 40), required=False, missing_values=("?", "N/A")
        ),
        CategoricalParams("rare", (), (10,), required=False),
    ),
)
DATE = st.dates(
    min_value=np.datetime64("1990-01-01").item(), max_value=np.datetime64("2030-12-31").item()
)
NUMBER = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-1e6, 1e6),
    st.sampled_from([0, 0.0, -0.0, -1, 1e308, 3.0e38, 5e-324]),
)
TEXT = st.one_of(
    st.none(),
    st.sampled_from(["theft", "fire", "glass", "north", "south", "?", "N/A", "", "fire\x00"]),
    st.text(max_size=8),
)


@st.composite
def raw_claims(draw) -> dict[str, list]:
    claim: dict[str, Any] = {
        "amount": draw(st.one_of(NUMBER, st.floats(0, 1e7))),
        "age": draw(NUMBER),
        "hour": draw(st.one_of(st.integers(0, 23), NUMBER)),
        "kind": draw(TEXT),
        "region": draw(TEXT),
        "rare": draw(TEXT),
        "start": draw(
            st.one_of(st.none(), st.just("?"), DATE.map(lambda d: d.strftime("%d/%m/%Y")))
        ),
        "end": draw(st.one_of(st.none(), DATE.map(lambda d: d.isoformat()), st.just("not a date"))),
    }
    for optional in ("amount", "region", "rare", "start", "end"):
        if draw(st.booleans()) and draw(st.booleans()):
            del claim[optional]  # an optional column left out altogether
    return {k: [v] for k, v in claim.items()}


def _outcome(fn):
    try:
        return fn(), None
    except DataValidationError as exc:
        return None, str(exc)


@SETTINGS
@given(columns=raw_claims())
def test_one_row_transform_is_bit_identical_to_the_vectorised_path(columns):
    fast, fast_error = _outcome(lambda: PRE.transform(columns))
    slow, slow_error = _outcome(lambda: PRE.transform(_batch_path(columns)))
    assert fast_error == slow_error  # the same refusal, word for word (the fast path defers)
    if fast is not None:
        _assert_same_features(fast, slow)


@SETTINGS
@given(rows=st.lists(raw_claims(), min_size=2, max_size=6))
def test_one_row_transform_equals_its_row_of_a_batch(rows):
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    rows = [{k: r[k] for k in keys} for r in rows]
    batch, batch_error = _outcome(lambda: PRE.transform({k: [r[k][0] for r in rows] for k in keys}))
    if batch_error is not None:
        return  # some row is refused; the row-by-row refusals are the test above
    for i, row in enumerate(rows):
        one = PRE.transform(row)
        for name in ("numeric", "categorical", "unknown"):
            assert getattr(one, name)[0].tobytes() == getattr(batch, name)[i].tobytes()


def test_the_fast_path_is_taken_only_for_plain_values():
    plan = PRE._lookup["one"]
    plain = {"age": [30], "hour": [3], "kind": ["fire"]}
    assert plan.transform(plain) is not None
    assert plan.transform(_batch_path(plain)) is None  # not a dict
    assert plan.transform({**plain, "age": np.array([30.0])}) is None  # numpy column
    assert plan.transform({**plain, "age": [30, 31], "hour": [3, 4], "kind": ["a", "b"]}) is None
    assert plan.transform({**plain, "age": [True]}) is None  # a bool is not a plain number
    assert plan.transform({**plain, "kind": [3]}) is None  # a number where text belongs
    assert plan.transform({"hour": [3], "kind": ["fire"]}) is None  # required "age" absent
    assert plan.transform({**plain, "age": [float("inf")]}) is None  # refused by the batch path
    with pytest.raises(DataValidationError, match="infinite"):
        PRE.transform({**plain, "age": [float("inf")]})


@SETTINGS
@given(
    values=st.lists(
        st.one_of(
            TEXT, st.just(float("nan")), st.integers(0, 3), st.text(max_size=3).map(str.upper)
        ),
        min_size=2,
        max_size=40,
    )
)
def test_a_list_of_categories_codes_exactly_as_the_array_path(values):
    """The dict lookup for a list (the API's columns) gives the codes and unknown flags the
    array path (text, missing mask, sorted search) gives, for every categorical feature: known
    values, unseen ones, None, NaN, missing-value tokens, "", trailing NULs, numbers."""
    for j in range(len(PRE.categorical)):
        codes, unknown = PRE._codes(j, values)
        want_codes, want_unknown = PRE._searched_codes(j, values)
        assert codes.dtype == want_codes.dtype and unknown.dtype == want_unknown.dtype
        np.testing.assert_array_equal(codes, want_codes)
        np.testing.assert_array_equal(unknown, want_unknown)


# -- every model family: the scorer's single-claim path vs the batch path --------------------
SCHEMA = default_schema()


@pytest.fixture(scope="module")
def scorers(tmp_path_factory) -> dict[str, Scorer]:
    from fraud_mlops.gbdt import GbdtConfig, train_gbdt

    claims = generate_claims(3000, seed=21)
    pre = fit_preprocessing(claims, SCHEMA)
    rng = np.random.default_rng(3)
    mlp = build_architecture(pre, hidden=(32, 16))
    tabm = {
        "type": "tabm",
        "numeric_dim": pre.numeric_dim,
        "cardinalities": pre.cardinalities,
        "k": 4,
        "n_blocks": 2,
        "d_block": 16,
        "dropout": 0.1,
        "arch_type": "tabm",
        "num_embedding": {"kind": "periodic", "d_embedding": 4, "n_frequencies": 3},
    }
    tabm_weights = {
        k: (rng.standard_normal(s) / np.sqrt(s[-1])).astype(np.float32)
        for k, s in expected_shapes(tabm).items()
    }
    y = claims[SCHEMA.label_column].to_numpy()
    features = pre.transform(claims)
    gbdt = train_gbdt(
        features, y, features, y, pre.cardinalities, GbdtConfig(n_estimators=40, num_leaves=8)
    )
    models = {
        "mlp": (mlp, random_weights(mlp, seed=1)),
        "tabm": (tabm, tabm_weights),
        "gbdt": (gbdt.architecture, gbdt.arrays),
        "blend": (
            {
                "type": BLEND_TYPE,
                "members": [
                    {"family": "mlp", "weight": 0.6, "architecture": mlp},
                    {"family": "gbdt", "weight": 0.4, "architecture": gbdt.architecture},
                ],
            },
            {
                **{member_prefix(0) + k: v for k, v in random_weights(mlp, seed=2).items()},
                **{member_prefix(1) + k: v for k, v in gbdt.arrays.items()},
            },
        ),
    }
    out = {}
    for family, (arch, weights) in models.items():
        path = export_artifact(
            tmp_path_factory.mktemp(family) / "model",
            model_name="claims-fraud",
            version=family,
            schema=SCHEMA,
            preprocessor=pre,
            architecture=arch,
            weights=weights,
            threshold=0.3,
            metrics={},
            data_fingerprint="0" * 64,
            code_version="test",
            calibration=(1.7, -0.4),
        )
        out[family] = Scorer(load_artifact(path))
    return out


@st.composite
def scoring_claims(draw) -> dict[str, Any]:
    claim: dict[str, Any] = {}
    for f in SCHEMA.numeric:
        low = 0 if f.min is None else f.min
        high = 1e6 if f.max is None else f.max
        value = draw(
            st.one_of(st.integers(int(low), int(high)), st.floats(low, high), st.just(low))
        )
        claim[f.name] = int(value) if f.dtype == "int" else value
        if not f.required and draw(st.booleans()):
            claim[f.name] = None
    for f in SCHEMA.categorical:
        claim[f.name] = draw(
            st.one_of(st.sampled_from(list(f.values or ["x"])), st.text(max_size=5))
        )
    return claim


@pytest.mark.parametrize("family", ["mlp", "tabm", "gbdt", "blend"])
@SETTINGS
@given(claim=scoring_claims())
def test_one_claim_scores_exactly_as_the_batch_path(scorers, family, claim):
    """Features bit for bit, then probability, flag, reasons and unknown categories exactly.

    The model's forward pass is shared by both paths; BLAS may round a row differently in
    matrices of other sizes (~1e-8), so the batch side of the comparison takes the one claim's
    own logits and contributions, twice (n = 2 takes the batch path).
    """
    scorer = scorers[family]
    columns = {k: [v] for k, v in claim.items()}
    features = scorer.preprocessor.transform(columns)
    _assert_same_features(features, scorer.preprocessor.transform(_batch_path(columns)))
    one = scorer.score(columns)
    logits, contrib = scorer.contributions(features)
    twice = scorer.results(
        np.repeat(logits, 2), np.repeat(contrib, 2, axis=0), np.repeat(features.unknown, 2, axis=0)
    )
    assert one.probability.dtype == twice.probability.dtype
    assert one.flagged.dtype == twice.flagged.dtype
    for i in range(2):
        assert one.probability[0] == twice.probability[i]
        assert one.flagged[0] == twice.flagged[i]
        assert one.reasons[0] == twice.reasons[i]
        assert one.unknown[0] == twice.unknown[i]
    assert len(one.reasons[0]) == 3 and all(isinstance(v, float) for _, v in one.reasons[0])


def test_equal_contributions_keep_the_model_feature_order(scorers):
    """Exactly equal contributions are listed in the model's feature order, for one claim as
    in a batch (a stable sort on both paths)."""
    scorer = scorers["mlp"]
    width = len(scorer.feature_list)
    contrib = np.zeros((1, width))
    contrib[0, 5] = 0.5
    unknown = np.zeros((1, len(scorer.categorical_names)), dtype=bool)
    expected = [scorer.feature_list[i] for i in (5, 0, 1)]
    for n in (1, 3):
        batch = scorer.results(np.zeros(n), np.repeat(contrib, n, axis=0), unknown.repeat(n, 0))
        assert [[f for f, _ in r] for r in batch.reasons] == [expected] * n


def test_a_preprocessor_pickles_to_the_same_bytes_in_every_process():
    """Metaflow compares a foreach's artifacts by their bytes when it merges the branches: the
    one-row plan must not hold sets, whose order follows the per-process string hash seed."""
    import os
    import subprocess
    import sys

    code = (
        "import hashlib, pickle, sys; sys.path[:0] = sys.argv[1:]; "
        "from tests.test_fast_paths import PRE; "
        "print(hashlib.sha256(pickle.dumps(PRE)).hexdigest())"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digests = {
        subprocess.run(
            [sys.executable, "-c", code, root, os.path.join(root, "src")],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1, digests
