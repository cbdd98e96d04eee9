"""The encode pipeline's fast paths equal the simple ones: the Rust tokenizer called directly
gives the Hugging Face tokenizer's ids, the vectorised ``pad_batch`` the row-by-row padding, and
embeddings copied back from the device in blocks the ones copied batch by batch."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from simcse.encoder import Encoder, EncoderConfig, pad_batch

TEXTS = [
    "A man is playing a guitar.",
    "",
    " leading and trailing spaces  ",
    "Ünïcödé àccents, naïve café; ß and İstanbul",
    "中文句子没有空格。日本語の文も。",
    "emoji 🙂👍🏽 and symbols ©®™ → ∞",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis " * 6,
    "tab\tseparated\nnew line",
    "word " * 200,
]


def _simple(tokenizer, texts, max_length):
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=False)
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in tokenizer.model_input_names}


def _encoder(tokenizer, max_length=32) -> Encoder:
    return Encoder(torch.nn.Identity(), tokenizer, EncoderConfig(pooler="avg", max_length=max_length))


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("max_length", [4, 32, 512])
def test_tokenize_equals_the_tokenizers_own_call(minilm_tokenizer, side, max_length):
    minilm_tokenizer.truncation_side = side
    try:
        encoder = _encoder(minilm_tokenizer)
        assert encoder.tokenize(TEXTS, max_length=max_length) == _simple(minilm_tokenizer, TEXTS, max_length)
    finally:
        minilm_tokenizer.truncation_side = "right"


def test_tokenize_uses_the_encoder_max_length_and_never_changes_the_shared_tokenizer(tiny_tokenizer, minilm_tokenizer):
    for tokenizer in (tiny_tokenizer, minilm_tokenizer):
        backend = tokenizer.backend_tokenizer
        before = (backend.truncation, backend.padding)
        backend.enable_padding(length=77, pad_id=0, pad_token="[PAD]")
        backend.enable_truncation(99)
        try:
            encoder = _encoder(tokenizer, max_length=8)
            got = encoder.tokenize(TEXTS)
            assert backend.truncation["max_length"] == 99 and backend.padding["length"] == 77  # untouched
            assert encoder.tokenize(TEXTS, max_length=12) == _simple(tokenizer, TEXTS, 12)
            assert got == _simple(tokenizer, TEXTS, 8)
            assert max(len(x) for x in got["input_ids"]) == 8
        finally:
            backend.no_padding() if before[1] is None else backend.enable_padding(**before[1])
            backend.no_truncation() if before[0] is None else backend.enable_truncation(**before[0])


def test_tokens_added_after_the_first_call_are_seen(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    encoder = _encoder(tokenizer)
    text = ["a zorblax is here"]
    first = encoder.tokenize(text)
    tokenizer.add_tokens(["zorblax"])
    again = encoder.tokenize(text)
    assert again == _simple(tokenizer, text, 32) and again != first


class _PythonTokenizer:
    """A tokenizer without a Rust backend (what a Python-only tokenizer looks like to the encoder)."""

    def __init__(self, inner) -> None:
        self.inner, self.model_input_names, self.truncation_side = inner, inner.model_input_names, inner.truncation_side
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)


def test_a_tokenizer_without_a_rust_backend_takes_the_simple_path(minilm_tokenizer):
    python = _PythonTokenizer(minilm_tokenizer)
    assert _encoder(python).tokenize(TEXTS) == _simple(minilm_tokenizer, TEXTS, 32)
    assert python.calls == 1


def _pad_simple(features, rows, pad_id):
    """The row-by-row reference."""
    width = max(len(features["input_ids"][i]) for i in rows)
    out = {}
    for name, values in features.items():
        t = torch.full((len(rows), width), pad_id if name == "input_ids" else 0, dtype=torch.long)
        for r, i in enumerate(rows):
            t[r, : len(values[i])] = torch.as_tensor(values[i], dtype=torch.long)
        out[name] = t
    if "attention_mask" not in out:
        out["attention_mask"] = (torch.arange(width) < torch.tensor([len(features["input_ids"][i]) for i in rows])[:, None]).long()
    return out


@pytest.mark.parametrize("keys", [("input_ids", "attention_mask", "token_type_ids"), ("input_ids",), ("input_ids", "token_type_ids")])
def test_pad_batch_equals_row_by_row_padding(keys):
    rng = random.Random(0)
    for trial in range(30):
        n = rng.randint(1, 40)
        lengths = [rng.randint(1, 50) for _ in range(n)]
        features = {"input_ids": [[rng.randint(1, 30000) for _ in range(k)] for k in lengths],
                    "attention_mask": [[1] * k for k in lengths],
                    "token_type_ids": [[rng.randint(0, 1) for _ in range(k)] for k in lengths]}
        features = {k: features[k] for k in keys}
        rows = rng.sample(range(n), rng.randint(1, n))
        pad_id = rng.choice([0, 1, 103])
        got, want = pad_batch(features, rows, pad_id), _pad_simple(features, rows, pad_id)
        assert got.keys() == want.keys()
        for k in want:
            assert got[k].dtype == torch.long and torch.equal(got[k], want[k]), (trial, k)


@pytest.fixture()
def fresh_tokenizer(minilm_path):
    """A MiniLM tokenizer of its own, to change without touching the shared fixtures."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


def test_changes_that_alter_ids_are_seen(fresh_tokenizer):
    from tokenizers import normalizers

    encoder, text = _encoder(fresh_tokenizer), ["They are REPLAYING [SEP] the game"]
    first = encoder.tokenize(text)  # ... replay ##ing ...
    fresh_tokenizer.add_tokens(["playing"])  # a vocabulary word (the size stays): now re + playing
    assert encoder.tokenize(text) == _simple(fresh_tokenizer, text, 32) != first
    fresh_tokenizer.backend_tokenizer.normalizer = normalizers.Sequence([])  # no lower-casing any more
    assert encoder.tokenize(text) == _simple(fresh_tokenizer, text, 32)
    fresh_tokenizer.split_special_tokens = True  # "[SEP]" in the text is cut as text, not the token
    assert encoder.tokenize(text) == _simple(fresh_tokenizer, text, 32)
    assert 102 not in encoder.tokenize(text)["input_ids"][0][1:-1]


class _Digits:
    """A pre-tokenizer written in Python (as RoFormer's Jieba one): the Rust tokenizer cannot be copied."""

    def pre_tokenize(self, pretok):
        pretok.split(lambda i, s: [s])


def test_a_python_component_takes_the_tokenizers_own_call(fresh_tokenizer):
    from tokenizers.pre_tokenizers import PreTokenizer

    fresh_tokenizer.backend_tokenizer.pre_tokenizer = PreTokenizer.custom(_Digits())
    assert _encoder(fresh_tokenizer).tokenize(TEXTS[:3]) == _simple(fresh_tokenizer, TEXTS[:3], 32)


def test_a_class_with_its_own_encoding_takes_its_own_call(fresh_tokenizer):
    class Marked(type(fresh_tokenizer)):
        def _encode_plus(self, *args, **kwargs):
            out = super()._encode_plus(*args, **kwargs)
            out["input_ids"] = [[7] + ids for ids in out["input_ids"]]
            out["attention_mask"] = [[1] + m for m in out["attention_mask"]]
            out["token_type_ids"] = [[0] + t for t in out["token_type_ids"]]
            return out

    fresh_tokenizer.__class__ = Marked
    got = _encoder(fresh_tokenizer).tokenize(TEXTS[:3])
    assert got == _simple(fresh_tokenizer, TEXTS[:3], 32) and all(ids[0] == 7 for ids in got["input_ids"])


@pytest.mark.parametrize("truncate_dim", [None, 16])
def test_copying_back_in_blocks_equals_copying_each_batch(tiny_bert, monkeypatch, truncate_dim):
    import simcse.api
    from simcse import SimCSE

    model = SimCSE(tiny_bert, device="cpu", pooler="avg", max_length=32, truncate_dim=truncate_dim)
    texts = [t for t in TEXTS if t] * 7  # 56 sentences of many lengths: batches of 5 leave a short last one
    copies = []
    real = simcse.api.to_host
    monkeypatch.setattr(simcse.api, "to_host", lambda outputs: copies.append(len(outputs)) or real(outputs))
    by_block = model.encode(texts, batch_size=5)  # the default block: one copy for all 12 batches
    assert copies == [12]
    monkeypatch.setattr(simcse.api, "COPY_BLOCK_BYTES", 1)  # every batch copied back at once: the simple path
    by_batch = model.encode(texts, batch_size=5)
    assert copies[1:] == [1] * 12
    # the forward's whole float32 output counts (truncation slices it after): blocks of 3 batches, ending mid-block
    monkeypatch.setattr(simcse.api, "COPY_BLOCK_BYTES", 4 * model.encoder.dim * 13)
    by_blocks = model.encode(texts, batch_size=5)
    assert copies[13:] == [3, 3, 3, 3]
    one_by_one = [model.encode(t) for t in texts]
    assert by_block.shape == (len(texts), model.dim)
    assert np.array_equal(by_block, by_batch) and np.array_equal(by_block, by_blocks)
    np.testing.assert_allclose(by_block, np.stack(one_by_one), atol=1e-5)
