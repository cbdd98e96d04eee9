"""Request and response bodies of the HTTP API (pydantic; strict types, no coercion).

Strict means a JSON string is never read as a number or a boolean (``"0.5"``, ``true`` for
``threshold`` are refused), and numbers are finite (Python's JSON reader accepts ``NaN`` and
``Infinity``; the schemas refuse them). Limits that depend on the server's settings (texts per
request, characters per text, top_k) and the checks on each text are the app's.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from simcse.index import DEFAULT_THRESHOLD, DEFAULT_TOP_K


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EncodeRequest(_Body):
    texts: list[StrictStr] = Field(min_length=1, description="sentences to embed")
    normalize: StrictBool = Field(True, description="return unit-length vectors")


class EncodeResponse(BaseModel):
    model: str
    dim: int
    embeddings: list[list[float]] = Field(description="(len(texts), dim)")


class SimilarityRequest(_Body):
    queries: list[StrictStr] = Field(min_length=1)
    keys: list[StrictStr] = Field(min_length=1)


class SimilarityResponse(BaseModel):
    scores: list[list[float]] = Field(description="cosine similarities, (len(queries), len(keys))")


class SearchRequest(_Body):
    queries: list[StrictStr] = Field(min_length=1, description="one result list per query")
    top_k: StrictInt = Field(DEFAULT_TOP_K, ge=1, description="results per query (at most the server's max_top_k)")
    threshold: StrictFloat | None = Field(DEFAULT_THRESHOLD, ge=-1.0, le=1.0, allow_inf_nan=False,
                                          description="drop hits with a lower cosine; null = no cut")


class HitOut(BaseModel):
    id: int
    text: str
    score: float


class SearchResponse(BaseModel):
    results: list[list[HitOut]]
    took_ms: float = Field(description="server time for encoding and searching")


class IndexInfo(BaseModel):
    count: int
    backend: str
    params: dict[str, int]


class SearchDefaults(BaseModel):
    top_k: int
    threshold: float | None


class HealthResponse(BaseModel):
    status: str
    model: str
    dim: int
    pooler: str | None
    index: IndexInfo | None
    auth_required: bool
    limits: dict[str, int] = Field(description="max_texts, max_chars, max_top_k, max_body_bytes")
    search_defaults: SearchDefaults = Field(description="what /search uses for a field the request leaves out")


__all__ = ["EncodeRequest", "EncodeResponse", "HealthResponse", "HitOut", "IndexInfo", "SearchDefaults",
           "SearchRequest", "SearchResponse", "SimilarityRequest", "SimilarityResponse"]
