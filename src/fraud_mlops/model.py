"""The PyTorch fraud model: an MLP over numeric inputs and categorical embeddings.

The layer names are a contract (see docs/training.md): ``emb.{i}.weight``,
``hidden.{l}.linear.{weight,bias}``, ``hidden.{l}.norm.{weight,bias}`` and ``out.{weight,bias}``.
:meth:`FraudMLP.to_numpy_weights` exports exactly those names, so the torch-free scorer
(``fraud_mlops.scoring``) can run the same forward pass in numpy from ``weights.npz``.

This module imports torch at the top: it is on the training path only, never on the scoring path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from fraud_mlops.artifact import architecture_dict
from fraud_mlops.errors import ConfigError

NORM_EPS = 1e-5


def build_architecture(
    numeric_dim: int,
    cardinalities: Sequence[int],
    hidden: Sequence[int],
    dropout: float,
    embedding_dims: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The manifest's ``architecture`` dict for a model to train: at least one hidden layer."""
    if not hidden:
        raise ConfigError("hidden must list at least one positive layer width, got []")
    return architecture_dict(
        numeric_dim, cardinalities, hidden, dropout, embedding_dims, norm_eps=NORM_EPS
    )


class _Block(nn.Module):
    """Linear -> LayerNorm -> ReLU -> Dropout; attribute names are part of the weight contract."""

    def __init__(self, d_in: int, d_out: int, dropout: float, eps: float):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.norm = nn.LayerNorm(d_out, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(torch.relu(self.norm(self.linear(x))))


class FraudMLP(nn.Module):
    """MLP with one embedding table per categorical feature. ``forward`` returns logits ``[n]``."""

    def __init__(self, architecture: dict[str, Any]):
        super().__init__()
        if architecture.get("type") != "mlp_embeddings":
            raise ConfigError(f"unknown architecture type {architecture.get('type')!r}")
        self.architecture = dict(architecture)
        self.numeric_dim = int(architecture["numeric_dim"])
        cards, dims = architecture["cardinalities"], architecture["embedding_dims"]
        self.emb = nn.ModuleList(nn.Embedding(c, d) for c, d in zip(cards, dims, strict=True))
        width = self.numeric_dim + sum(dims)
        blocks = []
        for h in architecture["hidden"]:
            blocks.append(
                _Block(width, h, architecture["dropout"], architecture.get("norm_eps", NORM_EPS))
            )
            width = h
        self.hidden = nn.ModuleList(blocks)
        self.out = nn.Linear(width, 1)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        parts = [numeric] + [table(categorical[:, i]) for i, table in enumerate(self.emb)]
        h = torch.cat(parts, dim=1)
        for block in self.hidden:
            h = block(h)
        return self.out(h).squeeze(1)

    def to_numpy_weights(self) -> dict[str, np.ndarray]:
        """Every parameter as float32 numpy, named exactly as in the weight contract."""
        return {
            name: tensor.detach().cpu().numpy().astype(np.float32, copy=True)
            for name, tensor in self.state_dict().items()
        }

    @classmethod
    def from_numpy_weights(
        cls, architecture: dict[str, Any], weights: dict[str, np.ndarray]
    ) -> FraudMLP:
        """Rebuild a model from exported weights (refuses missing or extra names)."""
        model = cls(architecture)
        expected = set(model.state_dict())
        if set(weights) != expected:
            missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
            raise ConfigError(
                f"weights do not match the architecture: missing {missing}, unexpected {extra}"
            )
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
        return model

    @torch.no_grad()
    def predict_proba(
        self, numeric: np.ndarray, categorical: np.ndarray, batch_size: int = 65536
    ) -> np.ndarray:
        """Fraud probabilities as float64 numpy, in eval mode (no dropout)."""
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, len(numeric), batch_size):
            num = torch.from_numpy(np.ascontiguousarray(numeric[start : start + batch_size]))
            cat = torch.from_numpy(np.ascontiguousarray(categorical[start : start + batch_size]))
            out.append(torch.sigmoid(self(num.float(), cat.long())).double().numpy())
        self.train(was_training)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float64)
