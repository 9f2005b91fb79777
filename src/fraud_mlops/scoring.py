"""Numpy inference for a model artifact: probability, flag, top reasons, unknown categories.

Every family scores here, from the artifact's arrays alone:

* ``mlp`` / ``tabm`` — :class:`fraud_mlops.neural.NeuralNet` (the torch forward pass in numpy,
  1e-5 of torch); reasons by **occlusion** against the training reference: the contribution of a
  feature is the logit's drop when that one feature is set to its usual value (the training
  median for numerics, not missing; the most frequent training value for categoricals), all
  features of all claims in one batched pass.
* ``gbdt`` — :class:`fraud_mlops.trees.TreeEnsemble` (tree traversal); reasons are exact
  TreeSHAP values (LightGBM's ``pred_contrib``), summed over each feature's input columns.
* ``blend`` — the weighted sum of its members' logits; its reasons are the same weighted sum of
  the members' reasons, so they stay in units of the blend's logit.

Reasons are per schema feature (a numeric value and its missing indicator are one feature),
positive pushing towards fraud, scaled by the calibration slope to the served logit.

On the scoring path: numpy only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from fraud_mlops.artifact import ModelArtifact, check_weights, family_of, member_prefix
from fraud_mlops.errors import ModelError
from fraud_mlops.preprocessing import FeatureBatch

TOP_REASONS = 3
# From this batch size on, BLAS is held to one thread while scoring: the matrices are tiny, and
# on a busy 2-core machine OpenBLAS's threads spin against each other (measured: 1,000 claims
# took 35 ms with 2 threads vs 6 ms with 1 under load). Below it, the limit costs more (~20 µs)
# than it saves, and OpenBLAS stays single-threaded for such small products anyway.
SINGLE_THREAD_FROM = 32


def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, or None if threadpoolctl is absent."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: scoring still works, only slower on busy machines
        return None
    return ThreadpoolController().select(user_api="blas")


@dataclass(frozen=True)
class ScoreBatch:
    """Scores of ``n`` claims, in input order.

    The reasons are kept flat (``top`` per claim, claim after claim); the per-claim forms
    (:attr:`reason_records` for JSON, :attr:`reasons` as pairs, :attr:`unknown`) are built when
    something first asks for them.
    """

    probability: np.ndarray  # float64 [n]
    flagged: np.ndarray  # bool [n]
    reason_features: list[str]  # [n * top] top features by contribution to the logit
    reason_values: list[float]  # [n * top] their contributions (served logit, 6 decimals)
    top: int  # reasons per claim
    unknown_mask: np.ndarray  # bool [n, n_categorical]: the value fell in the unknown bucket
    categorical_names: Sequence[str]
    model_version: str

    def __len__(self) -> int:
        return int(self.probability.shape[0])

    def _per_claim(self, flat: list[Any]) -> list[list[Any]]:
        """``top`` items per claim, cut from a flat list in claim order."""
        if not self.top:
            return [[] for _ in range(len(self))]
        return [flat[i : i + self.top] for i in range(0, len(flat), self.top)]

    @cached_property
    def reasons(self) -> list[list[tuple[str, float]]]:
        """Each claim's top ``(feature, contribution)`` pairs, strongest first."""
        return self._per_claim(list(zip(self.reason_features, self.reason_values, strict=True)))

    @cached_property
    def unknown(self) -> list[list[str]]:
        """Each claim's categorical features whose value fell in the unknown bucket."""
        unknown: list[list[str]] = [[] for _ in range(len(self))]
        if self.unknown_mask.any():
            for row, col in zip(*np.nonzero(self.unknown_mask), strict=True):
                unknown[row].append(self.categorical_names[col])
        return unknown

    @cached_property
    def reason_records(self) -> list[list[dict[str, Any]]]:
        """Each claim's reasons as ``{"feature", "contribution"}`` records (the API's JSON and
        the capture record both write these, so they are built once per batch)."""
        return self._per_claim(
            [
                {"feature": f, "contribution": v}
                for f, v in zip(self.reason_features, self.reason_values, strict=True)
            ]
        )


class _Neural:
    """An MLP or TabM with occlusion reasons."""

    def __init__(self, architecture: Mapping[str, Any], weights: Mapping[str, np.ndarray], pre):
        from fraud_mlops.neural import NeuralNet, feature_groups

        self.net = NeuralNet(architecture, weights)
        self.groups = feature_groups(pre.source_of_numeric_dim, [f.name for f in pre.numeric])
        self.n_features = len(pre.feature_names)
        self.ref_numeric = np.zeros(pre.numeric_dim, dtype=np.float32)  # median, not missing
        self.ref_categorical = np.array(
            [int(np.argmax(c.counts)) for c in pre.categorical], dtype=np.int64
        )
        # The reference's first-layer terms are the same for every request: computed once.
        self.ref_parts = self.net.reference_parts(self.ref_numeric, self.ref_categorical)

    def logit(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        return self.net.logit(numeric, categorical)

    def contributions(self, numeric: np.ndarray, categorical: np.ndarray):
        return self.net.occlusion(
            numeric,
            categorical,
            self.groups,
            self.n_features,
            self.ref_numeric,
            self.ref_categorical,
            reference_parts=self.ref_parts,
        )


class _Trees:
    """A gradient-boosted tree ensemble with exact TreeSHAP reasons."""

    def __init__(self, architecture: Mapping[str, Any], weights: Mapping[str, np.ndarray], pre):
        from fraud_mlops.neural import feature_groups
        from fraud_mlops.trees import TreeEnsemble

        self.trees = TreeEnsemble.from_arrays(dict(architecture), weights)
        self.groups = feature_groups(
            pre.source_of_numeric_dim, [f.name for f in pre.numeric]
        ).astype(np.float64)
        self.p = pre.numeric_dim

    def logit(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        return np.asarray(self.trees.logit(numeric, categorical), dtype=np.float64)

    def contributions(self, numeric: np.ndarray, categorical: np.ndarray):
        phi = np.asarray(self.trees.contributions(numeric, categorical), dtype=np.float64)
        logits = phi.sum(axis=1)  # per-column SHAP values + expected value (last column)
        by_feature = np.concatenate([phi[:, : self.p] @ self.groups, phi[:, self.p : -1]], axis=1)
        return logits, by_feature


class _Blend:
    """A weighted sum of member logits; reasons combine with the same weights."""

    def __init__(self, architecture: Mapping[str, Any], weights: Mapping[str, np.ndarray], pre):
        self.members = []
        for i, member in enumerate(architecture["members"]):
            prefix = member_prefix(i)
            own = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
            self.members.append(
                (float(member["weight"]), _family_model(member["architecture"], own, pre))
            )

    def logit(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        return sum(w * m.logit(numeric, categorical) for w, m in self.members)

    def contributions(self, numeric: np.ndarray, categorical: np.ndarray):
        logits, contrib = 0.0, 0.0
        for w, m in self.members:
            member_logits, member_contrib = m.contributions(numeric, categorical)
            logits = logits + w * member_logits
            contrib = contrib + w * member_contrib
        return logits, contrib


def _family_model(architecture: Mapping[str, Any], weights: Mapping[str, np.ndarray], pre):
    family = family_of(architecture)
    if family in ("mlp", "tabm"):
        return _Neural(architecture, weights, pre)
    if family == "gbdt":
        return _Trees(architecture, weights, pre)
    return _Blend(architecture, weights, pre)


class Scorer:
    """Scores claims with a loaded artifact; build once per process, call :meth:`score` often."""

    def __init__(
        self,
        artifact: ModelArtifact,
        *,
        top_reasons: int = TOP_REASONS,
        single_thread_blas: bool = True,
    ):
        arch = artifact.architecture
        pre = artifact.preprocessor
        check_weights(arch, artifact.weights, pre)
        self.artifact = artifact
        self.family = artifact.family
        self.preprocessor = pre
        self.threshold = artifact.threshold
        self.model_version = artifact.version
        self.slope, self.intercept = artifact.calibration
        self.top_reasons = top_reasons
        # threadpoolctl's view of BLAS, made on the first batch that needs it (a single claim
        # never does, so a cold start does not pay for inspecting the loaded libraries)
        self._single_thread_blas = single_thread_blas
        self._blas: Any = None
        self.model = _family_model(arch, artifact.weights, pre)
        self.cardinalities = np.array(pre.cardinalities, dtype=np.int64)
        self.numeric_dim = pre.numeric_dim
        self.features = np.array(pre.feature_names, dtype=object)
        self.feature_list = list(pre.feature_names)
        self.categorical_names = list(pre.categorical_names)

    def _check(self, numeric: np.ndarray, categorical: np.ndarray):
        numeric = np.asarray(numeric, dtype=np.float32)
        categorical = np.asarray(categorical, dtype=np.int64)
        n, p = numeric.shape[0], self.numeric_dim
        if numeric.ndim != 2 or numeric.shape[1] != p:
            raise ModelError(
                f"numeric inputs have shape {numeric.shape}; the model expects [n, {p}]"
            )
        k = len(self.cardinalities)
        if categorical.shape != (n, k):
            raise ModelError(
                f"categorical inputs have shape {categorical.shape}; the model expects [{n}, {k}]"
            )
        if ((categorical < 0) | (categorical >= self.cardinalities)).any():
            raise ModelError(
                f"categorical indices out of range for cardinalities {self.cardinalities.tolist()}"
            )
        return numeric, categorical

    def forward(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """Logits ``[n]`` (float64, before calibration) for preprocessed inputs."""
        numeric, categorical = self._check(numeric, categorical)
        with self._threads(len(numeric)):
            return np.asarray(self.model.logit(numeric, categorical), dtype=np.float64)

    def _threads(self, n: int) -> contextlib.AbstractContextManager:
        if n < SINGLE_THREAD_FROM or not self._single_thread_blas:
            return contextlib.nullcontext()
        if self._blas is None:
            self._blas = _blas_controller()
            if self._blas is None:  # threadpoolctl absent: never ask again
                self._single_thread_blas = False
                return contextlib.nullcontext()
        return self._blas.limit(limits=1)

    def contributions(self, batch: FeatureBatch) -> tuple[np.ndarray, np.ndarray]:
        """Logits ``[n]`` and per-feature contributions ``[n, n_features]`` (model order)."""
        numeric, categorical = self._check(batch.numeric, batch.categorical)
        with self._threads(len(numeric)):
            logits, contrib = self.model.contributions(numeric, categorical)
        return np.asarray(logits, dtype=np.float64), np.asarray(contrib)

    def score(self, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> ScoreBatch:
        """Score a batch of raw claims (a DataFrame or a dict of column lists/arrays)."""
        batch = self.preprocessor.transform(columns)
        n = len(batch)
        # The preprocessor's own output: shapes, dtypes and codes in range by construction, so
        # not re-checked as contributions() checks a caller's arrays.
        with self._threads(n):
            logits, contrib = self.model.contributions(batch.numeric, batch.categorical)
        return self.results(logits, contrib, batch.unknown)

    def results(self, logits: np.ndarray, contrib: np.ndarray, unknown_mask: np.ndarray):
        """The :class:`ScoreBatch` of ``n`` claims from their logits ``[n]``, contributions
        ``[n, n_features]`` and unknown-category mask ``[n, n_categorical]``.

        One claim takes a path without index arrays; it gives exactly what the batch path gives
        for the same inputs (tests/test_fast_paths.py).
        """
        logits, contrib = np.asarray(logits, dtype=np.float64), np.asarray(contrib)
        n = logits.shape[0]
        # Platt scaling from the manifest (identity for uncalibrated models): probabilities
        # investigators can read as rates; a positive slope keeps the ranking and the reasons.
        if n == 1:  # the same IEEE operations on floats, and numpy's exp (as for a batch)
            e = float(np.exp(-(self.slope * float(logits[0]) + self.intercept)))
            p = 1.0 / (1.0 + e)
            probability, flagged = np.array([p]), np.array([p >= self.threshold])
        else:
            probability = 1.0 / (1.0 + np.exp(-(self.slope * logits + self.intercept)))
            flagged = probability >= self.threshold
        top = min(self.top_reasons, self.features.size)
        if top and n == 1:  # one claim: the same order and values without index arrays
            row = contrib[0].tolist()
            idx = sorted(range(len(row)), key=row.__getitem__, reverse=True)[:top]  # stable
            values = np.round(np.array([row[i] for i in idx]) * self.slope, 6).tolist()
            names = [self.feature_list[i] for i in idx]
        elif top:
            # Stable: exactly equal contributions keep the model's feature order, in a batch as
            # for a single claim.
            idx = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
            names = self.features[idx.ravel()].tolist()
            picked = contrib[np.arange(n).repeat(top), idx.ravel()]
            # in units of the served (calibrated) logit; no float32 noise in the JSON
            values = np.round(picked.astype(np.float64) * self.slope, 6).tolist()
        else:
            names, values = [], []
        return ScoreBatch(
            probability=probability,
            flagged=flagged,
            reason_features=names,
            reason_values=values,
            top=top,
            unknown_mask=np.asarray(unknown_mask, dtype=bool),
            categorical_names=self.categorical_names,
            model_version=self.model_version,
        )
