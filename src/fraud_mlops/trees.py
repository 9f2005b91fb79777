"""A tree ensemble as plain arrays: numpy prediction and exact TreeSHAP (scoring path).

The gradient-boosting family is exported as numeric arrays (``weights.npz``, loaded without
pickle) plus a small JSON-safe architecture dict; :class:`TreeEnsemble` scores it with numpy
alone. Inputs are the preprocessor's model inputs: the numeric columns (float) then the
categorical codes (int), so column ``j`` of a tree split is ``numeric[:, j]`` for ``j <
n_numeric`` and ``categorical[:, j - n_numeric]`` after that.

Decisions follow LightGBM's own rules (``Tree::NumericalDecision`` / ``CategoricalDecision``):

* numerical split: ``x <= threshold`` goes left. A missing value (NaN) goes the node's default
  direction when the node's missing type is ``NaN``; otherwise NaN is read as 0, and a zero goes
  the default direction when the missing type is ``Zero``.
* categorical split: the codes listed for the node go left; everything else (an unseen code, a
  negative code, NaN) goes right.

Reasons are exact path-dependent TreeSHAP values, LightGBM's ``pred_contrib``: see
:mod:`fraud_mlops.treeshap` for the vectorised method. The expected value (the last column of
:meth:`TreeEnsemble.contributions`) is ``sum(leaf value * leaf count / root count)``, as in
LightGBM, so every row sums to the raw score.

numpy and the standard library only: never import lightgbm here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from fraud_mlops.errors import ModelError
from fraud_mlops.treeshap import MISSING_NAN, MISSING_NONE, MISSING_ZERO, ZERO_THRESHOLD, PathTables

__all__ = ["MISSING_NAN", "MISSING_NONE", "MISSING_ZERO", "TREE_FAMILY", "TreeEnsemble"]

TREE_FAMILY = "gbdt"
ARCHITECTURE_TYPE = "gbdt_lightgbm"
# 2^D x D table entries per leaf: D = 10 is 10,240 floats; training caps max_depth well below.
MAX_PATH_FEATURES = 10

# name -> (dtype, dimension in the architecture)
ARRAY_SPECS: dict[str, tuple[type, str]] = {
    "tree_root": (np.int32, "n_trees"),  # >= 0: internal node; < 0: leaf ~root
    "node_feature": (np.int32, "n_nodes"),  # input column of the split
    "node_threshold": (np.float64, "n_nodes"),  # numerical splits (0 for categorical)
    "node_categorical": (np.uint8, "n_nodes"),  # 1: categorical split
    "node_default_left": (np.uint8, "n_nodes"),  # 1: missing goes left
    "node_missing_type": (np.uint8, "n_nodes"),  # MISSING_NONE / MISSING_ZERO / MISSING_NAN
    "node_left": (np.int32, "n_nodes"),  # child: >= 0 internal node, < 0 leaf ~child
    "node_right": (np.int32, "n_nodes"),
    "node_count": (np.float64, "n_nodes"),  # training rows reaching the node (TreeSHAP cover)
    "node_cat_index": (np.int32, "n_nodes"),  # categorical split -> its cat_boundaries slot; -1
    "cat_boundaries": (np.int64, "n_cat_splits_plus_one"),
    "cat_values": (np.int32, "n_cat_values"),  # the codes that go left, per categorical split
    "leaf_value": (np.float64, "n_leaves"),
    "leaf_count": (np.float64, "n_leaves"),
}
_ARCH_INTS = (
    "n_numeric",
    "n_categorical",
    "n_trees",
    "n_nodes",
    "n_leaves",
    "n_cat_splits",
    "n_cat_values",
    "max_depth",
)


def expected_shapes(architecture: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The shape of every exported array, from the architecture dict (for artifact checks)."""
    try:
        dims = {k: int(architecture[k]) for k in _ARCH_INTS}
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"the gbdt architecture is missing or has a bad {exc!s}: it needs integer "
            f"{', '.join(_ARCH_INTS)}; re-export the model"
        ) from None
    dims["n_cat_splits_plus_one"] = dims["n_cat_splits"] + 1
    return {name: (dims[dim],) for name, (_, dim) in ARRAY_SPECS.items()}


class TreeEnsemble:
    """A boosted tree ensemble, scored and explained with numpy. Build with :meth:`from_arrays`."""

    def __init__(self, architecture: dict[str, Any], arrays: dict[str, np.ndarray]):
        self.architecture = architecture
        self.arrays = arrays
        self.n_numeric = int(architecture["n_numeric"])
        self.n_categorical = int(architecture["n_categorical"])
        self.n_columns = self.n_numeric + self.n_categorical
        self.max_depth = int(architecture["max_depth"])
        self.base_score = float(architecture.get("base_score", 0.0))
        self._prepare_decisions()
        parents = _parents(arrays)
        self._expected_value = self.base_score + _expected_value(arrays, parents)
        self._shap = PathTables(arrays, self.n_numeric, self._cat_width, self.go_left, parents)
        recorded = architecture.get("shap_table_entries")
        if recorded is not None and int(recorded) != self._shap.describe()["shap_table_entries"]:
            raise ModelError(
                f"the gbdt architecture records {recorded} TreeSHAP table entries but the arrays "
                f"give {self._shap.describe()['shap_table_entries']}: the architecture and "
                "weights.npz come from different exports; re-export the model"
            )

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls, architecture: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> TreeEnsemble:
        """Validate an export and prepare it for scoring.

        Raises:
            ModelError: the architecture or an array is missing, has the wrong shape or dtype, or
                the arrays do not describe a forest of trees (bad child, cycle, too deep).
        """
        arch = dict(architecture)
        if arch.get("type") != ARCHITECTURE_TYPE:
            raise ModelError(
                f"architecture type {arch.get('type')!r} is not a tree ensemble "
                f"({ARCHITECTURE_TYPE!r}); the artifact's family and architecture disagree"
            )
        shapes = expected_shapes(arch)
        missing = sorted(set(shapes) - set(arrays))
        extra = sorted(set(arrays) - set(shapes))
        if missing or extra:
            raise ModelError(
                "the gbdt arrays do not match the export format: "
                + (f"missing {missing}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unexpected {extra}" if extra else "")
                + "; re-export the model"
            )
        clean: dict[str, np.ndarray] = {}
        for name, (dtype, _) in ARRAY_SPECS.items():
            value = np.asarray(arrays[name])
            want_int = np.issubdtype(dtype, np.integer)
            kind_ok = value.dtype.kind in ("iu" if want_int else "f")
            if not kind_ok or value.shape != shapes[name]:
                raise ModelError(
                    f"gbdt array {name!r} has shape {value.shape} and dtype {value.dtype}; "
                    f"expected {shapes[name]} of {np.dtype(dtype).name}; re-export the model"
                )
            if (
                want_int
                and value.size
                and (value.min() < np.iinfo(dtype).min or value.max() > np.iinfo(dtype).max)
            ):
                raise ModelError(f"gbdt array {name!r} holds values outside {np.dtype(dtype)}")
            clean[name] = np.ascontiguousarray(value, dtype=dtype)
        _check_values(arch, clean)
        return cls(arch, clean)

    # -- scoring --------------------------------------------------------------------------------
    def logit(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """Raw margin (LightGBM's ``raw_score``) of every row: float64 ``[n]``."""
        go_left = self._go_left(numeric, categorical)  # [nodes, n]
        n = go_left.shape[1]
        out = np.full(n, self.base_score + self._constant_trees, dtype=np.float64)
        if self._roots_internal.size == 0 or n == 0:
            return out
        a = self.arrays
        flat = go_left.ravel()
        column = np.arange(n, dtype=np.intp)
        node = np.repeat(self._roots_internal[:, None], n, axis=1)  # [trees, n]
        for _ in range(self.max_depth):
            inner = node >= 0
            if not inner.any():
                break
            safe = np.where(inner, node, 0)
            left = flat[safe * n + column]
            child = np.where(left, a["node_left"][safe], a["node_right"][safe])
            node = np.where(inner, child, node)
        return out + a["leaf_value"][~node].sum(axis=0)

    def contributions(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP per input column: ``[n, n_columns + 1]``, last = expected value.

        Numeric columns come first, then the categorical ones; each row sums to :meth:`logit`.
        """
        num, cat = self._inputs(numeric, categorical)
        out = np.zeros((num.shape[0], self.n_columns + 1), dtype=np.float64)
        out[:, self._shap.present] = self._shap.contributions(num, cat)
        out[:, -1] = self.expected_value
        return out

    @property
    def expected_value(self) -> float:
        """The mean raw score over the training rows (TreeSHAP's reference)."""
        return self._expected_value

    def describe(self) -> dict[str, int]:
        """Sizes for the manifest: trees, leaves and the TreeSHAP tables built at load time."""
        return {
            "n_trees": int(self.architecture["n_trees"]),
            "n_leaves": int(self.architecture["n_leaves"]),
            **self._shap.describe(),
        }

    # -- decisions ------------------------------------------------------------------------------
    def _prepare_decisions(self) -> None:
        a = self.arrays
        cat = a["node_categorical"].astype(bool)
        self._num_nodes = np.flatnonzero(~cat)
        self._cat_nodes = np.flatnonzero(cat)
        self._num_feature = a["node_feature"][self._num_nodes].astype(np.intp)
        self._has_zero_missing = bool((a["node_missing_type"] == MISSING_ZERO).any())
        self._cat_feature = (a["node_feature"][self._cat_nodes] - self.n_numeric).astype(np.intp)
        # One row per categorical split: True where the code goes left; the last column (and any
        # code past it) is never listed, so unseen codes go right as in LightGBM.
        bounds, values = a["cat_boundaries"], a["cat_values"]
        width = int(values.max(initial=-1)) + 2
        table = np.zeros((max(len(bounds) - 1, 1), width), dtype=bool)
        split_of_value = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
        table[split_of_value, values] = True
        self._cat_table = table
        self._cat_width = width
        roots = a["tree_root"]
        self._roots_internal = roots[roots >= 0].astype(np.intp)
        self._constant_trees = float(a["leaf_value"][~roots[roots < 0]].sum())

    def _inputs(self, numeric: np.ndarray, categorical: np.ndarray) -> tuple[np.ndarray, ...]:
        num = np.asarray(numeric, dtype=np.float64)
        cat = np.asarray(categorical)
        if num.ndim != 2 or num.shape[1] != self.n_numeric:
            raise ModelError(
                f"numeric inputs have shape {num.shape}; this model expects [n, {self.n_numeric}]"
            )
        if cat.ndim != 2 or cat.shape != (num.shape[0], self.n_categorical):
            raise ModelError(
                f"categorical inputs have shape {cat.shape}; this model expects "
                f"[{num.shape[0]}, {self.n_categorical}]"
            )
        if cat.dtype.kind == "f":  # LightGBM truncates toward zero; NaN counts as negative
            cat = np.where(np.isnan(cat), -1.0, np.trunc(cat))
            cat = np.clip(cat, -1, self._cat_width).astype(np.int64)
        elif cat.dtype.kind not in "iu":
            raise ModelError(f"categorical inputs must be integer codes, got dtype {cat.dtype}")
        return num, cat

    def _go_left(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """``[n_nodes, n]`` bool: does each row go left at each internal node?"""
        num, cat = self._inputs(numeric, categorical)
        out = np.empty((len(self.arrays["node_feature"]), num.shape[0]), dtype=bool)
        nodes = self._num_nodes
        out[nodes] = self.numerical_left(nodes[:, None], num.T[self._num_feature])
        if self._cat_nodes.size:
            nodes = self._cat_nodes
            out[nodes] = self.categorical_left(nodes[:, None], cat.T[self._cat_feature])
        return out

    def go_left(self, node: np.ndarray, value: np.ndarray) -> np.ndarray:
        """LightGBM's decision at internal ``node`` for ``value`` (broadcast; float64 values)."""
        node = np.asarray(node, dtype=np.intp)
        categorical = self.arrays["node_categorical"][node].astype(bool)
        return np.where(
            categorical, self.categorical_left(node, value), self.numerical_left(node, value)
        )

    def numerical_left(self, node: np.ndarray, value: np.ndarray) -> np.ndarray:
        """``Tree::NumericalDecision``: NaN -> 0 unless NaN-typed; missing -> default side."""
        a = self.arrays
        missing = a["node_missing_type"][node]
        x = np.asarray(value, dtype=np.float64)
        left = x <= a["node_threshold"][node]
        nan = np.isnan(x)
        if nan.any():
            x = np.where(nan & (missing != MISSING_NAN), 0.0, x)
            left = x <= a["node_threshold"][node]
        use_default = (missing == MISSING_NAN) & nan
        if self._has_zero_missing:
            use_default |= (missing == MISSING_ZERO) & (np.abs(x) <= ZERO_THRESHOLD)
        return np.where(use_default, a["node_default_left"][node].astype(bool), left)

    def categorical_left(self, node: np.ndarray, value: np.ndarray) -> np.ndarray:
        """``Tree::CategoricalDecision``: listed codes go left; others, negatives, NaN go right."""
        width = self._cat_width
        code = np.asarray(value)
        if code.dtype.kind == "f":  # LightGBM truncates toward zero; NaN counts as negative
            code = np.where(np.isnan(code), -1.0, np.trunc(code))
            code = np.clip(code, -1, width).astype(np.int64)
        code = np.where((code < 0) | (code >= width), width - 1, code)
        split = np.maximum(self.arrays["node_cat_index"][node], 0)
        return self._cat_table[split, code]


def _parents(a: Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """``(parent_node, node_is_left, parent_leaf, leaf_is_left)``; -1 marks a root."""
    n_nodes, n_leaves = len(a["node_feature"]), len(a["leaf_value"])
    parent_node = np.full(n_nodes, -1, dtype=np.intp)
    node_is_left = np.zeros(n_nodes, dtype=bool)
    parent_leaf = np.full(n_leaves, -1, dtype=np.intp)
    leaf_is_left = np.zeros(n_leaves, dtype=bool)
    for side, is_left in ((a["node_left"], True), (a["node_right"], False)):
        inner = side >= 0
        parent_node[side[inner]] = np.flatnonzero(inner)
        node_is_left[side[inner]] = is_left
        parent_leaf[~side[~inner]] = np.flatnonzero(~inner)
        leaf_is_left[~side[~inner]] = is_left
    return parent_node, node_is_left, parent_leaf, leaf_is_left


def _expected_value(a: Mapping[str, np.ndarray], parents: tuple[np.ndarray, ...]) -> float:
    """LightGBM's ``ExpectedValue`` summed over trees: leaf value x leaf count / root count."""
    parent_node, _, parent_leaf, _ = parents
    # The root of every node, by following parents up (depth is bounded by validation).
    top = np.arange(len(parent_node))
    while (up := parent_node[top] >= 0).any():
        top = np.where(up, parent_node[top], top)
    root_count = np.empty(len(parent_leaf))
    inner = parent_leaf >= 0
    root_count[inner] = a["node_count"][top[parent_leaf[inner]]]
    root_count[~inner] = a["leaf_count"][~inner]  # a one-leaf tree: the leaf is the root
    return float((a["leaf_value"] * a["leaf_count"] / root_count).sum())


def _check_values(arch: Mapping[str, Any], a: Mapping[str, np.ndarray]) -> None:
    """Refuse arrays that cannot be a forest of LightGBM trees on these inputs."""
    problems: list[str] = []
    n_numeric, n_categorical = int(arch["n_numeric"]), int(arch["n_categorical"])
    n_nodes, n_leaves = len(a["node_feature"]), len(a["leaf_value"])
    max_depth = int(arch["max_depth"])
    if n_numeric < 0 or n_categorical < 0 or n_numeric + n_categorical == 0:
        problems.append(f"n_numeric={n_numeric}, n_categorical={n_categorical} (need >= 1 column)")
    if not 1 <= max_depth <= 64:
        problems.append(f"max_depth={max_depth} (must be between 1 and 64)")
    if not math.isfinite(float(arch.get("base_score", 0.0))):
        problems.append("base_score is not finite")
    if problems:
        raise ModelError("malformed gbdt export: " + "; ".join(problems))
    feature = a["node_feature"]
    categorical = a["node_categorical"].astype(bool)
    if ((feature < 0) | (feature >= n_numeric + n_categorical)).any():
        problems.append(f"split features outside 0..{n_numeric + n_categorical - 1}")
    if (categorical != (feature >= n_numeric)).any():
        problems.append("a categorical split on a numeric column or the reverse")
    if (a["node_categorical"] > 1).any() or (a["node_default_left"] > 1).any():
        problems.append("node flags must be 0 or 1")
    if (a["node_missing_type"] > MISSING_NAN).any():
        problems.append("node_missing_type must be 0 (None), 1 (Zero) or 2 (NaN)")
    if np.isnan(a["node_threshold"]).any():
        problems.append("NaN split thresholds")
    if not np.isfinite(a["leaf_value"]).all():
        problems.append("leaf values that are not finite")
    if (a["node_count"] <= 0).any() or (a["leaf_count"] <= 0).any():
        problems.append("node or leaf counts <= 0 (TreeSHAP needs the training counts)")
    bounds = a["cat_boundaries"]
    n_splits = len(bounds) - 1
    if bounds[0] != 0 or bounds[-1] != len(a["cat_values"]) or (np.diff(bounds) < 0).any():
        problems.append("cat_boundaries must rise from 0 to len(cat_values)")
    if (a["cat_values"] < 0).any():
        problems.append("negative categorical codes in cat_values")
    cat_index = a["node_cat_index"]
    if (cat_index[~categorical] != -1).any() or (
        (cat_index[categorical] < 0) | (cat_index[categorical] >= n_splits)
    ).any():
        problems.append("node_cat_index must be -1 for numerical and a split index otherwise")
    children = np.concatenate([a["tree_root"], a["node_left"], a["node_right"]]).astype(np.int64)
    if ((children >= n_nodes) | (children < -n_leaves)).any():
        problems.append("child indices outside the node and leaf arrays")
    if problems:
        raise ModelError("malformed gbdt export: " + "; ".join(problems))
    inner = children >= 0
    node_refs = np.bincount(children[inner], minlength=n_nodes)
    leaf_refs = np.bincount(~children[~inner], minlength=n_leaves)
    if (node_refs != 1).any() or (leaf_refs != 1).any():
        raise ModelError(
            "malformed gbdt export: every node and leaf must belong to exactly one tree"
        )
    # Reachability from the roots within max_depth levels rules out cycles and deep trees.
    frontier = a["tree_root"][a["tree_root"] >= 0].astype(np.intp)
    seen = frontier.size
    for _ in range(max_depth):
        if frontier.size == 0:
            break
        kids = np.concatenate([a["node_left"][frontier], a["node_right"][frontier]])
        frontier = kids[kids >= 0].astype(np.intp)
        seen += frontier.size
    if frontier.size or seen != n_nodes:
        raise ModelError(
            f"malformed gbdt export: the trees are deeper than max_depth={max_depth} or hold "
            "nodes no root reaches"
        )
