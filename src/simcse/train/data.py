"""Training data: one tokenization pass into flat int32 token storage, and the batches.

Rows come from :mod:`simcse.train.readers`. Tokenized sentences are stored as one flat int32
array per column plus int64 offsets, so a million sentences cost ~4 bytes a token, not a
Python string each. The batch order is a permutation fixed by (seed, epoch), so a resumed
run sees the same batches without saving them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from simcse.encoder import right_pad
from simcse.errors import DataError
from simcse.train.readers import ReadStats, Row, Schema, read_rows

TOKENIZE_CHUNK = 4096  # sentences per tokenizer call


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


def _gather(col: TokenColumn, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tokens of sentences ``rows`` of ``col``, concatenated, and each one's length, in
    one indexing of the flat ids."""
    starts, lengths = col.offsets[rows], col.offsets[rows + 1] - col.offsets[rows]
    begins = np.cumsum(lengths) - lengths  # where each sentence begins in the concatenation
    return col.ids[np.repeat(starts - begins, lengths) + np.arange(int(lengths.sum()))], lengths


def collate(data: TrainingSet, rows: np.ndarray, pad_id: int, with_token_types: bool, width: int = 0) -> dict[str, Tensor]:
    """Rows -> one encoder batch of ``views * B`` sentences (view-major: all first views, then
    all second views, ...), right-padded to the longest, or to ``width`` (static shapes).
    Unsupervised rows appear twice.

    Vectorised (a GPU step waits for it): one gather per column, one :func:`right_pad`."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = data.columns if len(data.columns) > 1 else (data.columns[0], data.columns[0])
    tokens, lengths = zip(*(_gather(col, rows) for col in cols))
    input_ids, real = right_pad(np.concatenate(tokens), np.concatenate(lengths), pad_id, width)
    batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(real.astype(np.int64))}
    if with_token_types:
        batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    return batch


__all__ = ["TokenColumn", "TrainingSet", "batch_order", "collate", "epoch_batches", "shard_rows", "tokenize_file",
           "total_steps"]
