"""Request and response bodies of the HTTP API (pydantic; strict types, no coercion).

Strict means a JSON string is never read as a number or a boolean (``"0.5"``, ``true`` for
``threshold`` are refused), and numbers are finite (Python's JSON reader accepts ``NaN`` and
``Infinity``; the schemas refuse them). Limits that depend on the server's settings (texts per
request, characters per text, top_k) and the checks on each text are the app's.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from simcse.index import DEFAULT_AGGREGATE, DEFAULT_THRESHOLD, DEFAULT_TOP_K, DEFAULT_TOP_M

# A metadata value a filter can ask for: a JSON scalar (numbers finite).
FilterValue = StrictStr | StrictInt | Annotated[StrictFloat, Field(allow_inf_nan=False)] | StrictBool | None


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
                                          description="drop hits (passages) with a lower cosine; null = no cut")
    group_by_document: StrictBool = Field(False, description="return documents (each once, with its best passages) "
                                          "in `documents` instead of hits in `results`")
    aggregate: StrictStr = Field(DEFAULT_AGGREGATE, description="a document's score: its best passage's (max) or the "
                                 "sum of its top_m best (sum)")
    top_m: StrictInt = Field(DEFAULT_TOP_M, ge=1, description="passages per document: summed by sum, returned")
    where: dict[StrictStr, FilterValue] | None = Field(None, description="keep the documents whose metadata has "
                                                       "these field values (all of them); needs group_by_document")


class HitOut(BaseModel):
    id: int
    text: str
    score: float


class PassageOut(BaseModel):
    id: int = Field(description="the passage's row id in the index")
    text: str
    score: float
    start: int = Field(description="the passage is characters [start, end) of its document")
    end: int
    position: int = Field(description="its place among the document's passages, from 0")
    before: str = Field(description="the document's text just before the passage (for context)")
    after: str = Field(description="the document's text just after the passage")


class DocumentOut(BaseModel):
    id: str
    score: float
    chars: int = Field(description="the document's length in characters")
    metadata: dict[str, Any]
    passages: list[PassageOut] = Field(description="its best passages, best first")


class SearchResponse(BaseModel):
    results: list[list[HitOut]] | None = Field(description="per query, the hits; null with group_by_document")
    documents: list[list[DocumentOut]] | None = Field(None, description="per query, the documents, with "
                                                      "group_by_document; else null")
    took_ms: float = Field(description="server time for encoding and searching")


class DocumentIn(_Body):
    id: StrictStr = Field(min_length=1, description="replaces the document with this id, if any")
    text: StrictStr
    metadata: dict[StrictStr, Any] = Field(default_factory=dict, description="JSON values, returned with the "
                                           "document and matched by `where`; `title` is shown by the demo page")


class DocumentsRequest(_Body):
    documents: list[DocumentIn] = Field(min_length=1)


class _AfterChange(BaseModel):
    documents: int = Field(description="documents in the index now")
    count: int = Field(description="passages in the index now")
    removed: int = Field(description="passages removed: of the replaced or deleted documents")


class DocumentsResponse(_AfterChange):
    upserted: int
    replaced: int = Field(description="of the upserted, those whose id the index held")
    passages: int = Field(description="passages added")


class DeleteResponse(_AfterChange):
    deleted: str


class IndexInfo(BaseModel):
    count: int
    backend: str
    params: dict[str, int]
    documents: int | None = Field(None, description="documents, for an index of documents; null: sentences")


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


__all__ = ["DeleteResponse", "DocumentIn", "DocumentOut", "DocumentsRequest", "DocumentsResponse", "EncodeRequest",
           "EncodeResponse", "FilterValue", "HealthResponse", "HitOut", "IndexInfo", "PassageOut", "SearchDefaults",
           "SearchRequest", "SearchResponse", "SimilarityRequest", "SimilarityResponse"]
