"""Vector indexes for semantic search: one :class:`Index` interface, backends by name.

``exact`` is brute force in NumPy (memory-mapped for corpora larger than RAM); ``flat``,
``ivf_flat``, ``hnsw`` and ``ivf_pq`` are FAISS indexes (``pip install 'simcse[faiss]'``).
"""

from simcse.index.core import DEFAULT_THRESHOLD, DEFAULT_TOP_K, Hit, Index
from simcse.index.manifest import Manifest
from simcse.index.registry import BACKENDS, backend_entry
from simcse.index.store import normalize

__all__ = ["BACKENDS", "DEFAULT_THRESHOLD", "DEFAULT_TOP_K", "Hit", "Index", "Manifest", "backend_entry", "normalize"]
