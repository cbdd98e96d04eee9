"""An exact in-memory vector index: inner product on unit vectors (= cosine similarity)."""

from __future__ import annotations

import numpy as np


class ExactIndex:
    """Texts with their unit-normalized embeddings; brute-force top-k by inner product."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self.texts: list[str] = []

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, texts: list[str], vectors: np.ndarray) -> None:
        """Append ``texts`` with their embeddings (N, dim); vectors are normalized here."""
        if vectors.shape != (len(texts), self.dim):
            raise ValueError(f"expected vectors of shape ({len(texts)}, {self.dim}), got {vectors.shape}")
        self.vectors = np.concatenate([self.vectors, normalize(vectors)])
        self.texts.extend(texts)

    def search(self, queries: np.ndarray, top_k: int, threshold: float) -> list[list[tuple[str, float]]]:
        """queries (Q, dim) -> per query, up to ``top_k`` (text, cosine) pairs with cosine >= threshold, best first."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        scores = normalize(queries) @ self.vectors.T  # (Q, N)
        k = min(top_k, len(self))
        results = []
        for row in scores:
            top = np.argpartition(-row, k - 1)[:k] if k else np.zeros(0, dtype=int)
            top = top[np.argsort(-row[top], kind="stable")]
            results.append([(self.texts[i], float(row[i])) for i in top if row[i] >= threshold])
        return results


def normalize(x: np.ndarray) -> np.ndarray:
    """Unit-normalize rows (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)
