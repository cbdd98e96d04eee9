"""The routes of an index of documents: ``/search`` by document, ``POST /documents``, ``DELETE /documents/{id}``.

``POST /documents {"documents": [{"id", "text", "metadata"}]}`` adds documents, replacing
those whose id the index holds; ``DELETE /documents/{id}`` removes one (404 when the index
has no such id). Both are POSTs for the API key (checked before the body is read) and
body-size guard, like every other route; at most ``max_texts`` documents of
``max_document_chars`` characters each per request. The documents are cut and encoded
outside the index's lock; the index changes, and the folder is rewritten atomically, under
it, so a search sees the old version or the new one, never a mix.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, HTTPException

from simcse.document_indexing import passage_texts, split_documents
from simcse.documents import check_document
from simcse.embedder import Embedder, TokenizingEmbedder
from simcse.errors import ConfigError, DataError
from simcse.index import DocumentHit, Index, normalize
from simcse.serve.batching import EncodeBatcher
from simcse.serve.config import ServeConfig
from simcse.serve.schemas import (
    DeleteResponse, DocumentOut, DocumentsRequest, DocumentsResponse, PassageOut, SearchRequest,
)

CONTEXT_CHARS = 100  # characters of the document shown before and after a passage


def documents_out(index: Index, hits: list[DocumentHit]) -> list[DocumentOut]:
    """Hits as the response shows them, each passage with some of its document around it.
    Call under the index's lock (the documents' texts are read)."""
    table = index.documents
    out = []
    for doc in hits:
        text = table.records[doc.id].text if table is not None else doc.passages[0].text  # a sentence: itself
        passages = [PassageOut(**p._asdict(), before=text[max(0, p.start - CONTEXT_CHARS) : p.start],
                               after=text[p.end : p.end + CONTEXT_CHARS]) for p in doc.passages]
        out.append(DocumentOut(id=doc.id, score=doc.score, chars=len(text), metadata=doc.metadata, passages=passages))
    return out


def search_documents(index: Index, emb: Any, req: SearchRequest) -> list[list[DocumentOut]]:
    """``/search`` with ``group_by_document``; call under the index's lock."""
    try:
        found = index.search_documents(emb, top_k=req.top_k, threshold=req.threshold, aggregate=req.aggregate,
                                       top_m=req.top_m, where=req.where)
    except ConfigError as err:  # an unknown aggregate
        raise HTTPException(422, f"aggregate: {err}") from None
    return [documents_out(index, hits) for hits in found]


def add_document_routes(app: FastAPI, model: Embedder, index: Index | None, config: ServeConfig,
                        batcher: EncodeBatcher, lock: threading.Lock, folder: Path | None, guarded: list) -> None:
    """Register ``POST /documents`` and ``DELETE /documents/{id}``; ``folder``: where changes
    are saved (None: kept in memory only)."""

    def require() -> Index:
        if index is None:
            raise HTTPException(400, "no index loaded: start the server with --index FOLDER")
        if index.documents is None:
            raise HTTPException(400, "the index holds sentences, not documents; build one from documents "
                                "(simcse index build --input docs.jsonl)")
        if not isinstance(model, TokenizingEmbedder):
            raise HTTPException(400, f"model {model.model_name!r} shows no tokenizer to cut documents with")
        return index

    def change(apply: Callable[[Index], Any]) -> Any:
        with lock:
            result = apply(index)
            if folder is not None:
                index.save(folder)
        return result

    @app.post("/documents", response_model=DocumentsResponse, dependencies=guarded)
    def put_documents(req: DocumentsRequest) -> DocumentsResponse:
        table = require().require_documents()
        if len(req.documents) > config.max_texts:
            raise HTTPException(422, f"documents: {len(req.documents)}, more than the limit of {config.max_texts}")
        try:
            docs = [check_document(d.id, d.text, d.metadata, f"documents[{i}]") for i, d in enumerate(req.documents)]
            for i, doc in enumerate(docs):
                if len(doc.text) > config.max_document_chars:
                    raise DataError(f"documents[{i}]: text: {len(doc.text)} characters, more than the limit of "
                                    f"{config.max_document_chars}")
            spans = split_documents(model, docs, table.chunk_tokens, table.chunk_overlap)
        except (DataError, ConfigError) as err:
            raise HTTPException(422, str(err)) from None
        vectors = normalize(batcher.encode(passage_texts(docs, spans)))
        try:
            counts = change(lambda ix: ix.upsert_documents(docs, spans, vectors))
        except DataError as err:  # an id repeated within the request
            raise HTTPException(422, str(err)) from None
        return DocumentsResponse(upserted=counts.documents, replaced=counts.replaced, passages=counts.passages,
                                 removed=counts.removed, documents=len(table), count=len(index))

    @app.delete("/documents/{doc_id:path}", response_model=DeleteResponse, dependencies=guarded)
    def delete_document(doc_id: str) -> DeleteResponse:
        table = require().require_documents()
        try:
            removed = change(lambda ix: ix.delete_documents([doc_id]))
        except DataError as err:
            raise HTTPException(404, str(err)) from None
        return DeleteResponse(deleted=doc_id, removed=removed, documents=len(table), count=len(index))


__all__ = ["CONTEXT_CHARS", "add_document_routes", "documents_out", "search_documents"]
