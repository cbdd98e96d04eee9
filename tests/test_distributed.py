"""gather_with_grad: 2 gloo processes with batch b == 1 process with batch 2b (loss and gradients),
for InfoNCE and for its Matryoshka sum over prefixes."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from simcse.distributed import average_gradients, gather_with_grad
from simcse.losses import info_nce, matryoshka

B, D, H = 4, 6, 5  # examples per process, input width, embedding width


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.nn.Linear]:
    g = torch.Generator().manual_seed(0)
    x0, x1, x2 = (torch.randn(2 * B, D, generator=g) for _ in range(3))  # the global batch
    model = torch.nn.Linear(D, H)
    with torch.no_grad():
        model.weight.copy_(torch.randn(H, D, generator=g))
        model.bias.copy_(torch.randn(H, generator=g))
    return x0, x1, x2, model


def _loss(model, x0, x1, x2, dims=()) -> torch.Tensor:
    z = [gather_with_grad(model(x)) for x in (x0, x1, x2)]
    loss = matryoshka(info_nce, dims, (1.0, 0.5)) if dims else info_nce
    return loss(z[0], z[1], z[2], temperature=0.05, hard_negative_weight=0.3)


def _worker(rank: int, world: int, init: str, out: str, dims: tuple[int, ...]) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        x0, x1, x2, model = _inputs()
        part = slice(rank * B, (rank + 1) * B)
        loss = _loss(model, x0[part], x1[part], x2[part], dims)
        loss.backward()
        average_gradients(model)  # what DistributedDataParallel does
        save_file({"loss": loss.detach(), "w": model.weight.grad, "b": model.bias.grad}, f"{out}/rank{rank}.safetensors")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("dims", [(), (H, 2)], ids=["info_nce", "matryoshka"])
def test_two_processes_equal_one_process_with_the_whole_batch(tmp_path, dims):
    init = f"file://{tmp_path / 'store'}"
    mp.spawn(_worker, args=(2, init, str(tmp_path), dims), nprocs=2, join=True)
    x0, x1, x2, model = _inputs()
    loss = _loss(model, x0, x1, x2, dims)  # one process: gather is the identity
    loss.backward()
    for rank in range(2):
        got = load_file(str(tmp_path / f"rank{rank}.safetensors"))
        assert torch.allclose(got["loss"], loss.detach(), atol=1e-6)
        assert torch.allclose(got["w"], model.weight.grad, atol=1e-5)
        assert torch.allclose(got["b"], model.bias.grad, atol=1e-5)


def test_gather_is_identity_on_one_process():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(x) is x
