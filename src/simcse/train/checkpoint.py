"""Resumable training state as plain files: safetensors for tensors, JSON for the rest.

A checkpoint folder (written atomically, replacing the previous one)::

    model.safetensors       every trainable tensor (encoder, MLM head), by parameter name
    optimizer.safetensors   optimizer state tensors, keyed ``<param index>.<name>``
    rng.safetensors         torch CPU (and CUDA) generator states
    state.json              step, epoch, data position, best score, optimizer scalars and
                            param groups, scheduler state, the config that wrote it

No pickles: ``torch.save`` is never used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from simcse.atomic import atomic_dir

STATE_VERSION = 1


def _model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    # clone: tied weights would otherwise share storage, which safetensors refuses.
    return {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}


def _optimizer_split(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_join(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    for idx, values in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def _rng_tensors() -> dict[str, torch.Tensor]:
    out = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        out.update({f"cuda_{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return out


def save_checkpoint(
    path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler, progress: dict[str, Any],
) -> Path:
    """Write the full training state to the folder ``path`` (atomically)."""
    opt_tensors, opt_meta = _optimizer_split(optimizer)
    with atomic_dir(path) as tmp:
        save_file(_model_tensors(model), str(tmp / "model.safetensors"))
        save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
        save_file(_rng_tensors(), str(tmp / "rng.safetensors"))
        sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
        state = {"version": STATE_VERSION, "progress": progress, "optimizer": opt_meta, "scheduler": sched}
        (tmp / "state.json").write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    return Path(path)


def load_checkpoint(
    path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote (RNG included); return its ``progress``."""
    path = Path(path)
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{path / 'state.json'}: version {state.get('version')!r}, this simcse reads {STATE_VERSION}")
    model.load_state_dict(load_file(str(path / "model.safetensors")))
    optimizer.load_state_dict(_optimizer_join(load_file(str(path / "optimizer.safetensors")), state["optimizer"]))
    scheduler.load_state_dict({**scheduler.state_dict(), **state["scheduler"]})
    rng = load_file(str(path / "rng.safetensors"))
    torch.set_rng_state(rng["torch_cpu"])
    cuda = [rng[k] for k in sorted(rng) if k.startswith("cuda_")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    return state["progress"]


__all__ = ["load_checkpoint", "save_checkpoint"]
