"""What each step of a training run hands the next: typed, picklable records.

The flow stores these as Metaflow artifacts between steps; :mod:`fraud_mlops.pipeline` builds
them; the cards (``flows/cards.py``), the manifest and the run summary read them. Plain JSON
records that leave the run (the gate decision, the selection record, metric tables, the run
summary) stay dicts; everything a later step reads is a field here.

    start ─ RunParameters, RunClaims ─► prepare ─ PreparedData ─► train_trial ─ TrialOutcome
    ─► select ─ Selection ─► evaluate ─ Evaluation ─► drift ─ DriftResult ─► publish
    ─ Publication ─► end (outputs, summary)

(``TrialOutcome`` and ``Selection`` live with the candidates in :mod:`fraud_mlops.candidates`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.drift import FeatureDrift, ReferenceProfile
    from fraud_mlops.evaluate import CostModel
    from fraud_mlops.gate import GatePolicy
    from fraud_mlops.preprocessing import FeatureBatch, Preprocessor
    from fraud_mlops.schema import ClaimsSchema
    from fraud_mlops.search import Trial
    from fraud_mlops.splits import TimeSplit

# split name -> metric name -> value (the shape of fraud_mlops.evaluate.evaluate_scores per split)
SplitMetrics = dict[str, dict[str, float]]


# -- start ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunParameters:
    """The run's validated knobs: cost model, gate policy and the sampled trials."""

    cost: CostModel
    policy: GatePolicy
    trials: list[Trial]


@dataclass(frozen=True)
class RunClaims:
    """The run's validated claims, their schema, where they were recorded, and data warnings."""

    frame: pd.DataFrame
    schema_dict: dict[str, Any]
    raw_uri: str
    warnings: list[str]


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

    @property
    def seed(self) -> int:
        """A bootstrap seed fixed by the training data (same data, same intervals)."""
        return int(self.fingerprint[:8], 16)


# -- evaluate ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChampionScores:
    """The current champion re-scored on THIS run's test split, or why it could not be.

    No champion: every field None. A champion of another schema: ``version`` and ``problem``
    set, no scores. Otherwise its family, test scores, training reference and own threshold.
    """

    version: str | None = None
    family: str | None = None
    problem: str | None = None
    scores: np.ndarray | None = None
    reference: ReferenceProfile | None = None
    threshold: float | None = None

    @property
    def scored(self) -> bool:
        return self.scores is not None


@dataclass(frozen=True)
class FamilyEvaluation:
    """One candidate (a family's best trial, or the blend) on validation and test."""

    family: str
    val_pr_auc: float
    cv_pr_auc: float | None
    metrics: SplitMetrics  # "validation" and "test", each at the candidate's own threshold
    intervals: dict[str, Any]  # bootstrap intervals on the test split

    def record(self) -> dict[str, Any]:
        """JSON-safe: what the manifest, the cards and the run summary show of a candidate."""
        return {
            "family": self.family,
            "val_pr_auc": float(self.val_pr_auc),
            "cv_pr_auc": self.cv_pr_auc,
            "test": self.metrics["test"],
            "intervals": self.intervals,
        }


@dataclass(frozen=True)
class Evaluation:
    """The chosen candidate, every candidate and the champion on the same test split."""

    candidate: str  # the chosen candidate's name ("mlp", "tabm", "gbdt", "blend")
    family: str
    scores: dict[str, np.ndarray]  # the chosen candidate's calibrated scores, every split
    family_scores: dict[str, np.ndarray]  # each candidate's calibrated test scores
    champion: ChampionScores
    # model kind -> split metrics: "mlp" (the chosen candidate: legacy key, whatever its
    # family), "baseline" (the run's best GBDT, when one trained), "champion" (test only)
    metrics: dict[str, SplitMetrics]
    families: dict[str, FamilyEvaluation]
    threshold: float
    threshold_rule: str  # "cost" or "budget"
    alert_budget: float
    calibration: tuple[float, float]  # Platt (slope, intercept), fitted on validation
    selection: dict[str, Any]  # Selection.to_dict(): how the candidate was chosen
    vs_champion: dict[str, Any] | None  # paired bootstrap, candidate - champion (test PR-AUC)
    vs_baseline: dict[str, Any] | None  # paired bootstrap, candidate - best GBDT

    def headline(self) -> dict[str, Any]:
        """JSON-safe fields :func:`fraud_mlops.reports.selection_lines` and the summary read."""
        return {
            "candidate": self.candidate,
            "family": self.family,
            "selection": self.selection,
            "threshold": float(self.threshold),
            "threshold_rule": self.threshold_rule,
            "alert_budget": float(self.alert_budget),
        }


# -- drift ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftResult:
    """PSI/KS per feature and what was compared with what."""

    drifts: list[FeatureDrift]
    reference_version: str | None  # the champion's version; None: this run's own training split
    current: str  # "all" (the run's claims) or "test vs own train"


# -- publish -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Publication:
    """The published version, where it is, and the gate's decision on it."""

    model_name: str
    version: str
    artifact_uri: str
    promoted: bool
    gate: dict[str, Any]  # GateDecision.to_dict()
    family: str
    params: dict[str, Any]
