"""The FastAPI app: ``POST /encode``, ``/similarity``, ``/search``; ``GET /health``, ``/`` (demo), ``/docs``.

Endpoints are plain ``def`` functions, so FastAPI runs them in its threadpool and the event
loop stays responsive while a request encodes. Encoding goes through one
:class:`EncodeBatcher` thread, which merges concurrent requests into one forward pass
(PyTorch already spreads one pass over the cores); a lock guards the index.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from importlib import resources
from typing import Any, AsyncIterator

try:
    from fastapi import Depends, FastAPI, Header, HTTPException
    from fastapi.responses import HTMLResponse
except ImportError as err:  # pragma: no cover - depends on the environment
    from simcse.serve.config import INSTALL_HINT

    raise ImportError(INSTALL_HINT) from err

from simcse.index import Index, normalize
from simcse.serve.batching import EncodeBatcher
from simcse.serve.config import ServeConfig
from simcse.serve.schemas import (
    EncodeRequest, EncodeResponse, HealthResponse, HitOut, IndexInfo, SearchRequest, SearchResponse,
    SimilarityRequest, SimilarityResponse,
)


def demo_page() -> str:
    """The single-file demo page shipped as package data."""
    return resources.files("simcse.serve").joinpath("static/index.html").read_text(encoding="utf-8")


def _check_texts(texts: list[str], field: str, cfg: ServeConfig) -> None:
    """Limits the schema cannot know: texts per request, characters per text, blank texts."""
    if len(texts) > cfg.max_texts:
        raise HTTPException(422, f"{field}: {len(texts)} items, at most {cfg.max_texts} per request")
    for i, text in enumerate(texts):
        if not text.strip():
            raise HTTPException(422, f"{field}[{i}]: empty text")
        if len(text) > cfg.max_chars:
            raise HTTPException(422, f"{field}[{i}]: {len(text)} characters, at most {cfg.max_chars}")


def create_app(model: Any, index: Index | None = None, config: ServeConfig = ServeConfig()) -> FastAPI:
    """An app serving ``model`` (a :class:`simcse.SimCSE`) and, for ``/search``, ``index``."""
    batcher = EncodeBatcher(model.encode, max_batch=max(64, config.max_texts))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()

    app = FastAPI(title="SimCSE", summary="Sentence embeddings, similarity and semantic search.",
                  version="1", docs_url="/docs", lifespan=lifespan)
    lock = threading.Lock()  # guards the index
    page = demo_page()

    def require_key(x_api_key: str | None = Header(None, description="the server's --api-key")) -> None:
        if config.api_key is None:
            return
        if x_api_key is None or not secrets.compare_digest(x_api_key.encode(), config.api_key.encode()):
            raise HTTPException(401, "missing or wrong X-API-Key header")

    guarded = [Depends(require_key)]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return page

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        info = None if index is None else IndexInfo(count=len(index), backend=index.backend.name, params=index.backend.params)
        return HealthResponse(
            status="ok", model=model.model_name, dim=model.dim, pooler=model.encoder.config.pooler, index=info,
            auth_required=config.api_key is not None,
            limits={"max_texts": config.max_texts, "max_chars": config.max_chars, "max_top_k": config.max_top_k},
        )

    @app.post("/encode", response_model=EncodeResponse, dependencies=guarded)
    def encode(req: EncodeRequest) -> EncodeResponse:
        _check_texts(req.texts, "texts", config)
        emb = batcher.encode(req.texts)
        emb = normalize(emb) if req.normalize else emb
        return EncodeResponse(model=model.model_name, dim=model.dim, embeddings=emb.tolist())

    @app.post("/similarity", response_model=SimilarityResponse, dependencies=guarded)
    def similarity(req: SimilarityRequest) -> SimilarityResponse:
        _check_texts(req.queries, "queries", config)
        _check_texts(req.keys, "keys", config)
        emb = normalize(batcher.encode(req.queries + req.keys))
        scores = emb[: len(req.queries)] @ emb[len(req.queries) :].T  # (Q, K) cosine
        return SimilarityResponse(scores=scores.tolist())

    @app.post("/search", response_model=SearchResponse, dependencies=guarded)
    def search(req: SearchRequest) -> SearchResponse:
        if index is None:
            raise HTTPException(400, "no index loaded: start the server with --index FOLDER")
        _check_texts(req.queries, "queries", config)
        if req.top_k > config.max_top_k:
            raise HTTPException(422, f"top_k: {req.top_k}, at most {config.max_top_k}")
        start = time.perf_counter()
        queries = batcher.encode(req.queries)
        with lock:
            hits = index.search(queries, top_k=req.top_k, threshold=req.threshold)
        took = (time.perf_counter() - start) * 1000
        return SearchResponse(results=[[HitOut(id=h.id, text=h.text, score=h.score) for h in row] for row in hits],
                              took_ms=round(took, 2))

    return app
