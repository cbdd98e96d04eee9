"""The training fast paths give the plain step's loss and gradients: length groups, static
padding + torch.compile. Dropout is switched off (the fast paths
draw their masks in another order or with another generator)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from simcse.model_io import load_encoder
from simcse.train import build_config, train
from simcse.train.data import collate, tokenize_file
from simcse.train.loop import load_training_encoder
from simcse.train.step import step_loss
from train_helpers import write_corpus


def _loss_and_grads(model, corpus, groups=1, width=0, compile=False):
    """One real training objective (``step_loss``) on the first 8 rows, and its gradients."""
    cfg = build_config(model=str(model), pooler="cls", train_file=str(corpus), batch_size=8, max_length=16)
    encoder = load_training_encoder(cfg)
    if compile:
        encoder.backbone.compile()
    data = tokenize_file(corpus, encoder.tokenizer, cfg.max_length)
    batch = collate(data, np.arange(8), encoder.tokenizer.pad_token_id, True, width)
    assert batch["input_ids"].shape[1] == (width or batch["attention_mask"].sum(1).max())
    loss = step_loss(nn.ModuleDict({"encoder": encoder.train()}), batch, data.views, cfg, groups)
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in encoder.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("fast", [{"groups": 3}, {"groups": 16}, {"width": 16, "compile": True}],
                         ids=["groups3", "groups16", "static-compiled"])
def test_fast_step_equals_the_plain_step(no_dropout_bert, tmp_path, fast):
    corpus = write_corpus(tmp_path / "c.txt", lines=8)
    torch.manual_seed(0)  # the fresh MLP head
    loss, grads = _loss_and_grads(no_dropout_bert, corpus)
    torch.manual_seed(0)
    fast_loss, fast_grads = _loss_and_grads(no_dropout_bert, corpus, **fast)
    torch.testing.assert_close(fast_loss, loss, rtol=1e-5, atol=1e-6)
    assert len(grads) > 10
    for name in fast_grads.keys() - grads.keys():  # a compiled graph returns zeros for unused params
        assert not fast_grads[name].any(), name
    for name in grads:
        torch.testing.assert_close(fast_grads[name], grads[name], rtol=1e-4, atol=1e-5)


def test_train_wires_compile_and_static_shapes(tiny_bert, tmp_path, monkeypatch):
    """``--compile MODE --pad-to-max-length`` compile the backbone in place with that mode and
    feed it batches of exactly max_length (what compiling does to a step is checked above, on
    ``static-compiled``; compiling again here would only cost time)."""
    from simcse.train import loop

    compiled, widths = [], []
    monkeypatch.setattr(nn.Module, "compile", lambda self, mode=None, **kw: compiled.append((type(self).__name__, mode)))
    real_collate = loop.collate
    monkeypatch.setattr(loop, "collate", lambda *a: widths.append(real_collate(*a)["input_ids"].shape[1]) or real_collate(*a))
    corpus = write_corpus(tmp_path / "c.txt", lines=16)
    cfg = build_config(model=str(tiny_bert), pooler="cls", train_file=str(corpus), output_dir=str(tmp_path / "run"),
                       batch_size=8, max_length=16, eval_steps=0, save_steps=0, progress=False, tensorboard=False,
                       compile="reduce-overhead", pad_to_max_length=True)
    result = train(cfg)
    assert result.steps == 2 and compiled == [("BertModel", "reduce-overhead")] and widths == [16, 16]
    assert set(load_encoder(result.model_dir).state_dict()) == set(load_encoder(tiny_bert, pooler="cls").state_dict())


def test_static_padding_and_groups_exclude_each_other():
    with pytest.raises(ValueError, match="exclude each other"):
        build_config(pad_to_max_length=True, length_groups=4)
    with pytest.raises(ValueError, match="compile .fast. is not one of: off, default"):
        build_config(compile="fast")
