"""The gradient-boosting baseline the MLP must match: ``HistGradientBoostingClassifier``.

Trained on the same time-ordered split as the MLP, from the raw schema columns: numeric features
as they are (trees need no scaling; missing stays NaN, which the trees route natively) and
categorical features through the classifier's native categorical support. Native support allows
at most ``max_bins`` (255) categories, so a feature with more keeps its most frequent values and
sends the rest, like unseen values at prediction time, to "missing".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_mlops.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.schema import ClaimsSchema

MAX_CATEGORIES = 254  # native categorical support: at most max_bins - 1 (NaN takes a bin)

DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_iter": 300,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
    # Early stopping on the same validation split the MLP uses (not a random holdout).
    "n_iter_no_change": 20,
}


@dataclass
class BaselineModel:
    """A fitted baseline plus the category vocabularies it was trained with."""

    schema: ClaimsSchema
    vocabularies: dict[str, list[str]]
    model: Any
    params: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, frame: pd.DataFrame, threads: int = 1) -> np.ndarray:
        """Fraud probabilities (float64) for a validated claims frame."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            return self.model.predict_proba(self._matrix(frame))[:, 1].astype(np.float64)

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return feature_matrix(frame, self.schema, self.vocabularies)


def fit_vocabularies(frame: pd.DataFrame, schema: ClaimsSchema) -> dict[str, list[str]]:
    """Most frequent values per categorical feature (ties by value, so it is deterministic)."""
    vocab = {}
    for name in schema.categorical_names:
        counts = frame[name].dropna().astype(str).value_counts()
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        vocab[name] = [value for value, _ in ranked[:MAX_CATEGORIES]]
    return vocab


def feature_matrix(
    frame: pd.DataFrame, schema: ClaimsSchema, vocabularies: dict[str, list[str]]
) -> np.ndarray:
    """Numeric columns, then categorical codes (unknown or missing -> NaN), as float64."""
    import pandas as pd

    cols = [
        pd.to_numeric(frame[n], errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        for n in schema.numeric_names
    ]
    for name in schema.categorical_names:
        lookup = pd.Index(vocabularies[name], dtype=object)
        text = frame[name].astype(object).where(frame[name].notna(), None)
        text = text.map(lambda v: None if v is None else str(v))
        codes = lookup.get_indexer(text).astype(np.float64)  # -1: unseen or missing
        codes[codes < 0] = np.nan
        cols.append(codes)
    return np.column_stack(cols) if cols else np.zeros((len(frame), 0))


def fit_baseline(
    train: pd.DataFrame,
    y_train: np.ndarray,
    validation: pd.DataFrame,
    y_validation: np.ndarray,
    schema: ClaimsSchema,
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    threads: int = 1,
) -> BaselineModel:
    """Fit the baseline on ``train``; early-stop on ``validation`` (the MLP's validation split)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    merged = {**DEFAULT_PARAMS, **(params or {})}
    allowed = set(HistGradientBoostingClassifier().get_params())
    unknown = sorted(set(merged) - allowed)
    if unknown:
        raise ConfigError(f"unknown baseline parameter(s) {unknown}; see HistGradientBoosting docs")
    vocab = fit_vocabularies(train, schema)
    n_num = len(schema.numeric_names)
    categorical = [False] * n_num + [True] * len(schema.categorical_names)
    model = HistGradientBoostingClassifier(
        categorical_features=np.array(categorical, dtype=bool) if any(categorical) else None,
        early_stopping=True,
        random_state=seed,
        **merged,
    )
    x_val = feature_matrix(validation, schema, vocab)
    # One OpenMP thread: on a small shared machine (and beside parallel trials) more threads
    # mostly wait on each other; measured 5x faster here at 14k rows.
    with threadpool_limits(limits=threads):
        model.fit(
            feature_matrix(train, schema, vocab),
            np.asarray(y_train),
            X_val=x_val,
            y_val=np.asarray(y_validation),
        )
    return BaselineModel(schema=schema, vocabularies=vocab, model=model, params=merged)
