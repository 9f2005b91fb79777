"""The gradient-boosting baseline learns, handles unseen / missing categories and many levels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from fraud_mlops.baseline import MAX_CATEGORIES, feature_matrix, fit_baseline, fit_vocabularies
from fraud_mlops.errors import ConfigError
from fraud_mlops.ingest import validate_claims
from fraud_mlops.schema import default_schema
from fraud_mlops.splits import time_split
from fraud_mlops.synthetic import generate_claims


@pytest.fixture(scope="module")
def data():
    schema = default_schema()
    frame = validate_claims(generate_claims(6000, seed=3), schema)
    s = time_split(frame, schema)
    parts = {
        k: frame.iloc[s.indices(k)].reset_index(drop=True) for k in ("train", "validation", "test")
    }
    return schema, parts


def test_baseline_ranks_fraud_far_above_the_base_rate(data):
    schema, p = data
    y = {k: v[schema.label_column].to_numpy() for k, v in p.items()}
    model = fit_baseline(p["train"], y["train"], p["validation"], y["validation"], schema, seed=0)
    scores = model.predict_proba(p["test"])
    assert scores.shape == (len(p["test"]),) and scores.dtype == np.float64
    assert average_precision_score(y["test"], scores) > 2 * y["test"].mean()
    again = fit_baseline(p["train"], y["train"], p["validation"], y["validation"], schema, seed=0)
    assert np.array_equal(scores, again.predict_proba(p["test"]))  # seeded


def test_unknown_and_missing_categories_become_nan(data):
    schema, p = data
    vocab = fit_vocabularies(p["train"], schema)
    frame = p["test"].head(3).copy()
    frame.loc[0, "provider_id"] = "PRV-NEVER-SEEN"
    frame.loc[1, "provider_id"] = None
    x = feature_matrix(frame, schema, vocab)
    col = len(schema.numeric_names) + schema.categorical_names.index("provider_id")
    assert np.isnan(x[0, col]) and np.isnan(x[1, col]) and not np.isnan(x[2, col])
    assert len(vocab["provider_id"]) <= MAX_CATEGORIES


def test_unknown_parameter_is_refused(data):
    schema, p = data
    y = p["train"][schema.label_column].to_numpy()
    with pytest.raises(ConfigError, match="max_iters"):
        fit_baseline(p["train"], y, p["train"], y, schema, params={"max_iters": 5})
