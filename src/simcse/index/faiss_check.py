"""Checking a FAISS index read from ``index.faiss`` against the manifest and the store.

FAISS trusts its files: a flipped bit in a vector or an id changes scores and hits without
an error, and one in an HNSW graph makes it read outside its arrays. So a loaded index must
be the kind the manifest names, hold the store's ids, agree with ``vectors.npy`` where it
keeps raw vectors (flat, HNSW, IVF-Flat; sampled for big stores like the unit-norm check),
and have a graph that stays inside it. IVF-PQ codes are lossy and cannot be compared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simcse.errors import FormatError
from simcse.index.store import VectorStore


def check_loaded(faiss, index, kind: str, params: dict[str, Any], store: VectorStore, path: Path) -> dict[str, Any]:
    """Raise ``FormatError`` naming ``path`` unless ``index`` fits; returns ``params`` with the
    IVF sizes it was built with."""
    if index.d != store.dim or index.ntotal != len(store) or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise FormatError(f"{path}: holds {index.ntotal} vectors of dimension {index.d}, but the index folder "
                          f"has {len(store)} of dimension {store.dim} (inner product)")
    outer = {"ivf_flat": faiss.IndexIVFFlat, "ivf_pq": faiss.IndexIVFPQ}.get(kind, faiss.IndexIDMap2)
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else None
    inner_kind = {"flat": faiss.IndexFlat, "hnsw": faiss.IndexHNSWFlat}.get(kind, type(None))
    if not isinstance(index, outer) or not isinstance(inner, inner_kind):
        raise FormatError(f"{path}: a {type(index).__name__} ({type(inner).__name__}), not the manifest's {kind!r}")
    if isinstance(index, faiss.IndexIVF):  # the IVF kinds' classes (checked just above): sizes fixed at training
        built = {"nlist": index.nlist, **({"pq_m": index.pq.M, "pq_bits": index.pq.nbits} if kind == "ivf_pq" else {})}
        if any(params[k] not in (v, 0) for k, v in built.items()):
            raise FormatError(f"{path}: built with {built}, manifest.json says {params}")
        params = {**params, **built}
    ids = faiss.vector_to_array(index.id_map) if inner is not None else np.concatenate(
        [ids for ids, _ in _ivf_lists(faiss, index)] or [np.zeros(0, np.int64)])
    if not np.array_equal(np.sort(ids), np.sort(store.ids)):
        raise FormatError(f"{path}: its ids differ from items.jsonl's")
    if not _vectors_match(faiss, index, kind, store):
        raise FormatError(f"{path}: its vectors differ from vectors.npy's")
    if kind == "hnsw" and not _graph_in_bounds(faiss, inner.hnsw, index.ntotal):
        raise FormatError(f"{path}: the HNSW graph links outside the index")
    return params


def _ivf_lists(faiss, index):
    """Per non-empty inverted list: (ids (n,) int64, codes (n * code_size,) uint8), views."""
    lists = index.invlists
    for i in range(index.nlist):
        n = lists.list_size(i)
        if n:
            yield (faiss.rev_swig_ptr(lists.get_ids(i), n),
                   faiss.rev_swig_ptr(lists.get_codes(i), n * lists.code_size))


def _vectors_match(faiss, index, kind: str, store: VectorStore) -> bool:
    """The raw vectors FAISS keeps equal the store's: on the store's sample rows (flat, HNSW),
    or on whole inverted lists until as many rows are seen (IVF-Flat)."""
    if kind in ("flat", "hnsw"):
        rows = store.sample_rows()
        return np.array_equal(index.reconstruct_batch(store.ids[rows]), store.vectors(rows))
    if kind != "ivf_flat":
        return True  # IVF-PQ codes are lossy
    budget = len(store.sample_rows())
    for ids, codes in _ivf_lists(faiss, index):
        rows = store.rows_for(ids)
        order = np.argsort(rows)
        if rows.min() < 0 or not np.array_equal(codes.view(np.float32).reshape(len(ids), -1)[order],
                                                store.vectors(rows[order])):
            return False
        budget -= len(ids)
        if budget <= 0:
            break
    return True


def _graph_in_bounds(faiss, hnsw, n: int) -> bool:
    """Neighbour lists, their offsets, levels and the entry point all index into n vectors."""
    to_array = faiss.vector_to_array
    neighbors, offsets, levels = to_array(hnsw.neighbors), to_array(hnsw.offsets), to_array(hnsw.levels)
    return (
        len(offsets) == n + 1 and len(levels) == n and -1 <= hnsw.entry_point < max(n, 1)
        and bool(np.all(np.diff(offsets.astype(np.int64)) >= 0)) and int(offsets[-1]) == len(neighbors)
        and (n == 0 or (levels.min() >= 1 and levels.max() <= hnsw.max_level + 1))
        and (len(neighbors) == 0 or (neighbors.min() >= -1 and neighbors.max() < n))
    )


__all__ = ["check_loaded"]
