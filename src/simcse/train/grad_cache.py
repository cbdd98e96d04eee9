"""GradCache: a contrastive step over a batch far larger than activation memory allows.

The loss of contrastive learning couples all rows of the batch only through their
embeddings (B, H), which are small. So (Gao et al., 2021, "Scaling Deep Contrastive
Learning Batch Size under Memory Limited Setup"):

1. embed the batch ``chunk`` rows at a time without building a graph, saving the RNG state
   before each chunk;
2. compute the loss on the detached embeddings and back-propagate to them only;
3. embed each chunk again *with* a graph, replaying its saved RNG state so that dropout draws
   the same masks, and back-propagate the cached embedding gradients through it.

Parameter gradients equal those of the plain step that embeds the same chunks with a graph
and back-propagates the loss once (``tests/test_grad_cache.py``), while activations for
only ``chunk`` rows are alive at a time. Dropout is the augmentation of SimCSE: without the
replay, pass 3 would see other masks than the embeddings the loss was computed on.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import Tensor

Batch = dict[str, Tensor]


class RngState:
    """The CPU and CUDA generator states at construction; ``replay()`` restores them for a block."""

    def __init__(self, devices: list[int]) -> None:
        self.devices = devices
        self.cpu = torch.get_rng_state()
        self.cuda = [torch.cuda.get_rng_state(d) for d in devices]

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        with torch.random.fork_rng(devices=self.devices):
            torch.set_rng_state(self.cpu)
            for d, state in zip(self.devices, self.cuda):
                torch.cuda.set_rng_state(state, d)
            yield


def _chunks(batch: Batch, size: int) -> list[Batch]:
    rows = next(iter(batch.values())).shape[0]
    return [{k: v[i : i + size] for k, v in batch.items()} for i in range(0, rows, size)]


def _cuda_devices(batch: Batch) -> list[int]:
    return sorted({v.device.index or 0 for v in batch.values() if v.is_cuda})


def cached_step(embed: Callable[[Batch], Tensor], batch: Batch, chunk: int, loss_fn: Callable[[Tensor], Tensor],
                scale: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """Back-propagate ``loss_fn(embed(batch))`` into the parameters, ``chunk`` rows at a time.

    Args:
        embed: rows of token ids (b, T) -> embeddings (b, H); the model in train mode.
        batch: the whole batch, every tensor with the same first dimension R.
        chunk: rows embedded at once.
        loss_fn: embeddings (R, H) -> scalar loss (it may gather across processes).
        scale: multiplies the loss before its backward, e.g. ``GradScaler.scale`` for fp16:
            the cached embedding gradients, and so every parameter gradient, then carry the
            scale, exactly as ``scaler.scale(loss).backward()`` of the plain step.

    Returns:
        The detached (unscaled) loss. Gradients are accumulated in ``.grad`` as
        ``scale(loss).backward()`` would.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    parts, states, cached = _chunks(batch, chunk), [], []
    devices = _cuda_devices(batch)
    with torch.no_grad():
        for part in parts:
            states.append(RngState(devices))
            cached.append(embed(part))
    emb = torch.cat(cached).detach().requires_grad_()
    loss = loss_fn(emb)
    (scale(loss) if scale is not None else loss).backward()
    grads = emb.grad.split([c.shape[0] for c in cached])
    for part, state, grad in zip(parts, states, grads):
        with state.replay():
            again = embed(part)
        again.backward(grad.to(again.dtype))
    return loss.detach()
