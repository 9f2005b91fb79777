"""Train the fraud MLP: class-imbalance aware, early-stopped on validation PR-AUC, reproducible.

One call of :func:`train_model` is one hyperparameter trial. It is seeded (same seed, same data,
same thread count -> the same weights) and sets ``torch.set_num_threads(threads)``: with trials
running in parallel on a small machine, one thread per trial is much faster than oversubscribing
the cores.

Test hook: if ``FRAUD_MLOPS_FAIL_ONCE_MARKER`` names a file that does not exist yet, the trial
creates it and raises; the next attempt finds it and trains normally. The flow tests use this to
prove that ``@retry`` recovers a failed trial. It is inert unless the variable is set.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fraud_mlops.errors import ConfigError, FraudMlopsError

FAIL_ONCE_ENV = "FRAUD_MLOPS_FAIL_ONCE_MARKER"


class Features(Protocol):
    """What training needs from a feature batch (``preprocessing.FeatureBatch`` fits)."""

    numeric: np.ndarray
    categorical: np.ndarray


class InjectedFailure(RuntimeError):
    """Raised once by the ``FRAUD_MLOPS_FAIL_ONCE_MARKER`` test hook."""


NEURAL_FAMILIES = ("mlp", "tabm")
NUM_EMBEDDING_KINDS = ("none", "linear_relu", "periodic", "piecewise_linear")
# Parameters that only one neural family reads: naming one for the other family is a mistake.
FAMILY_ONLY = {
    "mlp": {"hidden", "embedding_max_dim"},
    "tabm": {"k", "n_blocks", "d_block", "arch_type"},
}


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one neural trial. Build from a search-space sample with
    :meth:`from_params`; ``family`` picks the network (``mlp`` or ``tabm``)."""

    family: str = "mlp"
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 512
    max_epochs: int = 30
    patience: int = 5
    loss: str = "bce"  # "bce" or "focal"
    pos_weight: str | float = "sqrt"  # a number, "balanced" (neg/pos) or "sqrt" (sqrt of it)
    focal_gamma: float = 2.0
    embedding_max_dim: int = 16
    # numeric embeddings (rtdl_num_embeddings), both families
    num_embeddings: str = "none"
    d_embedding: int = 16
    n_bins: int = 32  # piecewise_linear: quantile bins per input, from the training split
    n_frequencies: int = 16  # periodic
    frequency_init_scale: float = 0.01  # periodic
    # TabM
    k: int = 16
    n_blocks: int = 2
    d_block: int = 128
    arch_type: str = "tabm"  # "tabm" (BatchEnsemble) or "tabm-mini"
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        problems = []
        if self.family not in NEURAL_FAMILIES:
            problems.append(f"family={self.family!r} (use one of {', '.join(NEURAL_FAMILIES)})")
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            problems.append(f"hidden={list(self.hidden)} (list positive layer widths)")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout={self.dropout} (use 0 <= dropout < 1)")
        if not self.learning_rate > 0:
            problems.append(f"learning_rate={self.learning_rate} (must be > 0)")
        if self.weight_decay < 0:
            problems.append(f"weight_decay={self.weight_decay} (must be >= 0)")
        for name in (
            "batch_size",
            "max_epochs",
            "patience",
            "threads",
            "embedding_max_dim",
            "d_embedding",
            "n_frequencies",
            "k",
            "n_blocks",
            "d_block",
        ):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name}={getattr(self, name)} (must be >= 1)")
        if int(self.n_bins) < 2:
            problems.append(f"n_bins={self.n_bins} (must be >= 2)")
        if not self.frequency_init_scale > 0:
            problems.append(f"frequency_init_scale={self.frequency_init_scale} (must be > 0)")
        if self.loss not in ("bce", "focal"):
            problems.append(f"loss={self.loss!r} (use 'bce' or 'focal')")
        if self.num_embeddings not in NUM_EMBEDDING_KINDS:
            problems.append(
                f"num_embeddings={self.num_embeddings!r} (use one of "
                f"{', '.join(NUM_EMBEDDING_KINDS)})"
            )
        if self.arch_type not in ("tabm", "tabm-mini"):
            problems.append(f"arch_type={self.arch_type!r} (use 'tabm' or 'tabm-mini')")
        if isinstance(self.pos_weight, str):
            if self.pos_weight not in ("balanced", "sqrt"):
                problems.append(f"pos_weight={self.pos_weight!r} (a number, 'balanced' or 'sqrt')")
        elif not self.pos_weight > 0:
            problems.append(f"pos_weight={self.pos_weight} (must be > 0)")
        if problems:
            raise ConfigError("invalid training parameters: " + "; ".join(problems))

    @classmethod
    def from_params(cls, params: dict[str, Any], **overrides: Any) -> TrainConfig:
        """Build from a plain dict (a search-space sample); unknown keys are an error, and so
        is a parameter of the other neural family (e.g. ``hidden`` for TabM)."""
        merged = {**params, **overrides}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise ConfigError(
                f"unknown training parameter(s) {unknown}; known ones: {', '.join(sorted(known))}"
            )
        family = merged.get("family", "mlp")
        for other, names in FAMILY_ONLY.items():
            wrong = sorted(names & set(merged)) if other != family else []
            if wrong and family in FAMILY_ONLY:
                raise ConfigError(
                    f"parameter(s) {wrong} belong to family {other!r}, not {family!r}; "
                    f"{family} reads {', '.join(sorted(FAMILY_ONLY[family]))} instead"
                )
        if "hidden" in merged:
            merged["hidden"] = tuple(int(h) for h in merged["hidden"])
        return cls(**merged)

    def to_params(self) -> dict[str, Any]:
        """JSON-safe hyperparameters of this family (for the manifest and the metrics table)."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        for other, names in FAMILY_ONLY.items():
            if other != self.family:
                for name in names:
                    d.pop(name, None)
        return d


@dataclass
class TrainResult:
    """The outcome of one trial: weights at the best validation epoch and the learning curve."""

    config: TrainConfig
    architecture: dict[str, Any]
    weights: dict[str, np.ndarray]
    best_epoch: int
    val_pr_auc: float
    history: list[dict[str, float]] = field(default_factory=list)
    rows_per_second: float = 0.0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "params": self.config.to_params(),
            "best_epoch": self.best_epoch,
            "val_pr_auc": self.val_pr_auc,
            "epochs_run": len(self.history),
            "rows_per_second": self.rows_per_second,
            "seconds": self.seconds,
        }


def fail_once_if_requested() -> None:
    """The retry test hook (see the module docstring)."""
    marker = os.environ.get(FAIL_ONCE_ENV)
    if marker and not Path(marker).exists():
        Path(marker).parent.mkdir(parents=True, exist_ok=True)
        Path(marker).write_text("failed once on purpose; the retry will succeed\n")
        raise InjectedFailure(f"injected failure ({FAIL_ONCE_ENV}={marker}); retry to continue")


def resolve_pos_weight(pos_weight: str | float, labels: np.ndarray) -> float:
    """Turn ``"balanced"`` / ``"sqrt"`` into a number from the training labels."""
    if not isinstance(pos_weight, str):
        return float(pos_weight)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    ratio = negatives / max(positives, 1)
    return ratio if pos_weight == "balanced" else math.sqrt(ratio)


def _check_inputs(features: Features, labels: np.ndarray, split: str) -> np.ndarray:
    labels = np.asarray(labels)
    n = len(labels)
    if len(features.numeric) != n or len(features.categorical) != n:
        raise FraudMlopsError(
            f"{split}: {len(features.numeric)} numeric rows, {len(features.categorical)} "
            f"categorical rows and {n} labels; they must match"
        )
    classes = set(np.unique(labels).tolist())
    if not classes <= {0, 1}:
        raise FraudMlopsError(f"{split}: labels must be 0/1, found {sorted(classes)}")
    if classes != {0, 1}:
        raise FraudMlopsError(
            f"{split} split has only class {sorted(classes)}: it needs both fraud and non-fraud "
            "claims. Use more rows or a different split."
        )
    return labels.astype(np.float32)


def train_model(
    train: Features,
    y_train: np.ndarray,
    validation: Features,
    y_validation: np.ndarray,
    cardinalities: list[int],
    config: TrainConfig,
) -> TrainResult:
    """Train one neural trial; keep the weights of the epoch with the best validation PR-AUC."""
    import torch
    from sklearn.metrics import average_precision_score

    from fraud_mlops.model import network_class

    fail_once_if_requested()
    y_tr = _check_inputs(train, y_train, "train")
    y_va = _check_inputs(validation, y_validation, "validation")
    torch.set_num_threads(int(config.threads))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)

    architecture, bins = neural_architecture(train.numeric, cardinalities, config)
    model = network_class(architecture)(architecture, bins)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    pos_weight = torch.tensor(resolve_pos_weight(config.pos_weight, y_tr))
    loss_fn = _loss(config, pos_weight)

    num = torch.from_numpy(np.ascontiguousarray(train.numeric, dtype=np.float32))
    cat = torch.from_numpy(np.ascontiguousarray(train.categorical, dtype=np.int64))
    target = torch.from_numpy(y_tr)
    n = len(target)

    history: list[dict[str, float]] = []
    best = (-1.0, 0, model.to_numpy_weights())  # (val PR-AUC, epoch, weights)
    train_seconds = 0.0
    start = time.perf_counter()
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        tic = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for lo in range(0, n, config.batch_size):
            idx = order[lo : lo + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            # every ensemble member learns from the loss on its own logits (TabM's recipe)
            logits = model.member_logits(num[idx], cat[idx])
            loss = loss_fn(logits, target[idx, None].expand_as(logits))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        train_seconds += time.perf_counter() - tic
        scores = model.predict_proba(validation.numeric, validation.categorical)
        val_ap = float(average_precision_score(y_va, scores))
        history.append({"epoch": epoch, "train_loss": total / n, "val_pr_auc": val_ap})
        if val_ap > best[0] + 1e-6:
            best = (val_ap, epoch, model.to_numpy_weights())
        elif epoch - best[1] >= config.patience:
            break
    epochs = len(history)
    return TrainResult(
        config=config,
        architecture=architecture,
        weights=best[2],
        best_epoch=best[1],
        val_pr_auc=best[0],
        history=history,
        rows_per_second=n * epochs / train_seconds if train_seconds else 0.0,
        seconds=time.perf_counter() - start,
    )


def _loss(config: TrainConfig, pos_weight: Any):
    """Weighted BCE, or focal loss (which down-weights the many easy negatives)."""
    import torch
    import torch.nn.functional as F

    if config.loss == "bce":
        return torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    gamma = float(config.focal_gamma)

    def focal(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p_t = torch.exp(-bce)  # probability given to the true class
        weight = torch.where(target > 0.5, pos_weight, torch.ones_like(target))
        return (weight * (1 - p_t) ** gamma * bce).mean()

    return focal


def predict_logit(result: TrainResult, features: Features) -> np.ndarray:
    """Logits of the trained (best-epoch) model, through torch."""
    from fraud_mlops.model import network_class

    model = network_class(result.architecture).from_numpy_weights(
        result.architecture, result.weights
    )
    return model.predict_logit(features.numeric, features.categorical)


def predict(result: TrainResult, features: Features) -> np.ndarray:
    """Probabilities of the trained (best-epoch) model, through torch."""
    return 1.0 / (1.0 + np.exp(-predict_logit(result, features)))


def neural_architecture(
    train_numeric: np.ndarray, cardinalities: list[int], config: TrainConfig
) -> tuple[dict[str, Any], list | None]:
    """The architecture dict of ``config`` for these inputs, and the piecewise-linear bins
    (computed on the training split) when that embedding is used."""
    from fraud_mlops.artifact import embedding_dim
    from fraud_mlops.model import (
        build_architecture,
        build_tabm_architecture,
        compute_numeric_bins,
    )

    p = int(train_numeric.shape[1])
    bins = None
    spec: dict[str, Any] = {"kind": config.num_embeddings}
    if config.num_embeddings != "none" and p:
        spec["d_embedding"] = int(config.d_embedding)
    if config.num_embeddings == "piecewise_linear" and p:
        bins = compute_numeric_bins(train_numeric, config.n_bins)
        spec.update(n_bins=[len(b) - 1 for b in bins], activation=False)
    elif config.num_embeddings == "periodic":
        spec.update(
            n_frequencies=int(config.n_frequencies),
            frequency_init_scale=float(config.frequency_init_scale),
            activation=True,
        )
    if config.family == "tabm":
        arch = build_tabm_architecture(
            p,
            cardinalities,
            k=config.k,
            n_blocks=config.n_blocks,
            d_block=config.d_block,
            dropout=config.dropout,
            arch_type=config.arch_type,
            num_embedding=spec,
        )
    else:
        arch = build_architecture(
            numeric_dim=p,
            cardinalities=cardinalities,
            hidden=config.hidden,
            dropout=config.dropout,
            embedding_dims=[embedding_dim(c, config.embedding_max_dim) for c in cardinalities],
            num_embedding=spec,
        )
    return arch, bins
