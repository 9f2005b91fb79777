"""Candidates of every family: train one trial, then pick the champion candidate on validation.

A trial of any family (``mlp``, ``tabm`` — torch; ``gbdt`` — LightGBM) ends as a
:class:`TrialOutcome`: its exportable arrays plus its logits on every split. The join step
compares the families' best trials and a **blend** (a weighted sum of the best neural and the
best GBDT logits, the weight chosen on validation) and keeps the candidate with the best
validation PR-AUC — unless a paired bootstrap on the validation claims cannot tell it from a
simpler candidate (GBDT, then MLP, TabM, blend), which is then chosen instead. Test claims are
never used to choose: they judge the choice (the gate).

When the test split holds too few frauds to judge on one validation split, the candidates are
ranked by time-series cross-validation instead (:mod:`fraud_mlops.crossval`), and the selection
says so. :func:`cv_folds_for` decides that before any training, so each trial retrains itself on
the folds in its own (parallel) branch and the join only scores them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_mlops.errors import DataValidationError
from fraud_mlops.readiness import MIN_TRAIN_FRAUDS

if TYPE_CHECKING:
    from fraud_mlops.pipeline import PreparedData
    from fraud_mlops.search import Trial

SPLITS = ("train", "validation", "test")
BLEND_WEIGHTS = tuple(round(w, 2) for w in np.linspace(0.1, 0.9, 9))
# Below this many frauds in a split, one fraud more or less moves PR-AUC by several points.
MIN_FRAUDS_TO_JUDGE = 100
# Fewer training frauds than this and no family learns anything worth serving.


@dataclass
class TrialOutcome:
    """One trained trial: what to export and its logits on every split."""

    trial: int
    family: str
    params: dict[str, Any]
    architecture: dict[str, Any]
    arrays: dict[str, np.ndarray]
    logits: dict[str, np.ndarray]
    val_pr_auc: float
    summary: dict[str, Any] = field(default_factory=dict)
    # validation logits of this configuration retrained on each CV fold (None: not cross-validated)
    fold_logits: list[np.ndarray] | None = None


@dataclass
class Candidate:
    """A single family's best trial, or a blend of two of them."""

    name: str  # e.g. "mlp", "gbdt", "blend"
    family: str
    architecture: dict[str, Any]
    arrays: dict[str, np.ndarray]
    logits: dict[str, np.ndarray]
    params: dict[str, Any]
    val_pr_auc: float
    members: list[dict[str, Any]] = field(default_factory=list)
    cv_pr_auc: float | None = None


def check_enough_frauds(labels: dict[str, np.ndarray]) -> None:
    """Refuse data no family can learn from, with the counts and what to do; nothing is written."""
    frauds = {s: int(np.asarray(labels[s]).sum()) for s in SPLITS}
    rows = {s: len(labels[s]) for s in SPLITS}
    if frauds["train"] < MIN_TRAIN_FRAUDS or min(frauds.values()) < 1:
        counts = ", ".join(f"{s} {frauds[s]} of {rows[s]:,}" for s in SPLITS)
        raise DataValidationError(
            "model training",
            [
                f"too few frauds to train any model family (frauds per split: {counts}); "
                f"the training split needs at least {MIN_TRAIN_FRAUDS} and every split one. "
                "Bring more claims (or a longer period), or check the label column."
            ],
        )


def needs_cross_validation(labels: dict[str, np.ndarray], n_candidates: int) -> bool:
    """The rule: rank by time-series CV when the test split holds fewer than
    ``MIN_FRAUDS_TO_JUDGE`` frauds and there is more than one candidate to rank."""
    return int(np.asarray(labels["test"]).sum()) < MIN_FRAUDS_TO_JUDGE and n_candidates > 1


def cv_folds_for(data: PreparedData, trials: list[Trial]) -> int:
    """Folds each trial should retrain on in its own branch (0: selection will not use CV).

    The candidates are each family's best trial plus a blend when a neural family and GBDT
    both train, so more than one family means more than one candidate.
    """
    from fraud_mlops.crossval import DEFAULT_FOLDS

    families = {t.family for t in trials}
    return DEFAULT_FOLDS if needs_cross_validation(data.labels, len(families)) else 0


# Rough relative cost of one trial per family (TabM trains k members at once), used only to
# start the longest trials first: with fewer workers than trials that shortens the fan-out.
_TRIAL_COST = {"tabm": 3, "mlp": 1, "gbdt": 1}


def longest_first(trials: list[Trial]) -> list[Trial]:
    """The trials in the order to start them: costliest family first, then by index. Only the
    schedule changes: indices, seeds and selection (which orders by index) stay the same."""
    return sorted(trials, key=lambda t: (-_TRIAL_COST.get(t.family, 1), t.index))


def _train(data: PreparedData, trial: Trial, max_epochs: int) -> tuple[Any, Any, dict, dict]:
    """Fit the trial's family on train (early-stopped on validation): config, result, the
    exportable arrays and the logits on every split."""
    config = trial.config(threads=1)
    f, y = data.features, data.labels
    cards = data.preprocessor.cardinalities
    if trial.family == "gbdt":
        from fraud_mlops.gbdt import predict_logit, train_gbdt

        result = train_gbdt(f["train"], y["train"], f["validation"], y["validation"], cards, config)
        return config, result, result.arrays, {s: predict_logit(result, f[s]) for s in SPLITS}
    from fraud_mlops.train import predict_logit, train_model

    if max_epochs:
        config = type(config).from_params(
            config.to_params(), max_epochs=min(max_epochs, config.max_epochs)
        )
    result = train_model(f["train"], y["train"], f["validation"], y["validation"], cards, config)
    return config, result, result.weights, {s: predict_logit(result, f[s]) for s in SPLITS}


def run_trial(
    data: PreparedData, trial: Trial, max_epochs: int = 0, cv_folds: int = 0
) -> TrialOutcome:
    """Train one trial of its family on the run's train split (early-stopped on validation).

    With ``cv_folds`` (see :func:`cv_folds_for`) the trained configuration is also retrained on
    the run's expanding-window folds, and the outcome carries its fold logits for selection.
    """
    check_enough_frauds(data.labels)
    start = time.perf_counter()
    config, result, arrays, logits = _train(data, trial, max_epochs)
    summary = {
        "trial": trial.index,
        "family": trial.family,
        **result.summary(),
        "seconds": time.perf_counter() - start,
    }
    outcome = TrialOutcome(
        trial=trial.index,
        family=trial.family,
        params=config.to_params(),
        architecture=dict(result.architecture),
        arrays=dict(arrays),
        logits={s: np.asarray(v, dtype=np.float64) for s, v in logits.items()},
        val_pr_auc=float(result.val_pr_auc),
        summary=summary,
    )
    if cv_folds:
        from fraud_mlops.crossval import trial_fold_logits

        start = time.perf_counter()
        outcome.fold_logits = trial_fold_logits(data, outcome, n_folds=cv_folds)
        summary["cv_seconds"] = time.perf_counter() - start
    return outcome


def pr_auc(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, scores))


def best_per_family(outcomes: list[TrialOutcome]) -> dict[str, Candidate]:
    """Each family's trial with the best validation PR-AUC (ties: the earlier trial)."""
    best: dict[str, TrialOutcome] = {}
    for o in sorted(outcomes, key=lambda o: o.trial):
        if o.family not in best or o.val_pr_auc > best[o.family].val_pr_auc + 1e-12:
            best[o.family] = o
    return {
        family: Candidate(
            name=family,
            family=family,
            architecture=o.architecture,
            arrays=o.arrays,
            logits=o.logits,
            params={"trial": o.trial, **o.params},
            val_pr_auc=float(o.val_pr_auc),
        )
        for family, o in best.items()
    }


def blend_of(neural: Candidate, trees: Candidate, y_validation: np.ndarray) -> Candidate:
    """``w * neural + (1 - w) * trees`` on the logit scale, ``w`` chosen on validation."""
    from fraud_mlops.artifact import BLEND_TYPE, member_prefix

    scores = {
        w: pr_auc(
            y_validation, w * neural.logits["validation"] + (1 - w) * trees.logits["validation"]
        )
        for w in BLEND_WEIGHTS
    }
    weight = max(BLEND_WEIGHTS, key=lambda w: (scores[w], -abs(w - 0.5)))
    members = [(neural, weight), (trees, 1.0 - weight)]
    arrays = {
        member_prefix(i) + name: value
        for i, (member, _) in enumerate(members)
        for name, value in member.arrays.items()
    }
    return Candidate(
        name="blend",
        family="blend",
        architecture={
            "type": BLEND_TYPE,
            "members": [
                {"family": m.family, "weight": float(w), "architecture": m.architecture}
                for m, w in members
            ],
        },
        arrays=arrays,
        logits={s: weight * neural.logits[s] + (1 - weight) * trees.logits[s] for s in SPLITS},
        params={"weights": {m.family: float(w) for m, w in members}},
        val_pr_auc=scores[weight],
        members=[{"family": m.family, "weight": float(w), "params": m.params} for m, w in members],
    )


def candidates_of(outcomes: list[TrialOutcome], y_validation: np.ndarray) -> dict[str, Candidate]:
    """The families' best trials, plus the blend of the best neural and the best GBDT."""
    out = best_per_family(outcomes)
    neural = [c for f, c in out.items() if f in ("mlp", "tabm")]
    if neural and "gbdt" in out:
        best_neural = max(neural, key=lambda c: c.val_pr_auc)
        out["blend"] = blend_of(best_neural, out["gbdt"], y_validation)
    return out


@dataclass
class Selection:
    """The champion candidate, every candidate's figures and how the choice was made."""

    chosen: Candidate
    candidates: dict[str, Candidate]
    method: str  # "validation" or "time-series cross-validation"
    reason: str
    table: list[dict[str, Any]]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record for the manifest's ``selection`` and the run summary."""
        return {
            "family": self.chosen.family,
            "candidate": self.chosen.name,
            "method": self.method,
            "reason": self.reason,
            "members": self.chosen.members,
            "candidates": self.table,
            "warnings": self.warnings,
        }


# Simpler first among candidates validation cannot tell apart: trees are the cheapest to serve
# and explain exactly; a blend is the most complex.
_SIMPLICITY = {"gbdt": 0, "mlp": 1, "tabm": 2, "blend": 3}


def tied_with_best(
    y: np.ndarray, candidates: dict[str, Candidate], best: str, seed: int = 0
) -> list[str]:
    """Candidates whose validation PR-AUC the best one does not beat with 95 % confidence
    (paired bootstrap of ``best - other`` on the same validation claims; interval reaches 0)."""
    from fraud_mlops.evaluate import paired_bootstrap

    tied = []
    for name, c in candidates.items():
        if name == best:
            continue
        r = paired_bootstrap(
            y, candidates[best].logits["validation"], c.logits["validation"], seed=seed
        )
        if r["difference"]["low"] <= 0.0:
            tied.append(name)
    return tied


def select_candidate(
    data: PreparedData, outcomes: list[TrialOutcome], cv_folds: int = 2
) -> Selection:
    """Pick the champion candidate: validation PR-AUC, or time-series CV on small data."""
    y_val = data.labels["validation"]
    candidates = candidates_of(outcomes, y_val)
    frauds = {s: int(data.labels[s].sum()) for s in SPLITS}
    warnings = [
        f"the {s} split holds only {frauds[s]} frauds (< {MIN_FRAUDS_TO_JUDGE}): its PR-AUC "
        "moves by several points with a handful of claims; read the intervals, not the points"
        for s in ("validation", "test")
        if frauds[s] < MIN_FRAUDS_TO_JUDGE
    ]
    method = "validation"
    key = {name: c.val_pr_auc for name, c in candidates.items()}
    if needs_cross_validation(data.labels, len(candidates)):
        from fraud_mlops.crossval import cross_validate

        cv = cross_validate(data, candidates, outcomes, n_folds=cv_folds)
        if cv is not None:
            method = "time-series cross-validation"
            for name, value in cv.items():
                candidates[name].cv_pr_auc = value
            key = dict(cv)
    best = max(key, key=lambda n: (round(key[n], 12), -_SIMPLICITY[candidates[n].family]))
    figure = (
        "validation PR-AUC"
        if method == "validation"
        else ("mean PR-AUC over expanding-window folds")
    )
    ranked = sorted(key, key=lambda n: -key[n])
    runner = next((n for n in ranked if n != best), None)
    reason = f"{best} has the best {figure}: {key[best]:.4f}" + (
        f" (next: {runner} {key[runner]:.4f})" if runner else ""
    )
    chosen_name = best
    if method == "validation" and len(candidates) > 1:
        # One validation split decides on noise when the candidates are close: among those the
        # best does not beat with confidence, take the simplest (see _SIMPLICITY).
        tied = tied_with_best(y_val, candidates, best)
        simplest = min([best, *tied], key=lambda n: _SIMPLICITY[candidates[n].family])
        if simplest != best:
            chosen_name = simplest
            reason = (
                f"{best} has the best {figure} ({key[best]:.4f}), but a paired bootstrap on the "
                f"validation claims cannot tell it from {', '.join(sorted(tied))} with 95 % "
                f"confidence; the simplest of those, {simplest} ({key[simplest]:.4f}), is chosen"
            )
    chosen = candidates[chosen_name]
    table = [
        {
            "candidate": name,
            "family": c.family,
            "val_pr_auc": round(c.val_pr_auc, 6),
            "cv_pr_auc": None if c.cv_pr_auc is None else round(c.cv_pr_auc, 6),
            "params": c.params,
            "chosen": name == chosen_name,
        }
        for name, c in candidates.items()
    ]
    return Selection(chosen, candidates, method, reason, table, warnings)
