"""The PyTorch families: an MLP with embeddings, and TabM; both with numeric embeddings.

* ``mlp_embeddings`` — :class:`FraudMLP`: numeric inputs (optionally through a numeric embedding),
  one embedding table per categorical feature, hidden blocks Linear -> LayerNorm -> ReLU ->
  Dropout, one logit.
* ``tabm`` — :class:`FraudTabM`: ``tabm.TabM`` (Gorishniy et al., ICLR 2025), a parameter-
  efficient ensemble of ``k`` MLPs (BatchEnsemble or the "mini" variant), categoricals one-hot
  encoded as TabM does; its logit is the mean of the members' logits.

Numeric embeddings come from ``rtdl_num_embeddings``: ``linear_relu``, ``periodic`` (lite=False)
or ``piecewise_linear`` (version B, bins from the training split only). The parameter names of
these modules are the artifact's weight names; ``fraud_mlops.neural`` mirrors every architecture
in numpy (see docs/model-artifact.md).

This module imports torch at the top: it is on the training path only, never on the scoring path.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from fraud_mlops.artifact import architecture_dict
from fraud_mlops.errors import ConfigError
from fraud_mlops.neural import expected_shapes, num_embedding_of

NORM_EPS = 1e-5


def build_architecture(
    numeric_dim: int,
    cardinalities: Sequence[int],
    hidden: Sequence[int],
    dropout: float,
    embedding_dims: Sequence[int] | None = None,
    num_embedding: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest's ``architecture`` dict for an MLP to train: at least one hidden layer."""
    if not hidden:
        raise ConfigError("hidden must list at least one positive layer width, got []")
    arch = architecture_dict(
        numeric_dim, cardinalities, hidden, dropout, embedding_dims, norm_eps=NORM_EPS
    )
    if num_embedding and num_embedding.get("kind", "none") != "none":
        arch["num_embedding"] = dict(num_embedding)
    return arch


def build_tabm_architecture(
    numeric_dim: int,
    cardinalities: Sequence[int],
    *,
    k: int,
    n_blocks: int,
    d_block: int,
    dropout: float,
    arch_type: str = "tabm",
    num_embedding: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest's ``architecture`` dict for a TabM model."""
    if numeric_dim + len(cardinalities) == 0:
        raise ConfigError("the model has no inputs: declare numeric or categorical features")
    arch = {
        "type": "tabm",
        "numeric_dim": int(numeric_dim),
        "cardinalities": [int(c) for c in cardinalities],
        "k": int(k),
        "n_blocks": int(n_blocks),
        "d_block": int(d_block),
        "dropout": float(dropout),
        "arch_type": arch_type,
        "activation": "relu",
    }
    if num_embedding and num_embedding.get("kind", "none") != "none":
        arch["num_embedding"] = dict(num_embedding)
    expected_shapes(arch)  # refuses a malformed combination now, not at export
    return arch


def numeric_embedding(spec: dict[str, Any], p: int, bins: list[torch.Tensor] | None = None):
    """The ``rtdl_num_embeddings`` module for ``spec`` (None for ``kind: none``).

    Piecewise-linear embeddings need the bin edges from training; when only the bin counts are
    known (rebuilding a trained model to load its weights), placeholder edges are used: the
    encoding's own weights are buffers in the state dict and are overwritten on load.
    """
    import rtdl_num_embeddings as rne

    kind = spec.get("kind", "none")
    if kind == "none" or p == 0:
        return None
    d = int(spec["d_embedding"])
    if kind == "linear_relu":
        return rne.LinearReLUEmbeddings(p, d)
    if kind == "periodic":
        return rne.PeriodicEmbeddings(
            p,
            d,
            n_frequencies=int(spec["n_frequencies"]),
            frequency_init_scale=float(spec.get("frequency_init_scale", 0.01)),
            activation=bool(spec.get("activation", True)),
            lite=False,
        )
    if bins is None:
        bins = [torch.arange(int(n) + 1, dtype=torch.float32) for n in spec["n_bins"]]
    with warnings.catch_warnings():
        # "only one bin" for constant or binary inputs: intended (see compute_numeric_bins)
        warnings.filterwarnings("ignore", message=".*has just two bin edges")
        return rne.PiecewiseLinearEmbeddings(
            bins, d, activation=bool(spec.get("activation", False)), version="B"
        )


def compute_numeric_bins(numeric: np.ndarray, n_bins: int) -> list[torch.Tensor]:
    """Quantile bin edges per numeric input, from the TRAINING split (rtdl's ``compute_bins``).

    A constant column (e.g. a missing indicator that never fired in training) gets one bin
    ``[c, c + 1]``: ``compute_bins`` refuses such columns, and one bin is all they need.
    """
    import rtdl_num_embeddings as rne

    x = torch.as_tensor(np.asarray(numeric, dtype=np.float32))
    varying = [j for j in range(x.shape[1]) if bool((x[:, j] != x[0, j]).any())]
    bins: list[torch.Tensor] = [
        torch.tensor([float(x[0, j]), float(x[0, j]) + 1.0]) for j in range(x.shape[1])
    ]
    if varying:
        n = max(2, min(int(n_bins), len(x) - 1))
        with warnings.catch_warnings():  # binary inputs get one bin: intended, see above
            warnings.filterwarnings("ignore", message=".*has just two bin edges")
            computed = rne.compute_bins(x[:, varying], n_bins=n)
        for j, edges in zip(varying, computed, strict=True):
            bins[j] = edges
    return bins


class _Block(nn.Module):
    """Linear -> LayerNorm -> ReLU -> Dropout; attribute names are part of the weight contract."""

    def __init__(self, d_in: int, d_out: int, dropout: float, eps: float):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.norm = nn.LayerNorm(d_out, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(torch.relu(self.norm(self.linear(x))))


class _Exportable(nn.Module):
    """Weight export/import under the state-dict names, and batched eval-mode prediction."""

    def to_numpy_weights(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer as float32 numpy, named as in the state dict."""
        return {
            name: tensor.detach().cpu().numpy().astype(np.float32, copy=True)
            for name, tensor in self.state_dict().items()
        }

    @classmethod
    def from_numpy_weights(cls, architecture: dict[str, Any], weights: dict[str, np.ndarray]):
        """Rebuild a model from exported weights (refuses missing or extra names)."""
        model = cls(architecture)
        state = model.state_dict()
        if set(weights) != set(state):
            missing, extra = sorted(set(state) - set(weights)), sorted(set(weights) - set(state))
            raise ConfigError(
                f"weights do not match the architecture: missing {missing}, unexpected {extra}"
            )
        model.load_state_dict(
            {k: torch.from_numpy(np.asarray(v)).to(state[k].dtype) for k, v in weights.items()}
        )
        return model

    def member_logits(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """``[n, k]`` logits of each ensemble member (k = 1 for a single network)."""
        return self(numeric, categorical)[:, None]

    @torch.no_grad()
    def predict_logit(
        self, numeric: np.ndarray, categorical: np.ndarray, batch_size: int = 65536
    ) -> np.ndarray:
        """Logits as float64 numpy, in eval mode (no dropout)."""
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, len(numeric), batch_size):
            num = torch.from_numpy(np.ascontiguousarray(numeric[start : start + batch_size]))
            cat = torch.from_numpy(np.ascontiguousarray(categorical[start : start + batch_size]))
            out.append(self(num.float(), cat.long()).double().numpy())
        self.train(was_training)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float64)

    def predict_proba(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """Fraud probabilities (sigmoid of the logit) as float64 numpy."""
        return 1.0 / (1.0 + np.exp(-self.predict_logit(numeric, categorical)))


class FraudMLP(_Exportable):
    """MLP with one embedding table per categorical feature. ``forward`` returns logits ``[n]``."""

    def __init__(self, architecture: dict[str, Any], bins: list[torch.Tensor] | None = None):
        super().__init__()
        if architecture.get("type") != "mlp_embeddings":
            raise ConfigError(f"unknown architecture type {architecture.get('type')!r}")
        self.architecture = dict(architecture)
        self.numeric_dim = int(architecture["numeric_dim"])
        spec = num_embedding_of(architecture)
        self.num_module = numeric_embedding(spec, self.numeric_dim, bins)
        d_num = 1 if self.num_module is None else int(spec["d_embedding"])
        cards, dims = architecture["cardinalities"], architecture["embedding_dims"]
        self.emb = nn.ModuleList(nn.Embedding(c, d) for c, d in zip(cards, dims, strict=True))
        width = self.numeric_dim * d_num + sum(dims)
        blocks = []
        for h in architecture["hidden"]:
            blocks.append(
                _Block(width, h, architecture["dropout"], architecture.get("norm_eps", NORM_EPS))
            )
            width = h
        self.hidden = nn.ModuleList(blocks)
        self.out = nn.Linear(width, 1)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        num = numeric if self.num_module is None else self.num_module(numeric).flatten(1)
        parts = [num] + [table(categorical[:, i]) for i, table in enumerate(self.emb)]
        h = torch.cat(parts, dim=1)
        for block in self.hidden:
            h = block(h)
        return self.out(h).squeeze(1)


class FraudTabM(_Exportable):
    """``tabm.TabM`` on the preprocessed inputs; ``forward`` returns the members' mean logit."""

    def __init__(self, architecture: dict[str, Any], bins: list[torch.Tensor] | None = None):
        super().__init__()
        import tabm

        if architecture.get("type") != "tabm":
            raise ConfigError(f"unknown architecture type {architecture.get('type')!r}")
        self.architecture = dict(architecture)
        p = int(architecture["numeric_dim"])
        cards = [int(c) for c in architecture["cardinalities"]]
        embedding = numeric_embedding(num_embedding_of(architecture), p, bins)
        self.has_numeric, self.has_categorical = p > 0, bool(cards)
        self.net = tabm.TabM.make(
            n_num_features=p,
            cat_cardinalities=cards or None,
            d_out=1,
            num_embeddings=embedding,
            k=int(architecture["k"]),
            n_blocks=int(architecture["n_blocks"]),
            d_block=int(architecture["d_block"]),
            dropout=float(architecture["dropout"]),
            arch_type=architecture.get("arch_type", "tabm"),
        )

    def member_logits(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        out = self.net(
            numeric if self.has_numeric else None, categorical if self.has_categorical else None
        )
        return out[..., 0]  # [n, k]

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return self.member_logits(numeric, categorical).mean(dim=1)


FAMILIES = {"mlp_embeddings": FraudMLP, "tabm": FraudTabM}


def network_class(architecture: dict[str, Any]) -> type[_Exportable]:
    """The torch module class for an architecture's ``type``."""
    kind = architecture.get("type")
    if kind not in FAMILIES:
        raise ConfigError(f"unknown neural architecture type {kind!r}; use one of {list(FAMILIES)}")
    return FAMILIES[kind]
