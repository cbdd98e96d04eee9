"""SimCSE's objective: InfoNCE over in-batch negatives, a pure function of embeddings; and the
Matryoshka wrapper that applies any such loss to prefixes of the embeddings.

Nothing here knows about processes or models: under several processes the caller gathers
embeddings first (:func:`simcse.distributed.gather_with_grad`) and passes the global batch.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce(
    anchors: Tensor,
    positives: Tensor,
    negatives: Tensor | None = None,
    *,
    temperature: float = 0.05,
    hard_negative_weight: float = 0.0,
) -> Tensor:
    """Mean cross-entropy of each anchor against its own positive among all candidates.

    Args:
        anchors: (B, H) embeddings of the first view (need not be normalized).
        positives: (B, H); row i is the positive of anchor i and an in-batch negative of
            every other anchor.
        negatives: optional (B, H) hard negatives (supervised SimCSE: contradictions); row i
            belongs to anchor i but every anchor sees all of them as negatives.
        temperature: cosine similarities are divided by it (``scale = 1 / temperature``;
            sentence-transformers' ``scale=20`` is ``temperature=0.05``).
        hard_negative_weight: a logit bias added to anchor i's *own* hard negative (column
            B + i), as SimCSE's ``--hard_negative_weight``; 0 means no bias. Ignored without
            ``negatives``.

    Returns:
        The scalar loss. Logits are (B, B), or (B, 2B) with hard negatives.
    """
    if anchors.shape != positives.shape or (negatives is not None and negatives.shape != anchors.shape):
        raise ValueError(
            f"anchors {tuple(anchors.shape)}, positives {tuple(positives.shape)} and negatives "
            f"{None if negatives is None else tuple(negatives.shape)} must all be (B, H)"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    b = anchors.shape[0]
    candidates = positives if negatives is None else torch.cat([positives, negatives])  # (B or 2B, H)
    a = F.normalize(anchors.float(), dim=-1)
    c = F.normalize(candidates.float(), dim=-1)
    logits = a @ c.T / temperature  # (B, B) or (B, 2B)
    if negatives is not None and hard_negative_weight != 0.0:
        rows = torch.arange(b, device=logits.device)
        bias = torch.zeros_like(logits)
        bias[rows, b + rows] = hard_negative_weight
        logits = logits + bias
    labels = torch.arange(b, device=logits.device)
    return F.cross_entropy(logits, labels)


def matryoshka(loss: Callable[..., Tensor], dims: Sequence[int],
               weights: Sequence[float] | None = None) -> Callable[..., Tensor]:
    """Matryoshka representation learning (Kusupati et al., 2022) around ``loss``: the returned
    function takes the same arguments, applies ``loss`` to the first ``d`` features of every
    embedding tensor for each ``d`` in ``dims``, and returns ``sum_d weight_d * loss_d``.

    ``loss`` stays pure and unaware of it: with :func:`info_nce` each prefix is normalized
    there, so a prefix is trained to work alone as a unit vector (what ``truncate_dim`` serves).
    ``weights`` default to 1 each (sentence-transformers' ``MatryoshkaLoss``). Tensors are
    (B, H) with H >= max(dims); ``None`` arguments (no hard negatives) pass through.
    """
    dims = tuple(dims)
    weights = tuple(weights) if weights else (1.0,) * len(dims)
    if not dims or len(weights) != len(dims) or min(dims) < 1:
        raise ValueError(f"need one weight per dim and dims >= 1, got dims {dims} and weights {weights}")

    def per_prefix(*embeddings: Tensor | None, **kwargs) -> Tensor:
        widest = max(e.shape[-1] for e in embeddings if e is not None)
        if max(dims) > widest:
            raise ValueError(f"Matryoshka dim {max(dims)} is more than the embeddings' {widest} features")
        total = None
        for d, w in zip(dims, weights):
            term = w * loss(*(None if e is None else e[..., :d] for e in embeddings), **kwargs)
            total = term if total is None else total + term
        return total

    return per_prefix


__all__ = ["info_nce", "matryoshka"]
