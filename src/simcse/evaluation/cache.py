"""Encode each unique sentence once and look embeddings up by sentence."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

Encode = Callable[[list[str]], np.ndarray]
"""``encode(sentences) -> (N, H) float array``, row i the embedding of sentences[i]; not
necessarily normalized."""


class EmbeddingTable:
    """Embeddings of a fixed set of sentences, computed with one ``encode`` call.

    Duplicates are dropped before encoding and the unique sentences are passed sorted by
    length (shortest first), so that an encoder which batches in order pads little. Calling
    the table is itself an :data:`Encode`; a sentence not in the table is encoded on demand
    (one extra call) and kept.

    Args:
        encode: the model, ``list[str] -> (N, H)``.
        sentences: every sentence that will be looked up; any order, repeats allowed.
    """

    def __init__(self, encode: Encode, sentences: Iterable[str]) -> None:
        self._encode = encode
        self._row: dict[str, int] = {}
        self._emb = np.zeros((0, 0), dtype=np.float32)
        self._add(list(dict.fromkeys(sentences)))

    def __len__(self) -> int:
        return len(self._row)

    def _add(self, unique: list[str]) -> None:
        if not unique:
            return
        unique = sorted(unique, key=len)  # stable: equal lengths keep first-seen order
        emb = np.asarray(self._encode(unique), dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(unique):
            raise ValueError(
                f"encode returned shape {emb.shape} for {len(unique)} sentences; "
                "expected (N, H)"
            )
        start = len(self._row)
        self._row.update((s, start + i) for i, s in enumerate(unique))
        self._emb = emb if start == 0 else np.concatenate([self._emb, emb])

    def __call__(self, sentences: list[str]) -> np.ndarray:
        """(len(sentences), H) float32 rows, in the order asked."""
        self._add(list(dict.fromkeys(s for s in sentences if s not in self._row)))
        if not sentences:
            return np.zeros((0, self._emb.shape[1]), dtype=np.float32)
        return self._emb[[self._row[s] for s in sentences]]
