"""Which passage size finds the right document? Chunk sizes and overlaps on a document retrieval set.

The set is built from the data dir (``SIMCSE_DATA_DIR``), with no labels:

* the lines of ``training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt`` (consecutive
  sentences of Wikipedia articles), stripped, blank ones dropped, in file order, are cut into
  blocks of ``--lines-per-doc`` (16) consecutive lines; a last, shorter block is dropped;
* from each block one line is held apart: the first line from the block's middle (its 9th
  line) onwards with at least ``--min-query-words`` (8) words, else the first such line before
  it (a block without one is dropped). The other lines, joined by single spaces, are the
  document (id ``wiki-<block>``); the held-apart line is its query, and that document is the
  one right answer (one query per document);
* ``--max-docs`` keeps the first N documents (default: all: 739 with the defaults).

Consecutive blocks often come from one article, so a neighbouring document is a fair
distractor. Each configuration (chunk size 32/64/128/256 tokens x overlap 0 and 25%, and
the whole document truncated to the model's 256 tokens, as sentence-transformers does) cuts
and encodes the documents into an exact index (``simcse.document_indexing``), which is
timed and saved to measure its size; each query is searched with ``search_documents``
(a document scores its best passage) and the top 10 documents scored with trec_eval
(``simcse.evaluation.retrieval.ranking_metrics``): Recall@10 and MRR@10 of the right one.

    python bench/chunk_size.py                    # full size (the README's table)
    python bench/chunk_size.py --max-docs 20      # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _documents import WIKI, folder_bytes, read_lines, title_of  # noqa: E402

CHUNKS = (32, 64, 128, 256)
OVERLAPS = (0.0, 0.25)


def retrieval_set(path: Path, lines_per_doc: int, min_query_words: int, max_docs: int | None):
    """``(documents, queries, qrels)`` as the module docstring says."""
    from simcse.documents import Document

    lines = read_lines(path)
    documents, queries, qrels = [], {}, {}
    for b in range(len(lines) // lines_per_doc):
        block = lines[b * lines_per_doc : (b + 1) * lines_per_doc]
        middle = lines_per_doc // 2
        order = [*range(middle, len(block)), *range(middle - 1, -1, -1)]
        held = next((i for i in order if len(block[i].split()) >= min_query_words), None)
        if held is None:
            continue
        doc_id = f"wiki-{b}"
        rest = block[:held] + block[held + 1 :]
        documents.append(Document(doc_id, " ".join(rest), {"title": title_of(rest[0])}))
        queries[f"q-{b}"], qrels[f"q-{b}"] = block[held], {doc_id: 1}
        if max_docs is not None and len(documents) == max_docs:
            break
    return documents, queries, qrels


def scores(ranked: list[list[str]], query_ids: list[str], qrels: dict) -> dict[str, float]:
    """R@10 and MRR@10 (x 100) of the right document, by trec_eval, from each query's ranked ids."""
    from simcse.evaluation.retrieval import ranking_metrics

    run = {qid: {doc: 10.0 - rank for rank, doc in enumerate(ids[:10])} for qid, ids in zip(query_ids, ranked)}
    metrics = ranking_metrics(run, qrels)  # rank scores: no ties for trec_eval to reorder
    return {"recall@10": metrics["recall@10"], "mrr@10": metrics["mrr@10"]}


def chunked(model, documents, queries: np.ndarray, chunk_tokens: int, overlap: int, work: Path, batch_size: int):
    """Documents cut into passages: (ranked ids per query, build seconds, bytes on disk, passages)."""
    from simcse.document_indexing import new_document_index, upsert_documents

    start = time.perf_counter()
    index = new_document_index(model, chunk_tokens=chunk_tokens, chunk_overlap=overlap)
    upsert_documents(index, model, documents, batch_size=batch_size)
    folder = work / f"chunk{chunk_tokens}-overlap{overlap}"
    index.save(folder)
    seconds = time.perf_counter() - start
    ranked = [[h.id for h in hits] for hits in index.search_documents(queries, top_k=10)]
    return ranked, seconds, folder_bytes(folder)["total"], len(index)


def truncated(model, documents, queries: np.ndarray, work: Path, batch_size: int):
    """The baseline: each document one vector of its first max-length tokens, the rest cut off."""
    from simcse.index import Index

    start = time.perf_counter()
    index = Index(model.dim, model=model.model_name, pooler=model.pooler)
    texts = [d.text for d in documents]
    index.add([d.id for d in documents], model.encode(texts, batch_size=batch_size, normalize=True))  # text = id
    index.save(work / "truncated")
    seconds = time.perf_counter() - start
    ranked = [[h.text for h in row] for row in index.search(queries, top_k=10)]
    return ranked, seconds, folder_bytes(work / "truncated")["total"], len(index)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--data-dir", type=Path, default=None, help="default: SIMCSE_DATA_DIR")
    p.add_argument("--max-docs", type=int, default=None, help="the first N documents (default: all)")
    p.add_argument("--lines-per-doc", type=int, default=16)
    p.add_argument("--min-query-words", type=int, default=8)
    p.add_argument("--chunks", type=int, nargs="+", default=list(CHUNKS))
    p.add_argument("--overlaps", type=float, nargs="+", default=list(OVERLAPS), help="as a share of the chunk")
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()

    from simcse.api import SimCSE
    from simcse.data_dir import data_dir

    source = data_dir(args.data_dir) / WIKI
    documents, queries, qrels = retrieval_set(source, args.lines_per_doc, args.min_query_words, args.max_docs)
    model = SimCSE(args.model, device="cpu")
    tokens = sum(len(ids) for ids in model.tokenizer([d.text for d in documents], add_special_tokens=False,
                                                     verbose=False)["input_ids"])
    print(f"# Retrieval set: {len(documents)} documents = blocks of {args.lines_per_doc} consecutive lines of {source} "
          f"with one line of {args.min_query_words}+ words held apart (from the block's middle on) as the query; "
          f"{len(queries)} queries, one right document each; {tokens} tokens, {tokens / len(documents):.0f} per "
          f"document ({args.model}, max length {model.max_length}). R@10 and MRR@10 x 100 by trec_eval; a "
          "document scores its best passage; exact index; build = cut + encode + index + save on this CPU.\n")
    query_ids = list(queries)
    query_vectors = model.encode(list(queries.values()), batch_size=args.batch_size, normalize=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        configs = [(c, int(c * o)) for c in args.chunks for o in args.overlaps if c <= model.max_length]
        for chunk_tokens, overlap in [*configs, (None, None)]:
            if chunk_tokens is None:
                result = truncated(model, documents, query_vectors, Path(tmp), args.batch_size)
                name = f"whole document, truncated at {model.max_length}"
            else:
                result = chunked(model, documents, query_vectors, chunk_tokens, overlap, Path(tmp), args.batch_size)
                name = f"{chunk_tokens} tokens, overlap {overlap}"
            ranked, seconds, size, passages = result
            rows.append({"config": name, "passages": passages, **scores(ranked, query_ids, qrels),
                         "build_s": round(seconds, 1), "index_mb": round(size / 2**20, 2)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("| passages of | passages | R@10 | MRR@10 | build s | index MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['config']} | {r['passages']} | {r['recall@10']:.2f} | {r['mrr@10']:.2f} | {r['build_s']} | "
              f"{r['index_mb']} |")


if __name__ == "__main__":
    main()
