"""Documents to index: an id, a text and metadata, read from one of three kinds of input.

=========  ===============================================================================
format     what it is
=========  ===============================================================================
jsonl      a ``.jsonl`` file, one object per line: ``id`` (a string, or an integer read as
           its decimal string), ``text``, and any other fields, kept as the document's
           metadata and returned with it by search (``title`` is shown by the demo page)
folder     a folder of ``.txt`` and ``.md`` files, found recursively; the id is the path
           relative to the folder (``manual/setup.md``), the text the whole file
lines      any other file: each line is a document whose id is its 0-based line number,
           as ``simcse index build`` numbers the lines of a file of sentences
=========  ===============================================================================

:func:`read_documents` reads and checks the whole input before anything is encoded. A bad
record stops it with :class:`~simcse.errors.DataError` ``file:line: ...``: a line that is
not a JSON object, a missing or empty id or text, a repeated id, a byte that is not UTF-8,
a control character or a lone surrogate, metadata that is not JSON (``NaN``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from simcse.errors import DataError, MissingFileError
from simcse.textfile import iter_lines
from simcse.text_checks import check_metadata, check_text

FOLDER_SUFFIXES = (".txt", ".md")  # the files a folder of documents contributes
RESERVED = ("id", "text")  # the fields of a .jsonl record that are not metadata


@dataclass(frozen=True)
class Document:
    """One document: ``id`` unique within an index, ``text`` to cut into passages, and
    ``metadata`` (JSON values) returned with it and matched by search filters."""

    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


def check_document(doc_id: object, text: object, metadata: object, where: str) -> Document:
    """A :class:`Document` from parsed values, each checked; a fault is a :class:`DataError`
    naming ``where`` and the field."""
    if type(doc_id) is int:
        doc_id = str(doc_id)
    if not isinstance(doc_id, str):
        raise DataError(f"{where}: id must be a string or an integer, got {type(doc_id).__name__}")
    check_text(doc_id, f"{where}: id")
    if not isinstance(text, str):
        raise DataError(f"{where}: text must be a string, got {type(text).__name__}")
    check_text(text, f"{where}: text")
    if not isinstance(metadata, dict):
        raise DataError(f"{where}: metadata must be an object, got {type(metadata).__name__}")
    return Document(doc_id, text, check_metadata(metadata, f"{where}: metadata"))


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_jsonl(path: Path) -> Iterator[tuple[str, Document]]:
    """``(where, document)`` per non-blank line of a ``.jsonl`` file."""
    for lineno, line in iter_lines(path):  # a bad byte: file:line: not valid UTF-8
        where = f"{path}:{lineno}"
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_not_json)
        except ValueError as err:
            raise DataError(f"{where}: not valid JSON ({' '.join(str(err).split())})") from None
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object with id and text, got {type(record).__name__}")
        missing = [name for name in RESERVED if name not in record]
        if missing:
            raise DataError(f"{where}: missing field {' and '.join(map(repr, missing))}")
        metadata = {k: v for k, v in record.items() if k not in RESERVED}
        yield where, check_document(record["id"], record["text"], metadata, where)


def read_folder(folder: Path) -> Iterator[tuple[str, Document]]:
    """``(where, document)`` per ``.txt``/``.md`` file below ``folder``, in path order."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in FOLDER_SUFFIXES and p.is_file())
    for path in files:
        lines = []
        for lineno, line in iter_lines(path):
            if line.strip():
                check_text(line, f"{path}:{lineno}")
            lines.append(line)
        if not "".join(lines).strip():
            raise DataError(f"{path}:1: empty document (nothing but whitespace)")
        yield f"{path}:1", Document(path.relative_to(folder).as_posix(), "\n".join(lines))


def read_lines(path: Path) -> Iterator[tuple[str, Document]]:
    """``(where, document)`` per line of a text file; the id is the 0-based line number."""
    for lineno, line in iter_lines(path):
        where = f"{path}:{lineno}"
        yield where, check_document(str(lineno - 1), line, {}, where)


# format name -> reader; document_format() picks one from the path.
DOCUMENT_FORMATS: dict[str, Callable[[Path], Iterator[tuple[str, Document]]]] = {
    "jsonl": read_jsonl, "folder": read_folder, "lines": read_lines,
}


def document_format(path: str | os.PathLike) -> str:
    """The key of :data:`DOCUMENT_FORMATS` for ``path``: a folder, a ``.jsonl`` file, or lines."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file or folder")
    return "jsonl" if path.suffix.lower() == ".jsonl" else "lines"


def read_documents(path: str | os.PathLike) -> list[Document]:
    """Every document of ``path`` (any of :data:`DOCUMENT_FORMATS`), checked whole, in input order."""
    path = Path(path)
    seen: dict[str, str] = {}
    documents = []
    for where, doc in DOCUMENT_FORMATS[document_format(path)](path):
        if doc.id in seen:
            raise DataError(f"{where}: id {doc.id!r} repeats {seen[doc.id]}")
        seen[doc.id] = where
        documents.append(doc)
    if not documents:
        raise DataError(f"{path}: no documents")
    return documents


__all__ = ["DOCUMENT_FORMATS", "FOLDER_SUFFIXES", "RESERVED", "Document", "check_document", "document_format",
           "read_documents", "read_folder", "read_jsonl", "read_lines"]
