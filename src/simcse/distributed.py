"""Everything this package does across processes, in one place.

Contract of :func:`gather_with_grad`: N processes each holding a batch of b rows, each
computing the loss on the gathered N*b rows and averaging parameter gradients across
processes (what ``DistributedDataParallel`` does), get the same loss and the same
gradients as one process holding the N*b rows. On one process it is the identity.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def init_from_env() -> bool:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1); else do nothing."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return is_distributed()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return True


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums the incoming gradients over processes (each process
    holds its own copy of the same global loss) and returns this process's slice."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # (b, H) -> (N*b, H)
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = (dist.get_rank() * x.shape[0], (dist.get_rank() + 1) * x.shape[0])
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # (N*b, H) -> (b, H)
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        lo, hi = ctx.rows
        return grad[lo:hi]


def gather_with_grad(x: Tensor) -> Tensor:
    """(b, H) on each of N processes -> (N*b, H) in rank order, gradients flowing back to
    every process's rows. Every process must pass the same b. Identity on one process."""
    if not is_distributed():
        return x
    return _GatherWithGrad.apply(x)


def average_gradients(module: torch.nn.Module) -> None:
    """Average ``.grad`` over processes (what DDP does; used by tests and non-DDP callers)."""
    if not is_distributed():
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= dist.get_world_size()


def gather_states(x: Tensor) -> list[Tensor]:
    """Every process's copy of a tensor of the same shape and dtype, in rank order, on the
    CPU and without gradient (e.g. random generator states for a checkpoint). ``[x]`` on one
    process."""
    if not is_distributed():
        return [x.detach().cpu()]
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    x = x.detach().to(device)
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return [p.cpu() for p in parts]


def barrier() -> None:
    if is_distributed():
        dist.barrier()


__all__ = ["average_gradients", "barrier", "gather_states", "gather_with_grad", "init_from_env", "is_distributed", "rank", "world_size"]
