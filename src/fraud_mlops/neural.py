"""The neural families' forward pass in numpy (MLP and TabM), and their occlusion reasons.

This mirrors the torch modules of ``fraud_mlops.model`` layer by layer (the tests hold every
architecture to 1e-5 of torch). The weight names are the torch ``state_dict`` names, so the
artifact's ``weights.npz`` is the model's state as torch sees it.

Both families have the same first step: each input feature becomes a small block of the input
vector (a numeric value through its numeric embedding — none, ``linear_relu``, ``periodic`` or
``piecewise_linear`` from ``rtdl_num_embeddings`` — and a categorical value through its embedding
table, or TabM's one-hot code), and the first linear layer mixes the blocks. That layer is linear
in every block, so at load time each block is folded into it: the first layer's output is
``bias + sum_f u_f(x_f)``, where ``u_f`` is a table lookup (categorical) or a tiny matmul
(numeric). TabM's per-member scalings (``r``, ``s``) fold into the same tables: its k members
simply make the first layer ``k`` times wider.

Reasons are occlusion against the training reference: the contribution of feature ``f`` is
``logit(x) - logit(x with f set to its reference)`` — the training median for a numeric feature
(0 after robust scaling, not missing) and the most frequent training value for a categorical one.
Because of the folding, the occluded first-layer outputs are ``z0 - u_f(x_f) + u_f(ref_f)``, so
all features of all claims go through the rest of the network in one batched pass (except the
features already at their reference: their contribution is 0 by definition, and their rows are
skipped). A reason is therefore an exact statement: "set this feature to its usual value and
the logit drops by this".

On the scoring path: numpy only.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from fraud_mlops.errors import ModelError

NEURAL_TYPES = ("mlp_embeddings", "tabm")
NUM_EMBEDDINGS = ("none", "linear_relu", "periodic", "piecewise_linear")
TABM_ARCHS = ("tabm", "tabm-mini")
# Rows per pass through the hidden layers: a chunk's activations (2,048 x 64 float32, 512 KB)
# stay in a core's L2 cache between the LayerNorm's passes.
REST_CHUNK_ROWS = 2048
# Claims per occlusion block: the block's [n_features + 1, claims, k * H] rows stay within this
# many float32 values (16 MB), whatever the batch size, so the scratch arrays stay bounded.
OCCLUSION_BLOCK_VALUES = 1 << 22
# From this many rows on, the hidden layers' bias, gamma and beta are applied as arrays repeated
# to the chunk's shape (contiguous operands, one long loop) instead of broadcast row by row.
TILE_FROM = 256
# Work arrays from this many values on are kept per thread and reused (below: np.empty)
SCRATCH_FROM = 1 << 14
# Up to this many (feature, claim) pairs, occlusion runs every row (one claim: 15 rows) rather
# than only the pairs off their reference: the same answers, with fewer small numpy calls.
DENSE_PAIRS = 64


class _Scratch(threading.local):
    """Work arrays reused from call to call, one set per thread (grown on demand).

    A batch's temporaries are megabytes. Allocated afresh per request, glibc hands the freed
    top of its heap back to the OS and the next request page-faults it in again: occlusion of
    1,000 claims took 8.8 ms that way and 4.0 ms with the memory kept.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
        size = math.prod(shape)
        if size < SCRATCH_FROM:  # small arrays come from numpy's own cache, and faster
            return np.empty(shape, dtype=dtype)
        buf = self.arrays.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self.arrays[name] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)


_SCRATCH = _Scratch()


# -- shapes ----------------------------------------------------------------------------------------
def num_embedding_of(architecture: Mapping[str, Any]) -> dict[str, Any]:
    """The numeric-embedding section of an architecture (``{"kind": "none"}`` when absent)."""
    spec = dict(architecture.get("num_embedding") or {"kind": "none"})
    if spec.get("kind") not in NUM_EMBEDDINGS:
        raise ModelError(
            f"architecture num_embedding kind {spec.get('kind')!r} is not supported; "
            f"use one of {', '.join(NUM_EMBEDDINGS)}"
        )
    return spec


def numeric_width(architecture: Mapping[str, Any]) -> int:
    """Width of one numeric input's block (1 without embeddings)."""
    spec = num_embedding_of(architecture)
    return 1 if spec["kind"] == "none" else int(spec["d_embedding"])


def _num_embedding_shapes(spec: Mapping[str, Any], p: int, prefix: str) -> dict[str, tuple]:
    kind = spec["kind"]
    if kind == "none" or p == 0:
        return {}
    d = int(spec["d_embedding"])
    if kind == "linear_relu":
        return {f"{prefix}linear.weight": (p, d), f"{prefix}linear.bias": (p, d)}
    if kind == "periodic":
        nf = int(spec["n_frequencies"])
        return {
            f"{prefix}periodic.weight": (p, nf),
            f"{prefix}linear.weight": (p, 2 * nf, d),
            f"{prefix}linear.bias": (p, d),
        }
    bins = [int(b) for b in spec["n_bins"]]
    if len(bins) != p or min(bins) < 1:
        raise ModelError(f"piecewise_linear n_bins {bins} must list one count >= 1 per input")
    m = max(bins)
    shapes = {
        f"{prefix}linear0.weight": (p, d),
        f"{prefix}linear0.bias": (p, d),
        f"{prefix}impl.weight": (p, m),
        f"{prefix}impl.bias": (p, m),
        f"{prefix}linear.weight": (p, m, d),
    }
    if min(bins) == 1:
        shapes[f"{prefix}impl.single_bin_mask"] = (p,)
    if len(set(bins)) > 1:
        shapes[f"{prefix}impl.mask"] = (p, m)
    return shapes


def expected_shapes(architecture: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The weight names (torch ``state_dict`` naming) and shapes of a neural architecture."""
    kind = architecture.get("type")
    try:
        p = int(architecture["numeric_dim"])
        cards = [int(c) for c in architecture["cardinalities"]]
        width_num = numeric_width(architecture)
        if kind == "mlp_embeddings":
            return _mlp_shapes(architecture, p, cards, width_num)
        if kind == "tabm":
            return _tabm_shapes(architecture, p, cards, width_num)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"architecture is malformed ({exc!r}): {dict(architecture)}") from None
    raise ModelError(f"architecture type {kind!r} is not a neural family ({NEURAL_TYPES})")


def _mlp_shapes(arch: Mapping[str, Any], p: int, cards: list[int], w: int) -> dict[str, tuple]:
    dims = [int(d) for d in arch["embedding_dims"]]
    if len(cards) != len(dims):
        raise ModelError(f"architecture: {len(cards)} cardinalities but {len(dims)} embedding_dims")
    for key, want in (("norm", "layernorm"), ("activation", "relu")):
        if arch.get(key, want) != want:
            raise ModelError(f"architecture {key} {arch.get(key)!r} is not supported")
    shapes = _num_embedding_shapes(num_embedding_of(arch), p, "num_module.")
    for i, (c, d) in enumerate(zip(cards, dims, strict=True)):
        shapes[f"emb.{i}.weight"] = (c, d)
    width = p * w + sum(dims)
    for layer, h in enumerate(int(h) for h in arch["hidden"]):
        shapes[f"hidden.{layer}.linear.weight"] = (h, width)
        shapes[f"hidden.{layer}.linear.bias"] = (h,)
        shapes[f"hidden.{layer}.norm.weight"] = (h,)
        shapes[f"hidden.{layer}.norm.bias"] = (h,)
        width = h
    shapes["out.weight"] = (1, width)
    shapes["out.bias"] = (1,)
    return shapes


def _tabm_shapes(arch: Mapping[str, Any], p: int, cards: list[int], w: int) -> dict[str, tuple]:
    k, n_blocks, d_block = int(arch["k"]), int(arch["n_blocks"]), int(arch["d_block"])
    arch_type = arch.get("arch_type", "tabm")
    if arch_type not in TABM_ARCHS:
        raise ModelError(f"TabM arch_type {arch_type!r} is not supported; use {TABM_ARCHS}")
    shapes = _num_embedding_shapes(num_embedding_of(arch), p, "net.num_module.")
    d_in = p * w + sum(cards)
    if arch_type == "tabm-mini":
        shapes["net.backbone.affine.weight"] = (k, d_in)
    for layer in range(n_blocks):
        width = d_in if layer == 0 else d_block
        pre = f"net.backbone.blocks.{layer}.0."
        shapes[pre + "weight"] = (d_block, width)
        if arch_type == "tabm":
            shapes[pre + "r"] = (k, width)
            shapes[pre + "s"] = (k, d_block)
            shapes[pre + "bias"] = (k, d_block)
        else:
            shapes[pre + "bias"] = (d_block,)
    shapes["net.output.weight"] = (k, d_block, 1)
    shapes["net.output.bias"] = (k, 1)
    return shapes


# -- numeric embeddings ---------------------------------------------------------------------------
class _NumericEmbedding:
    """``rtdl_num_embeddings``' modules in numpy: ``x [n, p] -> [n, p, d]``."""

    def __init__(self, spec: Mapping[str, Any], w: Mapping[str, np.ndarray], prefix: str, dt):
        self.kind = spec["kind"]
        self.dt = dt
        self.activation = bool(spec.get("activation", self.kind != "piecewise_linear"))
        g = {k[len(prefix) :]: np.asarray(v) for k, v in w.items() if k.startswith(prefix)}
        if self.kind == "linear_relu":
            self.weight, self.bias = g["linear.weight"].astype(dt), g["linear.bias"].astype(dt)
        elif self.kind == "periodic":
            # Exactly torch's float32 product: rtdl computes ``2 * math.pi * weight`` on a float32
            # tensor, i.e. float32(2 pi) * w rounded to float32. Rounding the float64 product
            # instead is 1 ulp off for about a third of the frequencies, which matters once the
            # angle (2 pi w) x is large: the ulp grows with it and sin/cos move by as much.
            self.freq = (np.float32(2 * np.pi) * g["periodic.weight"].astype(np.float32)).astype(dt)
            self.lin_w, self.lin_b = g["linear.weight"].astype(dt), g["linear.bias"].astype(dt)
        elif self.kind == "piecewise_linear":
            self.w0, self.b0 = g["linear0.weight"].astype(dt), g["linear0.bias"].astype(dt)
            self.ple_w, self.ple_b = g["impl.weight"].astype(dt), g["impl.bias"].astype(dt)
            self.lin_w = g["linear.weight"].astype(dt)
            single = g.get("impl.single_bin_mask")
            self.single = None if single is None else single.astype(bool)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "none":
            return x[:, :, None]
        if self.kind == "linear_relu":
            return np.maximum(x[:, :, None] * self.weight + self.bias, 0)
        if self.kind == "periodic":
            angle = x[:, :, None] * self.freq  # the torch order: (2 pi w) x
            v = np.concatenate([np.cos(angle), np.sin(angle)], axis=-1)  # [n, p, 2k]
            out = np.matmul(v.transpose(1, 0, 2), self.lin_w).transpose(1, 0, 2) + self.lin_b
            return np.maximum(out, 0) if self.activation else out
        # piecewise_linear (version B): linear0(x) + [ReLU](NLinear(PLE(x)))
        ple = x[:, :, None] * self.ple_w + self.ple_b
        if ple.shape[-1] > 1:
            last = ple[..., -1]
            clamped_last = np.maximum(last, 0)
            if self.single is not None:
                clamped_last = np.where(self.single, last, clamped_last)
            ple[..., 0] = np.minimum(ple[..., 0], 1)
            np.clip(ple[..., 1:-1], 0, 1, out=ple[..., 1:-1])
            ple[..., -1] = clamped_last
        out = np.matmul(ple.transpose(1, 0, 2), self.lin_w).transpose(1, 0, 2)
        if self.activation:
            out = np.maximum(out, 0)
        return out + (x[:, :, None] * self.w0 + self.b0)


# -- the network ----------------------------------------------------------------------------------
class NeuralNet:
    """A neural-family model in numpy, with its first layer folded per input feature.

    Attributes of interest: ``k`` (ensemble members; 1 for the MLP), ``width`` (first-layer width
    per member).
    """

    def __init__(self, architecture: Mapping[str, Any], weights: Mapping[str, np.ndarray]):
        dt = self.dtype = np.float32
        self.kind = architecture["type"]
        shapes = expected_shapes(architecture)
        missing = sorted(set(shapes) - set(weights))
        if missing:
            raise ModelError(f"weights do not fit the architecture: missing {missing}")
        w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
        self.p = int(architecture["numeric_dim"])
        self.cardinalities = np.array(architecture["cardinalities"], dtype=np.int64)
        prefix = "num_module." if self.kind == "mlp_embeddings" else "net.num_module."
        spec = num_embedding_of(architecture)
        self.embed = _NumericEmbedding(spec, weights, prefix, dt)
        d_num = numeric_width(architecture)
        if self.kind == "mlp_embeddings":
            first_w, first_b, cat_tables = self._mlp(architecture, w)
            self.k, r, s = 1, None, None
        else:
            first_w, first_b, cat_tables, r, s = self._tabm(architecture, w)
        # The MLP's first hidden layer is LayerNorm'd: its folded terms come centred (below).
        centre = _centred if self.kind == "mlp_embeddings" and self.layers else _as_is
        # first_w: [H, D_in] shared matrix; r: [k, D_in] input scaling; s: [k, H] output scaling.
        h = first_w.shape[0]
        self.width = h
        r = np.ones((self.k, first_w.shape[1])) if r is None else r
        s = np.ones((self.k, h)) if s is None else s
        # numeric dim j, embedding channel e -> [k * H]: s_i * W[:, col] * r_i[col]
        cols = np.arange(self.p * d_num).reshape(self.p, d_num)
        wn = first_w[:, cols]  # [H, p, d]
        folded = np.einsum("hpd,kpd,kh->pdkh", wn, r[:, cols], s) if self.p else None
        self.first_num = (
            np.ascontiguousarray(centre(folded.reshape(self.p, d_num, self.k * h)), dtype=dt)
            if folded is not None
            else np.zeros((0, d_num, self.k * h), dtype=dt)
        )
        # categorical i: its tables (rows = codes) through the same fold -> [card_i, k * H]
        col = self.p * d_num
        tables = []
        for table in cat_tables:
            width = table.shape[1]
            block = slice(col, col + width)
            proj = np.einsum("cd,hd,kd,kh->ckh", table, first_w[:, block], r[:, block], s)
            tables.append(centre(proj.reshape(table.shape[0], self.k * h)))
            col += width
        self.offsets = np.concatenate([[0], np.cumsum(self.cardinalities)[:-1]]).astype(np.int64)
        self.cat_table = np.ascontiguousarray(
            np.concatenate(tables) if tables else np.zeros((0, self.k * h)), dtype=dt
        )
        self.first_b = np.ascontiguousarray(
            centre(np.broadcast_to(first_b, (self.k, h)).reshape(-1)), dt
        )

    # -- family specifics --------------------------------------------------------------------
    def _mlp(self, arch: Mapping[str, Any], w: dict[str, np.ndarray]):
        dt = self.dtype
        hidden = [int(h) for h in arch["hidden"]]
        tables = [w[f"emb.{i}.weight"] for i in range(len(arch["cardinalities"]))]
        self.eps = dt(arch.get("norm_eps", 1e-5))
        # Every linear layer feeding a LayerNorm is centred (its outputs' mean subtracted from
        # its weights and bias, in float64): the layer then outputs z - mean(z), and the
        # LayerNorm skips two of its passes over the activations. (Layer 0's linear part is
        # the folded first layer, centred in __init__.)
        self.layers = [
            (
                np.ascontiguousarray(_centred(w[f"hidden.{i}.linear.weight"], 0).T, dtype=dt),
                _centred(w[f"hidden.{i}.linear.bias"]).astype(dt),
                w[f"hidden.{i}.norm.weight"].astype(dt),
                w[f"hidden.{i}.norm.bias"].astype(dt),
                dt(0.0),  # the ReLU's floor (an array of zeros in _tiled_layers)
            )
            for i in range(len(hidden))
        ]
        self.inv_widths = [dt(1.0 / h) for h in hidden]
        self._tiles: list[tuple[np.ndarray, ...]] | None = None  # made on the first big batch
        self.out_w = w["out.weight"][0].astype(dt)
        self.out_b = dt(w["out.bias"][0])
        if hidden:
            return w["hidden.0.linear.weight"], w["hidden.0.linear.bias"], tables
        return w["out.weight"], w["out.bias"], tables

    def _tabm(self, arch: Mapping[str, Any], w: dict[str, np.ndarray]):
        dt = self.dtype
        self.k = int(arch["k"])
        self.arch_type = arch.get("arch_type", "tabm")
        n_blocks = int(arch["n_blocks"])
        # TabM one-hot encodes categoricals: the "embedding table" of feature i is the identity.
        tables = [np.eye(int(c)) for c in arch["cardinalities"]]
        pre = "net.backbone.blocks."
        self.blocks = []
        for layer in range(1, n_blocks):
            weight = np.ascontiguousarray(w[f"{pre}{layer}.0.weight"].T, dtype=dt)
            if self.arch_type == "tabm":
                self.blocks.append(
                    (
                        weight,
                        w[f"{pre}{layer}.0.r"].astype(dt),
                        w[f"{pre}{layer}.0.s"].astype(dt),
                        w[f"{pre}{layer}.0.bias"].astype(dt),
                    )
                )
            else:
                self.blocks.append((weight, None, None, w[f"{pre}{layer}.0.bias"].astype(dt)))
        self.out_w = np.ascontiguousarray(w["net.output.weight"][:, :, 0], dtype=dt)  # [k, H]
        self.out_b = w["net.output.bias"][:, 0].astype(dt)  # [k]
        first = w[f"{pre}0.0.weight"]
        if self.arch_type == "tabm":
            return first, w[f"{pre}0.0.bias"], tables, w[f"{pre}0.0.r"], w[f"{pre}0.0.s"]
        return first, w[f"{pre}0.0.bias"], tables, w["net.backbone.affine.weight"], None

    # -- passes -------------------------------------------------------------------------------
    def _parts(self, numeric: np.ndarray, categorical: np.ndarray):
        """Per-input first-layer terms: numeric ``[p, n, kH]``, categorical ``[n, c, kH]``."""
        rep = self.embed(numeric.astype(self.dtype, copy=False))  # [n, p, d]
        if rep.shape[2] == 1:  # raw numerics: an outer product per input, no matmul needed
            u_num = rep[:, :, 0].T[:, :, None] * self.first_num[:, 0, None, :]
        else:  # contiguous [p, n, d]: one BLAS product per input, not numpy's slow loop
            u_num = np.matmul(np.ascontiguousarray(rep.transpose(1, 0, 2)), self.first_num)
        u_cat = self.cat_table[categorical + self.offsets]
        return u_num, u_cat

    def reference_parts(
        self, reference_numeric: np.ndarray, reference_categorical: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The occlusion reference's first-layer terms ``[p, 1, kH]`` and ``[1, c, kH]``."""
        return self._parts(
            reference_numeric[None, :].astype(self.dtype), reference_categorical[None, :]
        )

    def _first_layer(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """The first linear layer's output ``[n, kH]`` (one product for all numeric inputs)."""
        rep = self.embed(numeric.astype(self.dtype, copy=False))
        n, p, d = rep.shape
        z = rep.reshape(n, p * d) @ self.first_num.reshape(p * d, self.first_num.shape[2])
        z += self.first_b
        if self.offsets.size:
            z += self.cat_table[categorical + self.offsets].sum(axis=1)
        return z

    def _rest(self, z: np.ndarray) -> np.ndarray:
        """Everything after the first linear layer: ``[m, k * H] -> logits [m]`` (float32).

        ``z`` is the folded first layer's output (for the MLP centred, as the LayerNorm after
        it expects: see :func:`_centred`).

        Rows go through in chunks of :data:`REST_CHUNK_ROWS`, in place on ``z`` (every caller
        hands over an array it never reads again), so a chunk's activations stay in cache and
        the hidden layers' outputs land in reused scratch arrays.
        """
        m = z.shape[0]
        out = np.empty(m, dtype=self.dtype)
        if m <= REST_CHUNK_ROWS and self.kind == "mlp_embeddings":
            self._mlp_rest(z, out)
            return out
        for start in range(0, m, REST_CHUNK_ROWS):
            rows = slice(start, min(start + REST_CHUNK_ROWS, m))
            if self.kind == "mlp_embeddings":
                self._mlp_rest(z[rows], out[rows])
            else:
                out[rows] = self._tabm_rest(z[rows])
        return out

    def _mlp_rest(self, z: np.ndarray, out: np.ndarray) -> None:
        if not self.layers:
            out[:] = z[:, 0]
            return
        h = z
        layers = self.layers if z.shape[0] < TILE_FROM else self._tiled_layers(z.shape[0])
        for i, (weight_t, bias, gamma, beta, zero) in enumerate(layers):
            if i:
                width = weight_t.shape[1]
                z = np.matmul(h, weight_t, out=_SCRATCH.get(f"hidden{i}", (h.shape[0], width)))
                z += bias
            inv_width = self.inv_widths[i]
            # LayerNorm, biased variance; z is centred already (see _mlp)
            z *= (1.0 / np.sqrt(np.vecdot(z, z) * inv_width + self.eps))[:, None]
            z *= gamma
            z += beta
            h = np.maximum(z, zero, out=z)
        np.matmul(h, self.out_w, out=out)
        out += self.out_b

    def _tiled_layers(self, rows: int) -> list[tuple[np.ndarray, ...]]:
        """The hidden layers with bias, gamma, beta and the ReLU's zero repeated to
        ``[rows, width]``: the same additions, products and maxima as broadcasting, in one long
        loop instead of one per row (numpy's maximum against a scalar is 4x slower than
        against an array here)."""
        if self._tiles is None or self._tiles[0][1].shape[0] < rows:
            size = max(rows, REST_CHUNK_ROWS)
            self._tiles = [
                (w, *(np.tile(v, (size, 1)) for v in (b, g, beta, np.full_like(b, zero))))
                for w, b, g, beta, zero in self.layers
            ]
        return [(w, *(v[:rows] for v in vs)) for w, *vs in self._tiles]

    def _tabm_rest(self, z: np.ndarray) -> np.ndarray:
        x = np.maximum(z, 0).reshape(z.shape[0], self.k, self.width)
        for weight_t, r, s, bias in self.blocks:
            x = (x if r is None else x * r) @ weight_t
            if s is not None:
                x *= s
            x += bias
            np.maximum(x, 0, out=x)
        # TabM's prediction: the mean of its k members' logits
        return (np.vecdot(x, self.out_w) + self.out_b).mean(axis=1)

    def logit(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """Logits ``[n]`` (float64) for preprocessed inputs."""
        return self._rest(self._first_layer(numeric, categorical)).astype(np.float64)

    def occlusion(
        self,
        numeric: np.ndarray,
        categorical: np.ndarray,
        numeric_groups: np.ndarray,
        n_features: int,
        reference_numeric: np.ndarray,
        reference_categorical: np.ndarray,
        reference_parts: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Logits ``[n]`` and per-feature occlusion contributions ``[n, n_features]``.

        A feature whose value already is its reference (a categorical at its most frequent
        code, a numeric feature at its median and not missing) has contribution exactly 0: the
        occluded claim is the claim itself, so that row is not run through the network at all.

        Args:
            numeric_groups: ``[p, f_num]`` 0/1 matrix mapping numeric input dims to the schema's
                numeric features (a value and its missing indicator belong to one feature).
            n_features: numeric features + categorical features (categoricals come last).
            reference_numeric: ``[p]`` the reference inputs (0: median, not missing).
            reference_categorical: ``[c]`` the reference code of each categorical feature.
            reference_parts: :meth:`reference_parts` of the two, when the caller keeps them.
        """
        n = numeric.shape[0]
        numeric = numeric.astype(self.dtype, copy=False)
        f_num = numeric_groups.shape[1]
        if f_num + categorical.shape[1] != n_features:
            raise ModelError(
                f"{f_num + categorical.shape[1]} feature groups for {n_features} features"
            )
        ref_parts = reference_parts or self.reference_parts(
            reference_numeric, reference_categorical
        )
        groups = _feature_terms(numeric_groups, self.p, categorical.shape[1])
        # [n, n_features]: does feature f of claim i differ from the reference? (a boolean
        # product: does any of the feature's input dims differ)
        moved = np.not_equal(numeric, reference_numeric) @ groups.any_dim
        differs = np.concatenate([moved, categorical != reference_categorical], axis=1)
        per_block = max(1, OCCLUSION_BLOCK_VALUES // ((n_features + 1) * self.k * self.width))
        if n <= per_block:
            few = n * n_features <= DENSE_PAIRS  # every row: fewer numpy calls
            occlude = self._occlude_all if few else self._occlude
            full, contrib = occlude(numeric, categorical, differs, groups, ref_parts)
            return full.astype(np.float64), contrib.astype(np.float64)
        full = np.empty(n, dtype=np.float64)
        contrib = np.empty((n, n_features), dtype=np.float64)
        for start in range(0, n, per_block):
            rows = slice(start, min(start + per_block, n))
            full[rows], contrib[rows] = self._occlude(
                numeric[rows], categorical[rows], differs[rows], groups, ref_parts
            )
        return full, contrib

    def _occlude_all(self, numeric, categorical, differs, groups, ref_parts):
        """:meth:`_occlude` for a few claims: every (feature, claim) row goes through the
        network, and the contributions of features at their reference are then set to 0."""
        m, n_features = differs.shape
        u_num, u_cat = self._parts(numeric, categorical)  # [p, m, kH], [m, c, kH]
        z0 = u_num.sum(axis=0)
        z0 += u_cat.sum(axis=1)
        z0 += self.first_b
        ref_num, ref_cat = ref_parts
        f_num = n_features - u_cat.shape[1]
        rows = np.empty((n_features + 1, m, z0.shape[1]), dtype=self.dtype)
        rows[0] = z0
        np.subtract(ref_num, u_num, out=u_num)
        own = u_num[:f_num] if groups.identity else u_num[groups.first[:f_num]]
        np.add(own, z0, out=rows[1 : 1 + f_num])
        for dim, feature in groups.extra:
            rows[1 + feature] += u_num[dim]
        np.subtract(ref_cat[0][:, None, :], u_cat.transpose(1, 0, 2), out=rows[1 + f_num :])
        rows[1 + f_num :] += z0
        logits = self._rest(rows.reshape(-1, rows.shape[2])).reshape(n_features + 1, m)
        contrib = (logits[0] - logits[1:]).T
        contrib[~differs] = 0
        return logits[0], contrib

    def _occlude(self, numeric, categorical, differs, groups, ref_parts):
        """:meth:`occlusion` of one block of ``m`` claims, in scratch arrays: float32 logits
        ``[m]`` and contributions ``[m, n_features]``."""
        m, n_features = differs.shape
        p, c = self.p, categorical.shape[1]
        width = self.k * self.width
        ref_num, ref_cat = ref_parts  # [p, 1, kH], [1, c, kH]
        # Per-input first-layer terms, numeric inputs then categoricals: [p + c, m, kH]
        terms = _SCRATCH.get("terms", (p + c, m, width))
        rep = self.embed(numeric)  # [m, p, d]
        if rep.shape[2] == 1:  # raw numerics: an outer product per input, no matmul needed
            np.multiply(rep[:, :, 0].T[:, :, None], self.first_num[:, 0, None, :], out=terms[:p])
        else:  # contiguous [p, m, d]: one BLAS product per input, not numpy's slow loop
            np.matmul(np.ascontiguousarray(rep.transpose(1, 0, 2)), self.first_num, out=terms[:p])
        np.take(self.cat_table, (categorical + self.offsets).T, axis=0, out=terms[p:])
        z0 = terms[:p].sum(axis=0, out=_SCRATCH.get("z0", (m, width)))
        z0 += terms[p:].sum(axis=0, out=_SCRATCH.get("z0_cat", (m, width)))
        z0 += self.first_b  # [m, kH]: the first layer's output for the claims as they are
        # Each term becomes its change when occluded, reference - own, and the term of each
        # feature's first input also gets z0 added: (reference - own) + z0 is the occluded
        # first layer, short of the changes of the feature's other inputs (a missing indicator)
        np.subtract(ref_num, terms[:p], out=terms[:p])
        np.subtract(ref_cat[0][:, None, :], terms[p:], out=terms[p:])
        f_num = n_features - c
        if groups.identity:
            terms[:f_num] += z0
        else:
            for dim in groups.first[:f_num].tolist():
                terms[dim] += z0
        terms[p:] += z0
        # The rows to run: the claims (block 0), then, feature-major, every (feature, claim)
        # pair that differs from the reference.
        pairs = differs.T.ravel().nonzero()[0]  # feature * m + claim
        feature, claim = np.divmod(pairs, m)
        batch = _SCRATCH.get("rows", (m + pairs.size, width))
        batch[:m] = z0
        occluded = batch[m:]
        where = groups.first[feature] * m + claim
        terms.reshape((p + c) * m, width).take(where, axis=0, out=occluded, mode="clip")
        if groups.extra:
            counts = np.bincount(feature, minlength=n_features)
            ends = counts.cumsum()
            for dim, f in groups.extra:
                block = slice(ends[f] - counts[f], ends[f])
                occluded[block] += terms[dim][claim[block]]
        logits = self._rest(batch)
        full = logits[:m]
        contrib = np.zeros((n_features, m), dtype=self.dtype)
        contrib.reshape(-1)[pairs] = full[claim] - logits[m:]
        return full, contrib.T


def _centred(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """``a`` less its mean over ``axis``, a layer's output units, in float64.

    A linear layer whose weights and bias are centred over its output units outputs
    ``z - mean(z)``: LayerNorm's first step, done once on the weights instead of on every row.
    """
    a = np.asarray(a, dtype=np.float64)
    return a - a.mean(axis=axis, keepdims=True)


def _as_is(a: np.ndarray) -> np.ndarray:
    return a


class _FeatureTerms(NamedTuple):
    """Occlusion's map from features to first-layer terms (numeric inputs, then categoricals)."""

    first: np.ndarray  # [n_features] the term of each feature's first input
    identity: bool  # numeric feature f's first input is dim f
    extra: list[tuple[int, int]]  # (dim, feature): a numeric feature's other inputs
    any_dim: np.ndarray  # [p, f_num] bool: the numeric input dims of each numeric feature


def _feature_terms(groups: np.ndarray, p: int, c: int) -> _FeatureTerms:
    """For a ``[p, f_num]`` 0/1 group matrix and ``c`` categoricals: each feature's first term
    (a numeric feature's value dim, a categorical's own term after the ``p`` numeric ones) and
    the ``(dim, feature)`` pairs of the numeric features' other dims (a missing indicator).
    Made once per layout and kept."""
    key = (groups.shape, groups.tobytes(), p, c)
    cached = _FEATURE_TERMS.get(key)
    if cached is None:
        rows, cols = np.nonzero(groups)
        first = np.full(groups.shape[1], -1, dtype=np.intp)
        extra = []
        for dim, feature in zip(rows.tolist(), cols.tolist(), strict=True):
            if first[feature] < 0:
                first[feature] = dim
            else:
                extra.append((dim, feature))
        if (first < 0).any():
            raise ModelError("a numeric feature has no input dims in the feature groups")
        identity = bool((first == np.arange(first.size)).all())
        terms = np.concatenate([first, p + np.arange(c)])
        cached = _FeatureTerms(terms, identity, extra, groups.astype(bool))
        _FEATURE_TERMS[key] = cached
    return cached


_FEATURE_TERMS: dict[tuple, _FeatureTerms] = {}


def feature_groups(source_of_numeric_dim: Sequence[str], numeric_features: Sequence[str]):
    """The ``[p, f_num]`` 0/1 matrix from numeric input dims to numeric schema features."""
    index = {name: j for j, name in enumerate(numeric_features)}
    groups = np.zeros((len(source_of_numeric_dim), len(numeric_features)), dtype=np.float32)
    for dim, source in enumerate(source_of_numeric_dim):
        groups[dim, index[source]] = 1.0
    return groups
