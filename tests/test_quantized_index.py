"""Quantized backends (int8, binary, binary_ivf, rabitq): codes find candidates, float32 rescoring ranks them.

The equivalence: with a multiplier that covers the index, rescoring sees every row, so the
result is exact search's, ids and scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simcse.errors import ConfigError
from simcse.index import Index
from test_index import clustered, ids_of, recall_at

faiss = pytest.importorskip("faiss", reason="pip install faiss-cpu")

KINDS = {"int8": {}, "binary": {}, "binary_ivf": {"nlist": 8, "nprobe": 8}, "rabitq": {}}  # nprobe = nlist: every list
HAMMING = {"binary": {"hamming_multiplier": 4}, "binary_ivf": {"hamming_multiplier": 4}}  # the default, saved
CODE_BYTES = {"int8": lambda d: d, "binary": lambda d: d // 8, "binary_ivf": lambda d: d // 8,
              "rabitq": lambda d: d // 8 + 8}  # rabitq: the bits, then two float32 factors per row


def scores_of(hits) -> list[list[float]]:
    return [[h.score for h in row] for row in hits]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, list[str]]:
    x = clustered(3000, 64, seed=0)
    rng = np.random.default_rng(3)
    q = x[rng.choice(len(x), 40, replace=False)] + 0.3 * rng.standard_normal((40, 64)).astype(np.float32)
    return x, q, [f"sentence {i}" for i in range(len(x))]


@pytest.fixture(scope="module")
def exact_hits(data):
    return build("exact", data).search(data[1], top_k=10)


def build(kind: str, data, **params) -> Index:
    x, _, texts = data
    index = Index(64, kind, **KINDS.get(kind, {}), **params)
    index.add(texts, x)
    return index


@pytest.mark.parametrize("kind", KINDS)
def test_rescoring_every_row_equals_exact_search(kind, data, exact_hits):
    x, q, _ = data
    index = build(kind, data, rescore_multiplier=len(x))  # k * multiplier >= N: every row is a candidate
    hits = index.search(q, top_k=10)
    assert ids_of(hits) == ids_of(exact_hits)
    assert scores_of(hits) == scores_of(exact_hits)  # the same float64 rescoring: equal, not just close


@pytest.mark.parametrize("kind, floor", [("int8", 0.99), ("binary", 0.8), ("binary_ivf", 0.8), ("rabitq", 0.8)])
def test_recall_at_10_with_multiplier_4(kind, floor, data, exact_hits):
    index = build(kind, data)
    assert index.backend.params["rescore_multiplier"] == 4  # the default
    assert recall_at(index.search(data[1], top_k=10), exact_hits) >= floor
    index.set_search_params(rescore_multiplier=1)  # fewer candidates: no better
    assert recall_at(index.search(data[1], top_k=10), exact_hits) <= recall_at(
        build(kind, data).search(data[1], top_k=10), exact_hits)


def test_scores_are_exact_cosines_even_when_candidates_are_not(data):
    x, q, _ = data
    index = build("binary", data, rescore_multiplier=1)
    for query, row in zip(q, index.search(q, top_k=10)):
        unit = query / np.linalg.norm(query)
        for hit in row:
            assert hit.score == pytest.approx(float(x[hit.id] @ unit / np.linalg.norm(x[hit.id])), abs=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_keeps_the_vectors_on_disk(kind, data, tmp_path):
    x, q, texts = data
    index = build(kind, data, rescore_multiplier=3)
    index.remove([5])
    index.save(tmp_path / "idx")
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["codes.faiss", "items.jsonl", "manifest.json",
                                                                     "vectors.npy"]
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["backend"] == kind and manifest["params"] == {**KINDS[kind], **HAMMING.get(kind, {}),
                                                                "rescore_multiplier": 3}
    loaded = Index.load(tmp_path / "idx")
    assert loaded.search(q, top_k=10) == index.search(q, top_k=10)
    # RAM holds the codes; the float32 rows stay in vectors.npy, mapped, not read
    assert len(loaded.store.segments) == 1 and isinstance(loaded.store.segments[0], np.memmap)
    assert loaded.backend.code_bytes == (len(x) - 1) * CODE_BYTES[kind](64)
    assert not any(isinstance(v, np.ndarray) for v in vars(loaded.backend).values())
    tuned = Index.load(tmp_path / "idx", rescore_multiplier=len(x))  # a search-time override
    assert tuned.backend.params["rescore_multiplier"] == len(x)
    loaded.add(["new"], x[5:6] + 0.01)
    assert loaded.search(x[5:6], top_k=1)[0][0].id == len(x)


@pytest.mark.parametrize("kind", KINDS)
def test_remove_and_incremental_add(kind):
    x = clustered(600, 16, seed=4)
    index = Index(16, kind, **({"nlist": 4, "nprobe": 4} if kind == "binary_ivf" else {}))
    index.add([f"s{i}" for i in range(500)], x[:500])
    index.add([f"s{i}" for i in range(500, 600)], x[500:])  # codes of the first fill's ranges / lists
    (hits,) = index.search(x[42:43], top_k=3)
    assert hits[0].id == 42 and hits[0].text == "s42" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    (hits,) = index.search(x[550:551], top_k=1)
    assert hits[0].id == 550
    index.remove([42, 599])
    assert len(index) == 598 and index.backend.index.ntotal == 598
    assert 42 not in [h.id for h in index.search(x[42:43], top_k=10)[0]]


@pytest.mark.parametrize("kind", ["int8", "binary", "rabitq"])
def test_codes_stay_in_step_with_the_rows_through_removes_and_adds(kind, tmp_path):
    """These kinds keep no ids: code i is store row i. After scattered removes and adds the
    load check (every row's code equals its vector encoded again) passes, and the codes are
    the plain FAISS index, with no id map beside them."""
    x = clustered(700, 16, seed=5)
    index = Index(16, kind)
    index.add([f"s{i}" for i in range(500)], x[:500])
    index.remove([0, 3, 250, 251, 499])
    index.add([f"s{i}" for i in range(500, 700)], x[500:])
    index.remove([600, 699])
    assert type(index.backend.index) is {"int8": faiss.IndexScalarQuantizer, "binary": faiss.IndexBinaryFlat,
                                         "rabitq": faiss.IndexRaBitQFastScan}[kind]
    index.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx", rescore_multiplier=700)  # checks every row's code (a small store)
    kept = np.setdiff1d(np.arange(700), [0, 3, 250, 251, 499, 600, 699])
    assert loaded.backend.index.ntotal == len(kept)
    exact = Index(16)
    exact.add([f"s{i}" for i in kept], x[kept], ids=kept)
    assert loaded.search(x[::50], top_k=5) == exact.search(x[::50], top_k=5)


def test_rabitq_loads_with_its_codes_checked_past_the_first_blocks(tmp_path):
    """FastScan packs the codes in blocks of 32 rows; the load check reads rows of every block
    (10,000 rows of dim 8: 313 blocks, past what one block array of FAISS's unpacker spans)."""
    x = clustered(10_000, 8, seed=6)
    index = Index(8, "rabitq")
    index.add([str(i) for i in range(len(x))], x)
    index.save(tmp_path / "idx")
    assert Index.load(tmp_path / "idx").search(x[-3:], top_k=2) == index.search(x[-3:], top_k=2)


def test_binary_codes_after_removes_equal_those_built_from_the_remaining_rows(data):
    x, q, texts = data
    gone = list(range(0, 3000, 7))
    index = build("binary", data, rescore_multiplier=1)
    index.remove(gone)
    kept = np.setdiff1d(np.arange(3000), gone)
    fresh = Index(64, "binary", rescore_multiplier=1)
    fresh.add([texts[i] for i in kept], x[kept], ids=kept)
    assert index.search(q, top_k=10) == fresh.search(q, top_k=10)


@pytest.mark.parametrize("kind", ["int8", "binary", "rabitq"])
def test_a_folder_of_the_earlier_layout_still_loads(kind, data, tmp_path):
    """Before codes were addressed by row they were saved inside a FAISS ID map (simcse's
    stops 18 and 19), rabitq's as a plain ``IndexRaBitQ``: such a file loads to the same
    search; ids out of row order are refused."""
    from simcse.errors import FormatError
    from simcse.index.store import normalize

    x, q, _ = data
    index = build(kind, data)
    index.remove([9, 10])
    index.save(tmp_path / "idx")
    path = tmp_path / "idx" / "codes.faiss"
    binary = kind == "binary"
    rows = index.store.vectors()
    rows = np.packbits(rows > 0, axis=1) if binary else rows
    (tmp_path / "alone.faiss").write_bytes(path.read_bytes())

    def write_wrapped(ids: np.ndarray) -> None:
        codes = (faiss.read_index_binary if binary else faiss.read_index)(str(tmp_path / "alone.faiss"))
        codes.reset()  # keeps what it was trained on: the same rows get the same codes again
        if kind == "rabitq":  # the same centroid: trained on every row as first added (fewer than the sample)
            codes = faiss.IndexRaBitQ(64, faiss.METRIC_INNER_PRODUCT)
            codes.train(normalize(x))
        wrapped = (faiss.IndexBinaryIDMap if binary else faiss.IndexIDMap)(codes)
        wrapped.add_with_ids(rows, ids)
        (faiss.write_index_binary if binary else faiss.write_index)(wrapped, str(path))

    write_wrapped(index.store.ids)
    assert Index.load(tmp_path / "idx").search(q, top_k=10) == index.search(q, top_k=10)
    write_wrapped(index.store.ids[::-1].copy())
    with pytest.raises(FormatError, match="codes.faiss: its ids differ from items.jsonl's"):
        Index.load(tmp_path / "idx")


def test_rabitq_candidates_beat_hamming_on_the_same_bits(data, exact_hits):
    """rabitq scores the float query against the bits; binary compares bits with bits."""
    recall = {kind: recall_at(build(kind, data, rescore_multiplier=1).search(data[1], top_k=10), exact_hits)
              for kind in ("binary", "rabitq")}
    assert recall["rabitq"] > recall["binary"]


def test_sign_scores_are_inner_products_with_the_signs():
    from simcse.index.quantized import sign_bits, sign_scores

    rng = np.random.default_rng(7)
    q, x = rng.standard_normal((3, 13)), rng.standard_normal((3, 5, 13))  # 13 bits: padding in the last byte
    codes = np.stack([sign_bits(rows) for rows in x])
    want = np.einsum("qd,qpd->qp", q, np.where(x > 0, 1.0, -1.0))
    np.testing.assert_allclose(sign_scores(q, codes), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["binary", "binary_ivf"])
@pytest.mark.parametrize("block", [1 << 26, 3000 * 8 * 7])  # the 40 queries in one block, or 7 at a time
def test_narrowing_by_signs_equals_brute_force(kind, block, data, monkeypatch):
    """With a Hamming pool that covers the index, the candidates kept are the best ``k *
    rescore_multiplier`` rows of all by the float query's inner product with their sign bits,
    best first, whatever the blocks the scoring is cut into."""
    import simcse.index.quantized as quantized

    monkeypatch.setattr(quantized, "CODE_BLOCK", block)
    x, q, _ = data
    index = build(kind, data, hamming_multiplier=len(x))
    got = index.backend._by_signs(q, 40)
    want = np.argsort(-(q @ np.where(x > 0, 1.0, -1.0).T), axis=1, kind="stable")[:, :40]
    assert np.array_equal(got, want)  # ids are rows here (added 0..N-1)


def test_narrowing_by_signs_finds_better_candidates_than_hamming_alone(data, exact_hits):
    recall = {c: recall_at(build("binary", data, rescore_multiplier=1, hamming_multiplier=c).search(data[1], top_k=10),
                           exact_hits) for c in (1, 8)}
    assert recall[8] > recall[1]


def test_small_corpus_returns_what_it_has():
    index = Index(8, "binary")
    index.add(["a", "b"], np.eye(8, dtype=np.float32)[:2])
    (hits,) = index.search(np.eye(8, dtype=np.float32)[:1], top_k=5)
    assert [h.id for h in hits] == [0, 1]
    assert Index(8, "int8").search(np.ones((1, 8)), top_k=3) == [[]]  # empty, untrained


def test_documents_are_searched_exactly_with_full_coverage(data):
    from simcse.documents import Document

    x, q, _ = data
    docs = [Document(f"d{i}", "passage " * 5, {"n": i % 2}) for i in range(300)]
    spans = [[(0, 8), (8, 16), (16, 24)] for _ in docs]  # 3 passages each

    def filled(kind: str, **params) -> Index:
        from simcse.index import DocumentTable

        index = Index(64, kind, documents=DocumentTable(chunk_tokens=8, chunk_overlap=0), **params)
        index.upsert_documents(docs, spans, x[:900])
        index.delete_documents(["d7"])
        index.upsert_documents(docs[:2], spans[:2], x[900:906])  # replaced
        return index

    want = filled("exact").search_documents(q, top_k=5, where={"n": 1})
    got = filled("binary", rescore_multiplier=2000).search_documents(q, top_k=5, where={"n": 1})
    assert got == want


def test_parameters_are_checked():
    with pytest.raises(ConfigError, match=r"rescore_multiplier must be an integer in \[1, "):
        Index(8, "int8", rescore_multiplier=0)
    with pytest.raises(ConfigError, match="takes parameters"):
        Index(8, "binary", nprobe=4)
    index = Index(8, "binary")
    with pytest.raises(ConfigError, match=r"search parameters \['rescore_multiplier', 'hamming_multiplier'\], got 'nprobe'"):
        index.set_search_params(nprobe=3)
    with pytest.raises(ConfigError, match="got 'hamming_multiplier'"):
        Index(8, "int8").set_search_params(hamming_multiplier=2)
    with pytest.raises(ConfigError, match=r"hamming_multiplier must be an integer in \[1, "):
        index.set_search_params(hamming_multiplier=0)
    with pytest.raises(ConfigError, match="needs at least 64 vectors"):
        Index(8, "binary_ivf", nlist=64).add(["a"], np.ones((1, 8), np.float32))
    hnsw = Index(8, "hnsw")
    with pytest.raises(ConfigError, match="got 'rescore_multiplier'"):
        hnsw.set_search_params(rescore_multiplier=2)


def test_odd_dimension_pads_the_sign_bits():
    x = clustered(200, 13, seed=1)  # 13 bits -> 2 bytes, 3 padding bits that are always 0
    index = Index(13, "binary", rescore_multiplier=200)
    index.add([str(i) for i in range(200)], x)
    exact = Index(13)
    exact.add([str(i) for i in range(200)], x)
    assert ids_of(index.search(x[:5], top_k=5)) == ids_of(exact.search(x[:5], top_k=5))
    assert index.backend.code_bytes == 200 * 2


@pytest.mark.parametrize("kind", ["int8", "binary"])
def test_cli_build_and_search(kind, tiny_bert, tmp_path, capsys):
    from simcse.cli import main
    from test_index_cli import CORPUS

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    out = tmp_path / "idx"
    model = ["--model", str(tiny_bert), "--pooler", "avg", "--device", "cpu"]
    assert main(["index", "build", *model, "--input", str(corpus), "--out", str(out), "--backend", kind,
                 "--rescore-multiplier", "2"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend"] == kind and manifest["params"] == {"rescore_multiplier": 2, **HAMMING.get(kind, {})}
    assert (out / "codes.faiss").is_file()
    capsys.readouterr()
    # every row a candidate: the query's own line first, at cosine 1, then in exact order
    assert main(["search", "--index", str(out), "--device", "cpu", "--top-k", "20", "--rescore-multiplier", "20",
                 CORPUS[7]]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == len(CORPUS) and {int(i): float(s) for s, i, _ in rows}[7] == pytest.approx(1.0, abs=1e-4)
    assert [float(r[0]) for r in rows] == sorted((float(r[0]) for r in rows), reverse=True)
    if kind == "binary":  # the search-time flag reaches the index: a pool of 2 x 3 rows, narrowed to 3
        assert main(["search", "--index", str(out), "--device", "cpu", "--top-k", "3", "--rescore-multiplier", "1",
                     "--hamming-multiplier", "2", CORPUS[7]]) == 0
        assert len(capsys.readouterr().out.splitlines()) == 3
        assert main(["search", "--index", str(out), "--device", "cpu", "--hamming-multiplier", "0", "cat"]) == 2
        assert "hamming_multiplier must be >= 1, got 0" in capsys.readouterr().err
    assert main(["index", "build", *model, "--input", str(corpus), "--out", str(tmp_path / "x"),
                 "--rescore-multiplier", "2"]) == 2  # exact takes no parameters: refused before encoding
    assert "backend 'exact' takes no parameters; got --rescore-multiplier" in capsys.readouterr().err
    assert main(["search", "--index", str(out), "--device", "cpu", "--nprobe", "4", "cat"]) == 2
    assert "got 'nprobe'" in capsys.readouterr().err


def test_serve_searches_a_loaded_binary_index(tiny_bert, tmp_path):
    pytest.importorskip("fastapi", reason="pip install 'simcse[serve]'")
    pytest.importorskip("httpx", reason="the TestClient needs httpx")
    from samples import SENTENCES
    from serve_helpers import local_client
    from simcse.api import SimCSE
    from simcse.serve import ServeConfig, create_app

    model = SimCSE(tiny_bert, device="cpu", pooler="avg")
    index = Index(model.dim, "binary", model=model.model_name, pooler="avg")
    index.add(SENTENCES, model.encode(SENTENCES, normalize=True))
    index.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx", rescore_multiplier=len(SENTENCES))
    client = local_client(create_app(model, loaded, ServeConfig()))
    health = client.get("/health").json()["index"]
    assert health["backend"] == "binary" and health["params"] == {"rescore_multiplier": len(SENTENCES),
                                                                  "hamming_multiplier": 4}
    results = client.post("/search", json={"queries": [SENTENCES[1]], "top_k": 3}).json()["results"][0]
    expected = loaded.search(model.encode([SENTENCES[1]], normalize=True), top_k=3)[0]
    assert [h["id"] for h in results] == [h.id for h in expected] and results[0]["id"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_index_saves_and_loads(kind, tmp_path):
    Index(8, kind).save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx")
    assert len(loaded) == 0 and loaded.search(np.ones((1, 8)), top_k=2) == [[]]
