"""Resumable training state as plain files: safetensors for tensors, JSON for the rest.

A checkpoint folder (written atomically by rank 0, replacing the previous one)::

    model.safetensors       every trainable tensor (encoder, MLM head), by parameter name
    optimizer.safetensors   optimizer state tensors, keyed ``<param index>.<name>``
    rng.safetensors         each process's generator states, keyed ``rank<r>.cpu`` / ``rank<r>.cuda``
    state.json              format version; ``progress`` (step, epoch, batches done, best
                            score and step); ``run`` (the resolved training settings that
                            change results, see :func:`simcse.train.resume.run_record`);
                            optimizer scalars and param groups; scheduler and gradient-scaler
                            state

No pickles: ``torch.save`` is never used. :func:`load_checkpoint` checks every file against
the model and optimizer it restores into (names, shapes, dtypes, finite values) and raises
:class:`~simcse.errors.FormatError` naming the file; it never loads half a checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from simcse.atomic import atomic_dir
from simcse.errors import FormatError

STATE_VERSION = 2
FILES = ("model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json")


def model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    # clone: tied weights would otherwise share storage, which safetensors refuses.
    return {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}


def non_finite(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding NaN or Inf, else None."""
    return next((k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)


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


def rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's generator states: the CPU one, and the current CUDA device's."""
    out = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler,
                    state: dict[str, Any], rng: dict[str, torch.Tensor]) -> Path:
    """Write the training state to the folder ``path`` atomically. ``state`` holds ``progress``
    and ``run`` (JSON); ``rng`` every process's states (``rank<r>.<name>``)."""
    tensors = model_tensors(model)
    bad = non_finite(tensors)
    if bad is not None:  # the loop checks first; this keeps any caller from writing one
        raise FormatError(f"{path}: refusing to write a checkpoint whose tensor {bad!r} is not finite")
    opt_tensors, opt_meta = _optimizer_split(optimizer)
    with atomic_dir(path) as tmp:
        save_file(tensors, str(tmp / "model.safetensors"))
        save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
        save_file({k: v.contiguous() for k, v in rng.items()}, str(tmp / "rng.safetensors"))
        sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
        record = {"version": STATE_VERSION, **state, "optimizer": opt_meta, "scheduler": sched,
                  "scaler": scaler.state_dict()}
        (tmp / "state.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return Path(path)


def read_state(path: Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint folder, checked for its version and its sections."""
    file = path / "state.json"
    if not file.is_file():
        present = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        raise FormatError(f"{file}: missing (the folder holds {present}); the checkpoint is incomplete: "
                          f"delete {path} to start over")
    try:
        state = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FormatError(f"{file}: not valid JSON ({err})") from None
    if not isinstance(state, dict):
        raise FormatError(f"{file}: expected a JSON object, got {type(state).__name__}")
    if state.get("version") != STATE_VERSION:
        raise FormatError(f"{file}: version {state.get('version')!r}, this simcse reads {STATE_VERSION}")
    for key, kind in (("progress", dict), ("run", dict), ("optimizer", dict), ("scheduler", dict), ("scaler", dict)):
        if not isinstance(state.get(key), kind):
            raise FormatError(f"{file}: section {key!r} is missing or not an object")
    return state


def _load_tensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise FormatError(f"{file}: missing; the checkpoint is incomplete: delete {file.parent} to start over")
    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as err:
        raise FormatError(f"{file}: not a readable safetensors file ({str(err).splitlines()[0]})") from None
    bad = non_finite(tensors)
    if bad is not None:
        raise FormatError(f"{file}: tensor {bad!r} holds NaN or Inf")
    return tensors


def _check_like(file: Path, got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    """Same names, shapes and dtypes as ``want``."""
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or extra:
        raise FormatError(f"{file}: tensors do not match the model (missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in want.items():
        if got[k].shape != v.shape or got[k].dtype != v.dtype:
            raise FormatError(f"{file}: tensor {k!r} is {got[k].dtype} {tuple(got[k].shape)}, "
                              f"the model has {v.dtype} {tuple(v.shape)}")


def _optimizer_state(file: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                     optimizer: torch.optim.Optimizer, steps: int) -> dict[str, Any]:
    params = [p for group in optimizer.param_groups for p in group["params"]]
    state: dict[int, dict[str, Any]] = {}
    try:
        for key, value in tensors.items():
            idx, name = key.split(".", 1)
            state.setdefault(int(idx), {})[name] = value
        for idx, values in meta["scalars"].items():
            state.setdefault(int(idx), {}).update(values)
        groups = meta["param_groups"]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise FormatError(f"{file}: malformed optimizer state ({err})") from None
    if len(groups) != len(optimizer.param_groups) or any(
            len(g.get("params", ())) != len(o["params"]) for g, o in zip(groups, optimizer.param_groups)):
        raise FormatError(f"{file}: optimizer parameter groups do not match the model")
    if steps > 0 and not state:
        raise FormatError(f"{file}: empty optimizer state after {steps} steps")
    for idx, values in state.items():
        if not 0 <= idx < len(params):
            raise FormatError(f"{file}: optimizer state for parameter {idx}, the model has {len(params)}")
        for name, value in values.items():
            if isinstance(value, torch.Tensor) and value.dim() and value.shape != params[idx].shape:
                raise FormatError(f"{file}: optimizer tensor '{idx}.{name}' has shape {tuple(value.shape)}, "
                                  f"parameter {idx} has {tuple(params[idx].shape)}")
    return {"state": state, "param_groups": groups}


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler,
                    rank: int, device: torch.device) -> dict[str, Any]:
    """Check, then restore what :func:`save_checkpoint` wrote, this process's RNG included;
    returns the ``state.json`` record. Nothing is restored unless every file checks out."""
    path = Path(path)
    state = read_state(path)
    steps = int(state["progress"].get("step", 0))
    weights = _load_tensors(path / "model.safetensors")
    _check_like(path / "model.safetensors", weights, model.state_dict())
    opt_tensors = _load_tensors(path / "optimizer.safetensors")
    opt_state = _optimizer_state(path / "optimizer.safetensors", opt_tensors, state["optimizer"], optimizer, steps)
    rng = _load_tensors(path / "rng.safetensors")
    mine = {k.split(".", 1)[1]: v for k, v in rng.items() if k.startswith(f"rank{rank}.")}
    if "cpu" not in mine or (device.type == "cuda") != ("cuda" in mine):
        raise FormatError(f"{path / 'rng.safetensors'}: no generator state for process {rank} on {device.type}")
    if state["scheduler"].get("last_epoch") != steps:
        raise FormatError(f"{path / 'state.json'}: scheduler at step {state['scheduler'].get('last_epoch')}, progress at {steps}")
    model.load_state_dict(weights)
    optimizer.load_state_dict(opt_state)
    scheduler.load_state_dict({**scheduler.state_dict(), **state["scheduler"]})
    if state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(mine["cpu"])
    if "cuda" in mine:
        torch.cuda.set_rng_state(mine["cuda"], device)
    return state


__all__ = ["FILES", "load_checkpoint", "model_tensors", "non_finite", "read_state", "rng_states", "save_checkpoint"]
