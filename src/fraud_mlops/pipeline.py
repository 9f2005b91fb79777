"""The stages of a training run, one function per flow step.

``flows/fraud_detection_flow.py`` stays thin: each step reads its artifacts, calls one function
here and stores what it returns. Keeping the work in the library makes it testable without
Metaflow and ships it to Batch inside the code package.

Test hook: ``FRAUD_MLOPS_FAIL_AT_STEP=<step>`` makes that step raise (used by the resume test to
fail a run late, then resume it without the variable). Inert unless set.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_mlops.errors import ConfigError, ModelError

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.drift import ReferenceProfile
    from fraud_mlops.evaluate import CostModel
    from fraud_mlops.gate import GateDecision, GatePolicy
    from fraud_mlops.preprocessing import FeatureBatch, Preprocessor
    from fraud_mlops.schema import ClaimsSchema
    from fraud_mlops.search import Trial
    from fraud_mlops.settings import Settings
    from fraud_mlops.splits import TimeSplit
    from fraud_mlops.train import TrainResult

FAIL_AT_STEP_ENV = "FRAUD_MLOPS_FAIL_AT_STEP"
SPLITS = ("train", "validation", "test")


def fail_if_requested(step_name: str) -> None:
    """The resume test hook (see the module docstring)."""
    if os.environ.get(FAIL_AT_STEP_ENV) == step_name:
        raise RuntimeError(f"injected failure at step {step_name!r} ({FAIL_AT_STEP_ENV})")


# -- start ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunParameters:
    cost: CostModel
    policy: GatePolicy
    trials: list[Trial]


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
    """Check every flow parameter up front; the first bad one fails the run with what to pass."""
    import yaml

    from fraud_mlops.evaluate import CostModel
    from fraud_mlops.gate import GatePolicy
    from fraud_mlops.readiness import MIN_ROWS
    from fraud_mlops.search import search_space_from_dict

    if not input_uri and sample_size < MIN_ROWS:
        raise ConfigError(
            f"--sample-size {sample_size} is too small: pass at least {MIN_ROWS} (default 20000) "
            "so every split has fraud cases"
        )
    if not 1 <= trials <= 256:
        raise ConfigError(f"--trials {trials} is out of range: pass 1 to 256 (default 4)")
    if seed < 0:
        raise ConfigError(f"--seed {seed} is negative: pass 0 or a positive whole number")
    if max_epochs < 0:
        raise ConfigError(f"--max-epochs {max_epochs}: pass 0 (search config) or a positive cap")
    cost = CostModel(
        investigation_cost=investigation_cost, fraud_loss=fraud_loss, alert_budget=alert_budget
    )
    policy = GatePolicy(pr_auc_tolerance=pr_auc_tolerance, baseline_margin=baseline_margin)
    try:
        data = yaml.safe_load(search_config or "")
    except yaml.YAMLError as exc:
        raise ConfigError(f"--search-config is not valid YAML: {exc}") from None
    space = search_space_from_dict(data, "--search-config")
    return RunParameters(cost=cost, policy=policy, trials=space.sample(trials, seed))


@dataclass(frozen=True)
class RunClaims:
    """The run's validated claims, their schema, where they were recorded, and data warnings."""

    frame: pd.DataFrame
    schema_dict: dict[str, Any]
    raw_uri: str
    warnings: list[str]


def load_run_claims(
    input_uri: str, schema_ref: str, sample_size: int, seed: int, run_id: str
) -> RunClaims:
    """Synthetic claims, or the user's file validated against ``schema_ref``; written to raw/.

    Claims that cannot train (too few, one class, a split short of frauds) are refused BEFORE
    the run's raw/claims partition is written (:func:`fraud_mlops.readiness.check_trainable`).
    """
    from fraud_mlops.ingest import extra_columns, read_table, validate_claims
    from fraud_mlops.lakehouse import RAW_CLAIMS, Lakehouse
    from fraud_mlops.readiness import check_trainable
    from fraud_mlops.schema import load_schema
    from fraud_mlops.settings import Settings

    schema = load_schema(schema_ref)
    warnings: list[str] = []
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
    lake = Lakehouse(Settings.from_env().lakehouse_uri)
    written = lake.write(RAW_CLAIMS, run_id, frame)
    return RunClaims(frame, schema.to_dict(), written.uri, warnings)


# -- prepare -------------------------------------------------------------------------------------
@dataclass
class PreparedData:
    """Everything the trials and later steps need, fitted on the training split only."""

    schema_dict: dict[str, Any]
    split: TimeSplit
    preprocessor: Preprocessor
    features: dict[str, FeatureBatch]
    labels: dict[str, np.ndarray]
    reference: ReferenceProfile
    fingerprint: str
    frames: dict[str, Any] = field(default_factory=dict)  # raw split frames (baseline, scoring)

    @property
    def schema(self) -> ClaimsSchema:
        from fraud_mlops.schema import schema_from_dict

        return schema_from_dict(self.schema_dict)


def prepare_data(claims: pd.DataFrame, schema_dict: dict[str, Any], seed: int) -> PreparedData:
    """Split by time, fit preprocessing + drift reference on train, transform every split."""
    from fraud_mlops.artifact import fingerprint_columns
    from fraud_mlops.drift import build_reference
    from fraud_mlops.preprocessing import fit_preprocessing
    from fraud_mlops.schema import schema_from_dict
    from fraud_mlops.splits import time_split

    schema = schema_from_dict(schema_dict)
    split = time_split(claims, schema)
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


# -- baseline ------------------------------------------------------------------------------------
def run_baseline(data: PreparedData, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fit the baseline on train (early-stopped on validation) and score validation + test."""
    from fraud_mlops.baseline import fit_baseline

    f, y = data.frames, data.labels
    model = fit_baseline(
        f["train"], y["train"], f["validation"], y["validation"], data.schema, seed=seed
    )
    scores = {s: model.predict_proba(f[s]) for s in ("validation", "test")}
    return scores, {**model.params, "n_iter": int(model.model.n_iter_)}


# -- evaluate ------------------------------------------------------------------------------------
def _champion_scores(data: PreparedData) -> dict[str, Any]:
    """Fetch the current champion and score THIS run's test split with it (numpy scorer)."""
    from fraud_mlops.scoring import Scorer
    from fraud_mlops.settings import Settings
    from fraud_mlops.store import ModelStore

    settings = Settings.from_env()
    store = ModelStore(settings.model_store_uri)
    pointer = store.champion(settings.model_name)
    if pointer is None:
        return {
            "version": None,
            "problem": None,
            "scores": None,
            "reference": None,
            "threshold": None,
        }
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
        return {
            "version": artifact.version,
            "problem": problem,
            "scores": None,
            "reference": None,
            "threshold": None,
        }
    scores = Scorer(artifact).score(data.frames["test"]).probability
    return {
        "version": artifact.version,
        "problem": None,
        "scores": scores,
        "reference": artifact.reference,
        "threshold": artifact.threshold,
    }


def evaluate_run(
    data: PreparedData,
    best: TrainResult,
    baseline_scores: dict[str, np.ndarray],
    cost: CostModel,
) -> dict[str, Any]:
    """Metrics of MLP, baseline and champion on the same test split.

    MLP and baseline thresholds are chosen on validation by expected cost; the champion keeps
    the threshold recorded in its manifest.
    """
    from fraud_mlops.evaluate import apply_platt, evaluate_model, evaluate_scores, fit_platt
    from fraud_mlops.train import predict

    y = data.labels
    raw = {s: predict(best, data.features[s]) for s in SPLITS}
    # Calibrated on validation (never test), then shipped in the manifest and applied by the scorer.
    calibration = fit_platt(y["validation"], raw["validation"])
    mlp = {s: apply_platt(raw[s], calibration) for s in SPLITS}
    metrics = {
        "mlp": evaluate_model(y["validation"], mlp["validation"], y["test"], mlp["test"], cost),
        "baseline": evaluate_model(
            y["validation"], baseline_scores["validation"], y["test"], baseline_scores["test"], cost
        ),
    }
    champion = _champion_scores(data)
    if champion["scores"] is not None:
        # The champion keeps the threshold it shipped with (chosen on its own validation data).
        metrics["champion"] = {
            "test": evaluate_scores(y["test"], champion["scores"], cost, champion["threshold"])
        }
    return {
        "mlp_scores": mlp,
        "baseline_scores": baseline_scores,
        "champion": champion,
        "metrics": metrics,
        "threshold": metrics["mlp"]["validation"]["threshold"],
        "calibration": calibration,
    }


# -- drift ---------------------------------------------------------------------------------------
def run_drift(claims: pd.DataFrame, data: PreparedData, evaluation: dict[str, Any]) -> dict:
    """PSI/KS of this run's claims vs the champion's training reference.

    With no comparable champion, this run's test split is compared with its own training split
    (reference version empty), which still shows how much the data moved over time.
    """
    from fraud_mlops.drift import compute_drift

    champion = evaluation["champion"]
    if champion["reference"] is not None:
        drifts = compute_drift(champion["reference"], claims, data.schema)
        return {"drifts": drifts, "reference_version": champion["version"], "current": "all"}
    drifts = compute_drift(data.reference, data.frames["test"], data.schema)
    return {"drifts": drifts, "reference_version": None, "current": "test vs own train"}


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


def publish_model(
    data: PreparedData,
    best: TrainResult,
    evaluation: dict[str, Any],
    policy: GatePolicy,
    run_id: str,
) -> dict[str, Any]:
    """Gate the model, publish its artifact, and move the champion pointer if it passed."""
    from fraud_mlops.gate import decide
    from fraud_mlops.settings import Settings
    from fraud_mlops.store import ModelStore, new_version

    fail_if_requested("publish")
    metrics = evaluation["metrics"]
    champion = evaluation["champion"]
    decision = decide(
        candidate_pr_auc=metrics["mlp"]["test"]["pr_auc"],
        baseline_pr_auc=metrics["baseline"]["test"]["pr_auc"],
        champion_pr_auc=metrics["champion"]["test"]["pr_auc"] if "champion" in metrics else None,
        policy=policy,
        champion_version=champion["version"],
        champion_problem=champion["problem"],
    )
    settings = Settings.from_env()
    version = new_version(run_id)
    with tempfile.TemporaryDirectory(prefix="artifact-") as tmp:
        staging = Path(tmp) / version
        uri = _export_check_publish(staging, data, best, evaluation, decision, settings, version)
    if decision.passed:
        store = ModelStore(settings.model_store_uri)
        store.set_champion(
            settings.model_name, version, gate=decision.to_dict(), metrics=metrics["mlp"]["test"]
        )
    return {
        "model_name": settings.model_name,
        "version": version,
        "artifact_uri": uri,
        "promoted": decision.passed,
        "gate": decision.to_dict(),
        "params": best.config.to_params(),
    }


def _export_check_publish(
    staging: Path,
    data: PreparedData,
    best: TrainResult,
    evaluation: dict[str, Any],
    decision: GateDecision,
    settings: Settings,
    version: str,
) -> str:
    """Export the artifact, prove the served numpy pass matches torch, publish the version."""
    from fraud_mlops.artifact import export_artifact, load_artifact
    from fraud_mlops.scoring import Scorer
    from fraud_mlops.store import ModelStore

    metrics = evaluation["metrics"]
    export_artifact(
        staging,
        model_name=settings.model_name,
        version=version,
        schema=data.schema,
        preprocessor=data.preprocessor,
        architecture=best.architecture,
        weights=best.weights,
        threshold=float(np.clip(evaluation["threshold"], 0.0, 1.0)),
        metrics={
            "mlp": metrics["mlp"],
            "baseline": metrics["baseline"],
            "gate": decision.to_dict(),
        },
        data_fingerprint=data.fingerprint,
        code_version=code_version(),
        reference=data.reference,
        params={**best.config.to_params(), "best_epoch": best.best_epoch},
        calibration=evaluation["calibration"],
    )
    # What gets served is the numpy forward pass: refuse to publish if it disagrees with torch.
    served = Scorer(load_artifact(staging)).score(data.frames["test"]).probability
    gap = float(np.max(np.abs(served - evaluation["mlp_scores"]["test"])))
    if gap > 1e-5:
        raise ModelError(f"numpy scorer differs from torch by {gap:.2e} (> 1e-5); not publishing")
    return ModelStore(settings.model_store_uri).publish(staging, settings.model_name, version)


# -- end -----------------------------------------------------------------------------------------
def write_outputs(
    claims: pd.DataFrame,
    data: PreparedData,
    evaluation: dict[str, Any],
    drift: dict[str, Any],
    publication: dict[str, Any],
    run_id: str,
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
    from fraud_mlops.settings import Settings

    schema = data.schema
    order = np.concatenate([data.split.indices(s) for s in SPLITS])
    split = np.concatenate([np.full(len(data.split.indices(s)), s, dtype=object) for s in SPLITS])
    scores = np.concatenate([evaluation["mlp_scores"][s] for s in SPLITS])
    frame = claims.iloc[order]
    labels = frame[schema.label_column].to_numpy()
    segments = {c: frame[c].to_numpy(dtype=object) for c in schema.segments}
    version, threshold = publication["version"], evaluation["threshold"]
    models = [
        {
            "version": version,
            "kind": "mlp",
            "metrics": evaluation["metrics"]["mlp"],
            "params": publication.get("params") or {},
            "is_champion": publication["promoted"],
        },
        {
            "version": f"baseline-{run_id}",
            "kind": "baseline",
            "metrics": evaluation["metrics"]["baseline"],
        },
    ]
    if "champion" in evaluation["metrics"]:
        models.append(
            {
                "version": evaluation["champion"]["version"],
                "kind": "champion",
                "metrics": evaluation["metrics"]["champion"],
            }
        )
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
        METRICS: metrics_table(publication["model_name"], models),
        SCORING_SUMMARY: scoring_summary_table(
            version, split, scores, scores >= threshold, labels, segments
        ),
        DRIFT: drift_table(drift["drifts"], drift["reference_version"]),
    }
    return write_run_outputs(Lakehouse(Settings.from_env().lakehouse_uri), run_id, tables)


def run_summary_info(
    *,
    flow_name: str,
    run_id: str,
    data: PreparedData,
    trials: int,
    evaluation: dict[str, Any],
    publication: dict[str, Any],
    outputs: dict[str, str],
) -> dict[str, Any]:
    """Everything :func:`fraud_mlops.reports.run_summary` prints, as plain JSON-safe values."""
    from fraud_mlops.settings import Settings

    tests = {kind: m["test"] for kind, m in evaluation["metrics"].items()}
    return {
        "flow": flow_name,
        "run_id": run_id,
        "rows": int(sum(len(v) for v in data.labels.values())),
        "sizes": data.split.sizes(),
        "trials": trials,
        "test_metrics": {k: {n: float(v) for n, v in m.items()} for k, m in tests.items()},
        "gate": publication["gate"],
        "promoted": publication["promoted"],
        "model_name": publication["model_name"],
        "version": publication["version"],
        "artifact_uri": publication["artifact_uri"],
        "lakehouse_uri": Settings.from_env().lakehouse_uri,
        "datasets": sorted(outputs),
        "metaflow_root": os.environ.get("METAFLOW_DATASTORE_SYSROOT_LOCAL", ""),
    }


# -- cards ---------------------------------------------------------------------------------------
def evaluation_card(evaluation: dict[str, Any], data: PreparedData, trials: list[dict]) -> list:
    """Components of the evaluation card: comparison table, PR curves, score histograms."""
    from metaflow.cards import Image, Markdown, Table

    from fraud_mlops.reports import comparison_rows, pr_curve_figure, score_histogram_figure

    y = data.labels["test"]
    tests = {kind: m["test"] for kind, m in evaluation["metrics"].items()}
    header, rows = comparison_rows(tests, list(next(iter(tests.values()))))
    curves = {
        "MLP": evaluation["mlp_scores"]["test"],
        "baseline": evaluation["baseline_scores"]["test"],
    }
    if evaluation["champion"]["scores"] is not None:
        curves[f"champion {evaluation['champion']['version']}"] = evaluation["champion"]["scores"]
    mlp, base = tests["mlp"]["pr_auc"], tests["baseline"]["pr_auc"]
    verdict = (
        f"The MLP {'matches or beats' if mlp >= base - 0.01 else 'trails'} the baseline on test "
        f"PR-AUC ({mlp:.4f} vs {base:.4f})."
    )
    trial_rows = [
        [str(t["trial"]), f"{t['val_pr_auc']:.4f}", str(t["best_epoch"]), str(t["params"])]
        for t in trials
    ]
    return [
        Markdown(f"# Evaluation on the test split ({len(y):,} newest claims)\n\n{verdict}"),
        Table(rows, headers=header),
        Image.from_matplotlib(pr_curve_figure(y, curves)),
        Image.from_matplotlib(
            score_histogram_figure(y, evaluation["mlp_scores"]["test"], evaluation["threshold"])
        ),
        Markdown("## Trials (selected on validation PR-AUC)"),
        Table(trial_rows, headers=["trial", "val PR-AUC", "best epoch", "params"]),
    ]


def drift_card(drift: dict[str, Any]) -> list:
    """Components of the drift card: PSI bar chart and a PSI/KS table."""
    from metaflow.cards import Image, Markdown, Table

    from fraud_mlops.reports import psi_figure

    ref = drift["reference_version"]
    title = (
        f"# Drift vs champion {ref}" if ref else "# Drift: test split vs this run's training split"
    )
    rows = [
        [d.feature, d.kind, f"{d.psi:.4f}", "–" if d.ks is None else f"{d.ks:.4f}", d.verdict]
        for d in drift["drifts"]
    ]
    return [
        Markdown(title + "\n\nPSI < 0.1 stable, 0.1–0.25 watch, > 0.25 shifted."),
        Image.from_matplotlib(psi_figure(drift["drifts"], ref or "(none: own training split)")),
        Table(rows, headers=["feature", "kind", "PSI", "KS", "verdict"]),
    ]
