"""The :class:`Index`: sentences (or the passages of documents) and their unit vectors,
searchable by cosine, saved as a folder.

Folder layout (all plain files, no pickles)::

    manifest.json   model (and its weights' fingerprint), dim, pooler, metric, count, backend +
                    params, format version; chunk_tokens and chunk_overlap for documents
    vectors.npy     (N, dim) float32 unit rows, memory-mappable
    items.jsonl     {"id": int, "text": str} per row, same order as vectors.npy
    index.faiss     the FAISS index (FAISS backends only)
    codes.faiss     the codes of a quantized backend (int8, binary, binary_ivf, rabitq: :mod:`simcse.index.quantized`);
                    their search rescores candidates from vectors.npy, which stays memory-mapped
    documents.jsonl the documents whose passages the rows are (indexes of documents only;
                    :mod:`simcse.index.documents`)

``save`` writes a temporary sibling folder, fsyncs it and renames it over the target, so
a crash mid-write leaves the previous index intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

import numpy as np

from simcse.atomic import atomic_dir, recover_dir
from simcse.errors import ConfigError, DataError, FormatError
from simcse.index.documents import DocumentTable
from simcse.index.grouping import DEFAULT_AGGREGATE, DEFAULT_TOP_M, DocumentHit, RowView, aggregation, search_one
from simcse.index.manifest import FILE_NAME, Manifest, model_id
from simcse.index.registry import Backend, backend_entry
from simcse.index.store import VectorStore, non_unit_rows, normalize

if TYPE_CHECKING:
    from simcse.documents import Document


# The one default for search everywhere (Python API, CLI, server, page): no cut, the top_k
# best. A cosine floor depends on the model (princeton-nlp's tool used 0.6 for its BERT models;
# all-MiniLM-L6-v2 scores related captions near 0.5), so it is the caller's choice.
DEFAULT_THRESHOLD: float | None = None
# Results per query when the caller does not say (the original tool's default).
DEFAULT_TOP_K = 5


class Hit(NamedTuple):
    """One search result."""

    id: int
    text: str
    score: float  # cosine similarity


SENTENCES_ONLY = ("the index holds sentences, not documents; build one from a .jsonl file or a folder "
                  "(simcse index build --input docs.jsonl)")


class UpsertCounts(NamedTuple):
    """What :meth:`Index.upsert_documents` did."""

    documents: int  # documents written
    replaced: int  # of which were in the index before
    passages: int  # passages added
    removed: int  # passages of the replaced versions removed


class Index:
    """Searchable sentences, or passages of documents, with one backend from ``simcse.index.BACKENDS``.

    Args:
        dim: vector dimension.
        backend: ``"exact"`` (NumPy), ``"flat"``, ``"ivf_flat"``, ``"hnsw"`` or ``"ivf_pq"`` (FAISS), or
            ``"int8"``, ``"binary"``, ``"binary_ivf"`` or ``"rabitq"`` (FAISS codes, rescored in float32).
        model, pooler: the encoder that makes the vectors, recorded in the manifest.
        truncate_dim: that encoder's embeddings were cut to their first ``dim`` features
            (``SimCSE(..., truncate_dim=)``), recorded so that queries are cut alike; None: whole.
        fingerprint: its weights' fingerprint (``SimCSE.weights_fingerprint``; "" = unknown),
            recorded in the manifest and compared by :meth:`load`.
        documents: an empty :class:`DocumentTable` for an index of documents (filled by
            :meth:`upsert_documents`, see :mod:`simcse.document_indexing`); None: sentences.
        **params: backend parameters, e.g. ``nlist``, ``nprobe``, ``m``, ``ef_search``, ``pq_m``,
            ``rescore_multiplier``, ``hamming_multiplier``.
    """

    def __init__(self, dim: int, backend: str = "exact", *, model: str = "", pooler: str | None = None,
                 fingerprint: str = "", truncate_dim: int | None = None, documents: DocumentTable | None = None,
                 **params: Any) -> None:
        self.store = VectorStore(dim)
        self.backend: Backend = backend_entry(backend).create(self.store, **params)
        self.model, self.pooler, self.fingerprint = (model_id(model) if model else ""), pooler, fingerprint
        self.truncate_dim = _checked_truncation(truncate_dim, dim)
        self.next_id = 0
        self.documents = documents

    @classmethod
    def from_store(cls, store: VectorStore, backend: str = "exact", *, model: str = "", pooler: str | None = None,
                   fingerprint: str = "", truncate_dim: int | None = None, **params: Any) -> "Index":
        """Wrap filled rows (e.g. memory-mapped shards) and build the backend over all of them at once."""
        bad = store.first_non_unit_row()
        if bad:
            raise DataError(f"row {bad[0]} is not a finite unit vector (norm {bad[1]:.4g}); cannot index it "
                            "(a model that gives NaN, e.g. a diverged float16 one?)")
        self = cls.__new__(cls)
        self.store, self.backend = store, backend_entry(backend).create(store, **params)
        self.backend.rebuild()
        self.model, self.pooler, self.fingerprint = (model_id(model) if model else ""), pooler, fingerprint
        self.truncate_dim = _checked_truncation(truncate_dim, store.dim)
        self.next_id = int(store.ids.max()) + 1 if len(store) else 0
        self.documents = None
        return self

    @property
    def dim(self) -> int:
        return self.store.dim

    def __len__(self) -> int:
        return len(self.store)

    def add(self, texts: Sequence[str], vectors: np.ndarray, ids: Sequence[int] | None = None) -> np.ndarray:
        """Append texts with their embeddings (n, dim), normalized here; returns their ids (n,).

        Ids default to consecutive integers after the largest one used so far. Vectors must be
        finite and non-zero (else :class:`~simcse.errors.DataError`). An index of documents
        takes whole documents only (:meth:`upsert_documents`).
        """
        self._refuse_documents("add sentences to")
        return self._append(texts, vectors, ids)

    def _refuse_documents(self, action: str) -> None:
        if self.documents is not None:
            raise ConfigError(f"cannot {action} an index of documents; use upsert and delete by document id "
                              "(simcse index upsert / delete)")

    def _append(self, texts: Sequence[str], vectors: np.ndarray, ids: Sequence[int] | None = None) -> np.ndarray:
        texts = list(texts)
        vectors = normalize(vectors)
        bad = non_unit_rows(vectors) if vectors.ndim == 2 else []
        if len(bad):  # NaN, inf or all zeros: it would match nothing or everything
            raise DataError(f"vector {int(bad[0])} is not finite or is zero; cannot index it "
                            "(a model that gives NaN, e.g. a diverged float16 one?)")
        if ids is None:
            ids = np.arange(self.next_id, self.next_id + len(texts), dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) and ids.min() < 0:
            raise ValueError(f"ids must be >= 0, got {int(ids.min())}")
        self.store.append(ids, texts, vectors)
        try:
            self.backend.add(vectors, ids)
        except BaseException:  # e.g. too few vectors to train IVF: leave the index as it was
            self.store.remove(ids)
            raise
        if len(ids):
            self.next_id = max(self.next_id, int(ids.max()) + 1)
        return ids

    def remove(self, ids: Sequence[int]) -> None:
        """Delete sentences by id; an unknown id raises ``KeyError`` and nothing changes."""
        self._refuse_documents("remove rows from")
        self._remove(ids)

    def _remove(self, ids: Sequence[int]) -> None:
        if len(ids):
            rows = np.unique(self.store.rows_for(np.asarray(ids, dtype=np.int64)))  # before they go
            removed = self.store.remove(ids)  # an unknown id raises here, before any change
            self.backend.remove(removed, rows)

    def require_documents(self) -> DocumentTable:
        """The index's documents; a ``ConfigError`` for an index of sentences."""
        if self.documents is None:
            raise ConfigError(SENTENCES_ONLY)
        return self.documents

    def upsert_documents(self, documents: Sequence["Document"], spans: Sequence[Sequence[tuple[int, int]]],
                         vectors: np.ndarray) -> UpsertCounts:
        """Add documents, replacing those whose id the index holds: ``spans[i]`` are the
        passages of ``documents[i]`` (``[start, end)``), ``vectors`` (sum of len(spans[i]), dim)
        their embeddings in that order. All or nothing: on an error the index is unchanged."""
        table = self.require_documents()
        ids = [d.id for d in documents]
        if len(set(ids)) != len(ids):
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            raise DataError(f"document ids repeat within one upsert: {repeated[:5]}")
        texts = [d.text[a:b] for d, doc_spans in zip(documents, spans) for a, b in doc_spans]
        new = self._append(texts, vectors)  # checks the vectors first; new row ids, never reused
        replaced = [i for i in ids if i in table]
        old = table.passage_ids(replaced)
        self._remove(old)
        ends = np.cumsum([len(doc_spans) for doc_spans in spans])
        for doc, doc_spans, end in zip(documents, spans, ends.tolist()):
            if doc.id in table:
                table.pop(doc.id)
            table.put(doc.id, doc.text, doc.metadata, new[end - len(doc_spans) : end], np.asarray(doc_spans))
        return UpsertCounts(len(documents), len(replaced), len(new), len(old))

    def delete_documents(self, ids: Sequence[str]) -> int:
        """Remove documents and their passages; returns the number of passages removed. An id
        the index does not hold is a ``DataError`` and nothing changes."""
        table = self.require_documents()
        unknown = table.unknown(list(dict.fromkeys(ids)))
        if unknown:
            raise DataError(f"no document with id {unknown[0]!r} in the index"
                            + (f" (nor {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
        pids = table.passage_ids(list(dict.fromkeys(ids)))
        self._remove(pids)
        for doc_id in dict.fromkeys(ids):
            table.pop(doc_id)
        return len(pids)

    def set_search_params(self, **params: int) -> None:
        """Tune an approximate backend at search time: ``nprobe`` (IVF), ``ef_search`` (HNSW),
        ``rescore_multiplier`` (the quantized backends), ``hamming_multiplier`` (binary, binary_ivf)."""
        if not hasattr(self.backend, "set_search_params"):
            raise ConfigError(f"backend {self.backend.name!r} has no search parameters, got {sorted(params)}")
        self.backend.set_search_params(**params)

    def search(self, queries: np.ndarray, top_k: int = DEFAULT_TOP_K,
               threshold: float | None = DEFAULT_THRESHOLD) -> list[list[Hit]]:
        """queries (Q, dim) -> per query, up to ``top_k`` hits with score >= ``threshold`` (None: no
        cut), best first."""
        if threshold is None:
            threshold = -np.inf
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {top_k}")
        queries = np.atleast_2d(normalize(queries))
        if queries.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {queries.shape[1]}, the index {self.dim}")
        scores, ids = self.backend.search(queries, top_k)
        rows = self.store.rows_for(ids)  # (Q, k), -1 for padding
        return [
            [Hit(int(i), self.store.texts[r], float(s)) for s, i, r in zip(q_s, q_i, q_r) if r >= 0 and s >= threshold]
            for q_s, q_i, q_r in zip(scores.tolist(), ids.tolist(), rows.tolist())
        ]

    def search_documents(self, queries: np.ndarray, top_k: int = DEFAULT_TOP_K,
                         threshold: float | None = DEFAULT_THRESHOLD, *, aggregate: str = DEFAULT_AGGREGATE,
                         top_m: int = DEFAULT_TOP_M, where: Mapping[str, Any] | None = None) -> list[list[DocumentHit]]:
        """queries (Q, dim) -> per query, up to ``top_k`` documents, best first, each once.

        A document scores its best passage's cosine (``aggregate="max"``) or the sum of its
        ``top_m`` best (``"sum"``), counting passages scoring >= ``threshold``; each hit holds
        those ``top_m`` passages with their spans, and the document's metadata. ``where``
        keeps the documents whose metadata has those field values (:func:`simcse.index.documents.matches`).
        Exact for the exact and flat backends, whatever the filter (:mod:`simcse.index.grouping`).
        An index of sentences answers with each sentence as a document of one passage.
        """
        agg = aggregation(aggregate)
        if top_k < 1 or top_m < 1:
            raise ConfigError(f"top_k and top_m must be >= 1, got {top_k} and {top_m}")
        queries = np.atleast_2d(normalize(queries))
        if queries.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {queries.shape[1]}, the index {self.dim}")
        view = self.documents if self.documents is not None else RowView(self.store)
        allowed = view.allowed_slots(where) if where else None
        low = -np.inf if threshold is None else threshold
        return [search_one(self.backend, view, self.store, q, top_k, agg, top_m, low, allowed) for q in queries]

    def manifest(self) -> Manifest:
        docs = self.documents
        return Manifest(model=self.model, dim=self.dim, pooler=self.pooler, backend=self.backend.name,
                        params=self.backend.params, count=len(self), next_id=self.next_id, fingerprint=self.fingerprint,
                        chunk_tokens=None if docs is None else docs.chunk_tokens,
                        chunk_overlap=None if docs is None else docs.chunk_overlap, truncate_dim=self.truncate_dim)

    def save(self, folder: str | os.PathLike) -> None:
        """Write the index folder atomically (replacing any previous one only once complete)."""
        with atomic_dir(folder) as tmp:
            self.store.save(tmp)
            self.backend.save(tmp)
            if self.documents is not None:
                self.documents.save(tmp)
            self.manifest().write(tmp)

    @classmethod
    def load(cls, folder: str | os.PathLike, *, model: str | None = None, dim: int | None = None,
             pooler: str | None = None, fingerprint: str | None = None, truncate_dim: int | None = None,
             mmap: bool = True, **search_params: int) -> "Index":
        """Open an index folder; ``model``/``dim``/``pooler``/``fingerprint`` (the model's
        ``weights_fingerprint``)/``truncate_dim`` (checked with ``dim``), when given, must match the
        manifest (:meth:`Manifest.check_compatible`).

        ``mmap`` maps ``vectors.npy`` instead of reading it (corpora larger than RAM; the
        quantized backends then hold only their codes in RAM); ``search_params`` (``nprobe``,
        ``ef_search``, ``rescore_multiplier``, ``hamming_multiplier``) override the saved ones.
        Every file is checked: a corrupt or inconsistent one raises ``FormatError`` naming it.
        """
        folder = Path(folder)
        recover_dir(folder)  # a save cut short between its two renames (systems without an atomic swap)
        manifest = Manifest.read(folder)
        manifest.check_compatible(folder, model, dim, pooler, fingerprint, truncate_dim)
        entry = backend_entry(manifest.backend)
        self = cls.__new__(cls)
        self.store = VectorStore.load(folder, manifest.dim, mmap=mmap)
        if len(self.store) != manifest.count:
            raise FormatError(f"{folder / FILE_NAME}: count {manifest.count}, but {len(self.store)} items on disk")
        if len(self.store) and manifest.next_id <= int(self.store.ids.max()):
            raise FormatError(f"{folder / FILE_NAME}: next_id {manifest.next_id} is not above the largest id "
                              f"{int(self.store.ids.max())} in items.jsonl")
        self.documents = DocumentTable.read(folder, self.store, manifest.chunk_tokens, manifest.chunk_overlap)
        self.backend = entry.load(folder, self.store, manifest.params)
        self.model, self.pooler, self.next_id = manifest.model, manifest.pooler, manifest.next_id
        self.fingerprint, self.truncate_dim = manifest.fingerprint, manifest.truncate_dim
        if search_params:
            self.set_search_params(**search_params)
        return self


def _checked_truncation(truncate_dim: int | None, dim: int) -> int | None:
    if truncate_dim is not None and truncate_dim != dim:
        raise ValueError(f"truncate_dim {truncate_dim} must be the index's dim {dim} (or None)")
    return truncate_dim


__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_TOP_K", "SENTENCES_ONLY", "Hit", "Index", "UpsertCounts"]
