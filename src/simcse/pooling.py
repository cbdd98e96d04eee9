"""The five SimCSE poolers: token states (B, T, H) -> one vector per sentence (B, H).

Each pooler is a pure function of the backbone outputs and the attention mask, so padding
positions never contribute. ``cls`` and ``cls_before_pooler`` pool the same vector here;
the MLP head that makes ``cls`` differ is applied by :class:`simcse.encoder.Encoder`.
"""

from __future__ import annotations

from typing import Callable, Sequence

from torch import Tensor

from simcse.errors import ConfigError

# (last_hidden_state (B,T,H), hidden_states tuple of (B,T,H) or None, attention_mask (B,T)) -> (B,H)
Pooler = Callable[[Tensor, Sequence[Tensor] | None, Tensor], Tensor]


def masked_mean(states: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean over the non-padding positions: states (B, T, H), mask (B, T) -> (B, H)."""
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def _cls(last: Tensor, hidden: Sequence[Tensor] | None, mask: Tensor) -> Tensor:
    return last[:, 0]


def _avg(last: Tensor, hidden: Sequence[Tensor] | None, mask: Tensor) -> Tensor:
    return masked_mean(last, mask)


def _avg_top2(last: Tensor, hidden: Sequence[Tensor] | None, mask: Tensor) -> Tensor:
    assert hidden is not None
    return masked_mean((hidden[-1] + hidden[-2]) / 2.0, mask)


def _avg_first_last(last: Tensor, hidden: Sequence[Tensor] | None, mask: Tensor) -> Tensor:
    # hidden[0] is the embedding layer; upstream SimCSE fixed this pooler to use the
    # first *transformer* layer, hidden[1].
    assert hidden is not None
    return masked_mean((hidden[1] + hidden[-1]) / 2.0, mask)


POOLERS: dict[str, Pooler] = {
    "cls": _cls,
    "cls_before_pooler": _cls,
    "avg": _avg,
    "avg_top2": _avg_top2,
    "avg_first_last": _avg_first_last,
}
# Poolers that read intermediate layers, so the backbone must return all hidden states.
NEEDS_HIDDEN_STATES = frozenset({"avg_top2", "avg_first_last"})


def check_pooler(name: str) -> str:
    """Return ``name`` if it is a known pooler, else raise ``ConfigError`` (a ``ValueError``) listing
    the valid ones."""
    if not isinstance(name, str) or name not in POOLERS:
        raise ConfigError(f"unknown pooler {name!r}; valid poolers: {', '.join(POOLERS)}")
    return name


def pool(name: str, last: Tensor, hidden: Sequence[Tensor] | None, mask: Tensor) -> Tensor:
    return POOLERS[check_pooler(name)](last, hidden, mask)


__all__ = ["POOLERS", "NEEDS_HIDDEN_STATES", "check_pooler", "masked_mean", "pool"]
