"""Contracts of the inference API on a tiny random BERT."""

import numpy as np
import pytest
import torch

from simcse import SimCSE

from samples import SENTENCES


@pytest.fixture(scope="module")
def model(tiny_bert):
    return SimCSE(tiny_bert, device="cpu", pooler="avg")


def test_shapes_and_dtypes(model):
    many = model.encode(SENTENCES)
    assert many.shape == (len(SENTENCES), 32) and many.dtype == np.float32
    one = model.encode(SENTENCES[0])
    assert one.shape == (32,) and one.dtype == np.float32
    np.testing.assert_allclose(one, many[0], atol=1e-5)


def test_order_restored_after_length_sorting(model):
    together = model.encode(SENTENCES, batch_size=2)
    alone = np.stack([model.encode([s])[0] for s in SENTENCES])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    shuffled = model.encode(SENTENCES[::-1], batch_size=4)
    np.testing.assert_allclose(shuffled, together[::-1], atol=1e-5)


def test_normalize_honoured(model):
    raw = model.encode(SENTENCES)
    unit = model.encode(SENTENCES, normalize=True)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)


def test_empty_list_and_empty_string(model):
    assert model.encode([]).shape == (0, 32)
    empty = model.encode(["", "cat"])
    assert empty.shape == (2, 32) and np.isfinite(empty).all()


@pytest.mark.parametrize("bad", [[1, 2], ["ok", None], b"bytes", 3.0])
def test_non_string_input_is_a_type_error(model, bad):
    with pytest.raises(TypeError):
        model.encode(bad)


def test_similarity_matrix(model):
    sim = model.similarity(SENTENCES[:2], SENTENCES)
    assert sim.shape == (2, len(SENTENCES))
    np.testing.assert_allclose(np.diag(sim[:, :2]), 1.0, atol=1e-5)
    assert model.similarity("cat", "dog").shape == (1, 1)


def test_index_and_search(model):
    model.build_index(SENTENCES[:3])
    model.add_to_index(SENTENCES[3:])
    hits = model.search(SENTENCES[4], top_k=3, threshold=-1.0)
    assert len(hits) == 3 and hits[0] == (SENTENCES[4], pytest.approx(1.0, abs=1e-5))
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(t, str) and isinstance(s, float) for t, s in hits)
    exact = model.similarity(SENTENCES[4], SENTENCES)[0]
    assert [t for t, _ in hits] == [SENTENCES[i] for i in np.argsort(-exact)[:3]]
    assert all(s >= 0.99 for _, s in model.search(SENTENCES[4], top_k=5, threshold=0.99))
    batch = model.search_batch(SENTENCES[:2], top_k=2, threshold=-1.0)
    assert batch == [model.search(q, top_k=2, threshold=-1.0) for q in SENTENCES[:2]]
    with pytest.raises(TypeError):
        model.search(["a list"])


def test_search_without_index_raises(tiny_bert):
    with pytest.raises(RuntimeError, match="build_index"):
        SimCSE(tiny_bert, device="cpu", pooler="avg").search("cat")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_weights_give_close_float32_embeddings(tiny_bert, dtype):
    full = SimCSE(tiny_bert, device="cpu", pooler="avg").encode(SENTENCES)
    half_model = SimCSE(tiny_bert, device="cpu", pooler="avg", dtype=dtype)
    assert next(half_model.encoder.parameters()).dtype == getattr(torch, dtype)
    half = half_model.encode(SENTENCES)
    assert half.dtype == np.float32
    cos = (full * half).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(half, axis=1)
    assert cos.min() > 0.99


def test_dtype_is_checked(tiny_bert):
    with pytest.raises(ValueError, match="dtype must be one of float32, bfloat16, float16"):
        SimCSE(tiny_bert, device="cpu", pooler="avg", dtype="int4")


def test_search_has_no_cut_by_default(model):
    """One default threshold everywhere: simcse.index.DEFAULT_THRESHOLD (None, no cut); it was 0.6 here."""
    from simcse.index import DEFAULT_THRESHOLD

    assert DEFAULT_THRESHOLD is None
    model.build_index(SENTENCES[:2])
    model.index.add(["opposite"], -model.encode([SENTENCES[0]]))  # cosine -1 to the query
    hits = model.search(SENTENCES[0], top_k=3)
    assert [t for t, _ in hits] == [SENTENCES[0], SENTENCES[1], "opposite"] and hits[2][1] == pytest.approx(-1.0, abs=1e-5)
    assert model.search(SENTENCES[0], top_k=3, threshold=0.0) == hits[:2]


def test_fingerprint_follows_the_weights(tiny_bert, tmp_path):
    import shutil

    from samples import build_tiny_bert

    folder = shutil.copytree(tiny_bert, tmp_path / "m")
    before = SimCSE(folder, device="cpu", pooler="avg").fingerprint
    assert SimCSE(folder, device="cpu", pooler="avg").fingerprint == before  # stable
    assert SimCSE(folder, device="cpu", pooler="cls").fingerprint != before  # another pooler: other vectors
    weights = SimCSE(folder, device="cpu", pooler="avg").weights_fingerprint
    assert SimCSE(folder, device="cpu", pooler="cls").weights_fingerprint == weights  # index manifests record it
    build_tiny_bert(folder, seed=1)  # same shapes and file sizes, other values
    assert SimCSE(folder, device="cpu", pooler="avg").fingerprint != before
    after = SimCSE(folder, device="cpu", pooler="avg").weights_fingerprint
    assert after != weights
    # not the settings of a run: an index built in float32 may be searched in bfloat16
    assert SimCSE(folder, device="cpu", pooler="avg", max_length=8).weights_fingerprint == after
    assert SimCSE(folder, device="cpu", pooler="avg", dtype="bfloat16").weights_fingerprint == after


def test_a_single_string_is_checked_and_a_failing_call_restores_the_mode(model, monkeypatch):
    from simcse.errors import DataError

    with pytest.raises(DataError, match="ill-formed Unicode"):
        model.encode("\ud800")
    assert not model.encoder.training

    def fail(batch):
        raise RuntimeError("forward failed")

    monkeypatch.setattr(model, "_forward", fail)
    with pytest.raises(RuntimeError, match="forward failed"):
        model.encode(SENTENCES, dropout=True)
    assert not model.encoder.training  # back in eval mode, not left with dropout on


@pytest.mark.parametrize("device, words", [("foo", "'foo' is not a device name"), ("cuda:0", "CUDA is not available")])
def test_a_bad_device_is_a_config_error(tiny_bert, device, words):
    from simcse.errors import ConfigError

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ConfigError, match=words):
        SimCSE(tiny_bert, device=device, pooler="avg")
    with pytest.raises(ConfigError, match=words):
        SimCSE.from_encoder(SimCSE(tiny_bert, device="cpu", pooler="avg").encoder, device=device)
