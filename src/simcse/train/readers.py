"""Reading training files: declared-schema readers, with errors that name file, line and field.

Formats (chosen by file suffix through :data:`READERS`):

* ``.txt``: one sentence per line -> unsupervised SimCSE (each sentence is its own positive).
* ``.csv`` / ``.tsv``: a header row naming the columns; ``Schema.sent0`` and ``Schema.sent1``
  (and ``Schema.hard_neg`` when declared) must be among them. Extra columns are ignored.
* ``.jsonl``: one JSON object per line with the declared keys.

The schema is declared by the caller, never guessed from the number of columns. A bad row
(missing column, empty text, undecodable bytes, a line that is not JSON) raises
:class:`~simcse.errors.DataError` naming file, line and field, or is skipped and counted
with ``skip_bad_rows=True``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from simcse.errors import DataError, MissingFileError

log = logging.getLogger(__name__)

Row = tuple[str, ...]
# The default column names (CSV/TSV header, JSONL keys): SimCSE's own NLI file's.
SENT0, SENT1, HARD_NEG = "sent0", "sent1", "hard_neg"


@dataclass(frozen=True)
class Schema:
    """Which columns (CSV/TSV header names, JSONL keys) hold the texts. ``.txt`` ignores it.

    sent1=None trains unsupervised on the ``sent0`` column; hard_neg=None means pairs.
    """

    sent0: str = SENT0
    sent1: str | None = SENT1
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


__all__ = ["HARD_NEG", "READERS", "SENT0", "SENT1", "ReadStats", "Row", "Schema", "read_rows", "training_file"]
