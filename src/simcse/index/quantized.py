"""Quantized backends: compact codes in RAM, rescored from the float32 vectors on disk.

``int8``        FAISS ``IndexScalarQuantizer`` (``QT_8bit``): one byte per coordinate, each
                coordinate's range calibrated (min to max) on the indexed vectors, or a sample
                of :data:`TRAIN_ROWS` of them, when the index is first filled.
``binary``      sign bits (1 where a coordinate is > 0, 1 bit per coordinate) in FAISS
                ``IndexBinaryFlat``, searched by Hamming distance.
``binary_ivf``  the same bits in ``IndexBinaryIVF`` (``nlist`` lists, ``nprobe`` visited).
``rabitq``      FAISS ``IndexRaBitQFastScan`` (RaBitQ, Gao & Long, SIGMOD 2024): also one bit
                per coordinate, of the vector's offset from the centroid of the indexed vectors
                (calibrated when the index is first filled), plus two floats per row; the query
                (quantized to ``qb`` = 8 bits a coordinate, not binarised) is scored against the
                bits (an unbiased estimate of the inner product), so the candidates are better
                than Hamming's; FastScan lays the codes out in blocks of 32 rows and scans them
                with SIMD table lookups. A folder whose codes are FAISS's plain ``IndexRaBitQ``
                (simcse's stop 19) is converted when loaded.

A search takes the best ``top_k * rescore_multiplier`` rows by their codes, then scores those
candidates exactly against the store's float32 vectors (:func:`simcse.index.exact.rescore`)
and keeps the best ``top_k``: the scores returned are exact cosines, only the candidate list
is approximate. For ``binary`` and ``binary_ivf`` "by their codes" takes two steps, both on
the codes in RAM: Hamming search finds ``hamming_multiplier`` times that many rows, then the
float query's inner product with each one's +-1 signs (:func:`sign_scores`, the rescoring
step of sentence-transformers' binary search) keeps the best of them; ``hamming_multiplier``
1 is Hamming alone. With a multiplier that covers the index the result is exact search's. The
vectors stay in ``vectors.npy``, memory-mapped by :meth:`Index.load`, so RAM holds the codes;
rescoring reads ``top_k * rescore_multiplier`` rows per query from the file.

The codes of ``int8``, ``binary`` and ``rabitq`` are addressed by store row (code i is row i,
kept in step on add and remove), so RAM holds the codes alone: no FAISS id map beside them
(8 bytes a row, 1/48 of a 384-dim float32 row). ``binary_ivf`` keeps each code's id in its lists.

The codes are written to ``codes.faiss`` and checked on load against the store: one code per
row (and the store's ids, for ``binary_ivf``), and the codes of a sample of rows equal to
those rows' vectors encoded again. A file of the earlier layout (the codes inside a FAISS ID
map) is read too, if its ids are the store's in row order.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from simcse.errors import ConfigError, FormatError, MissingFileError
from simcse.index.exact import rescore
from simcse.index.faiss_backend import auto_nlist, checked_ints, import_faiss, read_faiss, retuned
from simcse.index.store import VectorStore

FILE_NAME = "codes.faiss"
DEFAULT_RESCORE_MULTIPLIER = 4
# Hamming pool / rescored candidates. bench/quantized_index.py at 1M, rescore multiplier 4: recall@10 0.881 at 1,
# 0.960 at 4, 0.966 at 8 (README, Quantized indexes)
DEFAULT_HAMMING_MULTIPLIER = 4
# Parameters of each kind, with defaults. nlist=0 picks ~4*sqrt(N) lists when first filled.
QUANTIZED_PARAMS: dict[str, dict[str, int]] = {
    "int8": {"rescore_multiplier": DEFAULT_RESCORE_MULTIPLIER},
    "binary": {"rescore_multiplier": DEFAULT_RESCORE_MULTIPLIER, "hamming_multiplier": DEFAULT_HAMMING_MULTIPLIER},
    "binary_ivf": {"nlist": 0, "nprobe": 16, "rescore_multiplier": DEFAULT_RESCORE_MULTIPLIER,
                   "hamming_multiplier": DEFAULT_HAMMING_MULTIPLIER},
    "rabitq": {"rescore_multiplier": DEFAULT_RESCORE_MULTIPLIER},
}
SEARCH_PARAMS = ("nprobe", "rescore_multiplier", "hamming_multiplier")  # may be changed after building, e.g. at load
TRAINED_KINDS = frozenset({"int8", "binary_ivf", "rabitq"})  # filled only once trained on the store
FLOAT_INPUT = frozenset({"int8", "rabitq"})  # FAISS encodes the float32 rows itself (the others take sign bits)
BY_ROW = frozenset({"int8", "binary", "rabitq"})  # code i is store row i (the others keep ids)
TRAIN_ROWS = 1 << 17  # rows sampled to calibrate int8 ranges or rabitq's centroid, or to cluster the binary IVF lists
CODE_BLOCK = 1 << 26  # bytes of candidates' codes narrowed at a time (a block of queries; one query at least)
# Each byte value's +-1 signs, bits in np.packbits's order (first coordinate in the high bit): (256, 8).
BYTE_SIGNS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32) * 2 - 1
# Before FAISS 1.15.1 (#5463) IndexBinaryIVF.search_and_reconstruct wrote result i at byte i * d (d in
# bits), not i * code_size.
RECONSTRUCT_STRIDE_FIXED = (1, 15, 1)


def check_quantized_params(kind: str, params: dict[str, Any], dim: int) -> dict[str, int]:
    """``params`` of ``kind`` checked (known names, integers in range) and completed with the defaults."""
    return checked_ints(kind, params, QUANTIZED_PARAMS[kind])


def sign_bits(vectors: np.ndarray) -> np.ndarray:
    """(n, dim) -> (n, ceil(dim / 8)) uint8: bit j of a row is 1 where coordinate j is > 0
    (padding bits 0, so they never count in a Hamming distance)."""
    return np.packbits(np.asarray(vectors) > 0, axis=1)


def sign_scores(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Queries (Q, dim) float, their candidates' sign bits (Q, P, ceil(dim / 8)) uint8 -> (Q, P)
    float32: each query's inner product with each candidate's +-1 vector (bit 1 -> +1, 0 -> -1;
    padding bits count 0). By a table of each code byte's share per query, (Q, bytes, 256),
    summed over the bytes: no unpacked bits."""
    n_q, size = len(queries), codes.shape[-1]
    padded = np.zeros((n_q, size * 8), np.float32)
    padded[:, : queries.shape[1]] = queries
    table = padded.reshape(n_q, size, 8) @ BYTE_SIGNS.T  # (Q, size, 256)
    scores = np.zeros(codes.shape[:2], np.float32)
    rows = np.arange(n_q)[:, None]
    for j in range(size):
        scores += table[rows, j, codes[:, :, j]]
    return scores


def faiss_version(faiss) -> tuple[int, ...]:
    """FAISS's version as integers, e.g. (1, 15, 1)."""
    return tuple(int(part) for part in re.findall(r"\d+", faiss.__version__)[:3])


class QuantizedBackend:
    """Codes of the store's vectors in a FAISS index, by row (or keyed by id), with rescoring."""

    def __init__(self, kind: str, store: VectorStore, **params: int) -> None:
        self._params = check_quantized_params(kind, params, store.dim)
        self.faiss = import_faiss()
        self.name, self.store = kind, store
        self.binary = kind not in FLOAT_INPUT  # a FAISS binary index of sign bits
        self.by_row = kind in BY_ROW
        self.bits = 8 * -(-store.dim // 8)  # binary code length, whole bytes
        self.index = None if kind in TRAINED_KINDS else self._new_index()

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def code_bytes(self) -> int:
        """Bytes of codes held in RAM (binary_ivf's ids excluded)."""
        return 0 if self.index is None else self.index.ntotal * self.index.code_size

    def _new_index(self):
        faiss, dim = self.faiss, self.store.dim
        if self.name == "int8":
            return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        if self.name == "rabitq":
            return faiss.IndexRaBitQFastScan(dim, faiss.METRIC_INNER_PRODUCT)
        if self.name == "binary":
            return faiss.IndexBinaryFlat(self.bits)
        return faiss.index_binary_factory(self.bits, f"BIVF{self._params['nlist']}")

    def _encode_input(self, vectors: np.ndarray) -> np.ndarray:
        """What FAISS takes: sign bits, or the float32 rows themselves for int8 and rabitq."""
        return sign_bits(vectors) if self.binary else np.ascontiguousarray(vectors, dtype=np.float32)

    def _train(self) -> None:
        """Calibrate (int8 ranges, rabitq centroid) or cluster (binary_ivf) on a random sample of the store."""
        n = len(self.store)
        if self.name == "binary_ivf":
            if self._params["nlist"] == 0:
                self._params["nlist"] = auto_nlist(n)
            nlist = self._params["nlist"]
            if n < nlist:
                raise ConfigError(f"binary_ivf: training (nlist={nlist}) needs at least {nlist} vectors, the index "
                                  f"has {n}; add more sentences first, lower nlist, or use binary")
        if n == 0:
            return
        self.index = self._new_index()
        rows = np.sort(np.random.default_rng(0).choice(n, size=min(n, TRAIN_ROWS), replace=False))
        self.index.train(self._encode_input(self.store.vectors(rows)))

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Encode new unit rows (n, dim) with their ids; the store must already hold them."""
        if self.index is None:  # untrained: train on the store, then take every row
            self.rebuild()
        elif len(ids):
            self._add(self._encode_input(vectors), np.asarray(ids, dtype=np.int64))

    def _add(self, codes_input: np.ndarray, ids: np.ndarray) -> None:
        """Append rows: at the end (by row), or under their ids."""
        if self.by_row:
            self.index.add(codes_input)
        else:
            self.index.add_with_ids(codes_input, ids)

    def rebuild(self) -> None:
        """Re-derive the codes from the store (int8 and binary_ivf train again on it)."""
        if self.name in TRAINED_KINDS:
            self._train()
        else:
            self.index = self._new_index()
        if self.index is None:
            return
        for start, block in self.store.blocks():
            self._add(self._encode_input(block), self.store.ids[start : start + len(block)])

    def remove(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Drop ids (already gone from the store) that were at ``rows``: FAISS closes the gaps in
        order, as the store does, so code i stays row i."""
        if self.index is not None:
            self.index.remove_ids(np.asarray(rows if self.by_row else ids, dtype=np.int64))

    def set_search_params(self, **params: int) -> None:
        """Change ``rescore_multiplier`` (``hamming_multiplier`` for the binary kinds, ``nprobe``
        for ``binary_ivf``) without rebuilding."""
        self._params = retuned(self.name, self._params, params, SEARCH_PARAMS,
                               partial(check_quantized_params, self.name), self.store.dim)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """queries (Q, dim) unit rows -> (scores, ids), each (Q, k), padded with -inf / -1: the
        best ``k * rescore_multiplier`` by the codes, rescored from the stored vectors."""
        n_q = len(queries)
        scores = np.full((n_q, k), -np.inf, np.float32)
        ids = np.full((n_q, k), -1, np.int64)
        if self.index is None or self.index.ntotal == 0:
            return scores, ids
        wanted = min(k * self._params["rescore_multiplier"], self.index.ntotal)
        if self.binary:
            candidates = self._by_signs(queries, wanted)
        else:
            _, candidates = self.index.search(self._encode_input(queries), wanted)  # (Q, wanted), -1 padding
        rows = candidates if self.by_row else np.where(candidates >= 0, self.store.rows_for(candidates), -1)
        best_s, best_r = rescore(self.store, queries, rows)
        best_s, best_r = best_s[:, :k], best_r[:, :k]
        scores[:, : best_s.shape[1]] = best_s
        ids[:, : best_r.shape[1]] = np.where(best_r >= 0, self.store.ids[np.maximum(best_r, 0)], -1)
        return scores, ids

    def _by_signs(self, queries: np.ndarray, wanted: int) -> np.ndarray:
        """(Q, wanted) candidates (rows, or ids for binary_ivf; -1 padding): the best
        ``wanted * hamming_multiplier`` by Hamming distance, narrowed to the best ``wanted`` by
        :func:`sign_scores` of their codes; a block of queries at a time, so that the
        candidates' codes gathered stay within :data:`CODE_BLOCK` bytes (one query at least)."""
        pool = min(wanted * self._params["hamming_multiplier"], self.index.ntotal)
        if self.name == "binary_ivf":
            self.index.nprobe = self._params["nprobe"]
        query_bits = sign_bits(queries)
        if pool == wanted or not len(queries):  # nothing to narrow: rescoring ranks them all
            return self.index.search(query_bits, wanted)[1]
        step = max(1, CODE_BLOCK // (pool * self.index.code_size))
        return np.concatenate([self._narrowed(queries[i : i + step], query_bits[i : i + step], pool, wanted)
                               for i in range(0, len(queries), step)])

    def _narrowed(self, queries: np.ndarray, query_bits: np.ndarray, pool: int, wanted: int) -> np.ndarray:
        n_q = len(queries)
        if self.by_row:
            found = self.index.search(query_bits, pool)[1]
            codes = self._stored_codes(np.maximum(found, 0).ravel()).reshape(n_q, pool, -1)
        else:  # binary_ivf: the codes come with the results (no map from id to code is kept)
            found = np.empty((n_q, pool), np.int64)
            size = self.index.code_size
            stride = size if faiss_version(self.faiss) >= RECONSTRUCT_STRIDE_FIXED else self.index.d
            out = np.empty((n_q, pool, stride), np.uint8)
            distances = np.empty((n_q, pool), np.int32)
            ptr = self.faiss.swig_ptr
            self.index.search_and_reconstruct(n_q, ptr(np.ascontiguousarray(query_bits)), pool, ptr(distances),
                                              ptr(found), ptr(out))
            codes = out[:, :, :size]
        scores = sign_scores(queries, codes)
        scores[found < 0] = -np.inf
        best = np.argsort(-scores, axis=1, kind="stable")[:, :wanted]
        return np.take_along_axis(found, best, axis=1)

    def save(self, folder: Path) -> None:
        if self.index is not None:
            write = self.faiss.write_index_binary if self.binary else self.faiss.write_index
            write(self.index, str(folder / FILE_NAME))

    @classmethod
    def load(cls, kind: str, folder: Path, store: VectorStore, params: dict[str, Any]) -> "QuantizedBackend":
        """Read ``codes.faiss`` and check it against the manifest's kind and params and the store."""
        backend = cls(kind, store, **params)
        path = folder / FILE_NAME
        if path.is_file():
            faiss = backend.faiss
            backend.index = backend._upgraded(read_faiss(faiss.read_index_binary if backend.binary
                                                          else faiss.read_index, path), path)
            backend._check(path)
        elif len(store) or kind not in TRAINED_KINDS:
            raise MissingFileError(f"{path}: missing; the manifest names backend {kind!r}")
        return backend

    # -- checking a loaded file ---------------------------------------------------------

    def _upgraded(self, index, path: Path):
        """``index`` in this layout. Files of earlier ones: codes inside a FAISS ID map (stops
        18-19; its ids must be the store's in row order) give a copy of the codes alone; rabitq's
        plain ``IndexRaBitQ`` (stop 19) is repacked for FastScan, with today's query bits."""
        faiss = self.faiss
        if self.by_row and isinstance(index, (faiss.IndexIDMap, faiss.IndexBinaryIDMap)):
            if not np.array_equal(faiss.vector_to_array(index.id_map), self.store.ids):
                raise FormatError(f"{path}: its ids differ from items.jsonl's")
            if self.binary:  # a copy that owns itself (the map owns its inner index)
                inner = faiss.downcast_IndexBinary(index.index)
                return faiss.deserialize_index_binary(faiss.serialize_index_binary(inner))
            index = faiss.deserialize_index(faiss.serialize_index(faiss.downcast_index(index.index)))
        if self.name == "rabitq" and type(index) is faiss.IndexRaBitQ:
            if index.metric_type != faiss.METRIC_INNER_PRODUCT:
                raise FormatError(f"{path}: metric {index.metric_type}, not inner product")
            index = faiss.IndexRaBitQFastScan(index)  # the same codes and centroid, packed
            index.qb = self._new_index().qb
        return index

    def _check(self, path: Path) -> None:
        """Raise ``FormatError`` naming ``path`` unless the codes are of this kind and its
        settings, one per row of the store (with its ids, for binary_ivf), and encode the
        store's (sampled) vectors."""
        faiss, index, store = self.faiss, self.index, self.store
        expected = {"int8": faiss.IndexScalarQuantizer, "rabitq": faiss.IndexRaBitQFastScan, "binary": faiss.IndexBinaryFlat,
                    "binary_ivf": faiss.IndexBinaryIVF}
        if not isinstance(index, expected[self.name]):
            raise FormatError(f"{path}: a {type(index).__name__}, not the manifest's {self.name!r}")
        dim = self.bits if self.binary else store.dim
        if index.d != dim or index.ntotal != len(store):
            raise FormatError(f"{path}: holds {index.ntotal} codes of dimension {index.d}, but the index folder has "
                              f"{len(store)} vectors of dimension {store.dim}")
        self._check_settings(path)
        rows = store.sample_rows()
        if self.by_row:
            at, codes = slice(None), self._stored_codes(rows)
        else:
            ids, codes = self._ivf_ids_and_codes()
            order = np.argsort(ids)
            sorted_ids = ids[order]  # sorted once: compared with the store's, then searched
            if not np.array_equal(sorted_ids, np.sort(store.ids)):
                raise FormatError(f"{path}: its ids differ from items.jsonl's")
            at = order[np.searchsorted(sorted_ids, store.ids[rows])]  # positions of the sampled rows
        if not np.array_equal(codes[at], self._codes_of(store.vectors(rows))):
            raise FormatError(f"{path}: its codes differ from those of vectors.npy's rows")

    def _check_settings(self, path: Path) -> None:
        """What a code's meaning depends on beyond its kind: int8's quantizer and metric,
        rabitq's metric and query bits, binary_ivf's list count (taken into the params)."""
        faiss, index = self.faiss, self.index
        if self.name == "rabitq":
            built = self._new_index()  # as made here: inner product, FAISS's query bits
            if (index.metric_type, index.qb) != (built.metric_type, built.qb):
                raise FormatError(f"{path}: metric {index.metric_type} and query bits {index.qb}, not "
                                  f"{built.metric_type} and {built.qb}")
        if self.name == "int8" and (index.sq.qtype != faiss.ScalarQuantizer.QT_8bit
                                    or index.metric_type != faiss.METRIC_INNER_PRODUCT):
            raise FormatError(f"{path}: scalar quantizer type {index.sq.qtype} or metric {index.metric_type}, not 8-bit "
                              "inner product")
        if self.name == "binary_ivf":
            if self._params["nlist"] not in (index.nlist, 0):
                raise FormatError(f"{path}: built with nlist {index.nlist}, manifest.json says {self._params}")
            self._params["nlist"] = index.nlist

    def _stored_codes(self, rows: np.ndarray) -> np.ndarray:
        """The codes (len(rows), code_size) uint8 that a by-row index holds for ``rows``."""
        if not len(rows):
            return np.zeros((0, self.index.code_size), np.uint8)
        table = self.index.xb if self.binary else self.index.codes
        flat = self.faiss.rev_swig_ptr(table.data(), table.size())  # a view: the big array
        if self.name != "rabitq":
            return flat.reshape(-1, self.index.code_size)[rows]
        packer = self.index.get_CodePacker()  # FastScan: blocks of packer.nvec rows, sub-codes interleaved
        blocks = flat.reshape(-1, packer.block_size)
        per = packer.nvec
        return np.stack([packer.unpack_1(blocks[row // per : row // per + 1], int(row % per)) for row in rows])

    def _ivf_ids_and_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """binary_ivf: every code's id (n,) and the codes (n, code_size) uint8, in the same order."""
        faiss, index = self.faiss, self.index
        lists = index.invlists
        parts = [(faiss.rev_swig_ptr(lists.get_ids(i), n), faiss.rev_swig_ptr(lists.get_codes(i), n * lists.code_size))
                 for i in range(index.nlist) if (n := lists.list_size(i))]
        ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        codes = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.uint8)
        return ids, codes.reshape(-1, index.code_size)

    def _codes_of(self, vectors: np.ndarray) -> np.ndarray:
        """The codes (n, code_size) that ``vectors`` (n, dim) get from the loaded index."""
        if self.binary:
            return sign_bits(vectors)
        return self.index.sa_encode(np.ascontiguousarray(vectors, dtype=np.float32))


__all__ = ["BY_ROW", "DEFAULT_HAMMING_MULTIPLIER", "DEFAULT_RESCORE_MULTIPLIER", "FILE_NAME", "QUANTIZED_PARAMS",
           "SEARCH_PARAMS", "QuantizedBackend", "check_quantized_params", "sign_bits", "sign_scores"]
