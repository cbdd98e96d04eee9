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

from simcse.artefacts import INT64_MAX, corrupt_if_raises, json_type, one_line, require_file
from simcse.errors import FormatError

# Rows per block when scanning or copying vectors: bounds memory for memory-mapped files.
CHUNK_ROWS = 65_536
# Loading checks every row of a vector file up to this size; a larger one is checked on
# SAMPLE_BLOCKS evenly spaced blocks of SAMPLE_ROWS rows, the last one its tail (where a crash
# or a zeroed tail shows), so opening a corpus larger than RAM stays cheap.
FULL_CHECK_BYTES = 64 << 20
SAMPLE_BLOCKS, SAMPLE_ROWS = 16, 1024
# |norm - 1| allowed for a stored row (float32 normalisation errs by ~1e-7).
NORM_TOLERANCE = 1e-3


def normalize(x: np.ndarray) -> np.ndarray:
    """Unit-normalize rows (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # NaN and inf rows stay non-finite, for add() to refuse
        return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def row_norms(block: np.ndarray) -> np.ndarray:
    """L2 norms (n,) of the rows of ``block`` (n, dim); NaN and overflow carry through quietly."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.linalg.norm(np.asarray(block, dtype=np.float32), axis=1)


def non_unit_rows(block: np.ndarray) -> np.ndarray:
    """Offsets of the rows of ``block`` (n, dim) that are not finite unit vectors."""
    return np.flatnonzero(~(np.abs(row_norms(block) - 1) <= NORM_TOLERANCE))


def ragged(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranges ``[starts[i], starts[i] + counts[i])`` laid end to end: ``(offsets, within)``,
    each (sum(counts),), ``within`` the place of each offset in its range."""
    counts = np.asarray(counts, dtype=np.int64)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(np.asarray(starts, dtype=np.int64), counts) + within, within


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
        uniq, counts = np.unique(ids, return_counts=True)
        if len(clash) or len(uniq) != len(ids):
            dup = clash[:5].tolist() if len(clash) else uniq[counts > 1][:5].tolist()
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

    def sample_rows(self) -> np.ndarray:
        """Sorted row numbers to check: all rows, or for a big store evenly spaced blocks ending
        with the tail."""
        n = len(self)
        if n * self.dim * 4 <= FULL_CHECK_BYTES:
            return np.arange(n)
        starts = np.linspace(0, n - SAMPLE_ROWS, SAMPLE_BLOCKS, dtype=np.int64)
        return np.unique(np.concatenate([np.arange(s, s + SAMPLE_ROWS) for s in starts]))

    def first_non_unit_row(self) -> tuple[int, float] | None:
        """``(row, norm)`` of the first sampled row that is not a finite unit vector, or None.

        NaN, zeroed and scaled rows would all give wrong scores without an error.
        """
        rows = self.sample_rows()
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS]
            bad = non_unit_rows(self.vectors(chunk))
            if len(bad):
                row = int(chunk[bad[0]])
                return row, float(row_norms(self.vectors(np.array([row])))[0])
        return None

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
        """Read a folder written by :meth:`save`; ``mmap`` maps the vectors instead of reading them.

        Every fault (a truncated or foreign ``vectors.npy``, rows that are not unit vectors, an
        ``items.jsonl`` line that is not ``{"id": int, "text": str}``, a repeated id) raises a
        ``FormatError`` naming the file (and line).
        """
        why = "not an index folder or an incomplete one"
        vec_path, items_path = require_file(folder / "vectors.npy", why), require_file(folder / "items.jsonl", why)
        vectors = _read_vectors(vec_path, dim, mmap)
        ids, texts = _read_items(items_path)
        if len(ids) != len(vectors):
            raise FormatError(f"{items_path}: {len(ids)} items but {vec_path.name} has {len(vectors)} rows")
        uniq, first = np.unique(ids, return_index=True)
        if len(uniq) != len(ids):
            dup_row = int(np.setdiff1d(np.arange(len(ids)), first)[0])
            first_row = int(np.flatnonzero(ids == ids[dup_row])[0])
            raise FormatError(f"{items_path}:{dup_row + 1}: id {int(ids[dup_row])} repeats line {first_row + 1}")
        store = cls(dim)
        store.append(ids, texts, vectors)
        bad = store.first_non_unit_row()
        if bad:
            raise FormatError(f"{vec_path}: row {bad[0]} is not a finite unit vector (norm {bad[1]:.4g}); "
                              "the file is damaged or was not written by simcse")
        return store


def _read_vectors(path: Path, dim: int, mmap: bool) -> np.ndarray:
    """``vectors.npy`` as float32 (N, dim), its size checked against its header first."""
    fmt = np.lib.format
    with open(path, "rb") as fh, _corrupt(path):
        version = fmt.read_magic(fh)
        read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"format version {version} (simcse writes 1.0)")
        shape, _, dtype = read_header(fh)
        offset = fh.tell()
    if len(shape) != 2 or shape[1] != dim or dtype != np.dtype("<f4"):
        raise FormatError(f"{path}: expected little-endian float32 of shape (N, {dim}), got {dtype} {shape}")
    expected, actual = offset + shape[0] * dim * 4, path.stat().st_size
    if actual != expected:
        raise FormatError(f"{path}: {actual} bytes, but its header describes {expected} ({shape[0]} rows); "
                          "the file is truncated or has trailing data")
    with _corrupt(path):
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def _corrupt(path: Path):
    return corrupt_if_raises(path, ValueError, EOFError, OSError, what="is not a NumPy .npy file")


def _read_items(path: Path) -> tuple[np.ndarray, list[str]]:
    """``items.jsonl``: ids (N,) int64 in [0, 2**63) and texts, each line checked."""
    ids: list[int] = []
    texts: list[str] = []
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                item = json.loads(line)  # bytes: invalid UTF-8 is a ValueError too
            except ValueError as err:
                raise FormatError(f"{path}:{lineno}: not valid JSON ({one_line(err)})") from None
            if not isinstance(item, dict) or set(item) != {"id", "text"}:
                raise FormatError(f'{path}:{lineno}: expected {{"id": int, "text": str}}, got {json_type(item)} {item!r:.60}')
            i, text = item["id"], item["text"]
            if type(i) is not int or not 0 <= i <= INT64_MAX:
                raise FormatError(f"{path}:{lineno}: id must be an integer in [0, 2**63-1], got {i!r:.40}")
            if type(text) is not str:
                raise FormatError(f"{path}:{lineno}: text must be a string, got {json_type(text)}")
            if b"\\u" in line and not _encodable(text):
                raise FormatError(f"{path}:{lineno}: text holds a lone surrogate (not valid Unicode)")
            ids.append(i)
            texts.append(text)
    return np.asarray(ids, dtype=np.int64), texts


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


__all__ = ["CHUNK_ROWS", "FULL_CHECK_BYTES", "NORM_TOLERANCE", "VectorStore", "non_unit_rows", "normalize", "ragged",
           "row_norms"]
