"""The HTTP API through FastAPI's TestClient on the tiny model: every endpoint, every bad input,
and the defences of issue 12 (neighbour isolation, strict numbers, body limit, key before body,
Host allow-list, request deadlines under a real uvicorn)."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="pip install 'simcse[serve]'")
pytest.importorskip("httpx", reason="the TestClient needs httpx")

from samples import SENTENCES  # noqa: E402
from serve_helpers import JSON, KEY, FakeEmbedder, free_port, local_client, running  # noqa: E402
from simcse.api import SimCSE  # noqa: E402
from simcse.index import DEFAULT_THRESHOLD, DEFAULT_TOP_K, Index  # noqa: E402
from simcse.serve import ServeConfig, create_app  # noqa: E402


@pytest.fixture(scope="module")
def model(tiny_bert) -> SimCSE:
    return SimCSE(tiny_bert, device="cpu", pooler="avg")


@pytest.fixture(scope="module")
def index(model) -> Index:
    index = Index(model.dim, model=model.model_name, pooler="avg")
    index.add(SENTENCES, model.encode(SENTENCES, normalize=True))
    return index


@pytest.fixture(scope="module")
def client(model, index):
    return local_client(create_app(model, index, ServeConfig(max_texts=4, max_chars=50, max_top_k=5)))


def test_health_docs_and_page(client, model):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["dim"] == model.dim and health["index"]["count"] == len(SENTENCES)
    assert health["auth_required"] is False and health["limits"]["max_top_k"] == 5
    assert health["search_defaults"] == {"top_k": DEFAULT_TOP_K, "threshold": DEFAULT_THRESHOLD}  # one definition
    assert client.get("/docs").status_code == 200
    assert set(client.get("/openapi.json").json()["paths"]) == {"/health", "/encode", "/similarity", "/search",
                                                               "/documents", "/documents/{doc_id}"}
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
    ("/encode", {"texts": ["a"] * 5}, 422, "texts: 5 texts, more than the limit of 4"),
    ("/encode", {"texts": ["x" * 51]}, 422, "texts[0]: 51 characters, more than the limit of 50"),
    ("/encode", {"texts": ["   "]}, 422, "texts[0]: empty text"),
    ("/encode", {"texts": "a string"}, 422, "valid list"),
    ("/encode", {"texts": [1, 2]}, 422, "valid string"),
    ("/encode", {"texts": ["a"], "normalize": "yes"}, 422, "valid boolean"),
    ("/encode", {"sentences": ["a"]}, 422, "texts"),
    ("/similarity", {"queries": ["a"], "keys": []}, 422, "at least 1"),
    ("/similarity", {"queries": ["a"], "keys": ["b"] * 9}, 422, "keys: 9 texts"),
    ("/search", {"queries": []}, 422, "at least 1"),
    ("/search", {"queries": ["cat"], "top_k": 6}, 422, "top_k: 6, at most 5"),
    ("/search", {"queries": ["cat"], "top_k": 0}, 422, "greater than or equal to 1"),
    ("/search", {"queries": ["cat"], "top_k": "3"}, 422, "valid integer"),
    ("/search", {"queries": ["cat"], "threshold": 2}, 422, "less than or equal to 1"),
    ("/search", {"queries": ["x" * 60]}, 422, "60 characters"),
    ("/search", {"queries": ["cat"], "top_k": 10**40}, 422, "at most 5"),
    ("/search", {"queries": ["cat"], "threshold": "0.5"}, 422, "valid number"),
    ("/search", {"queries": ["cat"], "threshold": True}, 422, "valid number"),
    ("/encode", {"texts": ["a\ud800b"]}, 422, "texts[0]: ill-formed Unicode (lone surrogate U+D800"),
    ("/encode", {"texts": ["ok", "a\x00b"]}, 422, "texts[1]: control character U+0000"),
    ("/similarity", {"queries": ["a"], "keys": ["a\x85"]}, 422, "keys[0]: control character U+0085"),
])
def test_bad_inputs_are_4xx_with_a_message(client, path, body, status, message):
    resp = client.post(path, content=json.dumps(body), headers=JSON)  # httpx's json= cannot send "\ud800"
    assert resp.status_code == status
    assert message in str(resp.json()["detail"])


def test_malformed_json_is_422(client):
    resp = client.post("/search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 422


def test_search_without_index_is_400(model):
    resp = local_client(create_app(model, None)).post("/search", json={"queries": ["cat"]})
    assert resp.status_code == 400 and "--index" in resp.json()["detail"]


def test_api_key(model, index):
    client = local_client(create_app(model, index, ServeConfig(api_key=KEY)))
    assert client.get("/health").json()["auth_required"] is True  # health and the page stay open
    for headers in ({}, {"X-API-Key": "wrong-key-000"}):
        resp = client.post("/search", json={"queries": ["cat"]}, headers=headers)
        assert resp.status_code == 401 and "X-API-Key" in resp.json()["detail"]
    assert client.post("/encode", json={"texts": ["cat"]}, headers={"X-API-Key": KEY}).status_code == 200


def test_non_loopback_host_needs_a_key():
    with pytest.raises(ValueError, match="non-loopback host '0.0.0.0' without --api-key"):
        ServeConfig(host="0.0.0.0")
    assert ServeConfig(host="0.0.0.0", api_key=KEY, allowed_hosts=("search.internal",)).host == "0.0.0.0"
    assert ServeConfig(host="::1").host == "::1" and ServeConfig(host="localhost").host == "localhost"
    with pytest.raises(ValueError, match="max_texts"):
        ServeConfig(max_texts=0)


def test_serve_cli_refuses_public_bind_without_key(tiny_bert, capsys, monkeypatch):
    from simcse.cli import main

    monkeypatch.delenv("SIMCSE_API_KEY", raising=False)
    assert main(["serve", "--model", str(tiny_bert), "--pooler", "avg", "--host", "0.0.0.0"]) == 2
    assert "without --api-key" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_every_interface_needs_allowed_hosts(host):
    """No client sends ``Host: 0.0.0.0``: without --allowed-hosts every remote request would be a 400."""
    with pytest.raises(ValueError, match=f"--host {host} listens on every interface.*pass --allowed-hosts"):
        ServeConfig(host=host, api_key=KEY)
    assert ServeConfig(host=host, api_key=KEY, allowed_hosts=("*",)).allowed_hosts == ("*",)


def test_closing_the_batcher_fails_the_queued_jobs_instead_of_leaving_them_waiting():
    import threading

    from simcse.serve.batching import EncodeBatcher

    started, release = threading.Event(), threading.Event()

    def encode(texts):
        started.set()
        release.wait(10)
        return np.zeros((len(texts), 2), dtype=np.float32)

    batcher = EncodeBatcher(encode, max_batch=1)
    with ThreadPoolExecutor(5) as pool:  # the first job, three queued, close()
        running = pool.submit(batcher.encode, ["first"])
        assert started.wait(10)  # the worker is busy with the first job
        queued = [pool.submit(batcher.encode, [f"queued {i}"]) for i in range(3)]
        while batcher._queue.qsize() < 3:
            time.sleep(0.01)
        closer = pool.submit(batcher.close)
        for future in queued:  # at once, not after the running batch
            with pytest.raises(RuntimeError, match="shutting down"):
                future.result(timeout=5)
        release.set()
        assert running.result(timeout=5).shape == (1, 2)  # the batch in progress finishes
        closer.result(timeout=15)
    with pytest.raises(RuntimeError, match="shutting down"):
        batcher.encode(["too late"])


def test_batcher_merges_concurrent_calls_and_keeps_rows_apart():
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


def test_a_failing_request_fails_alone():
    """Issue 12: 30 concurrent requests, one of which makes the model raise inside the merged
    forward pass; every other one gets its 200 (before the fix, its batch neighbours got 500)."""
    model = FakeEmbedder(poison="poison", first_call_delay=1.0)
    client = local_client(create_app(model), raise_server_exceptions=False)
    texts = [f"sentence {i}" for i in range(30)]
    texts[17] = "poison"
    with ThreadPoolExecutor(30) as pool:
        first = pool.submit(client.post, "/encode", json={"texts": [texts[0]]})
        time.sleep(0.2)  # the first request now holds the encode thread: the other 29 queue up
        rest = list(pool.map(lambda t: client.post("/encode", json={"texts": [t]}), texts[1:]))
    codes = [resp.status_code for resp in [first.result(), *rest]]
    assert codes[17] == 500
    assert codes[:17] + codes[18:] == [200] * 29
    assert max(model.calls) > 1  # the 29 were merged, so the culprit was found by retrying alone


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("path, template", [
    ("/search", '{"queries": ["cat"], "threshold": %s}'),
    ("/search", '{"queries": ["cat"], "top_k": %s}'),
    ("/encode", '{"texts": ["cat"], "normalize": %s}'),
])
def test_nan_and_infinity_are_422_not_500(client, path, template, literal):
    resp = client.post(path, content=template % literal, headers=JSON)
    assert resp.status_code == 422 and resp.json()["detail"][0]["type"] in ("finite_number", "int_type", "bool_type")


def test_422_shows_only_a_short_excerpt(model):
    client = local_client(create_app(model, config=ServeConfig(max_body_bytes=20_000_000)))
    junk = "x" * 10_000_000
    for body in ({"texts": ["cat"], "junk": junk}, {"texts": [junk[:1000]] * 3 + [1] * 1000}, {junk[:5000]: 1}):
        resp = client.post("/encode", json=body)
        assert resp.status_code == 422 and len(resp.content) < 2000, len(resp.content)


def test_body_limit_is_413_before_parsing(client):
    limit = client.get("/health").json()["limits"]["max_body_bytes"]
    assert limit == 2 * 4 * (50 * 12 + 8) + 4096  # two lists of max_texts texts of max_chars escaped characters
    big = b'{"texts": ["' + b"x" * limit + b'"]}'
    resp = client.post("/encode", content=big, headers=JSON)
    assert resp.status_code == 413 and f"at most {limit} bytes" in resp.json()["detail"]
    chunked = client.post("/encode", content=iter([big[:100], big[100:]]), headers=JSON)  # no Content-Length
    assert chunked.status_code == 413
    longest = json.dumps({"queries": ["\U0001F600" * 50] * 4, "keys": ["\U0001F600" * 50] * 4})  # ensure_ascii
    assert len(longest) <= limit and client.post("/similarity", content=longest, headers=JSON).status_code == 200


def test_wrong_key_is_refused_before_the_body_is_read(model):
    client = local_client(create_app(model, config=ServeConfig(api_key=KEY)))
    sent = []

    def body():  # 100 MB, lazily: a chunk is only made when the server reads it
        for _ in range(100):
            sent.append(1)
            yield b"x" * 1_000_000

    resp = client.post("/encode", content=body(), headers={**JSON, "X-API-Key": "wrong-key-000"})
    assert resp.status_code == 401 and sent == []


@pytest.mark.parametrize("host, status", [
    ("localhost", 200), ("127.0.0.1:8000", 200), ("[::1]:8000", 200), ("LOCALHOST", 200), ("search.internal", 200),
    ("evil.example", 400), ("localhost.evil.example", 400), ("127.0.0.2", 400), ("", 400),
])
def test_host_allow_list(host, status):
    app = create_app(FakeEmbedder(), config=ServeConfig(allowed_hosts=("search.internal",)))
    resp = local_client(app).post("/encode", json={"texts": ["cat"]}, headers={"Host": host})
    assert resp.status_code == status


def test_public_bind_host_is_allowed():
    config = ServeConfig(host="0.0.0.0", api_key=KEY, allowed_hosts=("search.internal",))
    assert config.hosts == ["localhost", "127.0.0.1", "[::1]", "0.0.0.0", "search.internal"]
    assert "[fe80::1]" in ServeConfig(host="fe80::1", api_key=KEY).hosts
    assert ServeConfig(allowed_hosts=("*.example.org", "*")).hosts[-2:] == ["*.example.org", "*"]
    with pytest.raises(ValueError, match="allowed_hosts: 'a\\*b'"):
        ServeConfig(allowed_hosts=("a*b",))


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closes ``sock`` (recv gives b"") before ``seconds`` pass."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
        return True
    except (TimeoutError, socket.timeout):
        return False
    except ConnectionResetError:
        return True


def test_uvicorn_closes_idle_and_half_sent_requests_and_checks_the_key_first():
    config = ServeConfig(port=free_port(), api_key=KEY, request_timeout=0.5, timeout_keep_alive=1)
    with running(create_app(FakeEmbedder(), config=config), config):
        address = ("127.0.0.1", config.port)
        head = f"POST /encode HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-API-Key: {KEY}\r\n"
        for sent in (b"", head.encode(), (head + "Content-Length: 100\r\n\r\n" + '{"texts": ').encode()):
            with socket.create_connection(address) as sock:
                sock.sendall(sent)
                assert _closed_within(sock, 5), sent  # nothing, half the headers, a tenth of the body
        with socket.create_connection(address) as sock:  # 100 MB announced, a wrong key: 401 at once
            sock.sendall(b"POST /encode HTTP/1.1\r\nHost: localhost\r\nX-API-Key: wrong-key-000\r\n"
                         b"Content-Length: 100000000\r\n\r\n" + b"x" * 1000)
            sock.settimeout(5)
            assert sock.recv(65536).startswith(b"HTTP/1.1 401")
        import httpx

        ok = httpx.post(f"http://127.0.0.1:{config.port}/encode", json={"texts": ["cat"]}, headers={"X-API-Key": KEY})
        assert ok.status_code == 200 and len(ok.json()["embeddings"][0]) == FakeEmbedder.dim
