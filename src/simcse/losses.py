"""SimCSE's objective: InfoNCE over in-batch negatives, a pure function of embeddings.

Nothing here knows about processes or models: under several processes the caller gathers
embeddings first (:func:`simcse.distributed.gather_with_grad`) and passes the global batch.
"""

from __future__ import annotations

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


__all__ = ["info_nce"]
