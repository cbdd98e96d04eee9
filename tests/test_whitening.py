"""BERT-whitening and PCA: the streaming fit against numpy, the saved layer in our loader and in
sentence-transformers, truncation, the ``simcse whiten`` command and its errors."""

import json
import logging
import random
import shutil

import numpy as np
import pytest
import torch

from simcse import SimCSE, load_encoder, save_encoder
from simcse.cli import main
from simcse.errors import ConfigError, DataError, FormatError
from simcse.whiten import fit_file, rewrap
from simcse.whitening import Whitening, WhiteningStats, fit_whitening

from samples import SENTENCES, WORDS


def _numpy_fit(x):
    """Su et al.'s recipe on the whole matrix, signs fixed as fit_whitening fixes them."""
    mu, cov = x.mean(0), np.cov(x.T)
    u, s, _ = np.linalg.svd(cov)
    u = u * np.where(u[np.argmax(np.abs(u), 0), np.arange(u.shape[1])] < 0, -1.0, 1.0)
    return mu, cov, u / np.sqrt(s)


def _cos(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _corpus(n, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))) for _ in range(n)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    lines = _corpus(200)
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


@pytest.fixture(scope="module")
def head_encoder(tiny_bert):
    """The tiny BERT with a non-trivial SimCSE head used at inference."""
    enc = load_encoder(tiny_bert, pooler="cls", max_length=16)
    torch.manual_seed(1)
    torch.nn.init.normal_(enc.head.linear.weight, std=0.3)
    return enc


# ---------------------------------------------------------------- the fit


@pytest.mark.parametrize("batch", [1, 7, 64, 500])
def test_streaming_fit_equals_the_whole_matrix_fit(batch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12)) * 3 + rng.normal(size=12) * 5  # anisotropic, off-centre
    stats = WhiteningStats(12)
    for i in range(0, len(x), batch):
        stats.update(x[i:i + batch].astype(np.float32).astype(np.float64))
    mu, cov, w = _numpy_fit(x.astype(np.float32).astype(np.float64))
    got_mu, got_w = fit_whitening(stats)
    np.testing.assert_allclose(stats.mean, mu, atol=1e-6)
    np.testing.assert_allclose(stats.covariance, cov, atol=1e-6)
    np.testing.assert_allclose(got_mu, mu, atol=1e-6)
    np.testing.assert_allclose(got_w, w, atol=1e-6)
    whitened = (x - got_mu) @ got_w
    np.testing.assert_allclose(np.cov(whitened.T), np.eye(12), atol=1e-6)
    _, w6 = fit_whitening(stats, dim=6)
    np.testing.assert_allclose(w6, w[:, :6], atol=1e-6)  # K components: the first K of the full fit


def test_fit_refuses_what_it_cannot_whiten():
    stats = WhiteningStats(4)
    stats.update(np.array([[1.0, 2, 3, 4]]))
    with pytest.raises(DataError, match="at least 2 sentences"):
        fit_whitening(stats)
    stats.update(np.array([[2.0, 2, 3, 4], [3.0, 2, 3, 5]]))  # 3 points span 2 directions
    with pytest.raises(DataError, match="span only 2 of the 3 directions"):
        fit_whitening(stats, dim=3)
    assert fit_whitening(stats)[1].shape == (4, 2)  # no dim: all the directions they span
    with pytest.raises(ConfigError, match="between 1 and the embedding width 4"):
        fit_whitening(stats, dim=5)
    with pytest.raises(ValueError, match="NaN"):
        stats.update(np.array([[np.nan, 0, 0, 0]]))


def test_pca_is_the_whitening_rotation_without_centring_or_scaling():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 10)) @ rng.normal(size=(10, 10)) + rng.normal(size=10) * 4
    x[:, -1] = x[:, 0]  # 9 directions of variance out of 10
    stats = WhiteningStats(10)
    stats.update(x)
    mu, cov, w = _numpy_fit(x)
    shift, u = fit_whitening(stats, method="pca")
    assert u.shape == (10, 10) and not shift.any()  # no dim: every direction, the flat one too
    np.testing.assert_allclose(u.T @ u, np.eye(10), atol=1e-10)  # a rotation: cosines unchanged
    np.testing.assert_allclose(_cos(x @ u, x[::-1] @ u), _cos(x, x[::-1]), atol=1e-10)
    np.testing.assert_allclose(u[:, :9], w[:, :9] / np.linalg.norm(w[:, :9], axis=0), atol=1e-8)  # whitening: U / sd
    variance = np.var(x @ u, axis=0, ddof=1)
    assert np.all(np.diff(variance) <= 1e-9)  # sorted by variance: the first K are the K of most
    np.testing.assert_allclose(variance[:9], 1 / np.linalg.norm(w[:, :9], axis=0) ** 2, rtol=1e-8)
    np.testing.assert_allclose(fit_whitening(stats, dim=4, method="pca")[1], u[:, :4])
    with pytest.raises(DataError, match="span only 9 of the 10 directions"):
        fit_whitening(stats, dim=10, method="pca")
    with pytest.raises(ConfigError, match="unknown whitening method 'zca'"):
        fit_whitening(stats, method="zca")


# ---------------------------------------------------------------- the model


def test_whitened_vectors_of_the_fit_corpus_have_identity_covariance(tmp_path, tiny_bert, corpus):
    path, lines = corpus
    avg = load_encoder(tiny_bert, pooler="avg", max_length=16)
    layer = fit_file(avg, path, show_progress=False)  # all the directions the sentences span
    # Mean pooling after LayerNorm spans one direction less than the width: every token state
    # sums to the same value, so the pooled vectors lie in a hyperplane.
    assert (layer.in_features, layer.out_features, layer.info.sentences) == (32, 31, 200)
    with pytest.raises(DataError, match="span only 31 of the 32 directions"):
        fit_file(avg, path, dim=32, show_progress=False)
    save_encoder(rewrap(avg, avg.config, layer), tmp_path / "w")
    x = SimCSE(tmp_path / "w", device="cpu").encode(lines).astype(np.float64)
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(np.cov(x.T), np.eye(31), atol=1e-3)


@pytest.mark.parametrize("pooler,normalize", [("avg", False), ("avg", True), ("cls", False), ("cls", True)])
def test_saved_whitened_model_loads_in_sentence_transformers(tmp_path, tiny_bert, head_encoder, corpus, pooler,
                                                             normalize):
    st = pytest.importorskip("sentence_transformers")
    import dataclasses

    path, lines = corpus
    enc = head_encoder if pooler == "cls" else load_encoder(tiny_bert, pooler="avg", max_length=16)
    enc = rewrap(enc, dataclasses.replace(enc.config, normalize=normalize), None)
    layer = fit_file(enc, path, dim=16, show_progress=False)
    save_encoder(rewrap(enc, enc.config, layer), tmp_path / "w")
    modules = json.loads((tmp_path / "w" / "modules.json").read_text())
    head = ["2_Dense"] if pooler == "cls" else []
    assert [m["path"] for m in modules][2:] == [*head, "whitening", *([f"{3 + len(head)}_Normalize"] if normalize else [])]
    saved = json.loads((tmp_path / "w" / "simcse_config.json").read_text())["whitening"]
    assert saved == {"sentences": 200, "corpus": "corpus.txt", "method": "bert-whitening", "input_dim": 32, "dim": 16}

    ours = SimCSE(tmp_path / "w", device="cpu")
    assert ours.dim == 16 and ours.encoder.config == enc.config
    mine = ours.encode(lines)
    # the loaded model is the in-memory one: whitening applied after the pooler and head, before Normalize
    assert _cos(mine, SimCSE.from_encoder(rewrap(enc, enc.config, layer)).encode(lines)).min() >= 0.99999
    raw = SimCSE.from_encoder(rewrap(enc, dataclasses.replace(enc.config, normalize=False), None)).encode(lines)
    weight, bias = layer.linear.weight.double().numpy(), layer.linear.bias.double().numpy()
    assert _cos(mine, raw @ weight.T + bias).min() >= 0.99999
    model = st.SentenceTransformer(str(tmp_path / "w"), device="cpu")
    theirs = model.encode(lines)
    assert theirs.shape == (200, 16) and _cos(mine, theirs).min() >= 0.9999
    if normalize:
        np.testing.assert_allclose(np.linalg.norm(mine, axis=1), 1, atol=1e-5)


def test_a_pca_model_keeps_cosines_at_full_width_and_loads_in_sentence_transformers(tmp_path, tiny_bert, corpus,
                                                                                    caplog):
    st = pytest.importorskip("sentence_transformers")
    path, lines = corpus
    avg = load_encoder(tiny_bert, pooler="avg", max_length=16)
    layer = fit_file(avg, path, show_progress=False, method="pca")
    assert layer.out_features == 32 and not layer.linear.bias.any()  # the flat direction kept: a rotation
    save_encoder(rewrap(avg, avg.config, layer), tmp_path / "p")
    saved = json.loads((tmp_path / "p" / "simcse_config.json").read_text())["whitening"]
    assert saved == {"sentences": 200, "corpus": "corpus.txt", "method": "pca", "input_dim": 32, "dim": 32}
    before = SimCSE.from_encoder(avg).encode(lines).astype(np.float64)
    after = SimCSE(tmp_path / "p", device="cpu").encode(lines).astype(np.float64)
    np.testing.assert_allclose(after @ after.T, before @ before.T, atol=1e-5)  # every cosine as it was
    theirs = st.SentenceTransformer(str(tmp_path / "p"), device="cpu").encode(lines)
    assert _cos(after, theirs).min() >= 0.9999
    with caplog.at_level(logging.WARNING, logger="simcse.api"):  # principal axes: any width is meant to be cut
        cut = SimCSE(tmp_path / "p", device="cpu", truncate_dim=8).encode(lines)
        assert not caplog.records
        SimCSE(tiny_bert, device="cpu", pooler="avg", truncate_dim=8)  # the model's own first 8: warned
    assert "not trained to be truncated" in caplog.text
    eight = fit_file(avg, path, dim=8, show_progress=False, method="pca")
    save_encoder(rewrap(avg, avg.config, eight), tmp_path / "p8")
    np.testing.assert_allclose(SimCSE(tmp_path / "p8", device="cpu").encode(lines), cut, atol=1e-5)  # --dim 8 = cut


def test_dim_k_is_the_first_k_components(tmp_path, head_encoder, corpus):
    path, lines = corpus
    full = fit_file(head_encoder, path, dim=16, show_progress=False)
    eight = fit_file(head_encoder, path, dim=8, show_progress=False)
    assert eight.out_features == 8
    for name, value in eight.state_dict().items():
        torch.testing.assert_close(value, full.truncated(8).state_dict()[name])
    save_encoder(rewrap(head_encoder, head_encoder.config, eight), tmp_path / "w8")
    x8 = SimCSE(tmp_path / "w8", device="cpu").encode(lines)
    x16 = SimCSE.from_encoder(rewrap(head_encoder, head_encoder.config, full)).encode(lines)
    assert x8.shape == (200, 8)
    np.testing.assert_allclose(x8, x16[:, :8], rtol=1e-4, atol=1e-3)  # unit-variance values, float32


def test_whitening_a_whitened_model_replaces_its_whitening(tmp_path, head_encoder, corpus):
    path, lines = corpus
    save_encoder(rewrap(head_encoder, head_encoder.config, fit_file(head_encoder, path, dim=8, show_progress=False)),
                 tmp_path / "w8")
    again = fit_file(load_encoder(tmp_path / "w8"), path, dim=4, show_progress=False)
    direct = fit_file(head_encoder, path, dim=4, show_progress=False)
    for name, value in again.state_dict().items():
        torch.testing.assert_close(value, direct.state_dict()[name])


def test_a_whitened_model_keeps_its_pooler(tmp_path, head_encoder, corpus):
    save_encoder(rewrap(head_encoder, head_encoder.config, fit_file(head_encoder, corpus[0], dim=4, show_progress=False)),
                 tmp_path / "w")
    with pytest.raises(ConfigError, match="is whitened: its whitening was fitted on pooler 'cls'"):
        SimCSE(tmp_path / "w", device="cpu", pooler="avg")
    assert SimCSE(tmp_path / "w", device="cpu", max_length=8).dim == 4


def test_onnx_export_of_a_whitened_model_agrees(tmp_path, head_encoder, corpus):
    pytest.importorskip("onnxruntime")
    save_encoder(rewrap(head_encoder, head_encoder.config, fit_file(head_encoder, corpus[0], dim=8, show_progress=False)),
                 tmp_path / "w")
    torch_model = SimCSE(tmp_path / "w", device="cpu")
    onnx_model = SimCSE(tmp_path / "w", runtime="onnx")  # exported with the whitening inside, parity-checked
    assert _cos(torch_model.encode(SENTENCES), onnx_model.encode(SENTENCES)).min() >= 0.9999


def test_damaged_whitening_files_are_named(tmp_path, head_encoder, corpus):
    save_encoder(rewrap(head_encoder, head_encoder.config, fit_file(head_encoder, corpus[0], dim=4, show_progress=False)),
                 tmp_path / "w")
    cfg_path = tmp_path / "w" / "simcse_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({**cfg, "whitening": {**cfg["whitening"], "dim": 5}}))
    with pytest.raises(FormatError, match=r"simcse_config.json: 'whitening' gives dim 5, but .*whitening/config.json has 4"):
        SimCSE(tmp_path / "w", device="cpu")
    cfg_path.write_text(json.dumps({**cfg, "whitening": {**cfg["whitening"], "method": "zca"}}))
    with pytest.raises(FormatError, match=r"'whitening': method must be one of \['bert-whitening', 'pca'\]"):
        SimCSE(tmp_path / "w", device="cpu")
    cfg_path.write_text(json.dumps({**cfg, "whitening": {**cfg["whitening"], "sentences": "many"}}))
    with pytest.raises(FormatError, match="simcse_config.json: 'whitening': field 'sentences' must be integer or null"):
        SimCSE(tmp_path / "w", device="cpu")
    cfg_path.write_text(json.dumps(cfg))
    (tmp_path / "w" / "whitening" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(FormatError, match="whitening/model.safetensors: is not a complete safetensors file"):
        SimCSE(tmp_path / "w", device="cpu")
    shutil.rmtree(tmp_path / "w" / "whitening")
    with pytest.raises(FileNotFoundError, match="whitening/config.json: missing"):
        SimCSE(tmp_path / "w", device="cpu")


def test_training_refuses_a_whitened_model(tmp_path, head_encoder, corpus):
    from types import SimpleNamespace

    from simcse.train.loop import load_training_encoder

    save_encoder(rewrap(head_encoder, head_encoder.config, fit_file(head_encoder, corpus[0], dim=4, show_progress=False)),
                 tmp_path / "w")
    with pytest.raises(ConfigError, match="whitened.*train the model it was fitted on"):
        load_training_encoder(SimpleNamespace(model=str(tmp_path / "w"), pooler=None, mlp_only_train=None))


# ---------------------------------------------------------------- the command


def test_cli_whiten_end_to_end(tmp_path, tiny_bert, corpus, capsys):
    path, lines = corpus
    out = tmp_path / "w"
    assert main(["whiten", "--model", str(tiny_bert), "--pooler", "avg", "--input", str(path), "--out", str(out),
                 "--dim", "12", "--device", "cpu", "--batch-size", "16"]) == 0
    assert "bert-whitening 32 -> 12 dims, fitted on 200 sentences" in capsys.readouterr().out
    saved = json.loads((out / "simcse_config.json").read_text())
    assert saved["pooler"] == "avg" and saved["whitening"]["sentences"] == 200 and saved["whitening"]["dim"] == 12
    x = SimCSE(out, device="cpu").encode(lines).astype(np.float64)
    np.testing.assert_allclose(np.cov(x.T), np.eye(12), atol=1e-3)
    emb = tmp_path / "e.npy"
    assert main(["encode", "--model", str(out), "--input", str(path), "--output", str(emb)]) == 0
    assert np.load(emb).shape == (200, 12)


@pytest.mark.parametrize("content,message", [
    (b"fine\n\xff\xfe broken\n", "c.txt:2: not valid UTF-8"),
    (b"fine\n\nafter blank\n", "c.txt:2: blank line"),
    (b"fine\nnul \x00 inside\n", "c.txt:2: control character U+0000"),
    (b"a man\nthe dog\n", "the 2 sentences span only 1 of the 5 directions asked for"),
])
def test_cli_whiten_bad_input_is_one_line(tmp_path, tiny_bert, capsys, content, message):
    src = tmp_path / "c.txt"
    src.write_bytes(content)
    code = main(["whiten", "--model", str(tiny_bert), "--pooler", "avg", "--input", str(src), "--out", str(tmp_path / "w"),
                 "--dim", "5", "--device", "cpu"])
    err = capsys.readouterr().err  # a progress bar may come first: the error is its own last line
    assert code == 2 and message in err.rstrip("\n").split("\n")[-1] and "Traceback" not in err
    assert not (tmp_path / "w").exists()


def test_cli_whiten_pca(tmp_path, tiny_bert, corpus, capsys):
    path, lines = corpus
    argv = ["whiten", "--model", str(tiny_bert), "--pooler", "avg", "--input", str(path), "--device", "cpu"]
    assert main([*argv, "--out", str(tmp_path / "p"), "--method", "pca", "--dim", "12"]) == 0
    assert "pca 32 -> 12 dims, fitted on 200 sentences" in capsys.readouterr().out
    assert json.loads((tmp_path / "p" / "simcse_config.json").read_text())["whitening"]["method"] == "pca"
    assert SimCSE(tmp_path / "p", device="cpu").encode(lines).shape == (200, 12)
    with pytest.raises(SystemExit) as stop:  # argparse's own refusal, before a model is loaded
        main([*argv, "--out", str(tmp_path / "z"), "--method", "zca"])
    assert stop.value.code == 2 and "invalid choice 'zca' (choose from bert-whitening, pca)" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()


def test_cli_whiten_flag_errors(tmp_path, tiny_bert, capsys, corpus):
    argv = ["whiten", "--model", str(tiny_bert), "--pooler", "avg", "--out", str(tmp_path / "w"), "--device", "cpu"]
    assert main([*argv, "--input", str(tmp_path / "none.txt")]) == 2
    assert "none.txt: no such file" in capsys.readouterr().err
    assert main([*argv, "--input", str(corpus[0]), "--dim", "33"]) == 2
    assert "dim must be between 1 and the embedding width 32, got 33" in capsys.readouterr().err
    assert main([*argv, "--input", str(corpus[0]), "--dim", "0"]) == 2
    assert "dim must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
