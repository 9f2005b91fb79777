"""The flow's stages without Metaflow: publish, champion re-scoring, and the schema guard."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fraud_mlops.artifact import export_artifact, load_artifact
from fraud_mlops.candidates import candidates_of, cv_folds_for, run_trial, select_candidate
from fraud_mlops.errors import DataValidationError, ModelError
from fraud_mlops.evaluate import CostModel
from fraud_mlops.gate import GatePolicy
from fraud_mlops.ingest import validate_claims
from fraud_mlops.pipeline import (
    evaluate_run,
    prepare_data,
    publish_model,
    validate_parameters,
)
from fraud_mlops.schema import default_schema
from fraud_mlops.scoring import Scorer
from fraud_mlops.search import Trial
from fraud_mlops.settings import Settings
from fraud_mlops.store import ModelStore
from fraud_mlops.synthetic import generate_claims

LENIENT = GatePolicy(pr_auc_tolerance=0.0, baseline_margin=1.0)
TINY_TRIALS = [
    Trial(0, 1, {"hidden": [16], "max_epochs": 2}, "mlp"),
    Trial(1, 2, {"k": 4, "d_block": 16, "n_blocks": 1, "max_epochs": 2}, "tabm"),
    Trial(2, 3, {"n_estimators": 60, "num_leaves": 7, "max_depth": 3}, "gbdt"),
]


@pytest.fixture(scope="module")
def trained():
    schema = default_schema()
    claims = validate_claims(generate_claims(4000, seed=9), schema)
    data = prepare_data(claims, schema.to_dict(), seed=9)
    # as the flow does: each trial retrains on the CV folds right after training
    folds = cv_folds_for(data, TINY_TRIALS)
    outcomes = [run_trial(data, t, cv_folds=folds) for t in TINY_TRIALS]
    return data, outcomes, select_candidate(data, outcomes, cv_folds=2)


def test_cv_in_the_trials_ranks_exactly_as_cv_in_the_join(trained):
    """Fold logits computed in each trial's branch give the same selection as retraining every
    candidate on the folds in the join (the serial path, used when outcomes carry none)."""
    data, outcomes, selection = trained
    assert selection.method == "time-series cross-validation"
    assert all(o.fold_logits is not None and len(o.fold_logits) >= 1 for o in outcomes)
    assert all(o.summary["cv_seconds"] > 0 for o in outcomes)
    serial = select_candidate(
        data, [dataclasses.replace(o, fold_logits=None) for o in outcomes], cv_folds=2
    )
    assert serial.table == selection.table and serial.reason == selection.reason
    assert all(c["cv_pr_auc"] is not None for c in selection.table)


def test_cross_validation_is_planned_only_when_the_rule_asks_for_it(trained):
    data, _, _ = trained
    assert int(data.labels["test"].sum()) < 100
    assert cv_folds_for(data, TINY_TRIALS) == 2
    assert cv_folds_for(data, TINY_TRIALS[:1]) == 0  # one family: one candidate, nothing to rank
    plenty = {**data.labels, "test": np.ones(100, dtype=np.int64)}
    assert cv_folds_for(dataclasses.replace(data, labels=plenty), TINY_TRIALS) == 0


def test_first_model_is_promoted_then_rescored_as_champion(trained, tmp_path):
    data, _, selection = trained
    settings = Settings.from_env()
    first = evaluate_run(data, selection, CostModel(), settings)
    assert first.champion.version is None and "champion" not in first.metrics
    published = publish_model(data, selection, first, LENIENT, "run1", settings)
    assert published.promoted and published.family == selection.chosen.family
    store = ModelStore(str(tmp_path / "home" / "models"))
    pointer = store.champion("claims-fraud")
    assert pointer["version"] == published.version
    assert pointer["gate"]["policy"]["confidence"] == 0.95
    assert (
        pointer["metrics"]["intervals"]["pr_auc"]["low"] <= first.metrics["mlp"]["test"]["pr_auc"]
    )

    second = evaluate_run(data, selection, CostModel(), settings)
    assert second.champion.version == published.version
    # The champion is the same model: the numpy scorer reproduces the training-side test scores.
    assert np.max(np.abs(second.champion.scores - first.scores["test"])) < 1e-5
    assert second.metrics["champion"]["test"]["pr_auc"] == pytest.approx(
        first.metrics["mlp"]["test"]["pr_auc"], abs=1e-6
    )
    # same claims, same model: the paired difference is exactly zero, and the gate passes
    assert second.vs_champion["difference"] == pytest.approx(0.0, abs=1e-9)
    assert second.vs_champion["low"] == pytest.approx(0.0, abs=1e-9)


def test_every_family_and_the_blend_are_candidates_with_intervals(trained):
    data, _, selection = trained
    assert set(selection.candidates) == {"mlp", "tabm", "gbdt", "blend"}
    evaluation = evaluate_run(data, selection, CostModel(), Settings.from_env())
    for name, entry in evaluation.families.items():
        pr = entry.intervals["pr_auc"]
        assert pr["low"] <= entry.metrics["test"]["pr_auc"] <= pr["high"], name
        assert entry.intervals["n_resamples"] == 1000
    assert evaluation.metrics["baseline"] == evaluation.families["gbdt"].metrics
    blend = selection.candidates["blend"]
    weights = [m["weight"] for m in blend.members]
    assert sum(weights) == pytest.approx(1.0) and [m["family"] for m in blend.members][1] == "gbdt"


def test_the_alert_budget_caps_the_flag_rate_and_says_so(trained):
    data, _, selection = trained
    settings = Settings.from_env()
    generous = evaluate_run(
        data, selection, CostModel(fraud_loss=40000.0, alert_budget=0.5), settings
    )
    tight = evaluate_run(
        data, selection, CostModel(fraud_loss=40000.0, alert_budget=0.02), settings
    )
    assert tight.threshold_rule == "budget"
    assert tight.metrics["mlp"]["validation"]["flag_rate"] <= 0.02 + 1e-9
    assert generous.metrics["mlp"]["validation"]["flag_rate"] > 0.02  # the cost optimum


@pytest.mark.parametrize("name", ["mlp", "tabm", "gbdt", "blend"])
def test_every_family_round_trips_through_the_artifact(trained, tmp_path, name):
    """Export, load, score: the numpy scorer reproduces the training-side logits; a changed
    weights file is refused."""
    data, _, selection = trained
    candidate = selection.candidates[name]
    path = export_artifact(
        tmp_path / name,
        model_name="m",
        version="v1",
        schema=data.schema,
        preprocessor=data.preprocessor,
        architecture=candidate.architecture,
        weights=candidate.arrays,
        threshold=0.5,
        metrics={},
        data_fingerprint=data.fingerprint,
        code_version="test",
    )
    artifact = load_artifact(path)
    assert artifact.family == candidate.family and artifact.manifest["family"] == candidate.family
    scorer = Scorer(artifact)
    batch = data.features["test"]
    logits = scorer.forward(batch.numeric, batch.categorical)
    np.testing.assert_allclose(logits, candidate.logits["test"], atol=1e-4)
    probability = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(probability, 1 / (1 + np.exp(-candidate.logits["test"])), atol=1e-5)
    result = scorer.score(data.frames["test"].head(5))
    assert all(len(r) == 3 for r in result.reasons)
    raw = bytearray((path / "weights.npz").read_bytes())
    raw[-30] ^= 0xFF
    (path / "weights.npz").write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="does not match its checksum"):
        load_artifact(path)


def test_champion_of_another_schema_blocks_promotion(trained):
    data, _, selection = trained
    settings = Settings.from_env()
    first = evaluate_run(data, selection, CostModel(), settings)
    publish_model(data, selection, first, LENIENT, "a", settings)
    other = dataclasses.replace(data, schema_dict={**data.schema_dict, "name": "other_claims"})
    evaluation = evaluate_run(other, selection, CostModel(), settings)
    assert "MODEL_NAME" in evaluation.champion.problem
    result = publish_model(other, selection, evaluation, LENIENT, "b", settings)
    assert not result.promoted
    assert "cannot be compared" in result.gate["reasons"][0]


def test_too_few_frauds_for_any_family_is_refused_with_the_counts(trained):
    data, _, _ = trained
    labels = {**data.labels, "train": np.zeros_like(data.labels["train"])}
    labels["train"][:3] = 1
    starved = dataclasses.replace(data, labels=labels)
    with pytest.raises(DataValidationError, match=r"frauds per split: train 3 of"):
        run_trial(starved, TINY_TRIALS[0])


def test_blend_weight_is_chosen_on_validation_only(trained):
    data, outcomes, _ = trained
    y = data.labels["validation"]
    shuffled = [dataclasses.replace(o) for o in outcomes]
    for o in shuffled:  # test logits scrambled: the blend must not move
        o.logits = {**o.logits, "test": np.random.default_rng(0).permutation(o.logits["test"])}
    assert (
        candidates_of(shuffled, y)["blend"].members == candidates_of(outcomes, y)["blend"].members
    )


VALID_PARAMETERS = dict(
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


def test_validate_parameters_reports_the_bad_value():
    from fraud_mlops.errors import ConfigError

    ok = VALID_PARAMETERS
    assert len(validate_parameters(**ok).trials) == 4
    for change, message in [
        ({"sample_size": 10}, "--sample-size 10"),
        ({"seed": -1}, "--seed -1"),
        ({"max_epochs": -2}, "--max-epochs -2"),
        ({"search_config": "space: [x"}, "not valid YAML"),
        ({"fraud_loss": 100.0}, "fraud loss"),
        ({"baseline_margin": 3.0}, "--baseline-margin"),
    ]:
        with pytest.raises(ConfigError, match=message) as raised:
            validate_parameters(**{**ok, **change})
        assert "flow parameters are invalid" not in str(raised.value)  # one problem: no list


def test_validate_parameters_lists_every_bad_parameter_at_once():
    from fraud_mlops.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        validate_parameters(
            **{
                **VALID_PARAMETERS,
                "trials": 0,
                "seed": -3,
                "search_config": "families: {resnet: {}}",
                "alert_budget": 1.5,
            }
        )
    lines = str(raised.value).splitlines()
    assert lines[0] == "4 flow parameters are invalid:"
    assert lines[1].startswith("  - --trials 0 is out of range")
    assert lines[2].startswith("  - --seed -3 is negative")
    assert lines[3].startswith("  - alert budget must be a share between 0 and 1, got 1.5")
    assert lines[4].startswith("  - --search-config: unknown family 'resnet'")
    assert len(lines) == 5


def test_the_costliest_trials_start_first_and_keep_their_indices():
    from fraud_mlops.candidates import longest_first

    trials = [*TINY_TRIALS, Trial(3, 4, {"hidden": [8]}, "mlp")]
    queue = longest_first(trials)
    assert [t.family for t in queue] == ["tabm", "mlp", "gbdt", "mlp"]
    assert [t.index for t in queue] == [1, 0, 2, 3]
    assert sorted(queue, key=lambda t: t.index) == trials  # the same trials, only reordered
