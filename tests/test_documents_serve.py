"""Documents over HTTP: /search by document (context around each passage, filters, limits),
POST /documents and DELETE /documents/{id} behind the API key, saved to the index folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="pip install 'simcse[serve]'")
pytest.importorskip("httpx", reason="the TestClient needs httpx")

from doc_helpers import TokenizingFake, random_documents  # noqa: E402
from serve_helpers import JSON, KEY, FakeEmbedder, local_client  # noqa: E402
from simcse.document_indexing import new_document_index, upsert_documents  # noqa: E402
from simcse.index import Index  # noqa: E402
from simcse.serve import ServeConfig, create_app  # noqa: E402

AUTH = {"X-API-Key": KEY}


@pytest.fixture()
def served(tmp_path, tiny_tokenizer):
    model = TokenizingFake(tiny_tokenizer)
    index = new_document_index(model, chunk_tokens=8, chunk_overlap=2)
    upsert_documents(index, model, random_documents(np.random.default_rng(0), 12))
    index.save(tmp_path / "idx")
    config = ServeConfig(api_key=KEY, max_texts=3, max_top_k=10, max_document_chars=400)
    client = local_client(create_app(model, Index.load(tmp_path / "idx"), config, folder=tmp_path / "idx"))
    return client, model, tmp_path / "idx"


def test_search_by_document_shows_each_passage_in_its_context(served):
    client, model, folder = served
    body = {"queries": ["the man plays guitar"], "group_by_document": True, "top_k": 4, "top_m": 2}
    resp = client.post("/search", json=body, headers=AUTH)
    assert resp.status_code == 200 and resp.json()["results"] is None
    (docs,) = resp.json()["documents"]
    index = Index.load(folder)
    expected = index.search_documents(model.encode(body["queries"]), top_k=4, top_m=2)[0]
    assert [(d["id"], d["score"]) for d in docs] == [(h.id, pytest.approx(h.score)) for h in expected]
    for doc in docs:
        text = index.documents.records[doc["id"]].text
        assert doc["metadata"] == index.documents.records[doc["id"]].metadata and 1 <= len(doc["passages"]) <= 2
        assert doc["chars"] == len(text)
        for p in doc["passages"]:
            assert text[p["start"] : p["end"]] == p["text"] and len(p["before"]) <= 100 and len(p["after"]) <= 100
            assert text[: p["start"]].endswith(p["before"]) and text[p["end"] :].startswith(p["after"])
    filtered = client.post("/search", json={**body, "where": {"lang": "xx"}, "aggregate": "sum"}, headers=AUTH).json()
    assert all(d["metadata"]["lang"] == "xx" for d in filtered["documents"][0])
    plain = client.post("/search", json={"queries": ["cat"]}, headers=AUTH).json()
    assert plain["documents"] is None and len(plain["results"][0]) == 5
    health = client.get("/health").json()["index"]
    assert health["documents"] == 12 and health["count"] == len(index)


@pytest.mark.parametrize("body, message", [
    ({"queries": ["x"], "where": {"lang": "en"}}, "set group_by_document"),
    ({"queries": ["x"], "group_by_document": True, "aggregate": "mean"}, "unknown aggregate 'mean'; valid: max, sum"),
    ({"queries": ["x"], "group_by_document": True, "top_m": 11}, "top_m: 11, at most 10"),
    ({"queries": ["x"], "group_by_document": True, "where": {"lang": ["en"]}}, "valid string"),
])
def test_bad_document_searches_are_422(served, body, message):
    resp = served[0].post("/search", json=body, headers=AUTH)
    assert resp.status_code == 422 and message in json.dumps(resp.json()["detail"])


def test_documents_are_upserted_and_deleted_behind_the_key_and_saved(served):
    client, _, folder = served
    new = {"documents": [{"id": "d1", "text": "a red car drives in the street .", "metadata": {"title": "Car"}},
                         {"id": "dir/x.md", "text": "two dogs run in the snow .", "metadata": {}}]}
    assert client.post("/documents", json=new).status_code == 401
    resp = client.post("/documents", json=new, headers=AUTH)
    assert resp.status_code == 200 and resp.json()["upserted"] == 2 and resp.json()["replaced"] == 1
    saved = Index.load(folder).documents
    assert saved.records["d1"].text == new["documents"][0]["text"] and "dir/x.md" in saved and len(saved) == 13
    assert client.delete("/documents/dir/x.md").status_code == 401
    resp = client.delete("/documents/dir/x.md", headers=AUTH)
    assert resp.status_code == 200 and resp.json()["documents"] == 12 and "dir/x.md" not in Index.load(folder).documents
    assert client.delete("/documents/dir/x.md", headers=AUTH).status_code == 404
    found = client.post("/search", json={"queries": ["two dogs run in the snow ."], "group_by_document": True,
                                         "top_k": 10}, headers=AUTH).json()["documents"][0]
    assert "dir/x.md" not in {d["id"] for d in found}


@pytest.mark.parametrize("documents, message", [
    ([{"id": f"n{i}", "text": "x"} for i in range(4)], "documents: 4, more than the limit of 3"),
    ([{"id": "n", "text": "word " * 100}], "documents[0]: text: 500 characters, more than the limit of 400"),
    ([{"id": "n", "text": "  "}], "documents[0]: text: empty text"),
    ([{"id": "n", "text": "a"}, {"id": "n", "text": "b"}], "repeat within one upsert"),
    ([{"id": "n", "text": "a\u0000"}], "control character U+0000"),
    ([{"id": "n", "text": "a", "title": "t"}], "Extra inputs are not permitted"),
])
def test_bad_documents_are_422_and_change_nothing(served, documents, message):
    client, _, folder = served
    resp = client.post("/documents", content=json.dumps({"documents": documents}), headers={**JSON, **AUTH})
    assert resp.status_code == 422 and message in json.dumps(resp.json()["detail"])
    nan = b'{"documents": [{"id": "n", "text": "a", "metadata": {"x": NaN}}]}'
    resp = client.post("/documents", content=nan, headers={**JSON, **AUTH})
    assert resp.status_code == 422 and "is not a JSON number" in resp.json()["detail"]
    assert len(Index.load(folder).documents) == 12


def test_an_index_of_sentences_takes_no_documents():
    index = Index(FakeEmbedder.dim)
    index.add(["a cat"], FakeEmbedder().encode(["a cat"]))
    client = local_client(create_app(FakeEmbedder(), index))
    resp = client.post("/documents", json={"documents": [{"id": "a", "text": "b"}]})
    assert resp.status_code == 400 and "holds sentences" in resp.json()["detail"]
    assert client.delete("/documents/a").status_code == 400
