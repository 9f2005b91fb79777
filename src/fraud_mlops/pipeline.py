"""The stages of a training run, one function per flow step.

``flows/fraud_detection_flow.py`` stays thin: each step reads its artifacts, calls one function
here and stores what it returns — the typed records of :mod:`fraud_mlops.contracts`. The
library :class:`~fraud_mlops.settings.Settings` are built once (in ``start``) and passed in.
Keeping the work in the library makes it testable without Metaflow and ships it to Batch inside
the code package; the cards are drawn in ``flows/cards.py`` (this package never imports
Metaflow).

Test hook: ``FRAUD_MLOPS_FAIL_AT_STEP=<step>`` makes that step raise (used by the resume test to
fail a run late, then resume it without the variable). Inert unless set.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_mlops.contracts import (
    ChampionScores,
    DriftResult,
    Evaluation,
    FamilyEvaluation,
    PreparedData,
    Publication,
    RunClaims,
    RunParameters,
)
from fraud_mlops.errors import ConfigError, DataValidationError, ModelError

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.candidates import Selection
    from fraud_mlops.evaluate import CostModel
    from fraud_mlops.gate import GateDecision, GatePolicy
    from fraud_mlops.settings import Settings

__all__ = [  # the records are defined in fraud_mlops.contracts; re-exported for the flow
    "ChampionScores",
    "DriftResult",
    "Evaluation",
    "FamilyEvaluation",
    "PreparedData",
    "Publication",
    "RunClaims",
    "RunParameters",
]

FAIL_AT_STEP_ENV = "FRAUD_MLOPS_FAIL_AT_STEP"
SPLITS = ("train", "validation", "test")


def fail_if_requested(step_name: str) -> None:
    """The resume test hook (see the module docstring)."""
    if os.environ.get(FAIL_AT_STEP_ENV) == step_name:
        raise RuntimeError(f"injected failure at step {step_name!r} ({FAIL_AT_STEP_ENV})")


# -- start ---------------------------------------------------------------------------------------
def validate_parameters(
    *,
    sample_size: int,
    input_uri: str,
    trials: int,
    seed: int,
    search_config: str,
    max_epochs: int,
    pr_auc_tolerance: float,
    baseline_margin: float,
    alert_budget: float,
    investigation_cost: float,
    fraud_loss: float,
) -> RunParameters:
    """Check every flow parameter up front. All bad ones fail the run together, each with what
    to pass, so one retry fixes them all (a single problem reads as before, without a list)."""
    import yaml

    from fraud_mlops.evaluate import CostModel
    from fraud_mlops.gate import GatePolicy
    from fraud_mlops.readiness import MIN_ROWS
    from fraud_mlops.search import search_space_from_dict

    problems: list[str] = []

    def check(build: Any) -> Any:
        try:
            return build()
        except ConfigError as exc:
            problems.append(str(exc))
            return None

    if not input_uri and sample_size < MIN_ROWS:
        problems.append(
            f"--sample-size {sample_size} is too small: pass at least {MIN_ROWS} (default 20000) "
            "so every split has fraud cases"
        )
    if not 1 <= trials <= 256:
        problems.append(f"--trials {trials} is out of range: pass 1 to 256 (default 4)")
    if seed < 0:
        problems.append(f"--seed {seed} is negative: pass 0 or a positive whole number")
    if max_epochs < 0:
        problems.append(f"--max-epochs {max_epochs}: pass 0 (search config) or a positive cap")
    cost = check(
        lambda: CostModel(
            investigation_cost=investigation_cost, fraud_loss=fraud_loss, alert_budget=alert_budget
        )
    )
    policy = check(
        lambda: GatePolicy(pr_auc_tolerance=pr_auc_tolerance, baseline_margin=baseline_margin)
    )
    try:
        data = yaml.safe_load(search_config or "")
    except yaml.YAMLError as exc:
        problems.append(f"--search-config is not valid YAML: {exc}")
    else:
        space = check(lambda: search_space_from_dict(data, "--search-config"))
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"{len(problems)} flow parameters are invalid:\n{listed}")
    return RunParameters(cost=cost, policy=policy, trials=space.sample(trials, seed))


def load_run_claims(
    input_uri: str,
    schema_ref: str,
    sample_size: int,
    seed: int,
    run_id: str,
    *,
    settings: Settings,
    labels: str = "data",
) -> RunClaims:
    """Synthetic claims, the user's file validated against ``schema_ref``, or (``labels=
    "outcomes"``) captured scores labelled by outcomes (:mod:`fraud_mlops.labels`); to raw/.

    Claims that cannot train (too few, one class, a split short of frauds) are refused BEFORE
    the run's raw/claims partition is written (:func:`fraud_mlops.readiness.check_trainable`).
    """
    from fraud_mlops.ingest import extra_columns, read_table, validate_claims
    from fraud_mlops.lakehouse import RAW_CLAIMS, Lakehouse
    from fraud_mlops.readiness import check_trainable
    from fraud_mlops.schema import load_schema

    schema = load_schema(schema_ref)
    warnings: list[str] = []
    if labels not in ("data", "outcomes"):
        raise ConfigError(f"--labels {labels!r}: use data (the default) or outcomes")
    if labels == "outcomes":
        if input_uri:
            raise ConfigError(
                "--labels outcomes trains on captured scores and outcomes: drop --input-uri "
                "(or use --labels data to train on the file)"
            )
        return _outcome_labelled_claims(schema, run_id, settings)
    if input_uri:
        raw = read_table(input_uri, schema.csv)
        frame = validate_claims(raw, schema, source=input_uri)
        extra = extra_columns(raw, schema)
        if extra:
            warnings.append(
                f"{len(extra)} column(s) of {input_uri} are not in the schema and were left out: "
                + ", ".join(extra)
            )
    else:
        if schema.name != "synthetic_claims":
            raise ConfigError(
                f"--schema {schema_ref!r} describes your own data: pass --input-uri with the "
                "claims file too (without --input-uri the flow generates synthetic claims)"
            )
        from fraud_mlops.synthetic import generate_claims

        frame = validate_claims(generate_claims(sample_size, seed=seed), schema, "synthetic")
    warnings += check_trainable(frame, schema, input_uri or "synthetic claims")
    lake = Lakehouse(settings.lakehouse_uri)
    written = lake.write(RAW_CLAIMS, run_id, frame)
    return RunClaims(frame, schema.to_dict(), written.uri, warnings)


def _outcome_labelled_claims(schema: Any, run_id: str, settings: Settings) -> RunClaims:
    from fraud_mlops.ingest import validate_claims
    from fraud_mlops.labels import SOURCE, LabelSettings, claims_from_outcomes
    from fraud_mlops.lakehouse import RAW_CLAIMS, Lakehouse
    from fraud_mlops.progress import say
    from fraud_mlops.readiness import check_trainable

    maturity = LabelSettings.from_env().maturity_days
    raw, counts = claims_from_outcomes(settings.lakehouse_uri, schema, maturity_days=maturity)
    say(counts.report())
    frame = validate_claims(raw, schema, source=SOURCE)
    try:
        warnings = check_trainable(frame, schema, SOURCE)
    except DataValidationError as exc:  # the same rules, with where the claims came from
        raise DataValidationError(SOURCE, [counts.report(), *exc.problems]) from None
    written = Lakehouse(settings.lakehouse_uri).write(RAW_CLAIMS, run_id, frame)
    return RunClaims(frame, schema.to_dict(), written.uri, warnings)


# -- prepare -------------------------------------------------------------------------------------
def prepare_data(claims: pd.DataFrame, schema_dict: dict[str, Any], seed: int) -> PreparedData:
    """Split by time, fit preprocessing + drift reference on train, transform every split."""
    from fraud_mlops.artifact import fingerprint_columns
    from fraud_mlops.candidates import check_enough_frauds
    from fraud_mlops.drift import build_reference
    from fraud_mlops.preprocessing import fit_preprocessing
    from fraud_mlops.schema import schema_from_dict
    from fraud_mlops.splits import time_split

    schema = schema_from_dict(schema_dict)
    split = time_split(claims, schema)
    labels = claims[schema.label_column].to_numpy().astype(np.int64)
    # before anything trains: refuse data no family can learn from, with the counts per split
    check_enough_frauds({s: labels[split.indices(s)] for s in SPLITS})
    frames = {s: claims.iloc[split.indices(s)].reset_index(drop=True) for s in SPLITS}
    pre = fit_preprocessing(frames["train"], schema)
    return PreparedData(
        schema_dict=schema_dict,
        split=split,
        preprocessor=pre,
        features={s: pre.transform(frames[s]) for s in SPLITS},
        labels={s: frames[s][schema.label_column].to_numpy().astype(np.int64) for s in SPLITS},
        reference=build_reference(frames["train"], schema, seed=seed),
        fingerprint=fingerprint_columns(
            frames["train"], [schema.id_column, schema.label_column, *schema.feature_names]
        ),
        frames=frames,
    )


# -- evaluate ------------------------------------------------------------------------------------
def champion_scores(data: PreparedData, settings: Settings) -> ChampionScores:
    """Fetch the current champion and score THIS run's test split with it (numpy scorer)."""
    from fraud_mlops.scoring import Scorer
    from fraud_mlops.store import ModelStore

    store = ModelStore(settings.model_store_uri)
    if store.champion(settings.model_name) is None:
        return ChampionScores()
    from fraud_mlops.artifact import load_artifact

    with tempfile.TemporaryDirectory(prefix="champion-") as cache:
        # load_artifact reads weights and reference into memory, so the copy can go at once.
        artifact = load_artifact(store.fetch(settings.model_name, "champion", cache))
    schema = data.schema
    if artifact.schema.feature_names != schema.feature_names or artifact.schema.name != schema.name:
        problem = (
            f"it was trained on schema {artifact.schema.name!r}, this run uses {schema.name!r}; "
            "set MODEL_NAME to a separate model name for this dataset"
        )
        return ChampionScores(version=artifact.version, problem=problem)
    return ChampionScores(
        version=artifact.version,
        family=artifact.family,
        scores=Scorer(artifact).score(data.frames["test"]).probability,
        reference=artifact.reference,
        threshold=artifact.threshold,
    )


def _calibrated(y_val: np.ndarray, logits: dict[str, np.ndarray]):
    """Platt scaling fitted on validation (never test), applied to the logits of every split
    exactly as the numpy scorer applies it (``sigmoid(slope * logit + intercept)``)."""
    from fraud_mlops.evaluate import fit_platt

    calibration = fit_platt(y_val, 1.0 / (1.0 + np.exp(-np.clip(logits["validation"], -30, 30))))
    slope, intercept = calibration
    return calibration, {
        s: 1.0 / (1.0 + np.exp(-(slope * np.asarray(v, dtype=np.float64) + intercept)))
        for s, v in logits.items()
    }


def _metrics_within_budget(y: dict[str, np.ndarray], scores: dict[str, np.ndarray], cost):
    """Threshold on validation: the cost optimum, capped by the alert budget; both splits."""
    from fraud_mlops.evaluate import choose_threshold_within_budget, evaluate_scores

    threshold, rule = choose_threshold_within_budget(
        y["validation"], scores["validation"], cost, cost.alert_budget
    )
    metrics = {s: evaluate_scores(y[s], scores[s], cost, threshold) for s in ("validation", "test")}
    return metrics, float(threshold), str(rule)


def _family_evaluations(
    data: PreparedData, selection: Selection, cost: CostModel, chosen_result: tuple
) -> tuple[dict[str, FamilyEvaluation], dict[str, np.ndarray]]:
    """Every candidate calibrated and thresholded on validation, with test intervals; and each
    one's calibrated test scores. ``chosen_result``: the chosen one's (metrics, scores)."""
    from fraud_mlops.intervals import model_intervals

    y = data.labels
    families: dict[str, FamilyEvaluation] = {}
    family_scores: dict[str, np.ndarray] = {}
    for name, candidate in selection.candidates.items():
        if candidate is selection.chosen:
            fam_metrics, fam_scores = chosen_result
        else:
            _, fam_scores = _calibrated(y["validation"], candidate.logits)
            fam_metrics, _, _ = _metrics_within_budget(y, fam_scores, cost)
        family_scores[name] = fam_scores["test"]
        families[name] = FamilyEvaluation(
            family=candidate.family,
            val_pr_auc=candidate.val_pr_auc,
            cv_pr_auc=candidate.cv_pr_auc,
            metrics=fam_metrics,
            intervals=model_intervals(y["test"], fam_scores["test"], seed=data.seed),
        )
    return families, family_scores


def evaluate_run(
    data: PreparedData, selection: Selection, cost: CostModel, settings: Settings
) -> Evaluation:
    """The chosen candidate, every family's best, and the champion on the same test split,
    with bootstrap intervals and the paired comparisons the gate reads.

    Thresholds are chosen on validation (expected cost, capped by ``--alert-budget``); the
    champion keeps the threshold recorded in its manifest.
    """
    from fraud_mlops.evaluate import evaluate_scores
    from fraud_mlops.intervals import comparison

    y = data.labels
    chosen = selection.chosen
    calibration, scores = _calibrated(y["validation"], chosen.logits)
    metrics_c, threshold, rule = _metrics_within_budget(y, scores, cost)
    families, family_scores = _family_evaluations(data, selection, cost, (metrics_c, scores))
    metrics = {"mlp": metrics_c}  # "mlp": the run's candidate (legacy key; see its "family")
    gbdt = selection.candidates.get("gbdt")
    if gbdt is not None:
        metrics["baseline"] = families["gbdt"].metrics
    champion = champion_scores(data, settings)
    if champion.scored:
        # The champion keeps the threshold it shipped with (chosen on its own validation data).
        metrics["champion"] = {
            "test": evaluate_scores(y["test"], champion.scores, cost, champion.threshold)
        }
    return Evaluation(
        candidate=chosen.name,
        family=chosen.family,
        scores=scores,
        family_scores=family_scores,
        champion=champion,
        metrics=metrics,
        families=families,
        threshold=threshold,
        threshold_rule=rule,
        alert_budget=float(cost.alert_budget),
        calibration=calibration,
        selection=selection.to_dict(),
        vs_champion=comparison(y["test"], scores["test"], champion.scores, seed=data.seed)
        if champion.scored
        else None,
        vs_baseline=None
        if gbdt is None or chosen.name == "gbdt"
        else comparison(y["test"], scores["test"], family_scores["gbdt"], seed=data.seed),
    )


# -- drift ---------------------------------------------------------------------------------------
def run_drift(claims: pd.DataFrame, data: PreparedData, evaluation: Evaluation) -> DriftResult:
    """PSI/KS of this run's claims vs the champion's training reference.

    With no comparable champion, this run's test split is compared with its own training split
    (reference version empty), which still shows how much the data moved over time.
    """
    from fraud_mlops.drift import compute_drift

    champion = evaluation.champion
    if champion.reference is not None:
        drifts = compute_drift(champion.reference, claims, data.schema)
        return DriftResult(drifts, reference_version=champion.version, current="all")
    drifts = compute_drift(data.reference, data.frames["test"], data.schema)
    return DriftResult(drifts, reference_version=None, current="test vs own train")


# -- publish -------------------------------------------------------------------------------------
def code_version() -> str:
    """The library version plus the git commit when running from a checkout."""
    from fraud_mlops import __version__

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}" if sha else __version__


def gate_decision(evaluation: Evaluation, policy: GatePolicy) -> GateDecision:
    """The gate on this run's evaluation: intervals vs the champion and vs the best GBDT."""
    from fraud_mlops.gate import Comparison, decide

    metrics, champion = evaluation.metrics, evaluation.champion

    def cmp(entry: dict[str, Any] | None) -> Comparison | None:
        if entry is None:
            return None
        return Comparison(entry["difference"], entry.get("low"), entry.get("high"))

    return decide(
        candidate_pr_auc=metrics["mlp"]["test"]["pr_auc"],
        baseline_pr_auc=metrics["baseline"]["test"]["pr_auc"] if "baseline" in metrics else None,
        champion_pr_auc=metrics["champion"]["test"]["pr_auc"] if "champion" in metrics else None,
        policy=policy,
        champion_version=champion.version,
        champion_problem=champion.problem,
        vs_champion=cmp(evaluation.vs_champion),
        vs_baseline=cmp(evaluation.vs_baseline),
        candidate_is_baseline=evaluation.candidate == "gbdt",
        warnings=evaluation.selection["warnings"],
    )


def publish_model(
    data: PreparedData,
    selection: Selection,
    evaluation: Evaluation,
    policy: GatePolicy,
    run_id: str,
    settings: Settings,
) -> Publication:
    """Gate the candidate, publish its artifact, and move the champion pointer if it passed."""
    from fraud_mlops.store import ModelStore, new_version

    fail_if_requested("publish")
    decision = gate_decision(evaluation, policy)
    version = new_version(run_id)
    with tempfile.TemporaryDirectory(prefix="artifact-") as tmp:
        staging = Path(tmp) / version
        uri = _export_check_publish(
            staging, data, selection, evaluation, decision, settings, version
        )
    if decision.passed:
        store = ModelStore(settings.model_store_uri)
        store.set_champion(
            settings.model_name,
            version,
            gate=decision.to_dict(),
            metrics={
                **evaluation.metrics["mlp"]["test"],
                "family": evaluation.family,
                "intervals": evaluation.families[evaluation.candidate].intervals,
            },
        )
    return Publication(
        model_name=settings.model_name,
        version=version,
        artifact_uri=uri,
        promoted=decision.passed,
        gate=decision.to_dict(),
        family=evaluation.family,
        params=selection.chosen.params,
    )


def manifest_metrics(evaluation: Evaluation, decision: GateDecision) -> dict[str, Any]:
    """What the manifest records: the candidate's metrics, every family's, the gate."""
    metrics = evaluation.metrics
    return {
        "mlp": metrics["mlp"],  # the published candidate (legacy key, read by the CLIs)
        "baseline": metrics.get("baseline"),
        "intervals": evaluation.families[evaluation.candidate].intervals,
        "families": {name: entry.record() for name, entry in evaluation.families.items()},
        "vs_champion": evaluation.vs_champion,
        "vs_baseline": evaluation.vs_baseline,
        "threshold_rule": evaluation.threshold_rule,
        "gate": decision.to_dict(),
    }


def _export_check_publish(
    staging: Path,
    data: PreparedData,
    selection: Selection,
    evaluation: Evaluation,
    decision: GateDecision,
    settings: Settings,
    version: str,
) -> str:
    """Export the artifact, prove the served numpy pass matches training, publish the version."""
    from fraud_mlops.artifact import export_artifact, load_artifact
    from fraud_mlops.scoring import Scorer
    from fraud_mlops.store import ModelStore

    chosen = selection.chosen
    export_artifact(
        staging,
        model_name=settings.model_name,
        version=version,
        schema=data.schema,
        preprocessor=data.preprocessor,
        architecture=chosen.architecture,
        weights=chosen.arrays,
        threshold=float(np.clip(evaluation.threshold, 0.0, 1.0)),
        metrics=manifest_metrics(evaluation, decision),
        data_fingerprint=data.fingerprint,
        code_version=code_version(),
        reference=data.reference,
        params=chosen.params,
        calibration=evaluation.calibration,
        selection=evaluation.selection,
    )
    # What gets served is the numpy pass: refuse to publish if it disagrees with training
    # (torch for the neural families; the blend combines the members' training-side logits).
    served = Scorer(load_artifact(staging)).score(data.frames["test"]).probability
    gap = float(np.max(np.abs(served - evaluation.scores["test"])))
    if gap > 1e-5:
        raise ModelError(
            f"the numpy scorer differs from training by {gap:.2e} (> 1e-5); not publishing"
        )
    return ModelStore(settings.model_store_uri).publish(staging, settings.model_name, version)


# -- end -----------------------------------------------------------------------------------------
def metrics_rows(evaluation: Evaluation, publication: Publication, run_id: str) -> list[dict]:
    """The models of the run's ``metrics`` table: the published candidate, the run's best GBDT
    (the yardstick) and the champion it was compared with, when there are those."""
    models = [
        {
            "version": publication.version,
            "kind": "mlp",  # the published candidate, whatever its family (legacy kind)
            "metrics": evaluation.metrics["mlp"],
            "params": {"family": evaluation.family, **(publication.params or {})},
            "is_champion": publication.promoted,
        },
    ]
    if "baseline" in evaluation.metrics:
        models.append(
            {
                "version": f"gbdt-{run_id}",
                "kind": "baseline",  # the run's best GBDT: the yardstick
                "metrics": evaluation.metrics["baseline"],
            }
        )
    if "champion" in evaluation.metrics:
        models.append(
            {
                "version": evaluation.champion.version,
                "kind": "champion",
                "metrics": evaluation.metrics["champion"],
            }
        )
    return models


def write_outputs(
    claims: pd.DataFrame,
    data: PreparedData,
    evaluation: Evaluation,
    drift: DriftResult,
    publication: Publication,
    run_id: str,
    settings: Settings,
) -> dict[str, str]:
    """Write predictions, metrics, scoring summary and drift partitions for ``run_id``."""
    from fraud_mlops.ingest import event_time_column
    from fraud_mlops.lakehouse import DRIFT, METRICS, PREDICTIONS, SCORING_SUMMARY, Lakehouse
    from fraud_mlops.outputs import (
        drift_table,
        metrics_table,
        predictions_table,
        scoring_summary_table,
        write_run_outputs,
    )

    schema = data.schema
    order = np.concatenate([data.split.indices(s) for s in SPLITS])
    split = np.concatenate([np.full(len(data.split.indices(s)), s, dtype=object) for s in SPLITS])
    scores = np.concatenate([evaluation.scores[s] for s in SPLITS])
    frame = claims.iloc[order]
    labels = frame[schema.label_column].to_numpy()
    segments = {c: frame[c].to_numpy(dtype=object) for c in schema.segments}
    version, threshold = publication.version, evaluation.threshold
    tables = {
        PREDICTIONS: predictions_table(
            schema,
            ids=frame[schema.id_column].to_numpy(),
            event_time=frame[event_time_column(schema)].to_numpy(dtype="datetime64[us]"),
            split=split,
            scores=scores,
            threshold=threshold,
            labels=labels,
            model_version=version,
            segments=segments,
        ),
        METRICS: metrics_table(
            publication.model_name, metrics_rows(evaluation, publication, run_id)
        ),
        SCORING_SUMMARY: scoring_summary_table(
            version, split, scores, scores >= threshold, labels, segments
        ),
        DRIFT: drift_table(drift.drifts, drift.reference_version),
    }
    return write_run_outputs(Lakehouse(settings.lakehouse_uri), run_id, tables)


def run_summary_info(
    *,
    flow_name: str,
    run_id: str,
    data: PreparedData,
    trials: int,
    evaluation: Evaluation,
    publication: Publication,
    outputs: dict[str, str],
    settings: Settings,
    data_warnings: list[str],
) -> dict[str, Any]:
    """Everything :func:`fraud_mlops.reports.run_summary` prints, as plain JSON-safe values.

    A dict on purpose: it is the run's public record (``run.data.summary`` in the Client API,
    ``scripts/demo.py``, the benchmarks), readable without this package's classes.
    """
    tests = {kind: m["test"] for kind, m in evaluation.metrics.items()}
    return {
        "flow": flow_name,
        "run_id": run_id,
        "rows": int(sum(len(v) for v in data.labels.values())),
        "sizes": data.split.sizes(),
        "frauds": {s: int(v.sum()) for s, v in data.labels.items()},
        "trials": trials,
        "test_metrics": {k: {n: float(v) for n, v in m.items()} for k, m in tests.items()},
        "families": {
            name: {
                "family": entry.family,
                "val_pr_auc": float(entry.val_pr_auc),
                "cv_pr_auc": entry.cv_pr_auc,
                "test_pr_auc": float(entry.metrics["test"]["pr_auc"]),
                "test_roc_auc": float(entry.metrics["test"]["roc_auc"]),
                "intervals": entry.intervals,
            }
            for name, entry in evaluation.families.items()
        },
        **evaluation.headline(),  # candidate, family, selection, threshold, rule, budget
        "gate": publication.gate,
        "promoted": publication.promoted,
        "model_name": publication.model_name,
        "version": publication.version,
        "artifact_uri": publication.artifact_uri,
        "lakehouse_uri": settings.lakehouse_uri,
        "datasets": sorted(outputs),
        "metaflow_root": os.environ.get("METAFLOW_DATASTORE_SYSROOT_LOCAL", ""),
        "data_warnings": list(data_warnings),
    }
