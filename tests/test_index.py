"""The Index: backends agree with exact search, persistence round-trips, writes are atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simcse.errors import ConfigError, FormatError
from simcse.index import BACKENDS, Index, Manifest

FAISS_KINDS = ("flat", "ivf_flat", "hnsw", "ivf_pq")


def clustered(n: int, dim: int, seed: int, centers: int = 50) -> np.ndarray:
    """A Gaussian mixture: ``centers`` random means, unit-variance-ish noise around them."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((centers, dim)).astype(np.float32)
    return means[rng.integers(0, centers, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, list[str]]:
    x = clustered(4000, 32, seed=0)
    rng = np.random.default_rng(2)
    q = x[rng.choice(len(x), 50, replace=False)] + 0.3 * rng.standard_normal((50, 32)).astype(np.float32)  # near the data
    return x, q, [f"sentence {i}" for i in range(len(x))]


def ids_of(hits) -> list[list[int]]:
    return [[h.id for h in row] for row in hits]


def recall_at(approx, exact, k: int = 10) -> float:
    return float(np.mean([len(set(a[:k]) & set(e[:k])) / k for a, e in zip(ids_of(approx), ids_of(exact))]))


def test_exact_matches_hand_computed_cosine():
    index = Index(2)
    ids = index.add(["east", "north", "north-east"], np.array([[2, 0], [0, 3], [1, 1]], dtype=np.float32))
    assert ids.tolist() == [0, 1, 2]
    (hits,) = index.search(np.array([[1, 0.2]], dtype=np.float32), top_k=2)
    assert [h.text for h in hits] == ["east", "north-east"]
    assert hits[0].score == pytest.approx(1 / np.sqrt(1.04), abs=1e-6)
    assert hits[1].score == pytest.approx(1.2 / np.sqrt(2 * 1.04), abs=1e-6)
    assert index.search(np.array([[1, 0.2]]), top_k=5, threshold=0.9)[0] == hits[:1]
    with pytest.raises(ValueError, match="top_k"):
        index.search(np.ones((1, 2)), top_k=0)


def test_exact_scans_memory_mapped_blocks_like_one_matrix(data, monkeypatch, tmp_path):
    x, q, texts = data
    index = Index(32)
    index.add(texts, x)
    whole = index.search(q, top_k=10)
    index.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx", mmap=True)
    assert isinstance(loaded.store.segments[0], np.memmap)
    monkeypatch.setattr("simcse.index.store.CHUNK_ROWS", 333)  # many blocks, the last one partial
    assert ids_of(loaded.search(q, top_k=10)) == ids_of(whole)


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(ValueError, match="valid: exact, flat, ivf_flat, hnsw, ivf_pq, int8, binary, binary_ivf, rabitq"):
        Index(8, "annoy")
    assert set(BACKENDS) == {"exact", *FAISS_KINDS, "int8", "binary", "binary_ivf", "rabitq"}  # quantized: test_quantized_index.py


@pytest.fixture(scope="module")
def exact_hits(data):
    x, q, texts = data
    index = Index(32)
    index.add(texts, x)
    return index.search(q, top_k=10)


def test_faiss_flat_equals_exact(data, exact_hits):
    pytest.importorskip("faiss", reason="pip install faiss-cpu")
    x, q, texts = data
    index = Index(32, "flat")
    index.add(texts, x)
    hits = index.search(q, top_k=10)
    assert ids_of(hits) == ids_of(exact_hits)
    np.testing.assert_allclose([[h.score for h in r] for r in hits], [[h.score for h in r] for r in exact_hits], atol=1e-5)


@pytest.mark.parametrize("backend, params", [("ivf_flat", {"nlist": 32, "nprobe": 8}), ("hnsw", {"m": 16})])
def test_approximate_recall_at_10(data, exact_hits, backend, params):
    pytest.importorskip("faiss", reason="pip install faiss-cpu")
    x, q, texts = data
    index = Index(32, backend, **params)
    index.add(texts, x)
    assert recall_at(index.search(q, top_k=10), exact_hits) >= 0.9


def test_ivf_pq_runs_and_nprobe_is_tunable(data, exact_hits):
    pytest.importorskip("faiss", reason="pip install faiss-cpu")
    x, q, texts = data
    index = Index(32, "ivf_pq", nlist=16, nprobe=16, pq_m=8, pq_bits=4)  # 4-bit codes: fast to train
    index.add(texts, x)
    assert recall_at(index.search(q, top_k=10), exact_hits) >= 0.2  # 4-byte codes: coarse, far above chance (0.0025)
    index.set_search_params(nprobe=1)
    assert index.backend.params["nprobe"] == 1
    with pytest.raises(ValueError, match="ef_search"):
        index.set_search_params(ef_search=10)
    with pytest.raises(ValueError, match="nlist"):
        Index(32, "ivf_flat", m=4)


@pytest.mark.parametrize("backend", ["exact", *FAISS_KINDS])
def test_remove_by_id_and_incremental_add(backend):
    if backend != "exact":
        pytest.importorskip("faiss", reason="pip install faiss-cpu")
    x = clustered(600, 16, seed=4)
    params = {"nlist": 4, "nprobe": 4, "pq_m": 4, "pq_bits": 4} if backend == "ivf_pq" else {"nlist": 4, "nprobe": 4} if backend == "ivf_flat" else {}
    index = Index(16, backend, **params)
    index.add([f"s{i}" for i in range(500)], x[:500])
    index.add([f"s{i}" for i in range(500, 600)], x[500:])  # incremental: ids continue
    assert len(index) == 600 and index.next_id == 600
    (hits,) = index.search(x[42:43], top_k=10)  # top-10: ivf_pq's codes are lossy
    assert any(h.id == 42 and h.text == "s42" for h in hits)
    index.remove([42, 599])
    assert len(index) == 598
    (hits,) = index.search(x[42:43], top_k=10)
    assert 42 not in [h.id for h in hits]
    with pytest.raises(KeyError, match="42"):
        index.remove([42])
    assert len(index) == 598


@pytest.mark.parametrize("backend", ["exact", "ivf_flat", "hnsw"])
def test_save_load_round_trip(tmp_path, data, backend):
    if backend != "exact":
        pytest.importorskip("faiss", reason="pip install faiss-cpu")
    x, q, texts = data
    index = Index(32, backend, model="some/model", pooler="avg")
    index.add(texts[:1000], x[:1000])
    index.remove([3])
    index.save(tmp_path / "idx")
    names = sorted(p.name for p in (tmp_path / "idx").iterdir())
    assert names == (["items.jsonl", "manifest.json", "vectors.npy"] if backend == "exact"
                     else ["index.faiss", "items.jsonl", "manifest.json", "vectors.npy"])
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest | {"params": None} == {"model": "some/model", "dim": 32, "pooler": "avg", "backend": backend,
                                           "params": None, "count": 999, "next_id": 1000,
                                           "fingerprint": "", "metric": "inner_product", "format_version": 1}
    loaded = Index.load(tmp_path / "idx", model="some/model", dim=32, pooler="avg")
    assert loaded.search(q, top_k=5) == index.search(q, top_k=5)
    loaded.add(["new"], x[1000:1001])
    assert loaded.search(x[1000:1001], top_k=1)[0][0].id == 1000
    assert not any(p.suffix == ".pkl" for p in (tmp_path / "idx").iterdir())


@pytest.mark.parametrize("failing", ["simcse.index.manifest.Manifest.write", "simcse.index.store.VectorStore.save"])
def test_crash_during_save_keeps_previous_index(tmp_path, data, monkeypatch, failing):
    x, q, texts = data
    old = Index(32, model="m")
    old.add(texts[:10], x[:10])
    old.save(tmp_path / "idx")
    new = Index(32, model="m")
    new.add(texts[:20], x[:20])

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(failing, crash)
    with pytest.raises(OSError, match="simulated"):
        new.save(tmp_path / "idx")
    monkeypatch.undo()
    assert len(Index.load(tmp_path / "idx")) == 10
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no temporary folder left behind


def test_crash_while_writing_faiss_file_keeps_previous_index(tmp_path, data, monkeypatch):
    faiss = pytest.importorskip("faiss", reason="pip install faiss-cpu")
    x, q, texts = data
    old = Index(32, "flat", model="m")
    old.add(texts[:10], x[:10])
    old.save(tmp_path / "idx")
    old.add(texts[10:20], x[10:20], ids=range(10, 20))

    def crash(index, path):
        open(path, "wb").write(b"half a file")
        raise OSError("killed mid-write (simulated)")

    monkeypatch.setattr(faiss, "write_index", crash)
    with pytest.raises(OSError):
        old.save(tmp_path / "idx")
    monkeypatch.undo()
    assert len(Index.load(tmp_path / "idx")) == 10


def test_wrong_model_or_dimension_is_refused(tmp_path, data):
    x, _, texts = data
    index = Index(32, model="org/model-a", pooler="cls")
    index.add(texts[:5], x[:5])
    index.save(tmp_path / "idx")
    with pytest.raises(ValueError, match=r"built with model 'org/model-a' \(dim 32.*'org/model-b'.*different model"):
        Index.load(tmp_path / "idx", model="org/model-b")
    with pytest.raises(ValueError, match="different dimension"):
        Index.load(tmp_path / "idx", dim=64)
    with pytest.raises(ValueError, match="different pooler"):
        Index.load(tmp_path / "idx", pooler="avg")
    assert Manifest.read(tmp_path / "idx").count == 5


def test_other_weights_of_the_same_model_are_refused(tmp_path, data):
    x, _, texts = data
    index = Index(32, model="org/model-a", fingerprint="0123456789abcdef")
    index.add(texts[:5], x[:5])
    index.save(tmp_path / "idx")
    assert Manifest.read(tmp_path / "idx").fingerprint == "0123456789abcdef"
    with pytest.raises(ConfigError, match=r"idx: the weights of org/model-a changed since this index was built .*rebuild"):
        Index.load(tmp_path / "idx", model="org/model-a", fingerprint="fedcba9876543210")
    assert len(Index.load(tmp_path / "idx", fingerprint="0123456789abcdef")) == 5
    assert len(Index.load(tmp_path / "idx", fingerprint="")) == 5  # unknown: not compared
    Index(32).save(tmp_path / "old")  # written without a fingerprint, as older folders are
    assert Index.load(tmp_path / "old", fingerprint="fedcba9876543210").fingerprint == ""


def test_bad_folders_name_the_file(tmp_path, data):
    x, _, texts = data
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        Index.load(tmp_path)
    index = Index(32)
    index.add(texts[:3], x[:3])
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / "items.jsonl").write_text('{"id": 0, "text": "a"}\nnot json\n{"id": 2, "text": "c"}\n')
    with pytest.raises(ValueError, match=r"items.jsonl:2:"):
        Index.load(tmp_path / "idx")
    with pytest.raises(ValueError, match="ids must be unique"):
        index.add(["dup"], x[:1], ids=[0])


def test_failed_add_leaves_the_index_unchanged():
    pytest.importorskip("faiss", reason="pip install faiss-cpu")
    index = Index(8, "ivf_flat", nlist=64)
    with pytest.raises(ValueError, match="needs at least 64 vectors"):
        index.add(["a", "b"], np.ones((2, 8), np.float32))
    assert len(index) == 0 and index.next_id == 0


def test_ids_repeated_within_one_add_are_named():
    index = Index(2)
    with pytest.raises(ValueError, match=r"ids must be unique; already used or repeated: \[5\]"):
        index.add(["a", "b", "c"], np.eye(2, dtype=np.float32)[[0, 1, 0]], ids=[5, 6, 5])
    assert len(index) == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.0])
def test_vectors_that_are_not_finite_and_non_zero_are_not_indexed(bad):
    """A user's data error (e.g. a diverged float16 model's NaN), one line: DataError, not a bare ValueError."""
    from simcse.errors import DataError
    from simcse.index.store import VectorStore

    index = Index(2)
    vectors = np.array([[1, 0], [bad, bad]], dtype=np.float32)
    with pytest.raises(DataError, match="vector 1 is not finite or is zero"):
        index.add(["a", "b"], vectors)
    assert len(index) == 0
    store = VectorStore(2)
    store.append(np.arange(2), ["a", "b"], vectors)
    with pytest.raises(DataError, match="row 1 is not a finite unit vector"):
        Index.from_store(store)


def test_backend_parameters_are_checked_when_created_and_tuned():
    pytest.importorskip("faiss", reason="pip install faiss-cpu")
    with pytest.raises(ConfigError, match=r"nprobe must be an integer in \[1, "):
        Index(8, "ivf_flat", nprobe=0)
    with pytest.raises(ConfigError, match="ef_search must be an integer"):
        Index(8, "hnsw", ef_search=-5)
    with pytest.raises(ConfigError, match="m must be an integer"):
        Index(8, "hnsw", m="8")
    index = Index(8, "hnsw")
    with pytest.raises(ConfigError, match="ef_search must be an integer"):
        index.set_search_params(ef_search=0)
    assert index.backend.params["ef_search"] == 128


def test_big_vector_file_is_checked_on_a_sample_that_includes_its_tail(tmp_path, monkeypatch):
    monkeypatch.setattr("simcse.index.store.FULL_CHECK_BYTES", 1024)  # 8 rows of dim 32
    monkeypatch.setattr("simcse.index.store.SAMPLE_ROWS", 10)
    x = clustered(500, 32, seed=5)
    index = Index(32)
    index.add([f"s{i}" for i in range(500)], x)
    index.save(tmp_path / "idx")
    vectors = np.load(tmp_path / "idx" / "vectors.npy", mmap_mode="r+")
    assert len(index.store.sample_rows()) == 16 * 10 and index.store.sample_rows()[-1] == 499
    vectors[250] = np.nan  # between two sampled blocks: the price of sampling
    vectors.flush()
    assert len(Index.load(tmp_path / "idx")) == 500
    vectors[-3:] = 0.0  # a zeroed tail is always seen
    vectors.flush()
    with pytest.raises(FormatError, match=r"vectors.npy: row 497 is not a finite unit vector \(norm 0\)"):
        Index.load(tmp_path / "idx")
