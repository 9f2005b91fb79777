"""The flow's stages without Metaflow: publish, champion re-scoring, and the schema guard."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fraud_mlops.evaluate import CostModel
from fraud_mlops.gate import GatePolicy
from fraud_mlops.ingest import validate_claims
from fraud_mlops.pipeline import (
    evaluate_run,
    prepare_data,
    publish_model,
    run_baseline,
    validate_parameters,
)
from fraud_mlops.schema import default_schema
from fraud_mlops.store import ModelStore
from fraud_mlops.synthetic import generate_claims
from fraud_mlops.train import TrainConfig, train_model

LENIENT = GatePolicy(pr_auc_tolerance=0.0, baseline_margin=1.0)


@pytest.fixture(scope="module")
def trained():
    schema = default_schema()
    claims = validate_claims(generate_claims(2500, seed=9), schema)
    data = prepare_data(claims, schema.to_dict(), seed=9)
    f, y = data.features, data.labels
    best = train_model(
        f["train"],
        y["train"],
        f["validation"],
        y["validation"],
        data.preprocessor.cardinalities,
        TrainConfig(hidden=(16,), max_epochs=2, seed=1),
    )
    baseline_scores, _ = run_baseline(data, seed=9)
    return data, best, baseline_scores


def test_first_model_is_promoted_then_rescored_as_champion(trained, tmp_path):
    data, best, baseline_scores = trained
    first = evaluate_run(data, best, baseline_scores, CostModel())
    assert first["champion"]["version"] is None and "champion" not in first["metrics"]
    published = publish_model(data, best, first, LENIENT, "run1")
    assert published["promoted"]
    store = ModelStore(str(tmp_path / "home" / "models"))
    assert store.champion("claims-fraud")["version"] == published["version"]

    second = evaluate_run(data, best, baseline_scores, CostModel())
    assert second["champion"]["version"] == published["version"]
    # The champion is the same model: the numpy scorer reproduces the torch test scores.
    assert np.max(np.abs(second["champion"]["scores"] - first["mlp_scores"]["test"])) < 1e-5
    assert second["metrics"]["champion"]["test"]["pr_auc"] == pytest.approx(
        first["metrics"]["mlp"]["test"]["pr_auc"], abs=1e-6
    )


def test_champion_of_another_schema_blocks_promotion(trained):
    data, best, baseline_scores = trained
    publish_model(data, best, evaluate_run(data, best, baseline_scores, CostModel()), LENIENT, "a")
    other = dataclasses.replace(data, schema_dict={**data.schema_dict, "name": "other_claims"})
    evaluation = evaluate_run(other, best, baseline_scores, CostModel())
    assert "MODEL_NAME" in evaluation["champion"]["problem"]
    result = publish_model(other, best, evaluation, LENIENT, "b")
    assert not result["promoted"]
    assert "cannot be compared" in result["gate"]["reasons"][0]


def test_validate_parameters_reports_the_bad_value():
    from fraud_mlops.errors import ConfigError

    ok = dict(
        sample_size=20000,
        input_uri="",
        trials=4,
        seed=1,
        search_config="{}",
        max_epochs=0,
        pr_auc_tolerance=0.005,
        baseline_margin=0.01,
        alert_budget=0.05,
        investigation_cost=150.0,
        fraud_loss=4000.0,
    )
    assert len(validate_parameters(**ok).trials) == 4
    for change, message in [
        ({"sample_size": 10}, "--sample-size 10"),
        ({"seed": -1}, "--seed -1"),
        ({"max_epochs": -2}, "--max-epochs -2"),
        ({"search_config": "space: [x"}, "not valid YAML"),
        ({"fraud_loss": 100.0}, "fraud loss"),
        ({"baseline_margin": 3.0}, "--baseline-margin"),
    ]:
        with pytest.raises(ConfigError, match=message):
            validate_parameters(**{**ok, **change})
