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
so an entry's test is a precomputed ``[entry, bin]`` bool table, filled at load time with the
ensemble's own decision function. Per claim that is one bin per column, one lookup per entry,
one bit pattern per leaf and one gather: no Python loop over trees, leaves or rows.

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
        go_left: the ensemble's decision ``(node, float64 value) -> bool``, broadcasting.
        parents: ``(parent_node, node_is_left, parent_leaf, leaf_is_left)`` of the forest.
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        n_numeric: int,
        cat_width: int,
        go_left: Callable[[np.ndarray, np.ndarray], np.ndarray],
        parents: tuple[np.ndarray, ...],
    ):
        self.n_numeric = n_numeric
        self._cat_width = cat_width
        step_leaf, step_node, step_left = _leaf_paths(parents)
        self._build_entries(arrays, step_leaf, step_node, step_left)
        self._build_bins(arrays, step_node)
        self._build_tests(step_node, step_left, go_left)
        self._build_tables(arrays)

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
            out[lo : lo + rows] = self._chunk(
                numeric[lo : lo + rows], categorical[lo : lo + rows]
            ).T
        return out

    def _chunk(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        n = numeric.shape[0]
        bins = np.empty((self.present.size + 1, n), dtype=np.intp)
        bins[-1] = self._never_bin  # the padding entry of leaves with fewer path features
        for j, (column, edges) in enumerate(self._numeric_edges):
            x = numeric[:, column]
            b = np.searchsorted(edges, x, side="left")
            bins[j] = np.where(np.isnan(x), edges.size + 1, b)
        k = len(self._numeric_edges)
        if k < self.present.size:
            codes = categorical[:, self._cat_columns].T
            width = self._cat_width
            bins[k:-1] = np.where((codes < 0) | (codes >= width), width - 1, codes)
        # np.take along axis 0 is numpy's fast path for gathering rows (several x fancy indexing).
        column_bins = np.take(bins, self._entry_column_ext, axis=0)
        column_bins += self._entry_row
        passed = np.take(self._tests, column_bins).astype(np.uint16)  # [entries + 1, n]
        slots = np.take(passed, self._leaf_entry_flat, axis=0).reshape((*self._leaf_entry.shape, n))
        slots <<= self._slot_shift
        pattern = slots.sum(axis=0, dtype=np.intp)
        index = np.take(pattern, self._entry_leaf, axis=0)
        index += self._entry_base
        return np.add.reduceat(np.take(self._table, index), self._column_start, axis=0)

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
        self._leaf_entry_flat = self._leaf_entry.ravel()
        self._slot_shift = np.arange(slots.shape[0], dtype=np.uint16)[:, None, None]
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
        n_cat_columns = int((self.present >= self.n_numeric).sum())
        self._cat_columns = (self.present[self.present >= self.n_numeric] - self.n_numeric).astype(
            np.intp
        )
        codes = np.arange(self._cat_width, dtype=np.float64)
        representatives += [codes] * n_cat_columns
        n_bins = max((r.size for r in representatives), default=1)
        self._n_bins = n_bins
        rep = np.full((len(representatives), n_bins), np.nan)
        for j, r in enumerate(representatives):
            rep[j, : r.size] = r
        self._representatives = rep

    def _build_tests(self, step_node, step_left, go_left) -> None:
        """``[entries + 1, bins]`` bool: does a value in each bin pass all the entry's splits?"""
        n_bins = self._n_bins
        tests = np.ones((self.entries + 1, n_bins), dtype=bool)
        tests[-1] = False  # the padding entry never passes
        e = self._step_entry
        values = self._representatives[self._entry_column[e]]  # [steps, bins]
        passes = go_left(step_node[:, None], values) == step_left[:, None]
        # An entry may hold several splits: apply them rank by rank (distinct entries per rank).
        order = np.argsort(e, kind="stable")
        counts = np.bincount(e, minlength=self.entries)
        rank = np.empty(e.size, dtype=np.intp)
        rank[order] = np.arange(e.size) - np.r_[0, np.cumsum(counts)[:-1]][e[order]]
        for r in range(int(rank.max(initial=-1)) + 1):
            at = rank == r
            tests[e[at]] &= passes[at]
        self._tests = tests.ravel()
        self._entry_row = (np.arange(self.entries + 1) * n_bins)[:, None]
        self._entry_column_ext = np.r_[self._entry_column, self.present.size]
        self._never_bin = 0

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
        self._entry_base = (base[leaf] + self._entry_slot * (1 << width[leaf]))[:, None]


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
