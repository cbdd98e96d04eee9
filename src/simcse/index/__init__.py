"""Vector indexes for semantic search: one :class:`Index` interface, backends by name.

An index holds sentences, or the passages of documents (:meth:`Index.search_documents`
returns each document once; :mod:`simcse.document_indexing` cuts and encodes them).
``exact`` is brute force in NumPy (memory-mapped for corpora larger than RAM); ``flat``,
``ivf_flat``, ``hnsw`` and ``ivf_pq`` are FAISS indexes (``pip install 'simcse[faiss]'``);
``int8``, ``binary``, ``binary_ivf`` and ``rabitq`` keep FAISS codes in RAM and rescore their candidates
from the float32 vectors on disk (:mod:`simcse.index.quantized`).
"""

from simcse.index.core import DEFAULT_THRESHOLD, DEFAULT_TOP_K, Hit, Index, UpsertCounts
from simcse.index.documents import DocumentTable
from simcse.index.grouping import AGGREGATIONS, DEFAULT_AGGREGATE, DEFAULT_TOP_M, DocumentHit, PassageHit
from simcse.index.manifest import Manifest
from simcse.index.registry import BACKENDS, backend_entry
from simcse.index.store import normalize

__all__ = ["AGGREGATIONS", "BACKENDS", "DEFAULT_AGGREGATE", "DEFAULT_THRESHOLD", "DEFAULT_TOP_K", "DEFAULT_TOP_M",
           "DocumentHit", "DocumentTable", "Hit", "Index", "Manifest", "PassageHit", "UpsertCounts", "backend_entry",
           "normalize"]
