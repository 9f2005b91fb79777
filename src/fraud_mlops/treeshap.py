"""Exact path-dependent TreeSHAP for :class:`fraud_mlops.trees.TreeEnsemble`, vectorised.

The method is Fast TreeSHAP v2 (Yang, 2021, arXiv:2109.09847) on top of the path-dependent
TreeSHAP of Lundberg et al. (2020), the one LightGBM's ``pred_contrib`` computes.

For one leaf whose path tests the distinct features ``f_1..f_D``, let ``z_s`` be the cover
fraction of ``f_s`` (the product of child / parent training counts over the splits on ``f_s``)
and, for a claim, ``o_s`` = 1 if the claim passes every split on ``f_s`` on that path. The leaf
adds to feature ``f_s``::

    value * (o_s - z_s) * sum_k  k! (D-k-1)! / D!  *  [t^k] prod_{j != s} (z_j + o_j t)

This depends on the claim only through the bit pattern ``o`` (2^D patterns), so at load time
every leaf gets a ``2^D x D`` table (:func:`leaf_tables`). Scoring then needs, per claim, one
pass/fail per (leaf, path feature) "entry". The splits on one feature along one path combine
into one lookup: each input column is cut into bins at the thresholds its splits use (a
categorical code is its own bin; NaN has a bin), every split gives the same answer within a bin,
so an entry's test is a precomputed row of pass bits over its column's bins, filled at load time
with the ensemble's own decision function. Per claim that is one bin per column, one lookup per
(leaf, path feature), one bit pattern per leaf and one gather from the tables: no Python loop
over trees, leaves or rows.

numpy only (scoring path).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2  # LightGBM's missing types
ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold: |x| <= this counts as zero
# Rows per chunk keep the per-chunk [entries, rows] arrays near this many cells (cache-sized).
_CHUNK_CELLS = 1 << 17


class PathTables:
    """Per-entry bin tests and per-leaf contribution tables of one ensemble.

    Args:
        arrays: the validated export (see ``trees.ARRAY_SPECS``).
        n_numeric: numeric input columns; the categorical ones follow them.
        cat_width: categorical codes are read as ``0..cat_width - 1`` (the last: "not listed").
        decide: the ensemble's decision ``(node, float64 value) -> goes left``, broadcasting.
        parents: ``(parent_node, node_is_left, parent_leaf, leaf_is_left)`` of the forest.
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        n_numeric: int,
        cat_width: int,
        decide: Callable[[np.ndarray, np.ndarray], np.ndarray],
        parents: tuple[np.ndarray, ...],
    ):
        self.n_numeric = n_numeric
        self._cat_width = cat_width
        step_leaf, step_node, step_left = _leaf_paths(parents)
        self._build_entries(arrays, step_leaf, step_node, step_left)
        self._build_bins(arrays, step_node)
        self._build_tests(step_node, step_left, decide)
        self._build_tables(arrays)
        self._flat_cache: tuple[int, tuple[np.ndarray, np.ndarray]] = (
            0,
            (np.zeros(0), np.zeros(0)),
        )

    # -- scoring --------------------------------------------------------------------------------
    def contributions(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """``[n, present columns]`` TreeSHAP values for float64 ``numeric`` and int codes.

        The columns are :attr:`present` (the input columns some split uses); others are 0.
        """
        n = numeric.shape[0]
        out = np.empty((n, self.present.size), dtype=np.float64)
        if self.entries == 0:
            return out
        rows = max(1, _CHUNK_CELLS // self.entries)
        for lo in range(0, n, rows):
            out[lo : lo + rows] = self._chunk(numeric[lo : lo + rows], categorical[lo : lo + rows])
        return out

    def _chunk(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """``[n, present columns]`` contributions of a few rows."""
        bins = self._bins(numeric, categorical)  # [present columns, n]
        # Per column, the row of its bin holds the pass bit of every entry of that column,
        # pre-shifted to the entry's slot; entries are sorted by column, so the rows side by
        # side are all entries, and a leaf's bit pattern is the OR over its slots.
        if numeric.shape[0] == 1:  # one claim: 1-D arrays, numpy's fastest path
            bits = np.concatenate(
                [rows[b] for rows, b in zip(self._column_tests, bins[:, 0].tolist(), strict=True)]
            )
            pattern = np.bitwise_or.reduce(np.take(bits, self._leaf_entry), axis=0)
            index = np.take(pattern.astype(np.intp), self._entry_leaf)
            index += self._entry_base
            return np.add.reduceat(np.take(self._table, index), self._column_start)[None, :]
        n = numeric.shape[0]
        bits = np.concatenate(
            [rows[b] for rows, b in zip(self._column_tests, bins, strict=True)], axis=1
        )  # [n, entries + 1]
        # Gathers along axis 1 are slow in numpy; flat indices into the raveled rows are not.
        slot_index, leaf_index = self._flat_indices(n)
        slots = np.take(bits.ravel(), slot_index).reshape(n, *self._leaf_entry.shape)
        pattern = np.bitwise_or.reduce(slots, axis=1).astype(np.intp)  # [n, leaves]
        index = np.take(pattern.ravel(), leaf_index).reshape(n, self.entries)
        index += self._entry_base
        return np.add.reduceat(np.take(self._table, index), self._column_start, axis=1)

    def _flat_indices(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Flat gather indices for ``n`` rows (cached; a shorter chunk uses their prefix)."""
        rows, (slots, leaves) = self._flat_cache
        if n > rows:
            step = np.arange(n, dtype=np.intp)[:, None]
            slots = (self._leaf_entry.ravel()[None, :] + step * (self.entries + 1)).ravel()
            leaves = (self._entry_leaf[None, :] + step * self._leaf_entry.shape[1]).ravel()
            self._flat_cache = rows, (slots, leaves) = n, (slots, leaves)
        return slots[: n * self._leaf_entry.size], leaves[: n * self.entries]

    def _bins(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """``[present columns, n]``: the bin of each row's value in each column splits use."""
        n = numeric.shape[0]
        bins = np.empty((self.present.size, n), dtype=np.intp)
        k = len(self._numeric_edges)
        if k:
            # A value's bin is how many of its column's edges lie below it (what searchsorted
            # gives), for every column in one comparison; NaN has its own last bin.
            x = numeric[:, self._numeric_columns].T  # [numeric columns, n]
            below = self._edges[:, None] < np.take(x, self._edge_column, axis=0)
            counts = np.add.reduceat(below.view(np.uint8), self._edge_start, axis=0, dtype=np.intp)
            bins[:k] = np.where(np.isnan(x), self._nan_bin, counts)
        if k < self.present.size:
            codes = categorical[:, self._cat_columns].T.astype(np.int64)
            # Negative codes become huge as unsigned, so one minimum sends them and codes past
            # the last listed one to the "never listed" bin.
            bins[k:] = np.minimum(codes.view(np.uint64), self._cat_width - 1)
        return bins

    def describe(self) -> dict[str, int]:
        return {
            "max_path_features": int(self._leaf_width.max(initial=0)),
            "shap_table_entries": int(self._table.size),
            "shap_table_bytes": int(self._table.nbytes),
        }

    # -- preparation ----------------------------------------------------------------------------
    def _build_entries(self, a, step_leaf, step_node, step_left) -> None:
        """Entries = distinct (input column, leaf) pairs on the paths, sorted by column."""
        n_leaves = len(a["leaf_value"])
        step_column = a["node_feature"][step_node].astype(np.intp)
        entry_key, step_entry = np.unique(step_column * n_leaves + step_leaf, return_inverse=True)
        self.entries = int(entry_key.size)
        self._step_entry = step_entry
        column, leaf = entry_key // n_leaves, entry_key % n_leaves
        width = np.bincount(leaf, minlength=n_leaves)
        self._leaf_width = width
        # Slot of an entry within its leaf: its rank among the leaf's entries.
        by_leaf = np.lexsort((column, leaf))
        first = np.r_[0, np.cumsum(width)[:-1]]
        slot = np.empty(self.entries, dtype=np.intp)
        slot[by_leaf] = np.arange(self.entries) - first[leaf[by_leaf]]
        self._entry_slot, self._entry_leaf_global = slot, leaf
        self.present, self._column_start = np.unique(column, return_index=True)
        self._column_start = self._column_start.astype(np.intp)
        self._entry_column = np.searchsorted(self.present, column)  # index into present

        # Cover fraction of each entry: product over its splits of child / parent count.
        child = np.where(step_left, a["node_left"][step_node], a["node_right"][step_node])
        child_count = np.where(
            child >= 0,
            a["node_count"][np.maximum(child, 0)],
            a["leaf_count"][~np.minimum(child, -1)],
        )
        self._zero = np.ones(self.entries)
        np.multiply.at(self._zero, step_entry, child_count / a["node_count"][step_node])

        # Leaves with a path, renumbered; their entries by slot, padded with the never-passed
        # entry `entries`: [most path features, leaves with a path].
        path_leaves = np.flatnonzero(width > 0)
        local = np.full(n_leaves, -1, dtype=np.intp)
        local[path_leaves] = np.arange(path_leaves.size)
        slots = np.full((max(int(width.max(initial=1)), 1), path_leaves.size), self.entries)
        slots[slot, local[leaf]] = np.arange(self.entries)
        self._leaf_entry = slots.astype(np.intp)
        self._entry_leaf = local[leaf]

    def _build_bins(self, a, step_node) -> None:
        """Cut each numeric column at the thresholds its splits use (and LightGBM's zero band)."""
        self._numeric_edges: list[tuple[int, np.ndarray]] = []
        representatives: list[np.ndarray] = []
        for column in self.present[self.present < self.n_numeric]:
            nodes = step_node[a["node_feature"][step_node] == column]
            edges = np.unique(a["node_threshold"][nodes])
            if (a["node_missing_type"][nodes] == MISSING_ZERO).any():
                band = [np.nextafter(-ZERO_THRESHOLD, -np.inf), ZERO_THRESHOLD]
                edges = np.unique(np.r_[edges, band])
            self._numeric_edges.append((int(column), edges))
            # Bin j holds (edges[j-1], edges[j]]: edges[j] stands for it; then above; then NaN.
            above = np.nextafter(edges[-1], np.inf) if edges.size else 0.0
            representatives.append(np.r_[edges, above, np.nan])
        sizes = [edges.size for _, edges in self._numeric_edges]
        self._numeric_columns = np.array([c for c, _ in self._numeric_edges], dtype=np.intp)
        self._edges = np.concatenate([e for _, e in self._numeric_edges] or [np.zeros(0)])
        self._edge_column = np.repeat(np.arange(len(sizes)), sizes).astype(np.intp)
        self._edge_start = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.intp)
        self._nan_bin = (np.array(sizes, dtype=np.intp) + 1)[:, None]
        n_cat_columns = int((self.present >= self.n_numeric).sum())
        self._cat_columns = (self.present[self.present >= self.n_numeric] - self.n_numeric).astype(
            np.intp
        )
        codes = np.arange(self._cat_width, dtype=np.float64)
        representatives += [codes] * n_cat_columns
        self._column_bins = np.array([r.size for r in representatives], dtype=np.intp)
        n_bins = max((r.size for r in representatives), default=1)
        self._n_bins = n_bins
        rep = np.full((len(representatives), n_bins), np.nan)
        for j, r in enumerate(representatives):
            rep[j, : r.size] = r
        self._representatives = rep

    def _build_tests(self, step_node, step_left, decide) -> None:
        """Per entry and bin of its column: does a value in the bin pass all the entry's splits?

        Stored per column as ``[bins, entries of the column]``: scoring takes, per column, the
        row of the claim's bin. The bits are pre-shifted to the entry's slot, so a leaf's pattern
        is the OR over its slots.
        """
        e = self._step_entry
        step_column = self._entry_column[e]
        bits_dtype = np.uint8 if self._leaf_entry.shape[0] <= 8 else np.uint16
        bit = (1 << self._entry_slot).astype(bits_dtype)
        column_tests: list[np.ndarray] = []
        for j, n_bins in enumerate(self._column_bins.tolist()):
            mine = np.flatnonzero(self._entry_column == j)  # this column's entries, in order
            local = np.full(self.entries, -1, dtype=np.intp)
            local[mine] = np.arange(mine.size)
            tests = np.ones((mine.size, n_bins), dtype=bool)
            values = self._representatives[j, :n_bins]
            steps = np.flatnonzero(step_column == j)
            # An entry may hold several splits: in chunks, so [steps, bins] stays small; &= on
            # repeated rows keeps only the last, so repeated entries are applied rank by rank.
            for at in _distinct_entry_batches(e[steps], max(1, (1 << 20) // n_bins)):
                at = steps[at]
                passes = decide(step_node[at, None], values[None, :]) == step_left[at, None]
                tests[local[e[at]]] &= passes
            shifted = tests.astype(bits_dtype) * bit[mine, None]
            column_tests.append(np.ascontiguousarray(shifted.T))  # [bins, entries of column]
        # The padding slot of leaves with fewer path features reads a final entry: never passed.
        if column_tests:
            last = column_tests[-1]
            column_tests[-1] = np.hstack([last, np.zeros((last.shape[0], 1), dtype=bits_dtype)])
        self._column_tests = column_tests

    def _build_tables(self, a: Mapping[str, np.ndarray]) -> None:
        """Per leaf and path feature, the contribution for each of the 2^D bit patterns."""
        width = self._leaf_width
        sizes = (1 << width) * width
        base = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.intp)
        table = np.zeros(int(sizes.sum()), dtype=np.float64)
        zero_by_slot = np.zeros((len(width), max(int(width.max(initial=1)), 1)))
        zero_by_slot[self._entry_leaf_global, self._entry_slot] = self._zero
        for d in range(1, int(width.max(initial=0)) + 1):
            leaves = np.flatnonzero(width == d)
            if leaves.size == 0:
                continue
            values = leaf_tables(zero_by_slot[leaves, :d], a["leaf_value"][leaves])
            # Slot-major within a leaf, so an entry's 2^D values are contiguous.
            cells = base[leaves][:, None] + np.arange((1 << d) * d)
            table[cells] = values.transpose(0, 2, 1).reshape(leaves.size, -1)
        self._table = table
        leaf = self._entry_leaf_global
        self._entry_base = (base[leaf] + self._entry_slot * (1 << width[leaf])).astype(np.intp)


def leaf_tables(zero: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``[L, 2^D, D]`` TreeSHAP contributions of ``L`` leaves with ``D`` path features each.

    ``zero`` ``[L, D]`` are the cover fractions and ``value`` ``[L]`` the leaf outputs; pattern
    ``m`` means ``o_s = (m >> s) & 1``.
    """
    n_leaves, d = zero.shape
    patterns = 1 << d
    ones = ((np.arange(patterns)[:, None] >> np.arange(d)) & 1).astype(np.float64)  # [P, D]
    weight = np.array(
        [math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d) for k in range(d)]
    )
    out = np.empty((n_leaves, patterns, d))
    chunk = max(1, (1 << 20) // (patterns * (d + 1)))
    for lo in range(0, n_leaves, chunk):
        z = zero[lo : lo + chunk]  # [l, D]
        # Coefficients of prod_j (z_j + o_j t), lowest power first: [l, P, D+1].
        poly = np.zeros((z.shape[0], patterns, d + 1))
        poly[..., 0] = 1.0
        for j in range(d):
            shifted = poly[..., :-1] * ones[None, :, j, None]
            poly *= z[:, None, j, None]
            poly[..., 1:] += shifted
        for s in range(d):
            zs = z[:, s, None]  # [l, 1]
            # Divide out (z_s + t) where o_s = 1 (top down: stable, as z_s <= 1) ...
            quotient = np.empty((z.shape[0], patterns, d))
            quotient[..., d - 1] = poly[..., d]
            for k in range(d - 1, 0, -1):
                quotient[..., k - 1] = poly[..., k] - zs * quotient[..., k]
            # ... and the constant z_s where o_s = 0.
            off = ~ones[:, s].astype(bool)
            quotient[:, off, :] = poly[:, off, :d] / zs[:, :, None]
            out[lo : lo + chunk, :, s] = (
                value[lo : lo + chunk, None] * (ones[None, :, s] - zs) * (quotient @ weight)
            )
    return out


def _distinct_entry_batches(entries: np.ndarray, size: int):
    """Batches of positions (at most ``size``) in which no entry appears twice."""
    order = np.argsort(entries, kind="stable")
    counts = np.bincount(entries) if entries.size else np.zeros(0, dtype=np.intp)
    rank = np.empty(entries.size, dtype=np.intp)
    rank[order] = np.arange(entries.size) - np.r_[0, np.cumsum(counts)[:-1]][entries[order]]
    for r in range(int(rank.max(initial=-1)) + 1):
        at = np.flatnonzero(rank == r)
        for lo in range(0, at.size, size):
            yield at[lo : lo + size]


def _leaf_paths(parents: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (leaf, node on its path, went left there), sorted by leaf."""
    parent_node, node_is_left, parent_leaf, leaf_is_left = parents
    leaves, nodes, lefts = [], [], []
    leaf = np.arange(len(parent_leaf))
    node, went_left = parent_leaf.copy(), leaf_is_left.copy()
    while (alive := node >= 0).any():
        leaves.append(leaf[alive])
        nodes.append(node[alive])
        lefts.append(went_left[alive])
        up = np.maximum(node, 0)
        went_left = np.where(alive, node_is_left[up], went_left)
        node = np.where(alive, parent_node[up], -1)
    if not leaves:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0, dtype=bool)
    step_leaf, step_node = np.concatenate(leaves), np.concatenate(nodes)
    step_left = np.concatenate(lefts)
    order = np.argsort(step_leaf, kind="stable")
    return step_leaf[order], step_node[order], step_left[order]
