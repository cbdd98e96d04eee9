"""FAISS backends (faiss-cpu): ``flat``, ``ivf_flat``, ``hnsw`` and ``ivf_pq``, inner-product metric.

The FAISS index is derived data: the store keeps the unit vectors, so an index can be
rebuilt (HNSW cannot delete, so ``remove`` rebuilds it) or swapped for another kind.
IVF kinds are trained on a sample of the store when first filled; build big corpora in
one go (``simcse index build``) so the coarse quantizer sees representative data.
"""

from __future__ import annotations

import math
import re
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from simcse.artefacts import one_line
from simcse.errors import ConfigError, FormatError, MissingDependencyError, MissingFileError
from simcse.index.faiss_check import check_loaded
from simcse.index.store import VectorStore

INSTALL_HINT = "the FAISS backends need faiss-cpu: pip install 'simcse[faiss]'"
FILE_NAME = "index.faiss"

# Parameters each kind accepts, with defaults. nlist=0 picks ~4*sqrt(N) lists at training.
KIND_PARAMS: dict[str, dict[str, int]] = {
    "flat": {},
    "ivf_flat": {"nlist": 0, "nprobe": 16},
    "hnsw": {"m": 32, "ef_construction": 200, "ef_search": 128},
    "ivf_pq": {"nlist": 0, "nprobe": 16, "pq_m": 16, "pq_bits": 8},
}
# Kinds with an inverted file: trained on the store when first filled, searched with nprobe.
IVF_KINDS = frozenset({"ivf_flat", "ivf_pq"})
SEARCH_PARAMS = ("nprobe", "ef_search")  # may be changed after building, e.g. at load
# Valid ranges (inclusive). nlist=0 means "not chosen yet"; FAISS's PQ codebooks take at most 16 bits.
PARAM_RANGE = {"nlist": (0, 2**31 - 1), "nprobe": (1, 2**31 - 1), "m": (2, 1024), "ef_construction": (1, 2**31 - 1),
               "ef_search": (1, 2**31 - 1), "pq_m": (1, 2**16), "pq_bits": (1, 16),
               "rescore_multiplier": (1, 2**16), "hamming_multiplier": (1, 2**16)}
TRAIN_POINTS_PER_LIST = 50  # k-means sample size per IVF list (FAISS warns below 39)


def import_faiss():
    """Import faiss lazily, with an install hint."""
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError(INSTALL_HINT) from None
    return faiss


def checked_ints(backend: str, params: dict[str, Any], defaults: dict[str, int]) -> dict[str, int]:
    """``params`` completed with ``defaults``; a name not in ``defaults`` or a value that is not an
    integer in its :data:`PARAM_RANGE` raises ``ConfigError`` naming the parameter."""
    unknown = set(params) - set(defaults)
    if unknown:
        raise ConfigError(f"backend {backend!r} takes parameters {sorted(defaults)}, got {sorted(unknown)}")
    for key, value in params.items():
        low, high = PARAM_RANGE[key]
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"backend {backend!r}: {key} must be an integer in [{low}, {high}], got {value!r:.40}")
    return {**defaults, **{k: int(v) for k, v in params.items()}}


def check_params(kind: str, params: dict[str, Any], dim: int) -> dict[str, int]:
    """``params`` for FAISS kind ``kind``, checked (known names, integers in range) and completed
    with the defaults; a problem raises ``ConfigError`` naming the parameter."""
    if kind not in KIND_PARAMS:
        raise ConfigError(f"unknown FAISS kind {kind!r}; valid: {sorted(KIND_PARAMS)}")
    full = checked_ints(kind, params, KIND_PARAMS[kind])
    if kind == "ivf_pq" and dim % full["pq_m"]:
        raise ConfigError(f"ivf_pq: pq_m={full['pq_m']} must divide the dimension {dim}")
    return full


def retuned(kind: str, current: dict[str, int], changes: dict[str, Any], search_params: tuple[str, ...],
            check: Callable[[dict[str, Any], int], dict[str, int]], dim: int) -> dict[str, int]:
    """``current`` with ``changes`` applied and ``check``-ed; a change to anything but one of the
    ``search_params`` that ``kind`` has raises ``ConfigError`` listing those."""
    for key in changes:
        if key not in search_params or key not in current:
            valid = [k for k in search_params if k in current]
            raise ConfigError(f"backend {kind!r} has search parameters {valid}, got {key!r}")
    return check({**current, **changes}, dim)


def auto_nlist(n: int) -> int:
    """~4*sqrt(N) IVF lists, but at least 39 training points per list."""
    return max(1, min(int(4 * math.sqrt(max(n, 1))), n // 39))


def read_faiss(read: Callable[[str], Any], path: Path) -> Any:
    """``read(path)`` (``faiss.read_index`` or ``read_index_binary``); a damaged file raises
    ``FormatError`` naming it, with FAISS's reason but not its C++ signature."""
    try:
        return read(str(path))
    except (RuntimeError, MemoryError) as err:
        detail = re.split(r"\.cpp:\d+: ", one_line(err))[-1]
        raise FormatError(f"{path}: is not a readable FAISS index ({detail})") from None


class FaissBackend:
    """One FAISS index over the store's vectors, keyed by the store's int64 ids."""

    def __init__(self, kind: str, store: VectorStore, **params: int) -> None:
        self._params = check_params(kind, params, store.dim)
        self.faiss = import_faiss()
        self.name, self.store = kind, store
        self.index = None if kind in IVF_KINDS else self._new_index()

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def _factory_string(self) -> str:
        p = self._params
        if self.name == "flat":
            return "IDMap2,Flat"
        if self.name == "hnsw":
            return f"IDMap2,HNSW{p['m']}"
        if self.name == "ivf_flat":
            return f"IVF{p['nlist']},Flat"
        return f"IVF{p['nlist']},PQ{p['pq_m']}x{p['pq_bits']}"

    def _new_index(self):
        index = self.faiss.index_factory(self.store.dim, self._factory_string(), self.faiss.METRIC_INNER_PRODUCT)
        if self.name == "hnsw":
            self.faiss.downcast_index(index.index).hnsw.efConstruction = self._params["ef_construction"]
        return index

    def _train(self) -> None:
        """Fix nlist from the store size, then k-means on a random sample of the store."""
        n = len(self.store)
        if self._params["nlist"] == 0:
            self._params["nlist"] = auto_nlist(n)
        nlist = self._params["nlist"]
        need = max(nlist, 2 ** self._params.get("pq_bits", 0))  # k-means for the lists and the PQ codebooks
        if n < need:
            raise ConfigError(f"{self.name}: training (nlist={nlist}, pq_bits={self._params.get('pq_bits')}) needs "
                             f"at least {need} vectors, the index has {n}; add more sentences first, lower "
                             "nlist/pq_bits, or use the flat/hnsw backend")
        self.index = self._new_index()
        size = min(n, TRAIN_POINTS_PER_LIST * max(nlist, need // 4))
        rows = np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))
        self.index.train(self.store.vectors(rows))

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Index new unit rows (n, dim) with their ids; the store must already hold them."""
        if self.index is None:  # untrained IVF: train on the store, then take every row
            self.rebuild()
        elif len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def rebuild(self) -> None:
        """Refill the index from the store; IVF keeps its training (trains first if needed)."""
        if self.name not in IVF_KINDS:
            self.index = self._new_index()
        elif self.index is None:
            self._train()
        else:
            self.index.reset()
        for start, block in self.store.blocks():
            self.index.add_with_ids(np.ascontiguousarray(block), self.store.ids[start : start + len(block)])

    def remove(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Drop ids (already gone from the store; ``rows`` unused); HNSW cannot delete, so it is rebuilt."""
        if self.index is None:
            return
        if self.name == "hnsw":
            self.rebuild()
        else:
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def set_search_params(self, **params: int) -> None:
        """Change ``nprobe`` (IVF) or ``ef_search`` (HNSW) without rebuilding."""
        self._params = retuned(self.name, self._params, params, SEARCH_PARAMS, partial(check_params, self.name),
                               self.store.dim)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """queries (Q, dim) unit rows -> (scores, ids), each (Q, k), padded with -inf / -1."""
        if self.index is None or self.index.ntotal == 0:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        if self.name in IVF_KINDS:
            self.faiss.extract_index_ivf(self.index).nprobe = self._params["nprobe"]
        elif self.name == "hnsw":
            self.faiss.downcast_index(self.index.index).hnsw.efSearch = max(self._params["ef_search"], k)
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        scores[ids < 0] = -np.inf
        return scores, ids

    def save(self, folder: Path) -> None:
        if self.index is not None:
            self.faiss.write_index(self.index, str(folder / FILE_NAME))

    @classmethod
    def load(cls, kind: str, folder: Path, store: VectorStore, params: dict[str, Any]) -> "FaissBackend":
        """Read ``index.faiss`` and check it against the manifest's kind and params and the store."""
        backend = cls(kind, store, **params)
        path = folder / FILE_NAME
        if path.is_file():
            backend.index = read_faiss(backend.faiss.read_index, path)
            backend._params = check_loaded(backend.faiss, backend.index, kind, backend.params, store, path)
        elif len(store):
            raise MissingFileError(f"{path}: missing; the manifest names backend {kind!r}")
        return backend


__all__ = ["FILE_NAME", "INSTALL_HINT", "IVF_KINDS", "KIND_PARAMS", "PARAM_RANGE", "SEARCH_PARAMS",
           "TRAIN_POINTS_PER_LIST", "FaissBackend", "auto_nlist", "check_params", "checked_ints", "import_faiss",
           "read_faiss", "retuned"]
