"""Property-based tests (Hypothesis) of the text checks and the HTTP API's schemas.

Whatever a client sends (arbitrary JSON in every field, NaN and Infinity, strings with lone
surrogates and control characters, sizes at and over every limit, bytes that are not JSON),
the server answers 200 or a 4xx with a short JSON body, never a 500. A fake model keeps
the examples fast; one property runs the tiny random BERT to show that every text the checks
accept really encodes.
"""

from __future__ import annotations

import json
import math
import unicodedata

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="pip install 'simcse[serve]'")
pytest.importorskip("httpx", reason="the TestClient needs httpx")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from samples import SENTENCES  # noqa: E402
from serve_helpers import JSON, FakeEmbedder, local_client  # noqa: E402
from simcse.errors import DataError  # noqa: E402
from simcse.index import Index, normalize  # noqa: E402
from simcse.serve import ServeConfig, create_app  # noqa: E402
from simcse.text_checks import check_text, check_texts  # noqa: E402

LIMITS = ServeConfig(max_texts=3, max_chars=20, max_top_k=5)
SHORT = 2000  # bytes: the most a 4xx body may be
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALLOWED_CONTROLS = "\t\n\r"

# Characters from every Unicode category (surrogates included), plus the usual suspects.
SPECIAL = ["\ud800", "\udfff", "\x00", "\x1f", "\x7f", "\x85", "\x9f", "\u2028", "\ufeff", "\u200b", "\t", "\n",
           " ", "\U0001F600", "\u0301", "\uffff", "\U0010FFFF"]
chars = st.one_of(st.characters(exclude_categories=()), st.sampled_from(SPECIAL))
any_text = st.text(chars, max_size=LIMITS.max_chars + 2)
good_text = st.one_of(st.sampled_from(SENTENCES), st.text(st.characters(categories=["L", "N", "P"]), min_size=1,
                                                          max_size=LIMITS.max_chars))
edge_text = st.sampled_from(["x" * LIMITS.max_chars, "x" * (LIMITS.max_chars + 1), "\U0001F600" * LIMITS.max_chars, ""])
text = st.one_of(good_text, any_text, edge_text)
texts = st.lists(text, max_size=LIMITS.max_texts + 1)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-10**40, max_value=10**40),
                        st.floats(allow_nan=True, allow_infinity=True), any_text)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                              st.dictionaries(any_text, inner, max_size=3)),
                          max_leaves=10)


def field(valid: st.SearchStrategy) -> st.SearchStrategy:
    """A value for one field: mostly a plausible one, sometimes any JSON at all."""
    return st.one_of(valid, valid, json_value)


BODIES = {
    "/encode": st.fixed_dictionaries({"texts": field(texts)}, optional={"normalize": field(st.booleans())}),
    "/similarity": st.fixed_dictionaries({"queries": field(texts), "keys": field(texts)}),
    "/search": st.fixed_dictionaries({"queries": field(texts)}, optional={
        "top_k": field(st.integers(-1, LIMITS.max_top_k + 1)),
        "threshold": field(st.one_of(st.none(), st.floats(-1.5, 1.5), st.sampled_from([-1, 0, 1, math.nan, math.inf])))}),
}
request = st.sampled_from(sorted(BODIES)).flatmap(lambda path: st.tuples(st.just(path), BODIES[path]))


@pytest.fixture(scope="module")
def client():
    model = FakeEmbedder()
    index = Index(model.dim, model=model.model_name, pooler=model.pooler)
    index.add(SENTENCES, normalize(model.encode(SENTENCES)))
    return local_client(create_app(model, index, LIMITS))


def assert_answered(resp, path: str, body: object) -> None:
    """200 with the right shape, or a 4xx whose JSON body is short; nothing else."""
    assert resp.status_code == 200 or 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    data = resp.json()
    if resp.status_code != 200:
        assert len(resp.content) < SHORT and "detail" in data
        return
    n = len(body["texts"] if path == "/encode" else body["queries"])
    rows = {"/encode": "embeddings", "/similarity": "scores", "/search": "results"}[path]
    assert len(data[rows]) == n


@SETTINGS
@given(request=request, extra=st.one_of(st.none(), st.tuples(any_text, json_value)))
def test_any_json_gets_200_or_a_short_4xx(client, request, extra):
    path, body = request
    if extra is not None:
        body = {**body, extra[0]: extra[1]}
    # ensure_ascii: lone surrogates travel as "\ud800" escapes; allow_nan: NaN, Infinity as Python writes them
    resp = client.post(path, content=json.dumps(body, allow_nan=True), headers=JSON)
    assert_answered(resp, path, body)


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=200), st.binary(min_size=LIMITS.body_limit - 10, max_size=LIMITS.body_limit + 10)),
       path=st.sampled_from(sorted(BODIES)))
def test_any_bytes_get_200_or_a_short_4xx(client, raw, path):
    resp = client.post(path, content=raw, headers=JSON)
    assert 400 <= resp.status_code < 500 and len(resp.content) < SHORT


@SETTINGS
@given(value=text)
def test_the_server_accepts_exactly_the_texts_check_text_accepts(client, value):
    try:
        check_text(value, "texts[0]", LIMITS.max_chars)
        accepted = True
    except DataError:
        accepted = False
    resp = client.post("/encode", content=json.dumps({"texts": [value]}), headers=JSON)
    assert resp.status_code == (200 if accepted else 422), resp.text[:300]


@SETTINGS
@given(value=st.one_of(text, json_value), max_chars=st.one_of(st.none(), st.integers(1, 30)))
def test_check_text_accepts_only_clean_text_and_names_the_place(value, max_chars):
    try:
        out = check_text(value, "queries[3]", max_chars)
    except DataError as err:
        message = str(err)
        assert message.startswith("queries[3]: ") and "\n" not in message and len(message) < 200
        return
    assert out is value and out.strip() and (max_chars is None or len(out) <= max_chars)
    out.encode("utf-8")  # well-formed: no lone surrogates
    assert not any(unicodedata.category(c) == "Cc" and c not in ALLOWED_CONTROLS for c in out)


@SETTINGS
@given(values=st.one_of(texts, json_value))
def test_check_texts_names_the_first_bad_item(values):
    try:
        out = check_texts(values, "keys", max_texts=LIMITS.max_texts, max_chars=LIMITS.max_chars)
    except DataError as err:
        assert str(err).startswith("keys")
        return
    assert out == list(values) and 1 <= len(out) <= LIMITS.max_texts


@pytest.fixture(scope="module")
def tiny_client(tiny_bert):
    from simcse.api import SimCSE

    return local_client(create_app(SimCSE(tiny_bert, device="cpu", pooler="avg"), config=LIMITS))


@SETTINGS
@given(values=st.lists(st.one_of(good_text, any_text), min_size=1, max_size=LIMITS.max_texts))
def test_every_text_the_checks_accept_encodes_with_the_tiny_bert(tiny_client, values):
    try:
        check_texts(values, "texts", max_texts=LIMITS.max_texts, max_chars=LIMITS.max_chars)
    except DataError:
        return
    resp = tiny_client.post("/encode", content=json.dumps({"texts": values}), headers=JSON)
    assert resp.status_code == 200, resp.text[:300]
    emb = np.array(resp.json()["embeddings"])
    assert emb.shape == (len(values), 32) and np.isfinite(emb).all()
