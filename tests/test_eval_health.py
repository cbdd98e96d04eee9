"""Label-free health: anisotropy by hand, uniformity and alignment as in geometry, dropout
views from a real (tiny) model, and the sentence sample read from the user's file."""

from __future__ import annotations

import numpy as np
import pytest
from eval_fixtures import bow_encode

from simcse.errors import DataError
from simcse.evaluation import HealthSpec, alignment, anisotropy, evaluate_health, uniformity


def test_anisotropy_known_values():
    assert anisotropy(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])) == pytest.approx(1.0)
    assert anisotropy(np.eye(4)) == pytest.approx(0.0)
    # two antipodal points: every pair of different rows has cosine -1, sampled or not
    assert anisotropy(np.array([[1.0, 0.0], [-1.0, 0.0]]), max_pairs=1) == pytest.approx(-1.0)
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # pairs: 0, 1/sqrt2, 1/sqrt2
    assert anisotropy(x) == pytest.approx(2 / np.sqrt(2) / 3)


def test_sampled_anisotropy_is_seeded_and_close_to_all_pairs():
    x = np.random.default_rng(0).standard_normal((300, 8)) + 0.5
    full = anisotropy(x, max_pairs=10**9)
    sampled = anisotropy(x, max_pairs=5000, seed=1)
    assert sampled == anisotropy(x, max_pairs=5000, seed=1) != anisotropy(x, max_pairs=5000, seed=2)
    assert sampled == pytest.approx(full, abs=0.02)
    with pytest.raises(ValueError, match="at least 2"):
        anisotropy(x[:1])


def noisy(seed: int):
    """A stand-in for a model with dropout on: each call draws new noise."""
    rng = np.random.default_rng(seed)
    return lambda sentences: bow_encode(sentences) + 0.1 * rng.standard_normal((len(sentences), 32))


def test_evaluate_health_numbers():
    sentences = [f"a man {w}" for w in ("plays", "runs", "eats food", "big dog", "red ball")]
    got = evaluate_health(bow_encode, sentences, encode_dropout=noisy(0))
    x = bow_encode(sentences)
    assert got["uniform"] == pytest.approx(uniformity(x)) and got["anisotropy"] == pytest.approx(anisotropy(x))
    assert got["align"] > 0
    assert evaluate_health(bow_encode, sentences, encode_dropout=bow_encode)["align"] == pytest.approx(0.0)
    assert set(evaluate_health(bow_encode, sentences)) == {"uniform", "anisotropy"}


def test_dropout_views_of_a_real_model(tiny_bert):
    import torch

    from simcse.api import SimCSE
    from simcse.encoder import pad_batch
    from samples import SENTENCES

    model = SimCSE(tiny_bert, device="cpu", pooler="avg")

    def encode_dropout(sentences):
        encoder = model.encoder.train()
        batch = pad_batch(encoder.tokenize(sentences), list(range(len(sentences))), encoder.tokenizer.pad_token_id)
        with torch.no_grad():
            return encoder(**batch).numpy()

    got = evaluate_health(model.encode, SENTENCES, encode_dropout=encode_dropout)
    assert 0 < got["align"] < alignment(model.encode(SENTENCES), model.encode(SENTENCES[::-1]))
    assert evaluate_health(model.encode, SENTENCES, encode_dropout=model.encode)["align"] == pytest.approx(0, abs=1e-10)


def test_health_spec_reads_a_seeded_sample(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("\n".join(f"sentence {i}" for i in range(50)) + "\n\nsentence 3\n", encoding="utf-8")
    assert HealthSpec("h", path).read() == tuple(f"sentence {i}" for i in range(50))  # blank and repeat dropped
    sample = HealthSpec("h", path, sample_size=10, seed=3).read()
    assert len(sample) == 10 and sample == HealthSpec("h", path, sample_size=10, seed=3).read()
    assert list(sample) == sorted(sample, key=lambda s: int(s.split()[1]))  # file order kept
    csv_path = tmp_path / "s.csv"
    csv_path.write_text("id,text\n1,a dog\n2,a cat\n", encoding="utf-8")
    assert HealthSpec("h", csv_path, column="text").read() == ("a dog", "a cat")


def test_health_spec_bad_files(tmp_path):
    path = tmp_path / "s.txt"
    path.write_bytes(b"one\ntwo\nth\xffree\n")
    with pytest.raises(DataError, match="not valid UTF-8") as err:
        HealthSpec("h", path).read()
    assert str(err.value).startswith(f"{path}:3: ")
    path.write_text("one\n\none\n", encoding="utf-8")
    with pytest.raises(DataError, match="1 distinct sentence") as err:
        HealthSpec("h", path).read()
    assert str(err.value).startswith(f"{path}:3: ")
