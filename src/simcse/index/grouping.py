"""Search by document: each document once, scored from its passages, filtered by metadata.

A document's score is the best cosine of its passages (``max``) or the sum of its ``top_m``
best (``sum``); only passages scoring at least the threshold count, and a document with
none is left out. Each hit carries its ``top_m`` best passages with their spans.

:func:`search_documents` is exact, not a best effort over a fixed candidate list:

1. The backend gives the best k passages (k = ``top_k * top_m * 4`` at first, divided by
   the share of passages a metadata filter lets through).
2. Every passage of each document met there (and allowed by the filter) is scored from the
   stored vectors, so those documents' scores are exact.
3. A document not met has every passage at or below the k-th score s (give or take the
   backend's rounding, :data:`SCORE_SLACK`), so its score is at
   most ``s`` (``max``) or ``top_m * s`` (``sum``, for s >= 0). When the ``top_k``-th best
   exact score is above that bound (above, not equal: documents that tie are ranked in
   index order, so every tied one must have been met), or the backend has nothing more to
   give, the ranking is final; otherwise k grows 4-fold.
4. When k would reach the passages the filter allows (a selective filter), those passages
   are scored directly instead: an exact search over the filtered rows.

With an approximate backend (``hnsw``, ``ivf_*``, ``int8``, ``binary*``) step 1 is approximate, the rest is the same.
An index of sentences is searched the same way, each sentence its own document (its id the
row id, no metadata).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple, Protocol

import numpy as np

from simcse.errors import ConfigError
from simcse.index.store import VectorStore, ragged

CANDIDATES_PER_RESULT = 4  # first round: top_k * top_m * this many passages
GROWTH = 4  # each later round asks the backend for this many times more
DEFAULT_AGGREGATE = "max"
DEFAULT_TOP_M = 3  # passages per document: summed by "sum", returned with each hit
# How far a backend's score may lie from the exact (float64) one: float32 inner products of
# unit vectors err by ~1e-7; a passage the backend ranked below s may truly score s + this.
SCORE_SLACK = 1e-5


class Aggregation(NamedTuple):
    reduce: np.ufunc  # over a document's best-first passage scores (at most top_m of them)
    bound: Callable[[float, int], float]  # (k-th candidate score s, top_m) -> the most an unseen document scores


AGGREGATIONS: dict[str, Aggregation] = {
    "max": Aggregation(np.maximum, lambda s, m: s),
    "sum": Aggregation(np.add, lambda s, m: s if s < 0 else m * s),
}


def aggregation(name: str) -> Aggregation:
    """The :data:`AGGREGATIONS` entry ``name``; an unknown one is a ``ConfigError`` listing them."""
    try:
        return AGGREGATIONS[name]
    except KeyError:
        raise ConfigError(f"unknown aggregate {name!r}; valid: {', '.join(AGGREGATIONS)}") from None


class PassageHit(NamedTuple):
    """One passage of a document hit."""

    id: int  # its row id in the index
    text: str
    score: float  # cosine similarity
    start: int  # its characters [start, end) in the document
    end: int
    position: int  # its place among the document's passages, from 0


class DocumentHit(NamedTuple):
    """One document found: its score, its best passages (best first) and its metadata."""

    id: str
    score: float
    passages: list[PassageHit]
    metadata: dict[str, Any]


class DocumentView(Protocol):
    """What search needs of an index's documents, by slot (0..n_slots-1, one per document)."""

    n_slots: int

    def slots_of(self, pids: np.ndarray) -> np.ndarray: ...  # slot per row id, -1 for none
    def passages_of(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...  # pids, owner, position
    def count_passages(self, slots: np.ndarray) -> int: ...
    def allowed_slots(self, where: Mapping[str, Any]) -> np.ndarray: ...  # sorted
    def document(self, slot: int) -> tuple[str, dict[str, Any]]: ...  # id, metadata
    def spans(self, slots: np.ndarray, positions: np.ndarray) -> np.ndarray: ...  # (P, 2) [start, end)


class RowView:
    """An index of sentences as documents: slot = row, one passage spanning the sentence."""

    def __init__(self, store: VectorStore) -> None:
        self.store, self.n_slots = store, len(store)

    def slots_of(self, pids: np.ndarray) -> np.ndarray:
        return self.store.rows_for(pids)

    def passages_of(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.store.ids[slots], slots, np.zeros(len(slots), np.int64)

    def count_passages(self, slots: np.ndarray) -> int:
        return len(slots)

    def allowed_slots(self, where: Mapping[str, Any]) -> np.ndarray:
        return np.zeros(0, np.int64)  # sentences have no metadata

    def document(self, slot: int) -> tuple[str, dict[str, Any]]:
        return str(int(self.store.ids[slot])), {}

    def spans(self, slots: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return np.array([[0, len(self.store.texts[s])] for s in slots.tolist()], np.int64).reshape(-1, 2)


class _Scored(NamedTuple):
    """Exact scores of some documents: per document (D,) and its kept passages, grouped."""

    slots: np.ndarray  # (D,)
    scores: np.ndarray  # (D,) float64
    first: np.ndarray  # (D + 1,) where each document's passages start in the arrays below
    pids: np.ndarray  # (K,) best first within each document, at most top_m each
    positions: np.ndarray  # (K,)
    passage_scores: np.ndarray  # (K,)


def _group_starts(owner: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else np.zeros(0, np.int64)


def _score(view: DocumentView, store: VectorStore, query: np.ndarray, slots: np.ndarray, agg: Aggregation,
           top_m: int, threshold: float) -> _Scored:
    """Score every passage of ``slots`` against ``query`` (dim,) from the stored vectors (in
    float64), keep each document's ``top_m`` best at or above ``threshold``, and reduce them."""
    pids, owner, position = view.passages_of(slots)
    rows = store.rows_for(pids)
    order = np.argsort(rows, kind="stable")
    scores = np.empty(len(rows))
    scores[order] = store.vectors(rows[order]).astype(np.float64) @ query.astype(np.float64)
    keep = scores >= threshold
    pids, owner, position, scores = pids[keep], owner[keep], position[keep], scores[keep]
    idx = np.lexsort((position, -scores, owner))  # by document, best first (ties: document order)
    pids, owner, position, scores = pids[idx], owner[idx], position[idx], scores[idx]
    starts = _group_starts(owner)
    _, rank = ragged(starts, np.diff(np.r_[starts, len(owner)]))
    top = rank < top_m
    pids, owner, position, scores = pids[top], owner[top], position[top], scores[top]
    starts = _group_starts(owner)
    doc_scores = agg.reduce.reduceat(scores, starts) if len(starts) else np.zeros(0)
    return _Scored(owner[starts], doc_scores, np.r_[starts, len(owner)], pids, position, scores)


def _hits(view: DocumentView, store: VectorStore, scored: _Scored, top_k: int) -> list[DocumentHit]:
    """The ``top_k`` best documents of ``scored`` as hits (ties: in slot order)."""
    order = np.lexsort((scored.slots, -scored.scores))[:top_k]
    counts = scored.first[order + 1] - scored.first[order]
    flat, _ = ragged(scored.first[order], counts)
    pids, positions = scored.pids[flat], scored.positions[flat]
    rows = store.rows_for(pids).tolist()
    spans = view.spans(np.repeat(scored.slots[order], counts), positions).tolist()
    passages = [PassageHit(pid, store.texts[row], score, start, end, position)
                for pid, row, score, (start, end), position
                in zip(pids.tolist(), rows, scored.passage_scores[flat].tolist(), spans, positions.tolist())]
    hits, start = [], 0
    for d, n in zip(order.tolist(), counts.tolist()):
        doc_id, metadata = view.document(int(scored.slots[d]))
        hits.append(DocumentHit(doc_id, float(scored.scores[d]), passages[start : start + n], metadata))
        start += n
    return hits


def search_one(backend, view: DocumentView, store: VectorStore, query: np.ndarray, top_k: int, agg: Aggregation,
               top_m: int, threshold: float, allowed: np.ndarray | None) -> list[DocumentHit]:
    """Document hits for one unit ``query`` (dim,) (module docstring); ``allowed``: the slots a
    filter lets through (sorted), or None for all."""
    limit = len(store) if allowed is None else view.count_passages(allowed)
    if limit == 0:
        return []
    k = top_k * top_m * CANDIDATES_PER_RESULT
    k = k if allowed is None else math.ceil(k * len(store) / limit)
    while k < limit:
        scores, ids = backend.search(query[None, :], k)
        valid = ids[0] >= 0
        slots = np.unique(view.slots_of(ids[0][valid]))
        slots = slots[slots >= 0] if allowed is None else np.intersect1d(slots, allowed)
        scored = _score(view, store, query, slots, agg, top_m, threshold)
        last = float(scores[0][valid][-1]) + SCORE_SLACK if valid.any() else -np.inf
        ranked = np.sort(scored.scores)[::-1]
        if (valid.sum() < k or last < threshold
                or (len(ranked) >= top_k and ranked[top_k - 1] > agg.bound(last, top_m))):
            return _hits(view, store, scored, top_k)
        k *= GROWTH
    slots = np.arange(view.n_slots) if allowed is None else allowed  # every candidate: exact by construction
    return _hits(view, store, _score(view, store, query, slots, agg, top_m, threshold), top_k)


__all__ = ["AGGREGATIONS", "CANDIDATES_PER_RESULT", "DEFAULT_AGGREGATE", "DEFAULT_TOP_M", "GROWTH", "SCORE_SLACK",
           "Aggregation", "DocumentHit", "DocumentView", "PassageHit", "RowView", "aggregation", "search_one"]
