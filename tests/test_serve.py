"""The HTTP API through FastAPI's TestClient on the tiny model: every endpoint, every bad input."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="pip install 'simcse[serve]'")
pytest.importorskip("httpx", reason="the TestClient needs httpx")
from fastapi.testclient import TestClient  # noqa: E402

from samples import SENTENCES  # noqa: E402
from simcse.api import SimCSE  # noqa: E402
from simcse.index import Index  # noqa: E402
from simcse.serve import ServeConfig, create_app  # noqa: E402

KEY = "test-key-123"


@pytest.fixture(scope="module")
def model(tiny_bert) -> SimCSE:
    return SimCSE(tiny_bert, device="cpu", pooler="avg")


@pytest.fixture(scope="module")
def index(model) -> Index:
    index = Index(model.dim, model=model.model_name, pooler="avg")
    index.add(SENTENCES, model.encode(SENTENCES, normalize=True))
    return index


@pytest.fixture(scope="module")
def client(model, index) -> TestClient:
    return TestClient(create_app(model, index, ServeConfig(max_texts=4, max_chars=50, max_top_k=5)))


def test_health_docs_and_page(client, model):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["dim"] == model.dim and health["index"]["count"] == len(SENTENCES)
    assert health["auth_required"] is False and health["limits"]["max_top_k"] == 5
    assert client.get("/docs").status_code == 200
    assert set(client.get("/openapi.json").json()["paths"]) == {"/health", "/encode", "/similarity", "/search"}
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"] and 'id="query"' in page.text


def test_encode_and_similarity_match_the_library(client, model):
    resp = client.post("/encode", json={"texts": SENTENCES[:2]})
    assert resp.status_code == 200
    emb = np.array(resp.json()["embeddings"])
    np.testing.assert_allclose(emb, model.encode(SENTENCES[:2], normalize=True), atol=1e-5)
    raw = np.array(client.post("/encode", json={"texts": SENTENCES[:1], "normalize": False}).json()["embeddings"])
    np.testing.assert_allclose(raw, model.encode(SENTENCES[:1]), atol=1e-5)
    sim = client.post("/similarity", json={"queries": SENTENCES[:2], "keys": SENTENCES[:3]}).json()["scores"]
    np.testing.assert_allclose(sim, model.similarity(SENTENCES[:2], SENTENCES[:3]), atol=1e-5)


def test_search(client, model, index):
    resp = client.post("/search", json={"queries": [SENTENCES[0], SENTENCES[4]], "top_k": 3, "threshold": -1})
    assert resp.status_code == 200
    body = resp.json()
    assert len(body["results"]) == 2 and body["took_ms"] >= 0
    first = body["results"][0]
    assert len(first) == 3 and {"id", "text", "score"} == set(first[0])
    expected = index.search(model.encode([SENTENCES[0]], normalize=True), top_k=3)[0]
    assert [h["id"] for h in first] == [h.id for h in expected]
    high = client.post("/search", json={"queries": ["cat"], "top_k": 5, "threshold": 0.999}).json()["results"][0]
    assert all(h["score"] >= 0.999 for h in high)


@pytest.mark.parametrize("path, body, status, message", [
    ("/encode", {"texts": []}, 422, "at least 1"),
    ("/encode", {"texts": ["a"] * 5}, 422, "5 items, at most 4"),
    ("/encode", {"texts": ["x" * 51]}, 422, "51 characters, at most 50"),
    ("/encode", {"texts": ["   "]}, 422, "texts[0]: empty text"),
    ("/encode", {"texts": "a string"}, 422, "valid list"),
    ("/encode", {"texts": [1, 2]}, 422, "valid string"),
    ("/encode", {"texts": ["a"], "normalize": "yes"}, 422, "valid boolean"),
    ("/encode", {"sentences": ["a"]}, 422, "texts"),
    ("/similarity", {"queries": ["a"], "keys": []}, 422, "at least 1"),
    ("/similarity", {"queries": ["a"], "keys": ["b"] * 9}, 422, "keys: 9 items"),
    ("/search", {"queries": []}, 422, "at least 1"),
    ("/search", {"queries": ["cat"], "top_k": 6}, 422, "top_k: 6, at most 5"),
    ("/search", {"queries": ["cat"], "top_k": 0}, 422, "greater than or equal to 1"),
    ("/search", {"queries": ["cat"], "top_k": "3"}, 422, "valid integer"),
    ("/search", {"queries": ["cat"], "threshold": 2}, 422, "less than or equal to 1"),
    ("/search", {"queries": ["x" * 60]}, 422, "60 characters"),
])
def test_bad_inputs_are_4xx_with_a_message(client, path, body, status, message):
    resp = client.post(path, json=body)
    assert resp.status_code == status
    assert message in str(resp.json()["detail"])


def test_malformed_json_is_422(client):
    resp = client.post("/search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 422


def test_search_without_index_is_400(model):
    resp = TestClient(create_app(model, None)).post("/search", json={"queries": ["cat"]})
    assert resp.status_code == 400 and "--index" in resp.json()["detail"]


def test_api_key(model, index):
    client = TestClient(create_app(model, index, ServeConfig(api_key=KEY)))
    assert client.get("/health").json()["auth_required"] is True  # health and the page stay open
    for headers in ({}, {"X-API-Key": "wrong-key-000"}):
        resp = client.post("/search", json={"queries": ["cat"]}, headers=headers)
        assert resp.status_code == 401 and "X-API-Key" in resp.json()["detail"]
    assert client.post("/encode", json={"texts": ["cat"]}, headers={"X-API-Key": KEY}).status_code == 200


def test_non_loopback_host_needs_a_key():
    with pytest.raises(ValueError, match="non-loopback host '0.0.0.0' without --api-key"):
        ServeConfig(host="0.0.0.0")
    assert ServeConfig(host="0.0.0.0", api_key=KEY).host == "0.0.0.0"
    assert ServeConfig(host="::1").host == "::1" and ServeConfig(host="localhost").host == "localhost"
    with pytest.raises(ValueError, match="max_texts"):
        ServeConfig(max_texts=0)


def test_serve_cli_refuses_public_bind_without_key(tiny_bert, capsys, monkeypatch):
    from simcse.cli import main

    monkeypatch.delenv("SIMCSE_API_KEY", raising=False)
    assert main(["serve", "--model", str(tiny_bert), "--pooler", "avg", "--host", "0.0.0.0"]) == 2
    assert "without --api-key" in capsys.readouterr().err


def test_batcher_merges_concurrent_calls_and_keeps_rows_apart():
    from concurrent.futures import ThreadPoolExecutor

    from simcse.serve.batching import EncodeBatcher

    calls = []

    def encode(texts):
        calls.append(len(texts))
        if "boom" in texts:
            raise RuntimeError("encoder failed")
        return np.array([[len(t), i] for i, t in enumerate(texts)], dtype=np.float32)

    batcher = EncodeBatcher(encode, max_batch=64)
    inputs = [["a" * (i + 1)] * (1 + i % 3) for i in range(40)]
    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(batcher.encode, inputs))
    assert all(out.shape == (len(inp), 2) and (out[:, 0] == len(inp[0])).all() for inp, out in zip(inputs, outs))
    assert sum(calls) == sum(map(len, inputs))
    with pytest.raises(RuntimeError, match="encoder failed"):
        batcher.encode(["boom"])
    assert batcher.encode(["ok"]).shape == (1, 2)  # the worker survives an error
    batcher.close()
