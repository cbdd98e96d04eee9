"""GradCache equals the plain step, with dropout on (the RNG replay makes the masks match)."""

import pytest
import torch

from simcse.losses import info_nce
from simcse.model_io import load_encoder
from simcse.encoder import pad_batch
from simcse.train.fast_dropout import use_fast_dropout
from simcse.train.grad_cache import cached_step

from samples import SENTENCES


def _setup(tiny_bert, fast_dropout=False):
    enc = load_encoder(tiny_bert, pooler="cls", max_length=16, mlp_only_train=True).train()
    if fast_dropout:  # the CPU training default: masks from simcse.train.fast_dropout
        assert use_fast_dropout(enc.backbone) > 0
    texts = SENTENCES + SENTENCES[::-1]  # 12 rows
    batch = pad_batch(enc.tokenize(texts), list(range(len(texts))), 0)
    return enc, batch


def _loss(emb):  # two views laid out as [view 1 of all sentences; view 2 of all sentences]
    half = emb.shape[0] // 2
    return info_nce(emb[:half], emb[half:], temperature=0.05)


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("fast_dropout", [False, True], ids=["torch-dropout", "fast-dropout"])
def test_cached_step_equals_plain_step_with_dropout(tiny_bert, fast_dropout):
    enc, batch = _setup(tiny_bert, fast_dropout)
    chunk = 5  # does not divide 12: a short last chunk too

    # plain: the same chunks embedded with a graph, one loss, one backward
    torch.manual_seed(0)
    parts = [{k: v[i:i + chunk] for k, v in batch.items()} for i in range(0, 12, chunk)]
    plain_loss = _loss(torch.cat([enc(**p) for p in parts]))
    plain_loss.backward()
    plain = _grads(enc)
    enc.zero_grad()

    torch.manual_seed(0)
    cached_loss = cached_step(lambda b: enc(**b), batch, chunk, _loss)
    cached = _grads(enc)

    torch.testing.assert_close(cached_loss, plain_loss.detach())
    assert plain.keys() == cached.keys() and len(plain) > 10
    for name in plain:
        torch.testing.assert_close(cached[name], plain[name], rtol=1e-4, atol=1e-6, msg=name)


def test_cached_step_equals_plain_step_with_a_compiled_backbone(tiny_bert):
    """``--compile`` with ``--grad-cache-chunk``: the compiled backbone draws its dropout masks
    from the same generator state on replay, so the gradients still match (torch.compile's
    default mode, as on a GPU without CUDA graphs; about 30 s of compilation on 2 cores)."""
    enc, batch = _setup(tiny_bert)
    enc.backbone.compile()
    chunk = 6
    torch.manual_seed(0)
    plain_loss = _loss(torch.cat([enc(**{k: v[i:i + chunk] for k, v in batch.items()}) for i in range(0, 12, chunk)]))
    plain_loss.backward()
    plain = _grads(enc)
    enc.zero_grad()
    torch.manual_seed(0)
    cached_loss = cached_step(lambda b: enc(**b), batch, chunk, _loss)
    torch.testing.assert_close(cached_loss, plain_loss.detach())
    cached = _grads(enc)
    assert plain.keys() == cached.keys() and len(plain) > 10
    for name in plain:
        torch.testing.assert_close(cached[name], plain[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("fast_dropout", [False, True], ids=["torch-dropout", "fast-dropout"])
def test_without_replay_gradients_differ(tiny_bert, monkeypatch, fast_dropout):
    """The test above can fail: dropout masks drawn afresh in pass 3 change the gradients."""
    import contextlib

    from simcse.train import grad_cache

    enc, batch = _setup(tiny_bert, fast_dropout)
    torch.manual_seed(0)
    cached_step(lambda b: enc(**b), batch, 5, _loss)
    replayed = _grads(enc)
    enc.zero_grad()
    monkeypatch.setattr(grad_cache.RngState, "replay", lambda self: contextlib.nullcontext())
    torch.manual_seed(0)
    cached_step(lambda b: enc(**b), batch, 5, _loss)
    fresh = _grads(enc)
    assert any(not torch.allclose(replayed[n], fresh[n], atol=1e-6) for n in replayed)


def test_cached_step_equals_one_forward_without_dropout(tiny_bert):
    """Dropout off: GradCache equals the plain step that embeds the whole batch at once."""
    enc, batch = _setup(tiny_bert)
    for m in enc.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    plain_loss = _loss(enc(**batch))
    plain_loss.backward()
    plain = _grads(enc)
    enc.zero_grad()
    cached_loss = cached_step(lambda b: enc(**b), batch, 4, _loss)
    torch.testing.assert_close(cached_loss, plain_loss.detach(), rtol=1e-5, atol=1e-6)
    for name, grad in _grads(enc).items():
        torch.testing.assert_close(grad, plain[name], rtol=1e-3, atol=1e-5, msg=name)


def test_train_with_grad_cache(tiny_bert, tmp_path):
    """`--grad-cache-chunk`: one chunk covering the batch reproduces plain training exactly
    (dropout on); smaller chunks train too and give a loadable model."""
    from safetensors.torch import load_file

    from simcse.cli import main
    from train_helpers import write_corpus

    corpus = write_corpus(tmp_path / "c.txt", lines=24)

    def run(name, *extra):
        argv = ["train", "--model", str(tiny_bert), "--pooler", "cls", "--train-file", str(corpus),
                "--output-dir", str(tmp_path / name), "--batch-size", "8", "--max-length", "16",
                "--eval-steps", "0", "--no-progress", "--seed", "5", *extra]
        assert main(argv) == 0
        return load_file(str(tmp_path / name / "model" / "model.safetensors"))

    plain, cached = run("plain"), run("cached", "--grad-cache-chunk", "16")  # 8 pairs = 16 rows
    assert plain.keys() == cached.keys()
    for k in plain:
        torch.testing.assert_close(cached[k], plain[k], rtol=1e-4, atol=1e-6, msg=k)
    small = run("small", "--grad-cache-chunk", "5")
    assert any(not torch.allclose(small[k], plain[k]) for k in plain)  # other masks, still trains
