"""The FastAPI app: ``POST /encode``, ``/similarity``, ``/search``; ``GET /health``, ``/`` (demo), ``/docs``;
for an index of documents ``POST /documents`` and ``DELETE /documents/{id}`` (:mod:`simcse.serve.documents`).

Endpoints are plain ``def`` functions, so FastAPI runs them in its threadpool and the event
loop stays responsive while a request encodes. Encoding goes through one
:class:`EncodeBatcher` thread, which merges concurrent requests into one forward pass
(PyTorch already spreads one pass over the cores); a lock guards the index.

One bad request must never hurt another, nor the server. In the order a request meets them:
the ``Host`` allow-list (400; a defence against DNS rebinding), :class:`RequestGuard` (the
API key from the headers, 401; the body size, 413), the schemas (strict types, finite
numbers, 422 with short excerpts of the input), the server's limits and
:func:`simcse.text_checks.check_texts` on every text (422), and only then the batcher, which
keeps a failing job's error to that job.
"""

from __future__ import annotations

import contextlib
import os
import reprlib
import threading
import time
from importlib import resources
from pathlib import Path
from typing import AsyncIterator

try:
    from fastapi import FastAPI, HTTPException, Request, Security
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from fastapi.security import APIKeyHeader
    from starlette.middleware.trustedhost import TrustedHostMiddleware
except ImportError as err:  # pragma: no cover - depends on the environment
    from simcse.serve.config import INSTALL_HINT

    raise ImportError(INSTALL_HINT) from err

from simcse.embedder import Embedder
from simcse.errors import DataError
from simcse.index import DEFAULT_THRESHOLD, DEFAULT_TOP_K, Index, normalize
from simcse.serve.batching import EncodeBatcher
from simcse.serve.config import ServeConfig
from simcse.serve.documents import add_document_routes, search_documents
from simcse.serve.guard import RequestGuard
from simcse.serve.schemas import (
    EncodeRequest, EncodeResponse, HealthResponse, HitOut, IndexInfo, SearchDefaults, SearchRequest, SearchResponse,
    SimilarityRequest, SimilarityResponse,
)
from simcse.text_checks import check_texts

EXCERPT_CHARS = 100  # the most of a request's input a 422 shows, per error
MAX_ERRORS = 5  # errors listed in one 422; the rest are counted
_repr = reprlib.Repr()  # attributes, not keywords: Python 3.10 and 3.11
_repr.maxstring = _repr.maxother = EXCERPT_CHARS
_repr.maxlist = _repr.maxdict = 5


def demo_page() -> str:
    """The single-file demo page shipped as package data."""
    return resources.files("simcse.serve").joinpath("static/index.html").read_text(encoding="utf-8")


def short(text: str) -> str:
    """At most ~100 characters of ``text``, writable as UTF-8 (a lone surrogate becomes ``\\ud800``)."""
    text = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def excerpt(value: object) -> str:
    """A short ``repr`` of part of a request, however large or odd (``nan``, a 10 MB string)."""
    return short(_repr.repr(value))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 listing each schema error with a short excerpt of the offending input.

    FastAPI's own handler echoes every input whole (a 10 MB field comes back in full) and
    fails on a ``NaN`` it cannot write as JSON.
    """
    errors = exc.errors()
    detail: list[dict[str, object]] = [
        {"loc": [part if isinstance(part, int) else short(str(part)) for part in err["loc"]],
         "msg": short(err["msg"]), "type": err["type"], "input": excerpt(err.get("input"))}
        for err in errors[:MAX_ERRORS]
    ]
    if len(errors) > MAX_ERRORS:
        detail.append({"msg": f"and {len(errors) - MAX_ERRORS} more errors"})
    return JSONResponse({"detail": detail}, status_code=422)


def checked(texts: list[str], field: str, config: ServeConfig) -> list[str]:
    """``texts`` if each is usable and within the server's limits, else a 422 naming the first bad one."""
    try:
        return check_texts(texts, field, max_texts=config.max_texts, max_chars=config.max_chars)
    except DataError as err:
        raise HTTPException(422, str(err)) from None


def check_search(req: SearchRequest, config: ServeConfig) -> None:
    """The limits of ``/search`` that depend on the server's settings (422 naming the field)."""
    for name in ("top_k", "top_m"):
        if getattr(req, name) > config.max_top_k:
            raise HTTPException(422, f"{name}: {excerpt(getattr(req, name))}, at most {config.max_top_k}")
    if req.where and not req.group_by_document:
        raise HTTPException(422, "where: filters documents; set group_by_document")


def health_info(model: Embedder, index: Index | None, config: ServeConfig) -> HealthResponse:
    """What ``GET /health`` reports: the model, the index, the limits and the search defaults."""
    info = None if index is None else IndexInfo(count=len(index), backend=index.backend.name,
                                                params=index.backend.params,
                                                documents=None if index.documents is None else len(index.documents))
    return HealthResponse(
        status="ok", model=model.model_name, dim=model.dim, pooler=model.pooler, index=info,
        auth_required=config.api_key is not None,
        limits={"max_texts": config.max_texts, "max_chars": config.max_chars, "max_top_k": config.max_top_k,
                "max_body_bytes": config.body_limit},
        search_defaults=SearchDefaults(top_k=DEFAULT_TOP_K, threshold=DEFAULT_THRESHOLD),
    )


def bare_app(config: ServeConfig, batcher: EncodeBatcher) -> FastAPI:
    """The app without routes: the batcher closed at shutdown, the 422 handler, and the
    middleware (Host allow-list outermost, then :class:`RequestGuard`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()

    app = FastAPI(title="SimCSE", summary="Sentence embeddings, similarity and semantic search.",
                  version="1", docs_url="/docs", lifespan=lifespan)
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_middleware(RequestGuard, api_key=config.api_key, max_body_bytes=config.body_limit)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=config.hosts, www_redirect=False)  # outermost
    return app


def create_app(model: Embedder, index: Index | None = None, config: ServeConfig = ServeConfig(),
               folder: str | os.PathLike | None = None) -> FastAPI:
    """An app serving ``model`` and, for ``/search``, ``index``; run it with :func:`simcse.serve.server.run`.

    ``folder``: where the index lives, rewritten (atomically) after each change through
    ``/documents``; None keeps changes in memory."""
    batcher = EncodeBatcher(model.encode, max_batch=max(64, config.max_texts))
    app = bare_app(config, batcher)
    lock = threading.Lock()  # guards the index
    page = demo_page()
    # Documents the header in /docs; RequestGuard checks it before the body is read.
    guarded = [Security(APIKeyHeader(name="X-API-Key", auto_error=False, description="the server's --api-key"))]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return page

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        return health_info(model, index, config)

    @app.post("/encode", response_model=EncodeResponse, dependencies=guarded)
    def encode(req: EncodeRequest) -> EncodeResponse:
        emb = batcher.encode(checked(req.texts, "texts", config))
        emb = normalize(emb) if req.normalize else emb
        return EncodeResponse(model=model.model_name, dim=model.dim, embeddings=emb.tolist())

    @app.post("/similarity", response_model=SimilarityResponse, dependencies=guarded)
    def similarity(req: SimilarityRequest) -> SimilarityResponse:
        queries, keys = checked(req.queries, "queries", config), checked(req.keys, "keys", config)
        emb = normalize(batcher.encode(queries + keys))
        scores = emb[: len(queries)] @ emb[len(queries) :].T  # (Q, K) cosine
        return SimilarityResponse(scores=scores.tolist())

    @app.post("/search", response_model=SearchResponse, dependencies=guarded)
    def search(req: SearchRequest) -> SearchResponse:
        if index is None:
            raise HTTPException(400, "no index loaded: start the server with --index FOLDER")
        queries = checked(req.queries, "queries", config)
        check_search(req, config)
        start = time.perf_counter()
        emb = batcher.encode(queries)
        with lock:
            if req.group_by_document:
                results, documents = None, search_documents(index, emb, req)
            else:
                hits = index.search(emb, top_k=req.top_k, threshold=req.threshold)
                results, documents = [[HitOut(id=h.id, text=h.text, score=h.score) for h in row] for row in hits], None
        took = (time.perf_counter() - start) * 1000
        return SearchResponse(results=results, documents=documents, took_ms=round(took, 2))

    add_document_routes(app, model, index, config, batcher, lock, None if folder is None else Path(folder), guarded)
    return app


__all__ = ["bare_app", "check_search", "checked", "create_app", "demo_page", "excerpt", "health_info", "short",
           "validation_error"]
