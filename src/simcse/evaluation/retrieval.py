"""Retrieval on the user's own search judgments, in the BEIR folder layout.

Layout (as BEIR's ``GenericDataLoader`` reads it)::

    corpus.jsonl        {"_id": ..., "title": ..., "text": ...} per line ("title" optional)
    queries.jsonl       {"_id": ..., "text": ...} per line
    qrels/<split>.tsv   header "query-id<TAB>corpus-id<TAB>score", then one judgment per line

Protocol:

* A document's text is ``title + " " + text``, stripped, so the text alone when the title
  is empty or absent (BEIR's sentence-transformers models join them with a space).
* Every file is read and checked before anything is encoded: a duplicate ``_id``, a
  missing key, an empty query, a non-UTF-8 byte, a qrels line naming an unknown query or
  document, a repeated (query, document) judgment or a score that is not an integer >= 0
  stops with ``file:line: ...``. The corpus texts are not kept: they are streamed from
  ``corpus.jsonl`` again, ``chunk_size`` documents at a time, when evaluating.
* The corpus goes through :class:`simcse.index.Index`: the chunks are encoded and added
  to an exact index (its store holds each unit vector once); an approximate FAISS backend
  (``ivf_flat``, ``hnsw``, ``ivf_pq``, ...) is then built over that store in one go, so IVF
  trains on a sample of the whole corpus. Memory: the vectors (plus the FAISS copy the
  backend keeps, if any), the ids, and one chunk.
* Queries: the ones judged in the split are evaluated (BEIR drops the others; they are
  not encoded). A judged query with no document of score > 0 stays in the mean and scores
  0 on every metric (trec_eval's convention).
* Ranking: the top 100 by cosine; equal cosines rank in corpus order (the line earlier in
  ``corpus.jsonl`` first). The ranking is handed to trec_eval as scores 100, 99, ... so that
  the library breaks no ties of its own.
* Metrics (trec_eval through pytrec_eval, relevance = the qrels score; gain = score for nDCG; binary metrics count
  score > 0), all x 100: ``ndcg@10``, ``mrr@10``, ``recall@1``, ``recall@10``,
  ``recall@100``, ``map@100`` (the AP denominator is every relevant document of the query).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from simcse.errors import MissingDependencyError, MissingFileError
from simcse.evaluation.cache import Encode
from simcse.evaluation.files import DataFormatError
from simcse.evaluation.records import check_name, id_value, int_value, read_rows, text_value
from simcse.index import Index
from simcse.text_checks import check_text

METRICS: tuple[str, ...] = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100")
TOP_K = 100  # the deepest cut-off of METRICS
QRELS_COLUMNS = ("query-id", "corpus-id", "score")


@dataclass(frozen=True)
class RetrievalData:
    """A checked BEIR folder: the judged queries and their qrels, and the corpus ids in file
    order; the corpus texts stay in ``corpus_path`` (see :meth:`documents`)."""

    corpus_path: Path
    doc_ids: tuple[str, ...]
    queries: dict[str, str]  # query id -> text, judged queries only, in file order
    qrels: dict[str, dict[str, int]]  # query id -> {document id: score}

    def documents(self, chunk_size: int) -> Iterator[tuple[list[str], list[str]]]:
        """``(ids, texts)`` per ``chunk_size`` documents, in corpus order (re-read from disk)."""
        ids: list[str] = []
        texts: list[str] = []
        for row, (lineno, doc_id, text) in enumerate(_corpus_rows(self.corpus_path)):
            if row >= len(self.doc_ids) or doc_id != self.doc_ids[row]:
                raise DataFormatError(self.corpus_path, lineno, "the file changed since it was read")
            ids.append(doc_id)
            texts.append(text)
            if len(ids) == chunk_size:
                yield ids, texts
                ids, texts = [], []
        if ids:
            yield ids, texts


def document_text(title: str | None, text: str) -> str:
    """BEIR's document text: ``(title + " " + text).strip()``, or ``text.strip()`` without a title."""
    return f"{title} {text}".strip() if title else text.strip()


def _corpus_rows(path: Path) -> Iterator[tuple[int, str, str]]:
    """``(line, _id, document text)`` per corpus line, every field checked."""
    for lineno, (raw_id, text, title) in read_rows(path, "jsonl", ("_id", "text"), optional=("title",)):
        for key, value in (("text", text), ("title", title)):
            if not isinstance(value, str) and not (key == "title" and value is None):
                raise DataFormatError(path, lineno, f"{key!r} must be a string, got {type(value).__name__}")
        doc = document_text(title, text)
        if doc:  # an empty document is allowed (BEIR has some); anything else must be well-formed
            check_text(doc, f"{path}:{lineno}: document")
        yield lineno, id_value(path, lineno, raw_id, "_id"), doc


def _unique(path: Path, seen: dict[str, int], key: str, lineno: int) -> None:
    if key in seen:
        raise DataFormatError(path, lineno, f"duplicate _id {key!r} (first on line {seen[key]})")
    seen[key] = lineno


def read_corpus_ids(path: Path) -> tuple[str, ...]:
    """Every ``_id`` of ``corpus.jsonl`` in order, the whole file checked."""
    seen: dict[str, int] = {}
    for lineno, doc_id, _ in _corpus_rows(path):
        _unique(path, seen, doc_id, lineno)
    if not seen:
        raise DataFormatError(path, 1, "no documents")
    return tuple(seen)


def read_queries(path: Path) -> dict[str, str]:
    """``{_id: text}`` of ``queries.jsonl`` in order; an empty text or repeated id is an error."""
    seen: dict[str, int] = {}
    queries: dict[str, str] = {}
    for lineno, (raw_id, text) in read_rows(path, "jsonl", ("_id", "text")):
        query_id = id_value(path, lineno, raw_id, "_id")
        _unique(path, seen, query_id, lineno)
        queries[query_id] = text_value(path, lineno, text, "text")
    return queries


def read_qrels(path: Path, query_ids: Mapping[str, Any], doc_ids: set[str]) -> dict[str, dict[str, int]]:
    """``{query id: {document id: score}}``; every id must exist, each pair be judged once."""
    qrels: dict[str, dict[str, int]] = {}
    for lineno, (raw_q, raw_d, raw_score) in read_rows(path, "tsv", QRELS_COLUMNS):
        query_id, doc_id = id_value(path, lineno, raw_q, "query-id"), id_value(path, lineno, raw_d, "corpus-id")
        if query_id not in query_ids:
            raise DataFormatError(path, lineno, f"unknown query-id {query_id!r} (not in queries.jsonl)")
        if doc_id not in doc_ids:
            raise DataFormatError(path, lineno, f"unknown corpus-id {doc_id!r} (not in corpus.jsonl)")
        score = int_value(path, lineno, raw_score, "score")
        if score < 0:
            raise DataFormatError(path, lineno, f"'score' must be an integer >= 0, got {score}")
        judged = qrels.setdefault(query_id, {})
        if doc_id in judged:
            raise DataFormatError(path, lineno, f"query {query_id!r} and document {doc_id!r} are judged twice")
        judged[doc_id] = score
    if not qrels:
        raise DataFormatError(path, 1, "no judgments")
    return qrels


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file ({what}; expected the BEIR layout corpus.jsonl, "
                               "queries.jsonl, qrels/<split>.tsv)")
    return path


@dataclass(frozen=True)
class RetrievalSpec:
    """A BEIR folder and how to search it.

    Args:
        name: the evaluator's name, the prefix of its result keys (``<name>/ndcg@10``).
        path: the folder holding ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/``.
        split: which ``qrels/<split>.tsv`` to evaluate.
        backend: an :class:`simcse.index.Index` backend (``exact``, ``flat``, ``ivf_flat``,
            ``hnsw``, ``ivf_pq``); ``index_params`` its parameters (``nlist``, ``nprobe``, ...).
        chunk_size: documents encoded and added per step (bounds the memory besides the vectors).
    """

    name: str
    path: Path
    split: str = "test"
    backend: str = "exact"
    index_params: dict[str, int] = field(default_factory=dict)
    chunk_size: int = 8192

    def __post_init__(self) -> None:
        check_name(self.name)
        object.__setattr__(self, "path", Path(self.path))

    def files(self) -> list[Path]:
        return [self.path / "corpus.jsonl", self.path / "queries.jsonl", self.path / "qrels" / f"{self.split}.tsv"]

    def read(self) -> RetrievalData:
        """Check all three files (module docstring), and that the metrics can be computed
        (pytrec_eval installed); nothing is encoded."""
        import_pytrec_eval()  # a missing package fails here, not after the corpus is encoded
        corpus, queries_path, qrels_path = self.files()
        if not qrels_path.is_file() and (self.path / "qrels").is_dir():
            splits = sorted(p.stem for p in (self.path / "qrels").glob("*.tsv"))
            raise MissingFileError(f"{qrels_path}: no such file; splits here: {', '.join(splits) or 'none'}")
        doc_ids = read_corpus_ids(_require(corpus, "the documents"))
        queries = read_queries(_require(queries_path, "the queries"))
        qrels = read_qrels(_require(qrels_path, f"the {self.split!r} judgments"), queries, set(doc_ids))
        judged = {q: text for q, text in queries.items() if q in qrels}
        return RetrievalData(corpus, doc_ids, judged, qrels)

    def evaluate(self, encode: Encode, data: RetrievalData, encode_dropout: Encode | None = None) -> dict[str, float]:
        """:func:`evaluate_retrieval` with this spec's index settings (``encode_dropout`` unused)."""
        return evaluate_retrieval(encode, data, backend=self.backend, chunk_size=self.chunk_size, **self.index_params)


def _embed(encode: Encode, texts: list[str]) -> np.ndarray:
    vectors = np.asarray(encode(texts), dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise ValueError(f"encode returned shape {vectors.shape} for {len(texts)} sentences; expected (N, H)")
    return vectors


def build_corpus_index(encode: Encode, data: RetrievalData, backend: str = "exact", chunk_size: int = 8192,
                       **params: int) -> Index:
    """The corpus in an :class:`Index` whose hit texts are the document ids (module docstring)."""
    index: Index | None = None
    for ids, texts in data.documents(chunk_size):
        vectors = _embed(encode, texts)
        if index is None:
            index = Index(vectors.shape[1], "exact")
        index.add(ids, vectors)  # row ids 0..N-1 in corpus order; the stored text is the _id
    assert index is not None, "read_corpus_ids refuses an empty corpus"
    return index if backend == "exact" and not params else Index.from_store(index.store, backend, **params)


def search_run(encode: Encode, index: Index, queries: Mapping[str, str], top_k: int = TOP_K,
               batch: int = 256) -> dict[str, dict[str, float]]:
    """``{query id: {document id: top_k - rank}}``: the top ``top_k`` by cosine, ties in
    corpus order, as rank scores (the best gets ``top_k``)."""
    ids, texts = list(queries), list(queries.values())
    run: dict[str, dict[str, float]] = {}
    for start in range(0, len(ids), batch):
        hits = index.search(_embed(encode, texts[start : start + batch]), top_k=top_k)
        for query_id, row in zip(ids[start : start + batch], hits):
            ranked = sorted(row, key=lambda h: (-h.score, h.id))
            run[query_id] = {h.text: float(top_k - r) for r, h in enumerate(ranked)}
    return run


# METRICS -> trec_eval measure; MRR@10 is trec_eval's reciprocal rank of the run cut at 10.
_TREC_MEASURES = {"ndcg@10": "ndcg_cut_10", "recall@1": "recall_1", "recall@10": "recall_10",
                  "recall@100": "recall_100", "map@100": "map_cut_100"}


def import_pytrec_eval():
    """The optional ``pytrec_eval`` module, or :class:`MissingDependencyError` with the install line."""
    try:
        import pytrec_eval
    except ImportError as err:
        raise MissingDependencyError("retrieval metrics need pytrec_eval: pip install 'simcse[eval]'") from err
    return pytrec_eval


def ranking_metrics(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """:data:`METRICS` x 100 by trec_eval (pytrec_eval), averaged over the queries of ``qrels``
    (a query absent from ``run``, or with no hit, scores 0)."""
    pytrec_eval = import_pytrec_eval()
    qrels = {q: {d: int(s) for d, s in docs.items()} for q, docs in qrels.items()}
    run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels and docs}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.1,10,100", "map_cut.100"}).evaluate(run)
    top10 = {q: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:10]) for q, docs in run.items()}
    reciprocal = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    n = len(qrels)
    out = {m: 100.0 * sum(per_query.get(q, {}).get(name, 0.0) for q in qrels) / n for m, name in _TREC_MEASURES.items()}
    out["mrr@10"] = 100.0 * sum(reciprocal.get(q, {}).get("recip_rank", 0.0) for q in qrels) / n
    return {m: out[m] for m in METRICS}


def evaluate_retrieval(encode: Encode, data: RetrievalData, backend: str = "exact", chunk_size: int = 8192,
                       **params: int) -> dict[str, float]:
    """Index the corpus, search the judged queries, score the ranking: ``ndcg@10``,
    ``mrr@10``, ``recall@1``, ``recall@10``, ``recall@100``, ``map@100`` (x 100)."""
    index = build_corpus_index(encode, data, backend, chunk_size, **params)
    return ranking_metrics(search_run(encode, index, data.queries), data.qrels)


__all__ = ["METRICS", "TOP_K", "RetrievalData", "RetrievalSpec", "build_corpus_index", "document_text",
           "evaluate_retrieval", "import_pytrec_eval", "ranking_metrics", "read_corpus_ids", "read_qrels", "read_queries",
           "search_run"]
