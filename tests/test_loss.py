"""info_nce against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from simcse.losses import info_nce


def _cos(u, v):
    return sum(a * b for a, b in zip(u, v)) / math.sqrt(sum(a * a for a in u) * sum(b * b for b in v))


def _reference(anchors, positives, negatives=None, t=0.05, w=0.0):
    """Plain-Python InfoNCE: -log softmax of each anchor's own positive."""
    cands = positives + (negatives or [])
    total = 0.0
    for i, a in enumerate(anchors):
        logits = [_cos(a, c) / t for c in cands]
        if negatives:
            logits[len(positives) + i] += w
        total += -logits[i] + math.log(sum(math.exp(x) for x in logits))
    return total / len(anchors)


def test_2x2_identity_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # cos matrix = I: each row is [1/t, 0] -> loss = log(1 + e^(-1/t))
    assert info_nce(a, a, temperature=1.0).item() == pytest.approx(math.log(1 + math.exp(-1)))
    assert info_nce(a, a, temperature=0.5).item() == pytest.approx(math.log(1 + math.exp(-2)))


def test_2x2_hard_negatives_and_weight_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    n = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    # row 0 logits (t=1): [1, 0 | 0 + w, 1]; row 1: [0, 1 | 1, 0 + w]
    for w in (0.0, 0.5, -2.0):
        expected = -1 + math.log(math.e + 1 + math.exp(w) + math.e)
        assert info_nce(a, a, n, temperature=1.0, hard_negative_weight=w).item() == pytest.approx(expected, rel=1e-6)


def test_3x3_unnormalized_matches_reference():
    a = [[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]]
    p = [[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]]
    n = [[-1.0, 2.0], [3.0, 1.0], [1.0, 0.5]]
    ta, tp, tn = map(torch.tensor, (a, p, n))
    assert info_nce(ta, tp, temperature=0.05).item() == pytest.approx(_reference(a, p), rel=1e-5)
    assert info_nce(ta, tp, tn, temperature=0.1).item() == pytest.approx(_reference(a, p, n, 0.1), rel=1e-5)
    got = info_nce(ta, tp, tn, temperature=0.1, hard_negative_weight=1.5).item()
    assert got == pytest.approx(_reference(a, p, n, 0.1, 1.5), rel=1e-5)
    assert got != pytest.approx(_reference(a, p, n, 0.1), rel=1e-3)


def test_temperature_scales_logits():
    torch.manual_seed(0)
    a, p = torch.randn(5, 8), torch.randn(5, 8)
    cos = torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(p, dim=-1).T
    for t in (0.05, 0.2, 1.0):
        expected = torch.nn.functional.cross_entropy(cos / t, torch.arange(5))
        assert torch.allclose(info_nce(a, p, temperature=t), expected, atol=1e-6)


def test_scale_invariant_and_gradients_flow():
    torch.manual_seed(1)
    a = torch.randn(4, 6, requires_grad=True)
    p = torch.randn(4, 6, requires_grad=True)
    loss = info_nce(a, p)
    assert torch.allclose(loss, info_nce(3 * a, 0.5 * p), atol=1e-5)
    loss.backward()
    assert a.grad is not None and p.grad is not None and a.grad.abs().sum() > 0


def test_shape_and_temperature_errors():
    with pytest.raises(ValueError, match="must all be"):
        info_nce(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="temperature"):
        info_nce(torch.ones(2, 3), torch.ones(2, 3), temperature=0.0)
