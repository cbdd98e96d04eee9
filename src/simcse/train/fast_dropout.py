"""Dropout for CPU training with masks drawn 64 random bits at a time.

SimCSE's only augmentation is dropout, so a training step draws a mask element for every
hidden unit of every token in every layer. On CPU, ``torch.nn.functional.dropout`` draws them
one scalar Bernoulli sample at a time: about 13 ns an element on a 2-core AVX2 machine, 8%
of an all-MiniLM-L6-v2 step at batch 64. :class:`FastDropout` keeps an element when a 32-bit
uniform integer, cut from 64-bit words of torch's default generator, clears a threshold: the
same distribution (keep probability ``1 - p`` to within 2^-32), the same scaling by
``1 / (1 - p)``, the same seeding, checkpointed RNG state and GradCache replay, at about a
third of the cost. It is an ``nn.Dropout`` (same ``p``, no state), so saved models and
``state_dict`` do not change; off CPU, in eval mode and for ``p`` of 0 or 1 it is
``nn.Dropout`` exactly. ``tests/test_fast_dropout.py`` checks the rate, the scaling, the
gradient and the replay.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

_INT32_MIN = -(2**31)


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> Tensor:
    """A bool mask of ``shape``, each element True with probability ``1 - p`` (to 2^-32)."""
    n = math.prod(shape)
    words = torch.empty((n + 1) // 2, dtype=torch.int64, device=device).random_(-(2**63), None)  # all 64 bits
    uniform = words.view(torch.int32)[:n].view(shape)  # uniform over [-2^31, 2^31)
    return uniform >= _INT32_MIN + round(p * 2**32)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with :func:`keep_mask` masks on CPU in training mode."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or not 0.0 < self.p < 1.0 or x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        scale = torch.where(keep_mask(x.shape, self.p, x.device), 1.0 / (1.0 - self.p), 0.0).to(x.dtype)
        return x * scale


def use_fast_dropout(module: nn.Module) -> int:
    """Replace every plain ``nn.Dropout`` inside ``module`` by a :class:`FastDropout` of the same
    ``p``; returns how many were replaced. (Attention-probability dropout inside a fused
    attention call is not a module call and keeps torch's sampler.)"""
    swaps = [(parent, name, child) for parent in module.modules() for name, child in parent.named_children()
             if type(child) is nn.Dropout]
    for parent, name, child in swaps:
        setattr(parent, name, FastDropout(child.p))
    return len(swaps)


__all__ = ["FastDropout", "keep_mask", "use_fast_dropout"]
