"""Training data: declared-schema readers, one tokenization pass, flat int32 token storage.

Formats (chosen by file suffix through :data:`READERS`):

* ``.txt``: one sentence per line -> unsupervised SimCSE (each sentence is its own positive).
* ``.csv`` / ``.tsv``: a header row naming the columns; ``Schema.sent0`` and ``Schema.sent1``
  (and ``Schema.hard_neg`` when declared) must be among them. Extra columns are ignored.
* ``.jsonl``: one JSON object per line with the declared keys.

The schema is declared by the caller, never guessed from the number of columns. A bad row
(missing column, empty text, undecodable bytes, a line that is not JSON) raises
:class:`~simcse.textfile.DataError` naming file, line and field, or is skipped and counted
with ``skip_bad_rows=True``.

Tokenized sentences are stored as one flat int32 array per column plus int64 offsets, so
a million sentences cost ~4 bytes a token, not a Python string each.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from simcse.errors import DataError, MissingFileError

log = logging.getLogger(__name__)

Row = tuple[str, ...]
TOKENIZE_CHUNK = 4096  # sentences per tokenizer call


@dataclass(frozen=True)
class Schema:
    """Which columns (CSV/TSV header names, JSONL keys) hold the texts. ``.txt`` ignores it.

    sent1=None trains unsupervised on the ``sent0`` column; hard_neg=None means pairs.
    """

    sent0: str = "sent0"
    sent1: str | None = "sent1"
    hard_neg: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.sent0, self.sent1, self.hard_neg) if c is not None)

    @property
    def fields(self) -> tuple[str, ...]:
        names = ("sent0", "sent1", "hard_neg")
        return tuple(n for n, c in zip(names, (self.sent0, self.sent1, self.hard_neg)) if c is not None)


@dataclass
class ReadStats:
    """Rows read and rows skipped (with the first few reasons) by a reader."""

    rows: int = 0
    skipped: int = 0
    examples: list[str] = field(default_factory=list)

    def bad(self, message: str, skip: bool) -> None:
        if not skip:
            raise DataError(message)
        self.skipped += 1
        if len(self.examples) < 5:
            self.examples.append(message)


def _decoded_lines(path: Path, stats: ReadStats, skip: bool) -> Iterator[tuple[int, str]]:
    """(line number, text without newline); undecodable lines are bad rows."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                stats.bad(f"{path}:{lineno}: not valid UTF-8 (byte {err.start})", skip)
                continue
            if lineno == 1:
                text = text.removeprefix("\ufeff")
            yield lineno, text.rstrip("\r\n")


def read_txt(path: Path, schema: Schema, stats: ReadStats, skip: bool) -> Iterator[Row]:
    for lineno, text in _decoded_lines(path, stats, skip):
        if not text.strip():
            stats.bad(f"{path}:{lineno}: field 'sent0': empty text", skip)
            continue
        stats.rows += 1
        yield (text,)


def _check_texts(path: Path, lineno: int, schema: Schema, values: list[object], stats: ReadStats, skip: bool) -> Row | None:
    for name, column, value in zip(schema.fields, schema.columns, values):
        if value is None:
            stats.bad(f"{path}:{lineno}: field {name!r} (column {column!r}) is missing", skip)
            return None
        if not isinstance(value, str):
            stats.bad(f"{path}:{lineno}: field {name!r} (column {column!r}) is {type(value).__name__}, not text", skip)
            return None
        if not value.strip():
            stats.bad(f"{path}:{lineno}: field {name!r} (column {column!r}) is empty", skip)
            return None
    stats.rows += 1
    return tuple(values)  # type: ignore[arg-type]


def _read_delimited(path: Path, schema: Schema, stats: ReadStats, skip: bool, delimiter: str) -> Iterator[Row]:
    where = {"line": 0}

    def feed() -> Iterator[str]:
        for lineno, text in _decoded_lines(path, stats, skip):
            where["line"] = lineno
            yield text + "\n"

    reader = csv.reader(feed(), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path}:1: empty file, expected a header row naming the columns")
    missing = [c for c in schema.columns if c not in header]
    if missing:
        raise DataError(f"{path}:{where['line']}: header has no column {missing[0]!r}; columns: {header}")
    index = [header.index(c) for c in schema.columns]
    for row in reader:
        if not row:  # a blank line
            stats.bad(f"{path}:{where['line']}: blank line, expected {len(header)} columns", skip)
            continue
        values = [row[i] if i < len(row) else None for i in index]
        checked = _check_texts(path, where["line"], schema, values, stats, skip)
        if checked is not None:
            yield checked


def read_csv(path: Path, schema: Schema, stats: ReadStats, skip: bool) -> Iterator[Row]:
    return _read_delimited(path, schema, stats, skip, ",")


def read_tsv(path: Path, schema: Schema, stats: ReadStats, skip: bool) -> Iterator[Row]:
    return _read_delimited(path, schema, stats, skip, "\t")


def read_jsonl(path: Path, schema: Schema, stats: ReadStats, skip: bool) -> Iterator[Row]:
    for lineno, text in _decoded_lines(path, stats, skip):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            stats.bad(f"{path}:{lineno}: not JSON ({err.msg} at column {err.colno})", skip)
            continue
        if not isinstance(obj, dict):
            stats.bad(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}", skip)
            continue
        checked = _check_texts(path, lineno, schema, [obj.get(c) for c in schema.columns], stats, skip)
        if checked is not None:
            yield checked


Reader = Callable[[Path, Schema, ReadStats, bool], Iterator[Row]]
READERS: dict[str, Reader] = {".txt": read_txt, ".csv": read_csv, ".tsv": read_tsv, ".jsonl": read_jsonl}


def read_rows(path: str | os.PathLike, schema: Schema, stats: ReadStats | None = None, skip_bad_rows: bool = False) -> Iterator[Row]:
    """Yield one tuple of texts per good row: (s,) for .txt or (sent0, sent1[, hard_neg])."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"{path}: unknown training file type {path.suffix!r}; valid: {', '.join(READERS)}")
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    return reader(path, schema, stats if stats is not None else ReadStats(), skip_bad_rows)


@dataclass(frozen=True)
class TokenColumn:
    """N tokenized sentences: sentence i is ``ids[offsets[i]:offsets[i + 1]]``."""

    ids: np.ndarray  # (total_tokens,) int32
    offsets: np.ndarray  # (N + 1,) int64

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def get(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]


@dataclass(frozen=True)
class TrainingSet:
    """Tokenized training rows: ``views`` columns (1 = unsupervised, 2 = pairs, 3 = triplets)."""

    columns: tuple[TokenColumn, ...]
    stats: ReadStats

    def __len__(self) -> int:
        return len(self.columns[0])

    @property
    def views(self) -> int:
        """Sentences per example fed to the encoder: 2 (unsupervised: the same one twice) or 3."""
        return max(2, len(self.columns))

    def fingerprint(self) -> str:
        """A short hash of the tokenized rows: a resumed run must train on the same data."""
        digest = hashlib.sha256()
        for col in self.columns:
            digest.update(col.offsets.tobytes())
            digest.update(col.ids.tobytes())
        return digest.hexdigest()[:16]


def tokenize_file(
    path: str | os.PathLike, tokenizer, max_length: int, schema: Schema = Schema(),
    skip_bad_rows: bool = False, max_rows: int = 0,
) -> TrainingSet:
    """Read ``path`` once, tokenizing in chunks (truncation at ``max_length``, special tokens added)."""
    stats = ReadStats()
    n_cols = 1 if Path(path).suffix.lower() == ".txt" else len(schema.columns)
    ids: list[list[np.ndarray]] = [[] for _ in range(n_cols)]
    lengths: list[list[np.ndarray]] = [[] for _ in range(n_cols)]
    chunk: list[Row] = []

    def flush() -> None:
        for c in range(n_cols):
            enc = tokenizer([r[c] for r in chunk], truncation=True, max_length=max_length, padding=False)["input_ids"]
            lengths[c].append(np.fromiter((len(x) for x in enc), dtype=np.int64, count=len(enc)))
            ids[c].append(np.fromiter((t for x in enc for t in x), dtype=np.int32))
        chunk.clear()

    for row in read_rows(path, schema, stats, skip_bad_rows):
        chunk.append(row)
        if len(chunk) == TOKENIZE_CHUNK:
            flush()
        if max_rows and stats.rows >= max_rows:
            break
    if chunk:
        flush()
    if stats.rows == 0:
        raise DataError(f"{path}: no usable rows ({stats.skipped} skipped)")
    columns = tuple(
        TokenColumn(np.concatenate(ids[c]), np.concatenate([[0], np.cumsum(np.concatenate(lengths[c]))]))
        for c in range(n_cols)
    )
    return TrainingSet(columns, stats)


def training_file(name: str, root: Path, allow_prefix_copy: bool) -> Path:
    """Resolve a training file by path or by name under ``<root>/training/``; an official file
    (``simcse.download.TRAINING_FILES``) missing there is downloaded first."""
    from simcse.download import TRAINING_FILES, download, find_training_file

    found = find_training_file(name, root, allow_prefix_copy=allow_prefix_copy)
    if found is None and name in TRAINING_FILES:
        log.info("%s not in %s/training: downloading it", name, root)
        download(TRAINING_FILES[name], root)
        found = root / "training" / name
    if found is None:
        raise MissingFileError(f"training file not found: {name} (also looked in {root / 'training'})")
    if found.name != name and Path(name).name == name:
        log.warning("using %s for %s (a prefix copy)", found, name)
    return found


def batch_order(n: int, batch_size: int, seed: int, epoch: int, drop_last: bool) -> list[np.ndarray]:
    """The epoch's batches of row indices: a permutation fixed by (seed, epoch), so a resumed
    run sees the same batches without saving them."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    stop = n - n % batch_size if drop_last else n
    return [perm[i : i + batch_size] for i in range(0, stop, batch_size)]


def total_steps(n: int, batch_size: int, epochs: int, max_steps: int, world: int) -> int:
    """Optimizer steps of a run: every batch of every epoch, or ``max_steps`` if fewer."""
    per_epoch = len(batch_order(n, batch_size, 0, 0, drop_last=world > 1))
    return min(max_steps or per_epoch * epochs, per_epoch * epochs)


def epoch_batches(n: int, batch_size: int, seed: int, epochs: int, world: int,
                  start: tuple[int, int] = (0, 0)) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(epoch, index, rows)`` for every batch from position ``start`` = (epoch, batches done
    in it) on. With several processes the last partial batch is dropped, so every process
    takes the same number of rows from each batch."""
    first_epoch, first_index = start
    for epoch in range(first_epoch, epochs):
        batches = batch_order(n, batch_size, seed, epoch, drop_last=world > 1)
        for index in range(first_index if epoch == first_epoch else 0, len(batches)):
            yield epoch, index, batches[index]


def shard_rows(rows: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This process's contiguous share of a batch's rows (rank order = gather order)."""
    return rows[rank * len(rows) // world : (rank + 1) * len(rows) // world]


def to_device(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """Move a CPU batch to ``device``; on CUDA through page-locked memory, so the copy does
    not wait for the GPU."""
    if device.type == "cuda":
        batch = {k: v.pin_memory() for k, v in batch.items()}
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def collate(data: TrainingSet, rows: np.ndarray, pad_id: int, with_token_types: bool, width: int = 0) -> dict[str, Tensor]:
    """Rows -> one encoder batch of ``views * B`` sentences (view-major: all first views, then
    all second views, ...), right-padded to the longest, or to ``width`` (static shapes).
    Unsupervised rows appear twice."""
    cols = data.columns if len(data.columns) > 1 else (data.columns[0], data.columns[0])
    seqs = [col.get(int(i)) for col in cols for i in rows]
    width = width or max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        input_ids[r, : len(s)] = torch.from_numpy(s.astype(np.int64))
        mask[r, : len(s)] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask}
    if with_token_types:
        batch["token_type_ids"] = torch.zeros_like(input_ids)
    return batch


__all__ = ["READERS", "ReadStats", "Schema", "TokenColumn", "TrainingSet", "batch_order", "collate", "epoch_batches",
           "read_rows", "shard_rows", "to_device", "tokenize_file", "total_steps", "training_file"]
