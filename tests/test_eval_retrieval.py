"""Retrieval in the BEIR layout: metrics by hand and against their definitions, ties, queries
without relevant documents, backends and chunking, and every bad file stopped before encoding."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from eval_fixtures import CountingEncode

from simcse.errors import DataError, MissingFileError
from simcse.evaluation import RetrievalSpec, evaluate_retrieval, evaluate_user, ranking_metrics, read_user
from simcse.evaluation.retrieval import METRICS

TOL = 1e-6


def forbidden(sentences):
    pytest.fail("encode was called although a file is bad")


def write_beir(root: Path, corpus, queries, qrels, split: str = "test") -> Path:
    """corpus: [(_id, title, text)], queries: [(_id, text)], qrels: [(query, doc, score)]."""
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in corpus), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(
        json.dumps({"_id": i, "text": x}) + "\n" for i, x in queries), encoding="utf-8")
    (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{s}\n" for q, d, s in qrels), encoding="utf-8")
    return root


# A 2-d toy world: each text has a fixed vector.
VECTORS = {
    "alpha": [1, 0], "beta": [0.8, 0.6], "gamma": [0, 1], "t delta": [0.6, 0.8], "epsilon": [0.6, 0.8],
    "zeta": [-1, 0], "find alpha": [1, 0], "nothing": [0, 1], "tie": [0.6, 0.8], "unjudged": [1, 1],
}
CORPUS = [("d1", "", "alpha"), ("d2", "", "beta"), ("d3", None, "gamma"), ("tie-b", "t", "delta"),
          ("tie-a", "", "epsilon"), ("d6", "", "zeta")]
QUERIES = [("q1", "find alpha"), ("q2", "nothing"), ("q3", "tie"), ("q4", "unjudged")]
QRELS = [("q1", "tie-a", 2), ("q1", "d3", 1), ("q1", "d2", 0),  # graded; d2 judged not relevant
         ("q2", "d1", 0),  # judged, but nothing relevant
         ("q3", "tie-a", 1)]  # tie-b and tie-a tie: tie-b is first in the corpus, so ranks first


def lookup(sentences):
    return np.array([VECTORS[s] for s in sentences], dtype=np.float32)


def toy(tmp_path) -> RetrievalSpec:
    return RetrievalSpec("toy", write_beir(tmp_path / "toy", CORPUS, QUERIES, QRELS))


def test_toy_metrics_by_hand(tmp_path):
    encode = CountingEncode(lookup)
    got = evaluate_retrieval(encode, toy(tmp_path).read())
    # q1 ranking: d1 d2 tie-b tie-a d3 d6 -> relevant tie-a (2) at rank 4, d3 (1) at rank 5
    ndcg1 = (2 / math.log2(5) + 1 / math.log2(6)) / (2 + 1 / math.log2(3))
    # q3 ranking: tie-b tie-a ... -> its one relevant document at rank 2
    ndcg3 = (1 / math.log2(3)) / 1
    expected = {  # mean over q1, q2 (no relevant document: 0 everywhere), q3; q4 is not judged
        "ndcg@10": (ndcg1 + 0 + ndcg3) / 3, "mrr@10": (1 / 4 + 0 + 1 / 2) / 3, "recall@1": 0.0,
        "recall@10": 2 / 3, "recall@100": 2 / 3, "map@100": ((1 / 4 + 2 / 5) / 2 + 0 + 1 / 2) / 3,
    }
    assert got == pytest.approx({k: 100 * v for k, v in expected.items()}, abs=TOL)
    assert not any("unjudged" in call for call in encode.calls)  # a query outside the qrels is not encoded


def test_the_title_joins_the_text_with_a_space(tmp_path):
    data = toy(tmp_path).read()
    texts = [t for _, chunk in data.documents(2) for t in chunk]
    assert texts == ["alpha", "beta", "gamma", "t delta", "epsilon", "zeta"]
    assert data.doc_ids == ("d1", "d2", "d3", "tie-b", "tie-a", "d6") and list(data.queries) == ["q1", "q2", "q3"]


def random_world(tmp_path, seed=0, n_docs=300, n_queries=40, dim=16):
    rng = np.random.default_rng(seed)
    vectors = {f"doc {i}": rng.standard_normal(dim) for i in range(n_docs)}
    vectors.update({f"query {i}": rng.standard_normal(dim) for i in range(n_queries)})
    qrels = [(f"q{q}", f"d{d}", int(rng.integers(0, 3)))
             for q in range(n_queries) for d in rng.choice(n_docs, size=int(rng.integers(1, 6)), replace=False)]
    root = write_beir(tmp_path / f"world{seed}", [(f"d{i}", "", f"doc {i}") for i in range(n_docs)],
                      [(f"q{q}", f"query {q}") for q in range(n_queries)], qrels)

    def encode(sentences):
        return np.array([vectors[s] for s in sentences], dtype=np.float32)

    return root, encode, qrels


def brute_force_run(tmp_path, root, encode, top_k):
    """An independent ranking: numpy cosines in float64, ties by corpus order, as rank scores."""
    data = RetrievalSpec("w", root).read()
    docs = encode([t for _, chunk in data.documents(10_000) for t in chunk]).astype(np.float64)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    run = {}
    for qid, text in data.queries.items():
        q = encode([text])[0].astype(np.float64)
        order = np.lexsort((np.arange(len(docs)), -(docs @ (q / np.linalg.norm(q)))))[:top_k]
        run[qid] = {data.doc_ids[r]: float(top_k - rank) for rank, r in enumerate(order)}
    return data, run


def reference_metrics(run, qrels) -> dict[str, float]:
    """The six metrics written out in NumPy from their definitions (linear-gain nDCG; relevant =
    score > 0; AP's denominator = every relevant document), x 100, averaged over ``qrels``."""
    out = {m: [] for m in METRICS}
    for q, judged in qrels.items():
        ranked = [d for d, _ in sorted(run.get(q, {}).items(), key=lambda kv: -kv[1])]
        gains = np.array([judged.get(d, 0) for d in ranked], dtype=np.float64)
        relevant = sum(1 for s in judged.values() if s > 0)
        hits = gains > 0
        ideal = np.sort(np.array(list(judged.values()), dtype=np.float64))[::-1][:10]
        idcg = (ideal / np.log2(np.arange(2, len(ideal) + 2))).sum()
        dcg = (gains[:10] / np.log2(np.arange(2, len(gains[:10]) + 2))).sum()
        out["ndcg@10"].append(dcg / idcg if idcg > 0 else 0.0)
        first = np.flatnonzero(hits[:10])
        out["mrr@10"].append(1.0 / (first[0] + 1) if len(first) else 0.0)
        for k in (1, 10, 100):
            out[f"recall@{k}"].append(hits[:k].sum() / relevant if relevant else 0.0)
        precision = np.cumsum(hits[:100]) / np.arange(1, len(hits[:100]) + 1)
        out["map@100"].append((precision * hits[:100]).sum() / relevant if relevant else 0.0)
    return {m: 100 * float(np.mean(v)) for m, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_metrics_match_their_definitions(tmp_path, seed):
    """trec_eval's numbers (through pytrec_eval) equal the metrics computed from their definitions
    on a brute-force ranking, to 1e-6."""
    root, encode, _ = random_world(tmp_path, seed)
    data, run = brute_force_run(tmp_path, root, encode, 100)
    got = evaluate_retrieval(encode, data)
    assert got == pytest.approx(reference_metrics(run, data.qrels), abs=TOL)
    assert got == pytest.approx(ranking_metrics(run, data.qrels), abs=TOL)


def test_ranking_metrics_count_a_query_missing_from_the_run_as_zero():
    qrels = {"a": {"x": 1}, "b": {"y": 1}, "c": {"z": 1}}
    got = ranking_metrics({"a": {"x": 1.0}, "c": {}}, qrels)
    assert got == pytest.approx({m: 100 / 3 for m in METRICS})
    assert ranking_metrics({}, qrels) == pytest.approx({m: 0.0 for m in METRICS})


@pytest.mark.parametrize("backend,params", [("flat", {}), ("ivf_flat", {"nlist": 4, "nprobe": 4})])
def test_faiss_backends_and_chunks_give_the_exact_results(tmp_path, backend, params):
    pytest.importorskip("faiss")
    root, encode, _ = random_world(tmp_path, seed=3)
    data = RetrievalSpec("w", root).read()
    exact = evaluate_retrieval(encode, data)
    counting = CountingEncode(encode)
    got = evaluate_retrieval(counting, data, backend=backend, chunk_size=64, **params)
    assert got == pytest.approx(exact, abs=TOL)
    doc_calls = [c for c in counting.calls if c[0].startswith("doc")]
    assert len(doc_calls) == 5 and max(map(len, doc_calls)) == 64  # 300 documents in chunks of 64


def test_spec_passes_the_index_settings(tmp_path):
    pytest.importorskip("faiss")
    root, encode, _ = random_world(tmp_path, seed=4)
    spec = RetrievalSpec("w", root, backend="ivf_flat", index_params={"nlist": 2, "nprobe": 2}, chunk_size=50)
    results = evaluate_user(encode, read_user([spec]))
    assert results == pytest.approx({f"w/{k}": v for k, v in evaluate_retrieval(encode, spec.read()).items()})


def corrupt(root: Path, name: str, text: str | bytes) -> Path:
    path = root / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def jl(*rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


BAD = {  # case: (file, content, line reported, words in the message)
    "duplicate corpus _id": ("corpus.jsonl", jl({"_id": "d1", "text": "a"}, {"_id": "d2", "text": "b"},
                                                {"_id": "d1", "text": "c"}), 3, "duplicate _id 'd1' .first on line 1"),
    "duplicate query _id": ("queries.jsonl", jl({"_id": "q1", "text": "a"}, {"_id": "q1", "text": "b"}),
                            2, "duplicate _id 'q1'"),
    "empty query": ("queries.jsonl", jl({"_id": "q1", "text": "a"}, {"_id": "q2", "text": "  "}), 2, "empty text"),
    "corpus without text": ("corpus.jsonl", jl({"_id": "d1", "text": "a"}, {"_id": "d2", "title": "b"}),
                            2, "no key 'text'"),
    "query without _id": ("queries.jsonl", jl({"_id": "q1", "text": "a"}, {"text": "b"}), 2, "no key '_id'"),
    "corpus not JSON": ("corpus.jsonl", '{"_id": "d1", "text": "a"}\n{"_id": "d2", \n', 2, "not a JSON object"),
    "non-UTF-8 corpus": ("corpus.jsonl", b'{"_id": "d1", "text": "a"}\n\n{"_id": "d2", "text": "\xe9t\xe9"}\n',
                         3, "not valid UTF-8"),
    "unknown query in qrels": ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td1\t1\n",
                               3, "unknown query-id 'q9'"),
    "unknown document in qrels": ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td9\t1\n",
                                  2, "unknown corpus-id 'd9'"),
    "judged twice": ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t0\n", 3, "judged twice"),
    "score not an integer": ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\thigh\n", 2, "'score' must be"),
    "negative score": ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t-1\n", 2, "integer >= 0"),
    "qrels without score": ("qrels/test.tsv", "query-id\tcorpus-id\nq1\td1\n", 1, "no column 'score'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_stop_with_file_line_before_encoding(tmp_path, case):
    name, content, line, words = BAD[case]
    root = write_beir(tmp_path / "beir", [("d1", "", "a"), ("d2", "", "b")], [("q1", "x")], [("q1", "d1", 1)])
    path = corrupt(root, name, content)
    with pytest.raises(DataError, match=words) as err:
        evaluate_user(forbidden, read_user([RetrievalSpec("bad", root)]))
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_a_missing_split_lists_the_ones_there(tmp_path):
    root = write_beir(tmp_path / "beir", [("d1", "", "a")], [("q1", "x")], [("q1", "d1", 1)], split="dev")
    with pytest.raises(MissingFileError, match="splits here: dev"):
        RetrievalSpec("r", root, split="test").read()
    with pytest.raises(MissingFileError, match="BEIR layout"):
        RetrievalSpec("r", tmp_path / "nowhere").read()


def test_missing_pytrec_eval_stops_before_encoding(tmp_path, monkeypatch):
    import sys

    from simcse.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "pytrec_eval", None)  # `import pytrec_eval` raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'simcse\[eval\]'"):
        evaluate_user(forbidden, read_user([toy(tmp_path)]))
