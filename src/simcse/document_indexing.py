"""Index folders of documents: ``simcse index build`` (documents), ``index upsert``, ``index delete``.

Documents (:mod:`simcse.documents`) are read and checked whole, cut into passages by the
model's own tokenizer (:mod:`simcse.chunking`; the index keeps ``chunk_tokens`` and
``chunk_overlap`` in its manifest, so later upserts cut the same way), the passages encoded
and stored as the index's rows, and the folder written atomically: a crash at any point
leaves the previous folder, whole, or the new one.

An upsert replaces every passage of a document whose id the index holds (the new passages
get new row ids, so no row of an old version survives) and adds the others; a delete
removes documents by id. Both rewrite the whole folder, so their cost grows with the index.
The build holds every passage vector in memory (a 10,000-document corpus is a few tens of
MB); it is not sharded over processes, nor resumable like a build from sentences.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from simcse import distributed as dist
from simcse.chunking import Span, check_chunking, chunk_texts, default_chunking
from simcse.documents import Document, document_format
from simcse.embedder import TokenizingEmbedder, index_identity
from simcse.errors import ConfigError
from simcse.index.core import SENTENCES_ONLY, Index, UpsertCounts
from simcse.index.documents import DocumentTable
from simcse.index.manifest import Manifest
from simcse.indexing import IndexBuildConfig
from simcse.settings import check_fields, setting

CHUNK_DOCUMENTS = 256  # documents tokenized at a time: bounds the memory of their offsets
DOCUMENTS_HELP = ("documents: a .jsonl file (id, text, any metadata fields), a folder of .txt/.md files (id = "
                  "relative path), or a text file (each line a document, id = its 0-based line number)")


@dataclass(frozen=True, kw_only=True)
class IndexUpsertConfig:
    """``simcse index upsert``: one field per flag (the model's flags are ``ModelOptions``)."""

    index: Path = setting(help="index folder of documents to update (rewritten atomically)", metavar="FOLDER")
    input: Path = setting(help=DOCUMENTS_HELP, metavar="PATH")
    batch_size: int = setting(64, "passages per forward pass", min=1)

    def __post_init__(self) -> None:
        check_fields(self)
        document_format(self.input)  # MissingFileError before a model is loaded for it


@dataclass(frozen=True)
class IndexDeleteConfig:
    """``simcse index delete``: one field per flag."""

    index: Path = setting(help="index folder of documents (rewritten atomically)", metavar="FOLDER")
    id: tuple[str, ...] = setting(help="id of a document to delete; repeat the flag for several", repeat="append",
                                  metavar="ID")

    def __post_init__(self) -> None:
        check_fields(self)


def _tokenizing(model: Any) -> TokenizingEmbedder:
    if not isinstance(model, TokenizingEmbedder):
        raise ConfigError(f"model {getattr(model, 'model_name', model)!r} shows no tokenizer, so it cannot cut "
                          "documents into passages")
    return model


def new_document_index(model: TokenizingEmbedder, backend: str = "exact", *, chunk_tokens: int | None = None,
                       chunk_overlap: int | None = None, **params: int) -> Index:
    """An empty index of documents for ``model``'s passages: ``chunk_tokens`` tokens each (at
    most the model's max length), ``chunk_overlap`` shared between neighbours; the defaults
    are :func:`~simcse.chunking.default_chunking`'s."""
    model = _tokenizing(model)
    tokens, overlap = default_chunking(model.max_length, chunk_tokens, chunk_overlap)
    _check_fits(model, tokens, overlap)
    return Index(model.dim, backend, **index_identity(model), documents=DocumentTable(tokens, overlap), **params)


def _check_fits(model: TokenizingEmbedder, chunk_tokens: int, chunk_overlap: int) -> None:
    if chunk_tokens > model.max_length:
        raise ConfigError(f"chunk_tokens {chunk_tokens} is more than the model's max length {model.max_length}, so "
                          "passages would be truncated; lower --chunk-tokens or raise --max-length")
    check_chunking(model.tokenizer, chunk_tokens, chunk_overlap)


def split_documents(model: TokenizingEmbedder, documents: Sequence[Document], chunk_tokens: int,
                    chunk_overlap: int) -> list[list[Span]]:
    """The passages of each document, cut by ``model``'s tokenizer (:func:`simcse.chunking.chunk_texts`)."""
    model = _tokenizing(model)
    _check_fits(model, chunk_tokens, chunk_overlap)
    spans: list[list[Span]] = []
    for start in range(0, len(documents), CHUNK_DOCUMENTS):
        texts = [d.text for d in documents[start : start + CHUNK_DOCUMENTS]]
        spans.extend(chunk_texts(texts, model.tokenizer, chunk_tokens, chunk_overlap))
    return spans


def passage_texts(documents: Sequence[Document], spans: Sequence[Sequence[Span]]) -> list[str]:
    """The texts of all passages, document by document: the rows an upsert adds, in order."""
    return [d.text[s.start : s.end] for d, doc_spans in zip(documents, spans) for s in doc_spans]


def upsert_documents(index: Index, model: TokenizingEmbedder, documents: Sequence[Document], batch_size: int = 64,
                     show_progress: bool = False) -> UpsertCounts:
    """Cut ``documents`` as the index was cut, encode the passages and upsert them into
    ``index`` in memory (:meth:`Index.upsert_documents`); save it to keep the change."""
    table = index.require_documents()
    spans = split_documents(model, documents, table.chunk_tokens, table.chunk_overlap)
    vectors = model.encode(passage_texts(documents, spans), batch_size=batch_size, normalize=True,
                           show_progress=show_progress)
    return index.upsert_documents(documents, spans, vectors)


def build_document_index(model: TokenizingEmbedder, cfg: IndexBuildConfig, documents: Sequence[Document],
                         show_progress: bool = True) -> Index:
    """Cut, encode and index ``documents`` (read from ``cfg.input`` with :func:`read_documents`,
    before the model is loaded, so a bad record costs no model) and write ``cfg.out``."""
    if dist.world_size() > 1:
        raise ConfigError("an index of documents is built by one process; run it without torchrun")
    index = new_document_index(model, cfg.backend, chunk_tokens=cfg.chunk_tokens, chunk_overlap=cfg.chunk_overlap,
                               **cfg.params())
    upsert_documents(index, model, documents, cfg.batch_size, show_progress)
    index.save(cfg.out)
    return index


def require_document_folder(folder: str | os.PathLike) -> None:
    """Refuse (``ConfigError``) an index folder of sentences, from its manifest alone (before a
    model is loaded for it)."""
    if Manifest.read(Path(folder)).chunk_tokens is None:
        raise ConfigError(f"{folder}: {SENTENCES_ONLY}")


def upsert_file(index: Index, model: TokenizingEmbedder, cfg: IndexUpsertConfig, documents: Sequence[Document],
                show_progress: bool = True) -> UpsertCounts:
    """Upsert ``documents`` (read from ``cfg.input``) into ``index`` (the folder ``cfg.index``,
    opened with its model) and rewrite the folder."""
    counts = upsert_documents(index, model, documents, cfg.batch_size, show_progress)
    index.save(cfg.index)
    return counts


def delete_from_folder(cfg: IndexDeleteConfig) -> tuple[int, Index]:
    """Delete the documents ``cfg.id`` from the index folder ``cfg.index`` and rewrite it;
    returns the passages removed and the index. No model is loaded."""
    index = Index.load(cfg.index)
    removed = index.delete_documents(cfg.id)
    index.save(cfg.index)
    return removed, index


__all__ = ["CHUNK_DOCUMENTS", "DOCUMENTS_HELP", "IndexDeleteConfig", "IndexUpsertConfig", "build_document_index",
           "delete_from_folder", "new_document_index", "passage_texts", "require_document_folder", "split_documents",
           "upsert_documents", "upsert_file"]
