"""The documents of an index: each one's id, text, metadata and passages (``documents.jsonl``).

An index of documents stores their passages as its rows: ``items.jsonl`` holds each
passage's text, ``vectors.npy`` its vector. ``documents.jsonl`` says which rows make up
which document, one line per document::

    {"id": "manual/setup.md", "text": "...", "metadata": {"title": "Setup"},
     "passages": [[17, 0, 412], [18, 380, 790]]}

``passages`` lists ``[row id, start, end]`` in document order (a passage's position is its
place in the list); ``text[start:end]`` is that row's text in ``items.jsonl``. The file is
optional: a folder without it (every folder written before documents existed) holds
sentences. When present it is checked against the rows on load (every row in exactly one
document, spans inside the text and equal to the stored passage); a fault is a
:class:`~simcse.errors.FormatError` naming the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from simcse.artefacts import INT64_MAX, json_type, one_line
from simcse.errors import DataError, FormatError
from simcse.index.store import VectorStore, ragged
from simcse.text_checks import check_metadata, check_text

FILE_NAME = "documents.jsonl"
FIELDS = ("id", "text", "metadata", "passages")


def matches(metadata: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` has every field of ``where`` with an equal value.

    Values compare as JSON: of the same type and equal (``1`` is not ``true``, ``"1"`` is not
    ``1``), except that a string asked for also matches a number, boolean or null spelled so
    in JSON (``--where year=2020`` matches ``"year": 2020``, ``draft=true`` ``"draft": true``).
    """
    for key, want in where.items():
        if key not in metadata:
            return False
        have = metadata[key]
        same = have == want and (isinstance(have, bool) == isinstance(want, bool)) and (
            isinstance(have, str) == isinstance(want, str))
        if not same and not (isinstance(want, str) and not isinstance(have, (str, dict, list))
                             and json.dumps(have) == want):
            return False
    return True


class DocRecord(NamedTuple):
    """One document as the index keeps it."""

    text: str
    metadata: dict[str, Any]
    pids: np.ndarray  # (P,) int64 row ids of its passages, in document order
    spans: np.ndarray  # (P, 2) int64 [start, end) of each passage in ``text``


class _Layout(NamedTuple):
    """Every passage of every document, flat, for lookups by row id (rebuilt after a change)."""

    ids: list[str]  # (D) document id per slot
    first: np.ndarray  # (D + 1,) offset of each slot's first passage in the flat arrays
    pids: np.ndarray  # (P,) row ids, slot by slot
    spans: np.ndarray  # (P, 2)
    sorted_pids: np.ndarray  # (P,) pids, sorted
    order: np.ndarray  # (P,) flat offset of each sorted pid
    owner: np.ndarray  # (P,) slot of each flat offset


class DocumentTable:
    """The documents of an index and how they were cut (``chunk_tokens``, ``chunk_overlap``).

    Search sees it through slots: 0..D-1, one per document in table order (see
    :class:`simcse.index.grouping.DocumentView`).
    """

    def __init__(self, chunk_tokens: int, chunk_overlap: int) -> None:
        self.chunk_tokens, self.chunk_overlap = chunk_tokens, chunk_overlap
        self.records: dict[str, DocRecord] = {}
        self._layout: _Layout | None = None

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.records

    def put(self, doc_id: str, text: str, metadata: Mapping[str, Any], pids: np.ndarray, spans: np.ndarray) -> None:
        """Add a document that is not in the table, with its passages' row ids and spans."""
        assert doc_id not in self.records and len(pids) == len(spans) > 0, doc_id
        self.records[doc_id] = DocRecord(text, dict(metadata), np.asarray(pids, np.int64),
                                         np.asarray(spans, np.int64).reshape(-1, 2))
        self._layout = None

    def pop(self, doc_id: str) -> DocRecord:
        self._layout = None
        return self.records.pop(doc_id)

    def passage_ids(self, doc_ids: Sequence[str]) -> np.ndarray:
        """Row ids (int64) of the passages of ``doc_ids`` (each must be in the table)."""
        parts = [self.records[d].pids for d in doc_ids]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def unknown(self, doc_ids: Sequence[str]) -> list[str]:
        """The ids of ``doc_ids`` that are not in the table."""
        return [d for d in doc_ids if d not in self.records]

    # -- the DocumentView of search -------------------------------------------------------

    def layout(self) -> _Layout:
        if self._layout is None:
            ids = list(self.records)
            counts = np.array([len(r.pids) for r in self.records.values()], dtype=np.int64)
            pids = np.concatenate([r.pids for r in self.records.values()]) if ids else np.zeros(0, np.int64)
            spans = np.concatenate([r.spans for r in self.records.values()]) if ids else np.zeros((0, 2), np.int64)
            order = np.argsort(pids, kind="stable")
            self._layout = _Layout(ids, np.concatenate([[0], np.cumsum(counts)]), pids, spans, pids[order], order,
                                   np.repeat(np.arange(len(ids)), counts))
        return self._layout

    @property
    def n_slots(self) -> int:
        return len(self.records)

    def slots_of(self, pids: np.ndarray) -> np.ndarray:
        """The slot of each row id in ``pids``; -1 for ids of no document."""
        lay = self.layout()
        if not len(lay.pids):
            return np.full(np.shape(pids), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(lay.sorted_pids, pids), 0, len(lay.pids) - 1)
        return np.where(lay.sorted_pids[pos] == pids, lay.owner[lay.order[pos]], -1)

    def passages_of(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every passage of ``slots`` (S,): ``(pids, owner slots, positions)``, each (P,)."""
        lay = self.layout()
        counts = lay.first[slots + 1] - lay.first[slots]
        flat, position = ragged(lay.first[slots], counts)
        return lay.pids[flat], np.repeat(slots, counts), position

    def count_passages(self, slots: np.ndarray) -> int:
        lay = self.layout()
        return int((lay.first[slots + 1] - lay.first[slots]).sum())

    def allowed_slots(self, where: Mapping[str, Any]) -> np.ndarray:
        """Slots (sorted) of the documents whose metadata :func:`matches` ``where``."""
        return np.array([s for s, r in enumerate(self.records.values()) if matches(r.metadata, where)], np.int64)

    def document(self, slot: int) -> tuple[str, dict[str, Any]]:
        doc_id = self.layout().ids[slot]
        return doc_id, self.records[doc_id].metadata

    def spans(self, slots: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``[start, end)`` (P, 2) of the passages at ``positions`` (P,) of ``slots`` (P,)."""
        lay = self.layout()
        return lay.spans[lay.first[slots] + positions]

    # -- files ----------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write ``documents.jsonl`` into ``folder``, one document per line in table order."""
        with open(folder / FILE_NAME, "w", encoding="utf-8") as fh:
            for doc_id, rec in self.records.items():
                passages = np.column_stack([rec.pids, rec.spans]).tolist()
                line = {"id": doc_id, "text": rec.text, "metadata": rec.metadata, "passages": passages}
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    @classmethod
    def read(cls, folder: Path, store: VectorStore, chunk_tokens: int | None, chunk_overlap: int | None
             ) -> "DocumentTable | None":
        """The table of an index folder whose rows are ``store``: None for an index of sentences
        (no chunk settings in its manifest, and no ``documents.jsonl``); every fault a FormatError."""
        path = folder / FILE_NAME
        if chunk_tokens is None or chunk_overlap is None:
            if path.exists():
                raise FormatError(f"{path}: present, but manifest.json has no chunk_tokens and chunk_overlap "
                                  "(an index of sentences); the folder was altered by hand")
            return None
        if not path.is_file():
            raise FormatError(f"{path}: missing; manifest.json says the index holds documents")
        table, claimed = cls(chunk_tokens, chunk_overlap), set()
        with open(path, "rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                _read_line(table, store, claimed, line, f"{path}:{lineno}")
        passages = sum(len(r.pids) for r in table.records.values())
        if passages != len(store):
            raise FormatError(f"{path}: its documents have {passages} passages, items.jsonl has {len(store)} rows")
        return table


def _read_line(table: DocumentTable, store: VectorStore, claimed: set[int], line: bytes, where: str) -> None:
    """Check one line of ``documents.jsonl`` against the rows (``claimed``: the row ids of the
    lines before) and add its document to ``table``."""
    try:
        item = json.loads(line, parse_constant=lambda name: float("nan"))
    except ValueError as err:
        raise FormatError(f"{where}: not valid JSON ({one_line(err)})") from None
    if not isinstance(item, dict) or set(item) != set(FIELDS):
        raise FormatError(f"{where}: expected an object with fields {', '.join(FIELDS)}, got {json_type(item)} "
                          f"{sorted(item) if isinstance(item, dict) else ''}")
    doc_id, text, metadata, passages = (item[name] for name in FIELDS)
    try:
        check_text(doc_id, f"{where}: id")
        check_text(text, f"{where}: text")
        if not isinstance(metadata, dict):
            raise DataError(f"{where}: metadata must be an object, got {json_type(metadata)}")
        check_metadata(metadata, f"{where}: metadata")
    except DataError as err:
        raise FormatError(str(err)) from None
    if doc_id in table:
        raise FormatError(f"{where}: document id {doc_id!r} repeats an earlier line")
    try:
        rows = np.asarray(passages if isinstance(passages, list) else [])
    except ValueError:  # ragged lists
        rows = np.zeros(0)
    if not len(rows) or rows.dtype.kind != "i" or rows.shape[1:] != (3,) or rows.min() < 0 or rows.max() > INT64_MAX:
        raise FormatError(f"{where}: passages must be a non-empty list of [row id, start, end] integers")
    pids, spans = rows[:, 0].astype(np.int64), rows[:, 1:].astype(np.int64)
    bad = np.flatnonzero((spans[:, 0] >= spans[:, 1]) | (spans[:, 1] > len(text)))
    if len(bad):
        raise FormatError(f"{where}: passage {int(bad[0])} spans {spans[bad[0]].tolist()}, outside the text's "
                          f"{len(text)} characters")
    found = store.rows_for(pids)
    for k, (row, (start, end)) in enumerate(zip(found.tolist(), spans.tolist())):
        if row < 0:
            raise FormatError(f"{where}: passage {k} has row id {int(pids[k])}, which items.jsonl does not hold")
        if store.texts[row] != text[start:end]:
            raise FormatError(f"{where}: passage {k} (row id {int(pids[k])}) differs from its text in items.jsonl")
    if len(np.unique(pids)) != len(pids) or not claimed.isdisjoint(pids.tolist()):
        raise FormatError(f"{where}: a row id of its passages belongs to another passage too")
    claimed.update(pids.tolist())
    table.put(doc_id, text, metadata, pids, spans)


__all__ = ["FIELDS", "FILE_NAME", "DocRecord", "DocumentTable", "matches"]
