"""Matryoshka: the per-prefix loss, its training (GradCache, saved dims), and truncated
embeddings in encode, indexes, search and the CLI."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from simcse.api import SimCSE
from simcse.cli import main
from simcse.errors import ConfigError
from simcse.index import Index, normalize
from simcse.losses import info_nce, matryoshka
from simcse.model_io import load_encoder, save_encoder
from simcse.train import build_config
from simcse.train.data import collate, tokenize_file
from simcse.train.loop import load_training_encoder
from simcse.train.step import step_loss
from samples import SENTENCES
from train_helpers import write_corpus

H = 32  # the tiny BERT's width


def _views(b=6, h=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, h, generator=g) for _ in range(3)]


@pytest.mark.parametrize("dim", [12, 7, 1])
def test_the_loss_at_one_dim_is_info_nce_of_the_prefixes(dim):
    a, p, n = _views()
    got = matryoshka(info_nce, (dim,))(a, p, n, temperature=0.05, hard_negative_weight=0.4)
    want = info_nce(a[:, :dim], p[:, :dim], n[:, :dim], temperature=0.05, hard_negative_weight=0.4)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_the_loss_is_the_weighted_sum_over_dims_with_or_without_negatives():
    a, p, n = _views()
    for negatives in (n, None):
        got = matryoshka(info_nce, (12, 8, 4), (1.0, 0.5, 2.0))(a, p, negatives, temperature=0.1)
        want = sum(w * info_nce(a[:, :d], p[:, :d], None if negatives is None else negatives[:, :d], temperature=0.1)
                   for d, w in ((12, 1.0), (8, 0.5), (4, 2.0)))
        torch.testing.assert_close(got, want)
    default = matryoshka(info_nce, (12, 4))(a, p)
    torch.testing.assert_close(default, info_nce(a, p) + info_nce(a[:, :4], p[:, :4]))


def test_the_loss_refuses_bad_dims_and_weights():
    a, p, _ = _views()
    with pytest.raises(ValueError, match="one weight per dim"):
        matryoshka(info_nce, (8, 4), (1.0,))
    with pytest.raises(ValueError, match="more than the embeddings' 12"):
        matryoshka(info_nce, (16,))(a, p)


def test_flags_take_commas_or_spaces_and_are_checked(tmp_path, capsys):
    from simcse.train.config import add_config_flags, config_from_args
    import argparse

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    cfg = config_from_args(parser.parse_args(["--matryoshka-dims", "384,256", "128", "--matryoshka-weights", "1,1,0.5"]))
    assert cfg.matryoshka_dims == (384, 256, 128) and cfg.matryoshka_weights == (1.0, 1.0, 0.5)
    with pytest.raises(ConfigError, match="2 weights for 3 matryoshka_dims"):
        build_config(matryoshka_dims=(384, 256, 128), matryoshka_weights=(1.0, 2.0))
    with pytest.raises(ConfigError, match="repeats"):
        build_config(matryoshka_dims=(64, 64))
    with pytest.raises(ConfigError, match=">= 1"):
        build_config(matryoshka_dims=(0,))
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--matryoshka-dims", "12,x"])
    assert exit_.value.code == 2 and "expected int, got 'x'" in capsys.readouterr().err


def _step(model, corpus, **flags):
    cfg = build_config(model=str(model), pooler="avg", train_file=str(corpus), batch_size=8, max_length=16, **flags)
    encoder = load_training_encoder(cfg)
    data = tokenize_file(corpus, encoder.tokenizer, cfg.max_length)
    batch = collate(data, np.arange(8), encoder.tokenizer.pad_token_id, True, 0)
    loss = step_loss(nn.ModuleDict({"encoder": encoder.train()}), batch, data.views, cfg)
    if loss.requires_grad:
        loss.backward()
    return loss.detach(), {n: p.grad for n, p in encoder.named_parameters() if p.grad is not None}


def test_grad_cache_with_matryoshka_equals_the_plain_step(no_dropout_bert, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", lines=8)
    dims = {"matryoshka_dims": (32, 16, 4), "matryoshka_weights": (1.0, 0.5, 0.25)}
    loss, grads = _step(no_dropout_bert, corpus, **dims)
    cached_loss, cached = _step(no_dropout_bert, corpus, grad_cache_chunk=3, **dims)
    plain_loss, _ = _step(no_dropout_bert, corpus)
    torch.testing.assert_close(cached_loss, loss, rtol=1e-5, atol=1e-6)
    assert len(grads) > 10 and not torch.isclose(loss, plain_loss)  # the dims changed the objective
    for name in grads:
        torch.testing.assert_close(cached[name], grads[name], rtol=1e-4, atol=1e-6)


def test_training_records_the_dims_and_refuses_too_wide_ones(tiny_bert, tmp_path, caplog):
    corpus = write_corpus(tmp_path / "c.txt", lines=16)
    out = tmp_path / "run"
    rc = main(["train", "--model", str(tiny_bert), "--pooler", "avg", "--train-file", str(corpus), "--output-dir",
               str(out), "--batch-size", "8", "--max-length", "16", "--eval-steps", "0", "--no-progress",
               "--matryoshka-dims", "8,32,16"])
    assert rc == 0
    assert json.loads((out / "model" / "simcse_config.json").read_text())["matryoshka_dims"] == [32, 16, 8]
    assert load_encoder(out / "model").config.matryoshka_dims == (32, 16, 8)
    with caplog.at_level(logging.WARNING, logger="simcse.api"):
        assert SimCSE(out / "model", device="cpu", truncate_dim=16).dim == 16
        assert not caplog.records
        SimCSE(out / "model", device="cpu", truncate_dim=12)
    assert "trained for the widths [32, 16, 8]" in caplog.text
    with pytest.raises(ConfigError, match=r"matryoshka_dims \[64\] exceed the 32 features"):
        load_training_encoder(build_config(model=str(tiny_bert), pooler="avg", matryoshka_dims=(64, 16)))


def test_a_model_without_dims_saves_the_file_as_before(tiny_bert, tmp_path):
    save_encoder(load_encoder(tiny_bert, pooler="avg"), tmp_path / "m")
    assert "matryoshka_dims" not in json.loads((tmp_path / "m" / "simcse_config.json").read_text())
    raw = json.loads((tmp_path / "m" / "simcse_config.json").read_text())
    (tmp_path / "m" / "simcse_config.json").write_text(json.dumps({**raw, "matryoshka_dims": [16, "8"]}))
    from simcse.errors import FormatError

    with pytest.raises(FormatError, match="matryoshka_dims"):
        load_encoder(tmp_path / "m")


@pytest.fixture(scope="module")
def unit_model(tiny_bert, tmp_path_factory):
    """The tiny BERT with mean pooling and a Normalize module (as all-MiniLM-L6-v2)."""
    enc = load_encoder(tiny_bert, pooler="avg")
    enc.config = dataclasses.replace(enc.config, normalize=True, matryoshka_dims=(32, 16))
    return save_encoder(enc, tmp_path_factory.mktemp("unit") / "model")


@pytest.mark.parametrize("normalized", [True, False], ids=["unit-model", "raw-model"])
@pytest.mark.parametrize("dim", [16, 5])
def test_truncating_then_renormalising_equals_encoding_then_slicing(unit_model, tiny_bert, normalized, dim):
    name = unit_model if normalized else tiny_bert
    pooler = None if normalized else "avg"
    full = SimCSE(name, device="cpu", pooler=pooler).encode(SENTENCES)
    cut = SimCSE(name, device="cpu", pooler=pooler, truncate_dim=dim)
    assert cut.dim == dim and cut.encode(SENTENCES[0]).shape == (dim,)
    np.testing.assert_allclose(cut.encode(SENTENCES, normalize=True), normalize(full[:, :dim]), rtol=1e-5, atol=1e-6)
    # unit-vector models renormalise on their own; others return the raw prefix unless asked
    want = normalize(full[:, :dim]) if normalized else full[:, :dim]
    np.testing.assert_allclose(cut.encode(SENTENCES), want, rtol=1e-5, atol=1e-6)
    assert SimCSE(name, device="cpu", pooler=pooler, truncate_dim=H).truncate_dim is None  # the whole width


@pytest.mark.parametrize("bad", [0, 33, 2.5])
def test_truncate_dim_out_of_range_is_refused(unit_model, bad):
    with pytest.raises(ConfigError, match="truncate_dim must be an integer from 1 to the model's 32"):
        SimCSE(unit_model, device="cpu", truncate_dim=bad)


def test_a_truncated_index_records_it_and_refuses_the_whole_model(unit_model, tmp_path):
    cut = SimCSE(unit_model, device="cpu", truncate_dim=16)
    cut.build_index(SENTENCES)
    cut.save_index(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert (manifest["dim"], manifest["truncate_dim"]) == (16, 16)
    assert cut.search(SENTENCES[2], top_k=1)[0][0] == SENTENCES[2]
    again = SimCSE(unit_model, device="cpu", truncate_dim=16)
    again.load_index(tmp_path / "idx")
    assert again.index.truncate_dim == 16
    with pytest.raises(ConfigError, match="different dimension"):
        SimCSE(unit_model, device="cpu").load_index(tmp_path / "idx")
    bad = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    shutil.copytree(tmp_path / "idx", tmp_path / "bad")
    (tmp_path / "bad" / "manifest.json").write_text(json.dumps({**bad, "truncate_dim": 8}))
    from simcse.errors import FormatError

    with pytest.raises(FormatError, match="truncate_dim 8 is not the index's dim 16"):
        Index.load(tmp_path / "bad")
    whole = SimCSE(unit_model, device="cpu")
    whole.build_index(SENTENCES)
    whole.save_index(tmp_path / "whole")
    assert "truncate_dim" not in json.loads((tmp_path / "whole" / "manifest.json").read_text())


def test_cli_encode_index_and_search_use_the_truncation(unit_model, tmp_path, capsys):
    text = tmp_path / "s.txt"
    text.write_text("\n".join(SENTENCES) + "\n")
    model = ["--model", str(unit_model), "--device", "cpu"]
    assert main(["encode", *model, "--input", str(text), "--output", str(tmp_path / "e.npy"), "--truncate-dim", "16"]) == 0
    vectors = np.load(tmp_path / "e.npy")
    full = SimCSE(unit_model, device="cpu").encode(SENTENCES)
    np.testing.assert_allclose(vectors, normalize(full[:, :16]), rtol=1e-5, atol=1e-6)
    assert main(["index", "build", *model, "--input", str(text), "--out", str(tmp_path / "idx"),
                 "--truncate-dim", "16"]) == 0
    assert Index.load(tmp_path / "idx").truncate_dim == 16
    capsys.readouterr()
    assert main(["search", "--index", str(tmp_path / "idx"), "--device", "cpu", "--top-k", "1",
                 SENTENCES[3]]) == 0  # the manifest's truncation, not a flag
    assert SENTENCES[3] in capsys.readouterr().out
    assert main(["search", "--index", str(tmp_path / "idx"), "--device", "cpu", "--truncate-dim", "8",
                 SENTENCES[3]]) == 2
    assert "different dimension" in capsys.readouterr().err


def test_the_server_encodes_and_searches_truncated(unit_model):
    from serve_helpers import local_client
    from simcse.serve import ServeConfig, create_app

    cut = SimCSE(unit_model, device="cpu", truncate_dim=16)
    cut.build_index(SENTENCES)
    client = local_client(create_app(cut, cut.index, ServeConfig()))
    got = client.post("/encode", json={"texts": SENTENCES[:2]}).json()
    hits = client.post("/search", json={"queries": [SENTENCES[1]], "top_k": 1, "threshold": None}).json()
    assert got["dim"] == 16 and np.asarray(got["embeddings"]).shape == (2, 16)
    np.testing.assert_allclose(got["embeddings"], cut.encode(SENTENCES[:2]), rtol=1e-5, atol=1e-6)
    assert hits["results"][0][0]["text"] == SENTENCES[1]
