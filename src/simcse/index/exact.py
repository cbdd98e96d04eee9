"""Exact search: inner product of unit vectors (= cosine) against every stored row.

The scan goes block by block over the store, keeping a running top-k, so a memory-mapped
corpus larger than RAM is searched without loading it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simcse.index.store import VectorStore


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """scores (Q, n) -> (values, columns), each (Q, min(k, n)), best first per row."""
    k = min(k, scores.shape[1])
    if k == 0:
        return scores[:, :0], np.zeros((len(scores), 0), dtype=np.int64)
    cols = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, cols, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(vals, order, axis=1), np.take_along_axis(cols, order, axis=1)


def rescore(store: VectorStore, queries: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score candidate ``rows`` (Q, c) of ``store`` (-1: none) against ``queries`` (Q, dim) from
    the stored vectors, in float64: (scores, rows), each (Q, c), best first, none last at -inf.

    The exact backend's last step and the quantized backends' second one. BLAS results depend
    on the batch shape in the last bits; this makes a query's scores the same whether it is
    searched alone or in a batch, and whatever found its candidates.
    """
    if rows.size == 0:
        return np.zeros(rows.shape, np.float32), rows
    uniq, inv = np.unique(np.maximum(rows, 0), return_inverse=True)
    vecs = store.vectors(uniq).astype(np.float64)[inv.reshape(rows.shape)]  # (Q, c, dim)
    scores = np.einsum("qkd,qd->qk", vecs, queries.astype(np.float64)).astype(np.float32)
    scores[rows < 0] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


class ExactBackend:
    """Brute-force search over the store itself: no copy of the vectors, no parameters."""

    name = "exact"

    def __init__(self, store: VectorStore) -> None:
        self.store = store

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Nothing to do: the store already holds the new rows."""

    def remove(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Nothing to do: the store already dropped the rows."""

    def rebuild(self) -> None:
        """Nothing to derive: the store is the index."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """queries (Q, dim) unit rows -> (scores, ids), each (Q, k), padded with -inf / -1."""
        n_q = len(queries)
        best_s = np.full((n_q, 0), -np.inf, dtype=np.float32)
        best_r = np.zeros((n_q, 0), dtype=np.int64)
        for start, block in self.store.blocks():
            s, c = top_k(queries @ block.T, k)  # (Q, <=k)
            merged_s = np.concatenate([best_s, s], axis=1)
            merged_r = np.concatenate([best_r, c + start], axis=1)
            best_s, cols = top_k(merged_s, k)
            best_r = np.take_along_axis(merged_r, cols, axis=1)
        best_s, best_r = rescore(self.store, queries, best_r)
        scores = np.full((n_q, k), -np.inf, dtype=np.float32)
        ids = np.full((n_q, k), -1, dtype=np.int64)
        scores[:, : best_s.shape[1]] = best_s
        ids[:, : best_r.shape[1]] = self.store.ids[best_r]
        return scores, ids

    def save(self, folder: Path) -> None:
        """Nothing beyond the store's own files."""

    @classmethod
    def load(cls, folder: Path, store: VectorStore, params: dict[str, Any]) -> "ExactBackend":
        return cls(store)


__all__ = ["ExactBackend", "rescore", "top_k"]
