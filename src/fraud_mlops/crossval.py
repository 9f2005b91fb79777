"""Rank candidates by time-series cross-validation when one validation split is too small.

With few frauds in the validation split, one lucky trial can win selection by noise. Here each
candidate's configuration — the family's best trial, with its best epoch / tree count as a
fixed budget; a blend keeps its members' configurations and weight — is retrained on expanding
windows of the train + validation claims (train on everything before a block, validate on the
block) and ranked by its mean PR-AUC over the folds. Test claims are never touched. Each fold
refits preprocessing on its own training part, as a real run would.

The retraining is per trial (:func:`trial_fold_logits`), so the flow does it inside each
``train_trial`` branch, side by side, right after the trial trained; :func:`cross_validate`
in the join only scores the folds (it retrains a trial itself only when its outcome carries no
fold logits, e.g. outcomes built outside the flow). Both paths give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.candidates import Candidate, TrialOutcome
    from fraud_mlops.pipeline import PreparedData

DEFAULT_FOLDS = 2


@dataclass(frozen=True)
class FoldData:
    """One expanding-window fold: raw claims and labels of its train and validation parts."""

    frames: dict[str, pd.DataFrame]
    labels: dict[str, np.ndarray]


def _fold_positions(fold: Any) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows) of one fold, as positions into the claims frame."""
    if isinstance(fold, tuple | list):
        return np.asarray(fold[0]), np.asarray(fold[1])
    return np.asarray(fold.train), np.asarray(fold.validation)


def cv_folds(data: PreparedData, n_folds: int = DEFAULT_FOLDS) -> list[FoldData] | None:
    """The run's expanding-window folds over train + validation, or None when no fold is
    usable (the data is too small to make folds with both classes). Deterministic."""
    import pandas as pd

    from fraud_mlops.errors import FraudMlopsError
    from fraud_mlops.splits import expanding_window_folds

    frame = pd.concat([data.frames["train"], data.frames["validation"]], ignore_index=True)
    y = np.concatenate([data.labels["train"], data.labels["validation"]])
    y_all = np.zeros(len(data.split.train) + len(data.split.validation) + len(data.split.test))
    for split_name in ("train", "validation", "test"):
        y_all[data.split.indices(split_name)] = data.labels[split_name]
    try:
        folds = expanding_window_folds(data.split, y_all.astype(np.int64), n_folds=n_folds)
    except FraudMlopsError:
        return None
    if not folds:
        return None
    # positions in the split's frame -> positions in the train+validation frame built above
    order = np.concatenate([data.split.train, data.split.validation])
    where = np.empty(order.max() + 1, dtype=np.int64)
    where[order] = np.arange(len(order))
    out = []
    for fold in folds:
        train_rows, val_rows = (where[p] for p in _fold_positions(fold))
        out.append(
            FoldData(
                frames={
                    "train": frame.iloc[train_rows].reset_index(drop=True),
                    "validation": frame.iloc[val_rows].reset_index(drop=True),
                },
                labels={"train": y[train_rows], "validation": y[val_rows]},
            )
        )
    return out


def _fold_logits(fold: FoldData, schema, outcome: TrialOutcome) -> np.ndarray:
    """Retrain one trial's configuration on a fold; its logits on the fold's validation rows."""
    from fraud_mlops.preprocessing import fit_preprocessing
    from fraud_mlops.search import Trial

    frames, labels = fold.frames, fold.labels
    pre = fit_preprocessing(frames["train"], schema)
    feats = {s: pre.transform(frames[s]) for s in ("train", "validation")}
    params = {k: v for k, v in outcome.params.items() if k not in ("seed", "threads", "family")}
    # The trial's own budget (its best epoch / iteration count), so a fold costs less than the
    # search did; early stopping on the fold's block would also tune on what it scores.
    best = max(1, int(outcome.summary.get("best_epoch") or 1))
    if outcome.family == "gbdt":
        params["n_estimators"] = best
    else:
        params.update(max_epochs=best, patience=best)
    trial = Trial(outcome.trial, int(outcome.params.get("seed", 0)), params, outcome.family)
    config = trial.config(threads=1)
    if outcome.family == "gbdt":
        from fraud_mlops.gbdt import predict_logit, train_gbdt

        result = train_gbdt(
            feats["train"],
            labels["train"],
            feats["validation"],
            labels["validation"],
            pre.cardinalities,
            config,
        )
        return np.asarray(predict_logit(result, feats["validation"]), dtype=np.float64)
    from fraud_mlops.train import predict_logit as neural_logit
    from fraud_mlops.train import train_model

    result = train_model(
        feats["train"],
        labels["train"],
        feats["validation"],
        labels["validation"],
        pre.cardinalities,
        config,
    )
    return np.asarray(neural_logit(result, feats["validation"]), dtype=np.float64)


def trial_fold_logits(
    data: PreparedData, outcome: TrialOutcome, n_folds: int = DEFAULT_FOLDS
) -> list[np.ndarray] | None:
    """One trained trial's configuration retrained on every fold: its validation logits per
    fold (None when the data makes no usable fold)."""
    folds = cv_folds(data, n_folds)
    if folds is None:
        return None
    schema = data.schema
    return [_fold_logits(fold, schema, outcome) for fold in folds]


def cross_validate(
    data: PreparedData,
    candidates: dict[str, Candidate],
    outcomes: list[TrialOutcome],
    n_folds: int = DEFAULT_FOLDS,
) -> dict[str, float] | None:
    """Mean PR-AUC over expanding-window folds per candidate, or None when no fold is usable
    (the data is too small to make folds with both classes).

    Uses each outcome's ``fold_logits`` when its trial already retrained on the folds (the
    flow's ``train_trial``); retrains the others here.
    """
    from fraud_mlops.candidates import pr_auc

    folds = cv_folds(data, n_folds)
    if folds is None:
        return None
    by_trial = {o.trial: o for o in outcomes}
    schema = data.schema
    per_fold: dict[str, list[np.ndarray]] = {}
    for name, c in candidates.items():
        if c.family == "blend":
            continue
        outcome = by_trial[int(c.params["trial"])]
        cached = outcome.fold_logits
        if cached is not None and len(cached) == len(folds):
            per_fold[name] = [np.asarray(v, dtype=np.float64) for v in cached]
        else:
            per_fold[name] = [_fold_logits(fold, schema, outcome) for fold in folds]
    scores: dict[str, list[float]] = {name: [] for name in candidates}
    for k, fold in enumerate(folds):
        logits = {name: values[k] for name, values in per_fold.items()}
        for name, c in candidates.items():
            if c.family == "blend":
                logits[name] = sum(m["weight"] * logits[m["family"]] for m in c.members)
            scores[name].append(pr_auc(fold.labels["validation"], logits[name]))
    return {name: float(np.mean(v)) for name, v in scores.items()}
