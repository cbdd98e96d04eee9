"""The rows of an index: ids (N,), texts (N) and unit vectors (N, dim), aligned by row.

Vectors are kept as a list of segments so that a memory-mapped ``vectors.npy`` (larger
than RAM) can be searched and extended without being loaded: new rows go into a new
in-memory segment, and saving streams every segment into one file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

# Rows per block when scanning or copying vectors: bounds memory for memory-mapped files.
CHUNK_ROWS = 65_536


def normalize(x: np.ndarray) -> np.ndarray:
    """Unit-normalize rows (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class VectorStore:
    """Row-aligned ``ids`` (N,) int64, ``texts`` (N) and unit ``vectors`` (N, dim) float32."""

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.segments: list[np.ndarray] = []  # each (n_i, dim); the first may be a np.memmap
        self.ids = np.zeros(0, dtype=np.int64)
        self.texts: list[str] = []
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None  # (argsort of ids, sorted ids), cached

    def __len__(self) -> int:
        return len(self.texts)

    def append(self, ids: np.ndarray, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Add rows; ``vectors`` (n, dim) must already be unit length; ids must be new."""
        ids = np.asarray(ids, dtype=np.int64)
        if vectors.shape != (len(texts), self.dim) or ids.shape != (len(texts),):
            raise ValueError(
                f"expected {len(texts)} ids and vectors of shape ({len(texts)}, {self.dim}), "
                f"got {ids.shape[0]} ids and vectors {vectors.shape}"
            )
        clash = ids[np.isin(ids, self.ids)] if len(self) else ids[:0]
        if len(clash) or len(np.unique(ids)) != len(ids):
            dup = clash[:5].tolist() if len(clash) else ids[np.unique(ids, return_counts=True)[1] > 1][:5].tolist()
            raise ValueError(f"ids must be unique; already used or repeated: {dup}")
        if len(texts):
            ok = vectors.dtype == np.float32 and vectors.flags.c_contiguous  # keep a np.memmap as it is
            self.segments.append(vectors if ok else np.ascontiguousarray(vectors, dtype=np.float32))
            self.ids = np.concatenate([self.ids, ids])
            self.texts.extend(texts)
            self._sorted = None

    def remove(self, ids: Sequence[int]) -> np.ndarray:
        """Drop the rows with these ids; unknown ids raise ``KeyError`` before anything changes.

        Returns the removed ids (int64). Segments that lose rows are copied into memory.
        """
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        missing = ids[~np.isin(ids, self.ids)]
        if len(missing):
            raise KeyError(f"no such ids in the index: {missing[:10].tolist()}")
        keep = ~np.isin(self.ids, ids)
        segments, start = [], 0
        for seg in self.segments:
            mask = keep[start : start + len(seg)]
            start += len(seg)
            kept = seg if mask.all() else np.ascontiguousarray(seg[mask])
            if len(kept):
                segments.append(kept)
        self.segments = segments
        self.ids = self.ids[keep]
        self.texts = [t for t, k in zip(self.texts, keep) if k]
        self._sorted = None
        return ids

    def rows_for(self, ids: np.ndarray) -> np.ndarray:
        """Row numbers of ``ids`` (any shape); ids not in the store map to -1."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self):
            return np.full(ids.shape, -1, dtype=np.int64)
        if self._sorted is None:
            order = np.argsort(self.ids, kind="stable")
            self._sorted = (order, self.ids[order])
        order, sorted_ids = self._sorted
        pos = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
        return np.where(sorted_ids[pos] == ids, order[pos], -1)

    def blocks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_row, block)`` with blocks (<= rows, dim) covering all vectors in order."""
        rows, start = rows or CHUNK_ROWS, 0
        for seg in self.segments:
            for i in range(0, len(seg), rows):
                yield start + i, np.asarray(seg[i : i + rows])
            start += len(seg)

    def vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """All vectors (N, dim), or just ``rows`` (sorted row numbers), gathered into memory."""
        if rows is None:
            return np.concatenate(self.segments) if self.segments else np.zeros((0, self.dim), np.float32)
        out, start = [], 0
        for seg in self.segments:
            local = rows[(rows >= start) & (rows < start + len(seg))] - start
            out.append(np.asarray(seg[local]))
            start += len(seg)
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    # -- files -------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write ``vectors.npy`` (N, dim) float32, streamed block by block, and ``items.jsonl``."""
        out = np.lib.format.open_memmap(folder / "vectors.npy", mode="w+", dtype=np.float32, shape=(len(self), self.dim))
        for start, block in self.blocks():
            out[start : start + len(block)] = block
        out.flush()
        del out
        with open(folder / "items.jsonl", "w", encoding="utf-8") as fh:
            for i, text in zip(self.ids.tolist(), self.texts):
                fh.write(json.dumps({"id": i, "text": text}, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, folder: Path, dim: int, mmap: bool = True) -> "VectorStore":
        """Read a folder written by :meth:`save`; ``mmap`` maps the vectors instead of reading them."""
        vec_path, items_path = folder / "vectors.npy", folder / "items.jsonl"
        for p in (vec_path, items_path):
            if not p.is_file():
                raise FileNotFoundError(f"{p}: missing; not an index folder or an incomplete one")
        vectors = np.load(vec_path, mmap_mode="r" if mmap else None, allow_pickle=False)
        if vectors.ndim != 2 or vectors.shape[1] != dim or vectors.dtype != np.float32:
            raise ValueError(f"{vec_path}: expected float32 of shape (N, {dim}), got {vectors.dtype} {vectors.shape}")
        store = cls(dim)
        ids, texts = [], []
        with open(items_path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                try:
                    item = json.loads(line)
                    ids.append(int(item["id"]))
                    texts.append(str(item["text"]))
                except (ValueError, KeyError, TypeError) as err:
                    raise ValueError(f"{items_path}:{lineno}: expected {{\"id\": int, \"text\": str}} ({err})") from None
        if len(ids) != len(vectors):
            raise ValueError(f"{items_path}: {len(ids)} items but {vec_path.name} has {len(vectors)} rows")
        store.append(np.asarray(ids, dtype=np.int64), texts, vectors)
        return store
