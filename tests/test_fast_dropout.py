"""FastDropout draws nn.Dropout's distribution: keep rate 1 - p, kept values scaled by
1 / (1 - p), gradient through the same mask, seeded by torch's generator; it is nn.Dropout
itself in eval mode and at p = 0 or 1. (GradCache's RNG replay with it: test_grad_cache.py.)"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from simcse.model_io import load_encoder
from simcse.train import build_config
from simcse.train.fast_dropout import FastDropout, keep_mask, use_fast_dropout
from simcse.train.loop import build_model_and_data
from train_helpers import write_corpus


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_and_scaling(p):
    torch.manual_seed(0)
    x = torch.ones(501, 999)  # odd element count: the last 64-bit word is half used
    y = FastDropout(p).train()(x)
    kept = y != 0
    n = x.numel()
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    torch.testing.assert_close(y[kept], torch.full((int(kept.sum()),), 1 / (1 - p)))


def test_masks_are_independent_across_elements_and_calls():
    torch.manual_seed(0)
    a, b = keep_mask(torch.Size([200_000]), 0.5, torch.device("cpu")), keep_mask(torch.Size([200_000]), 0.5, torch.device("cpu"))
    # neighbours (the two halves of one 64-bit word) and successive calls are uncorrelated
    assert abs(np.corrcoef(a[:-1].numpy(), a[1:].numpy())[0, 1]) < 0.01
    assert abs(np.corrcoef(a.numpy(), b.numpy())[0, 1]) < 0.01


def test_seeded_and_differentiable():
    x = torch.randn(64, 37, requires_grad=True)
    drop = FastDropout(0.2).train()
    torch.manual_seed(3)
    y = drop(x)
    torch.manual_seed(3)
    torch.testing.assert_close(drop(x), y)  # same seed, same mask
    y.sum().backward()
    expected = (y != 0).float() / 0.8  # the gradient flows through the kept elements, scaled
    torch.testing.assert_close(x.grad, expected)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_edge_rates_and_eval_are_nn_dropout(p):
    x = torch.randn(10, 10)
    torch.testing.assert_close(FastDropout(p).train()(x), nn.Dropout(p).train()(x))
    torch.testing.assert_close(FastDropout(0.3).eval()(x), x)


def test_swap_keeps_p_and_state_dict(tiny_bert):
    enc = load_encoder(tiny_bert, pooler="avg")
    before = {n: m.p for n, m in enc.backbone.named_modules() if isinstance(m, nn.Dropout)}
    keys = set(enc.state_dict())
    assert use_fast_dropout(enc.backbone) == len(before) > 0
    after = {n: m for n, m in enc.backbone.named_modules() if isinstance(m, nn.Dropout)}
    assert all(type(m) is FastDropout for m in after.values())
    assert {n: m.p for n, m in after.items()} == before
    assert set(enc.state_dict()) == keys


@pytest.mark.parametrize("compile_mode, fast", [("off", True), ("default", False)])
def test_cpu_training_uses_it_unless_compiled(tiny_bert, tmp_path, compile_mode, fast):
    corpus = write_corpus(tmp_path / "c.txt", lines=8)
    cfg = build_config(model=str(tiny_bert), pooler="avg", train_file=str(corpus), batch_size=4, compile=compile_mode,
                       data_dir=str(tmp_path))
    model, _, _ = build_model_and_data(cfg, torch.device("cpu"), tmp_path)
    kinds = {type(m) for m in model["encoder"].backbone.modules() if isinstance(m, nn.Dropout)}
    assert kinds == ({FastDropout} if fast else {nn.Dropout})
