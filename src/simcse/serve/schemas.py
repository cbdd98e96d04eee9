"""Request and response bodies of the HTTP API (pydantic; strict types, no coercion of texts)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


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
    top_k: StrictInt = Field(5, ge=1, description="results per query (at most the server's max_top_k)")
    threshold: float = Field(-1.0, ge=-1.0, le=1.0, description="drop hits with a lower cosine")


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


class HealthResponse(BaseModel):
    status: str
    model: str
    dim: int
    pooler: str
    index: IndexInfo | None
    auth_required: bool
    limits: dict[str, int]
