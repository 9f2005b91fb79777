"""Gradient boosting (LightGBM) on the preprocessed features, exported as torch-free arrays.

One call of :func:`train_gbdt` is one trial of the gradient-boosting family. It reads the same
model inputs as the neural families (``FeatureBatch``: robust-scaled numerics + missing
indicators, then categorical codes): trees do not care about monotone scaling, so one fitted
preprocessing serves every family and the served artifact stays simple. The categorical codes
go to LightGBM as native categorical features (code 0 is the shared unknown / rare bucket).

Training is early-stopped on the run's validation split (average precision), seeded and
deterministic (``deterministic=True``, column-wise histograms, one thread by default). The
booster at its best iteration is exported with :func:`export_booster` into plain arrays that
:class:`fraud_mlops.trees.TreeEnsemble` scores and explains with numpy alone; LightGBM is needed
only here, at training time.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from fraud_mlops.errors import ConfigError, FraudMlopsError
from fraud_mlops.readiness import MIN_TRAIN_FRAUDS
from fraud_mlops.trees import (
    ARCHITECTURE_TYPE,
    ARRAY_SPECS,
    MAX_PATH_FEATURES,
    MISSING_NAN,
    MISSING_NONE,
    MISSING_ZERO,
    TreeEnsemble,
)

# Trees deeper than this would make the TreeSHAP tables (2^depth x depth per leaf) large.
MAX_DEPTH_LIMIT = 8
# Below this many frauds in the training split no tree family learns anything worth serving.
EARLY_STOPPING_METRICS = ("binary_logloss", "auc", "average_precision")
_MISSING_TYPES = {"None": MISSING_NONE, "Zero": MISSING_ZERO, "NaN": MISSING_NAN}


@dataclass(frozen=True)
class GbdtConfig:
    """Hyperparameters of one LightGBM trial (LightGBM's names where it has one)."""

    learning_rate: float = 0.05
    num_leaves: int = 31
    max_depth: int = 6
    min_child_samples: int = 20  # LightGBM's min_data_in_leaf
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8  # bagging every iteration when < 1
    lambda_l2: float = 1.0
    n_estimators: int = 1000  # a cap: early stopping picks the number of trees
    early_stopping_rounds: int = 50
    # What early stopping watches on validation: log loss is smooth; average precision on a
    # validation split with ~100 frauds jumps around and tends to stop after a handful of trees.
    early_stopping_metric: str = "binary_logloss"
    scale_pos_weight: str | float = 1.0  # a number, "balanced" (neg/pos) or "sqrt" (sqrt of it)
    cat_smooth: float = 10.0
    cat_l2: float = 10.0
    max_cat_to_onehot: int = 4
    min_data_per_group: int = 50
    max_bin: int = 255
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        problems = []
        if not self.learning_rate > 0:
            problems.append(f"learning_rate={self.learning_rate} (must be > 0)")
        if not 2 <= int(self.num_leaves) <= 1 << MAX_DEPTH_LIMIT:
            problems.append(f"num_leaves={self.num_leaves} (use 2..{1 << MAX_DEPTH_LIMIT})")
        if not 1 <= int(self.max_depth) <= MAX_DEPTH_LIMIT:
            problems.append(
                f"max_depth={self.max_depth} (use 1..{MAX_DEPTH_LIMIT}: exact TreeSHAP keeps a "
                "2^depth table per leaf, so depth is bounded)"
            )
        for name in ("feature_fraction", "bagging_fraction"):
            if not 0.0 < float(getattr(self, name)) <= 1.0:
                problems.append(f"{name}={getattr(self, name)} (use 0 < value <= 1)")
        for name in ("lambda_l2", "cat_smooth", "cat_l2"):
            if float(getattr(self, name)) < 0:
                problems.append(f"{name}={getattr(self, name)} (must be >= 0)")
        for name in (
            "min_child_samples",
            "n_estimators",
            "early_stopping_rounds",
            "max_cat_to_onehot",
            "min_data_per_group",
            "threads",
        ):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name}={getattr(self, name)} (must be >= 1)")
        if not 2 <= int(self.max_bin) <= 1023:
            problems.append(f"max_bin={self.max_bin} (use 2..1023)")
        if self.early_stopping_metric not in EARLY_STOPPING_METRICS:
            problems.append(
                f"early_stopping_metric={self.early_stopping_metric!r} (use one of "
                f"{', '.join(EARLY_STOPPING_METRICS)})"
            )
        if isinstance(self.scale_pos_weight, str):
            if self.scale_pos_weight not in ("balanced", "sqrt"):
                problems.append(
                    f"scale_pos_weight={self.scale_pos_weight!r} (a number, 'balanced' or 'sqrt')"
                )
        elif not self.scale_pos_weight > 0:
            problems.append(f"scale_pos_weight={self.scale_pos_weight} (must be > 0)")
        if problems:
            raise ConfigError("invalid gbdt parameters: " + "; ".join(problems))

    @classmethod
    def from_params(cls, params: dict[str, Any], **overrides: Any) -> GbdtConfig:
        """Build from a plain dict (a search-space sample); unknown keys are an error."""
        merged = {**params, **overrides}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise ConfigError(
                f"unknown gbdt parameter(s) {unknown}; known ones: {', '.join(sorted(known))}"
            )
        ints = {f.name for f in fields(cls) if f.type == "int"}
        try:
            for name in ints & set(merged):
                value = merged[name]
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(f"{name}={value!r} must be a whole number")
                merged[name] = int(value)
            for name in {f.name for f in fields(cls) if f.type == "float"} & set(merged):
                merged[name] = float(merged[name])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid gbdt parameters: {exc}") from None
        return cls(**merged)

    def to_params(self) -> dict[str, Any]:
        """JSON-safe hyperparameters (for the manifest and the metrics table)."""
        return asdict(self)

    def lightgbm_params(self, labels: np.ndarray) -> dict[str, Any]:
        """The LightGBM parameter dict of this trial (``labels``: training labels, for weights)."""
        return {
            "objective": "binary",
            "metric": self.early_stopping_metric,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1 if self.bagging_fraction < 1.0 else 0,
            "lambda_l2": self.lambda_l2,
            "scale_pos_weight": resolve_scale_pos_weight(self.scale_pos_weight, labels),
            "cat_smooth": self.cat_smooth,
            "cat_l2": self.cat_l2,
            "max_cat_to_onehot": self.max_cat_to_onehot,
            "min_data_per_group": self.min_data_per_group,
            "max_bin": self.max_bin,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.threads,
            "verbosity": -1,
        }


@dataclass
class GbdtResult:
    """The outcome of one trial: the exported ensemble at its best iteration."""

    config: GbdtConfig
    architecture: dict[str, Any]
    arrays: dict[str, np.ndarray]
    best_iteration: int
    val_pr_auc: float
    seconds: float
    iterations_run: int = 0
    rows_per_second: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Same keys as ``train.TrainResult.summary()``; an epoch here is one boosting round."""
        return {
            "params": self.config.to_params(),
            "best_epoch": self.best_iteration,
            "val_pr_auc": self.val_pr_auc,
            "epochs_run": self.iterations_run,
            "rows_per_second": self.rows_per_second,
            "seconds": self.seconds,
        }

    def ensemble(self) -> TreeEnsemble:
        """The numpy ensemble (built once: it validates the export and builds TreeSHAP tables)."""
        cached = self.__dict__.get("_ensemble")
        if cached is None:
            cached = self.__dict__["_ensemble"] = TreeEnsemble.from_arrays(
                self.architecture, self.arrays
            )
        return cached

    def __getstate__(self) -> dict[str, Any]:
        # Pickled as a flow artifact: keep the export, not the derived tables.
        return {k: v for k, v in self.__dict__.items() if k != "_ensemble"}


def resolve_scale_pos_weight(value: str | float, labels: np.ndarray) -> float:
    """Turn ``"balanced"`` / ``"sqrt"`` into a number from the training labels."""
    if not isinstance(value, str):
        return float(value)
    positives = int(np.sum(labels))
    ratio = (len(labels) - positives) / max(positives, 1)
    return ratio if value == "balanced" else math.sqrt(ratio)


def model_matrix(numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """The matrix LightGBM sees: numeric columns then categorical codes, float64."""
    return np.hstack([np.asarray(numeric, np.float64), np.asarray(categorical, np.float64)])


def train_booster(
    train: Any,
    y_train: np.ndarray,
    validation: Any,
    y_validation: np.ndarray,
    cardinalities: list[int],
    config: GbdtConfig,
) -> Any:
    """Fit a LightGBM booster, early-stopped on validation average precision.

    ``train`` / ``validation`` are ``FeatureBatch``-like (``numeric``, ``categorical``).
    Returns the ``lightgbm.Booster`` with ``best_iteration`` set and ``rounds_run`` (the rounds
    trained before early stopping ended it) added.
    """
    import lightgbm as lgb

    y_tr = _check_inputs(train, y_train, cardinalities, "train")
    y_va = _check_inputs(validation, y_validation, cardinalities, "validation")
    frauds = int(y_tr.sum())
    if frauds < MIN_TRAIN_FRAUDS:
        raise FraudMlopsError(
            f"the train split has {frauds} fraud(s) among {len(y_tr)} claims; gradient boosting "
            f"needs at least {MIN_TRAIN_FRAUDS}: bring more labelled claims (or a longer history)"
        )
    n_numeric = int(train.numeric.shape[1])
    categorical = list(range(n_numeric, n_numeric + len(cardinalities)))
    params = config.lightgbm_params(y_tr)
    dataset = lgb.Dataset(
        model_matrix(train.numeric, train.categorical),
        label=y_tr,
        categorical_feature=categorical,
        params={"max_bin": config.max_bin, "verbosity": -1},
        free_raw_data=True,
    )
    rounds: list[int] = []  # LightGBM keeps only the trees up to the best round: count them here
    valid = dataset.create_valid(
        model_matrix(validation.numeric, validation.categorical), label=y_va
    )
    booster = lgb.train(
        params,
        dataset,
        num_boost_round=config.n_estimators,
        valid_sets=[valid],
        valid_names=["validation"],
        callbacks=[
            lambda env: rounds.append(env.iteration + 1),
            lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True, verbose=False),
        ],
    )
    if booster.best_iteration <= 0:  # early stopping never engaged: every tree counts
        booster.best_iteration = booster.current_iteration()
    booster.rounds_run = max(rounds, default=booster.current_iteration())
    return booster


def train_gbdt(
    train: Any,
    y_train: np.ndarray,
    validation: Any,
    y_validation: np.ndarray,
    cardinalities: list[int],
    config: GbdtConfig,
) -> GbdtResult:
    """Train one GBDT trial and export it at its best validation iteration.

    Raises:
        FraudMlopsError: inputs disagree in length, labels are not 0/1, a split lacks a class,
            the train split has fewer than ``MIN_TRAIN_FRAUDS`` frauds, or a code is out of range.
    """
    from sklearn.metrics import average_precision_score

    start = time.perf_counter()
    booster = train_booster(train, y_train, validation, y_validation, cardinalities, config)
    seconds = time.perf_counter() - start
    architecture, arrays = export_booster(
        booster, n_numeric=int(train.numeric.shape[1]), n_categorical=len(cardinalities)
    )
    result = GbdtResult(
        config=config,
        architecture=architecture,
        arrays=arrays,
        best_iteration=int(booster.best_iteration),
        val_pr_auc=0.0,
        seconds=seconds,
        iterations_run=int(booster.rounds_run),
        rows_per_second=len(y_train) * booster.rounds_run / seconds if seconds else 0.0,
    )
    scores = predict_logit(result, validation)
    result.val_pr_auc = float(average_precision_score(np.asarray(y_validation), scores))
    return result


def predict_logit(result: GbdtResult, batch: Any) -> np.ndarray:
    """Raw margins of the exported model (numpy, through :mod:`fraud_mlops.trees`)."""
    return result.ensemble().logit(batch.numeric, batch.categorical)


def predict_proba(result: GbdtResult, batch: Any) -> np.ndarray:
    """Fraud probabilities: the sigmoid of :func:`predict_logit`."""
    return 1.0 / (1.0 + np.exp(-predict_logit(result, batch)))


def export_booster(
    booster: Any, *, n_numeric: int, n_categorical: int, num_iteration: int | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Turn a LightGBM booster into the architecture dict and arrays of ``trees.py``.

    Reads ``booster.dump_model()`` (thresholds and leaf values at full double precision) up to
    ``num_iteration`` (default: the best iteration).
    """
    import lightgbm

    dump = booster.dump_model(
        num_iteration=num_iteration if num_iteration is not None else booster.best_iteration
    )
    if dump.get("num_tree_per_iteration", 1) != 1 or not str(dump.get("objective", "")).startswith(
        "binary"
    ):
        raise FraudMlopsError(
            f"only binary LightGBM models can be exported, got objective {dump.get('objective')!r}"
        )
    if int(dump["max_feature_idx"]) + 1 != n_numeric + n_categorical:
        raise FraudMlopsError(
            f"the booster has {int(dump['max_feature_idx']) + 1} input columns; expected "
            f"{n_numeric} numeric + {n_categorical} categorical"
        )
    cols: dict[str, list] = {name: [] for name in ARRAY_SPECS}
    cat_values: list[int] = []
    cols["cat_boundaries"].append(0)
    roots = []
    depth = 0
    for tree in dump["tree_info"]:
        roots.append(_export_node(tree["tree_structure"], cols, cat_values))
        depth = max(depth, _depth(tree["tree_structure"]))
    cols["tree_root"] = roots
    cols["cat_values"] = cat_values
    arrays = {name: np.asarray(cols[name], dtype=dtype) for name, (dtype, _) in ARRAY_SPECS.items()}
    architecture = {
        "type": ARCHITECTURE_TYPE,
        "n_numeric": int(n_numeric),
        "n_categorical": int(n_categorical),
        "n_trees": len(roots),
        "n_nodes": len(arrays["node_feature"]),
        "n_leaves": len(arrays["leaf_value"]),
        "n_cat_splits": len(arrays["cat_boundaries"]) - 1,
        "n_cat_values": len(arrays["cat_values"]),
        "max_depth": max(depth, 1),
        "base_score": 0.0,  # LightGBM folds the initial score into the first tree
        "lightgbm_version": lightgbm.__version__,
    }
    ensemble = TreeEnsemble.from_arrays(architecture, arrays)
    architecture.update(ensemble.describe())
    if architecture["max_path_features"] > MAX_PATH_FEATURES:  # pragma: no cover - refused above
        raise FraudMlopsError("a path tests too many distinct features")
    return architecture, arrays


def _export_node(node: dict[str, Any], cols: dict[str, list], cat_values: list[int]) -> int:
    """Append one (sub)tree; return its encoded index (>= 0 internal node, < 0 leaf ~index)."""
    if "leaf_value" in node:
        cols["leaf_value"].append(float(node["leaf_value"]))
        cols["leaf_count"].append(float(node.get("leaf_count", 0)))
        return ~(len(cols["leaf_value"]) - 1)
    index = len(cols["node_feature"])
    categorical = node["decision_type"] == "=="
    for name in ARRAY_SPECS:
        if name.startswith("node_"):
            cols[name].append(0)
    cols["node_feature"][index] = int(node["split_feature"])
    cols["node_categorical"][index] = int(categorical)
    cols["node_default_left"][index] = int(bool(node["default_left"]))
    cols["node_missing_type"][index] = _MISSING_TYPES[node["missing_type"]]
    cols["node_count"][index] = float(node["internal_count"])
    if categorical:
        codes = sorted(int(v) for v in str(node["threshold"]).split("||"))
        cat_values.extend(codes)
        cols["node_cat_index"][index] = len(cols["cat_boundaries"]) - 1
        cols["cat_boundaries"].append(len(cat_values))
        cols["node_threshold"][index] = 0.0
    else:
        cols["node_cat_index"][index] = -1
        cols["node_threshold"][index] = float(node["threshold"])
    cols["node_left"][index] = _export_node(node["left_child"], cols, cat_values)
    cols["node_right"][index] = _export_node(node["right_child"], cols, cat_values)
    return index


def _depth(node: dict[str, Any]) -> int:
    if "leaf_value" in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def _check_inputs(batch: Any, labels: np.ndarray, cardinalities: list[int], split: str):
    labels = np.asarray(labels)
    n = len(labels)
    numeric, categorical = np.asarray(batch.numeric), np.asarray(batch.categorical)
    if len(numeric) != n or len(categorical) != n:
        raise FraudMlopsError(
            f"{split}: {len(numeric)} numeric rows, {len(categorical)} categorical rows and {n} "
            "labels; they must match"
        )
    if categorical.ndim != 2 or categorical.shape[1] != len(cardinalities):
        raise FraudMlopsError(
            f"{split}: {categorical.shape[1] if categorical.ndim == 2 else '?'} categorical "
            f"columns but {len(cardinalities)} cardinalities"
        )
    if categorical.size:
        bad = np.flatnonzero(
            (categorical.min(axis=0) < 0) | (categorical.max(axis=0) >= np.asarray(cardinalities))
        )
        if bad.size:
            j = int(bad[0])
            raise FraudMlopsError(
                f"{split}: categorical column {j} holds codes outside 0..{cardinalities[j] - 1}; "
                "encode the features with the fitted Preprocessor"
            )
    if not np.isfinite(numeric).all():
        raise FraudMlopsError(f"{split}: numeric inputs hold NaN or infinite values")
    classes = set(np.unique(labels).tolist())
    if not classes <= {0, 1}:
        raise FraudMlopsError(f"{split}: labels must be 0/1, found {sorted(classes)}")
    if classes != {0, 1}:
        raise FraudMlopsError(
            f"{split} split has only class {sorted(classes)} among {n} claims: it needs both "
            "fraud and non-fraud claims. Use more rows or a different split."
        )
    return labels.astype(np.float64)
