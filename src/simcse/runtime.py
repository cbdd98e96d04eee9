"""Runtimes for inference: padded token batches (B, T) -> embeddings (B, H) as a tensor.

A runtime is *how* a loaded model computes (``SimCSE(..., runtime=...)``, ``--runtime``), not
to be confused with an index backend (how vectors are searched, :mod:`simcse.index`).
``torch`` runs the :class:`Encoder` itself; ``onnx`` runs an ONNX Runtime session of the same
encoder exported by :mod:`simcse.onnx_export` (CPU), optionally int8-quantized. The exported
file is looked up in the model folder (``onnx/``), then in the cache, else exported once into
the cache; a key over the weights and the encoder config keeps stale exports out.

The ``torch`` runtime leaves its output on the device and launches without waiting for the
GPU (the input copied from pinned memory), so a caller that copies outputs back in blocks
(:func:`to_host`) lets the GPU work while the host pads and launches the next batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from simcse.encoder import Encoder, to_device
from simcse.errors import ConfigError

Forward = Callable[[dict[str, torch.Tensor]], torch.Tensor]


def parse_device(name: str | torch.device | None) -> torch.device:
    """``name`` as a torch device (None: CUDA when available, else the CPU); a malformed
    name, or CUDA asked for where there is none, is a :class:`ConfigError`."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device {name!r} is not a device name such as cpu, cuda, cuda:1") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available here; use cpu")
    return device


def torch_forward(encoder: Encoder, device: torch.device, source: Path | None, quantize: bool) -> Forward:
    if quantize:
        raise ConfigError("quantize needs runtime 'onnx'")

    @torch.inference_mode()
    def forward(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return encoder(**to_device(batch, device))

    return forward


def onnx_forward(encoder: Encoder, device: torch.device, source: Path | None, quantize: bool) -> Forward:
    from simcse.onnx_export import export_onnx, ort_session

    if device.type != "cpu":
        raise ConfigError(f"runtime 'onnx' runs on the CPU; got device {device}")
    path = onnx_file(encoder, source, quantize)
    if not path.is_file():
        export_onnx(encoder, path, quantize=quantize)
    session = ort_session(path)
    wanted = {i.name for i in session.get_inputs()}

    def forward(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {k: v.numpy() for k, v in batch.items() if k in wanted})[0])

    return forward


# name -> (encoder, device, model folder or None, quantize) -> Forward
RUNTIMES: dict[str, Callable[[Encoder, torch.device, Path | None, bool], Forward]] = {
    "torch": torch_forward,
    "onnx": onnx_forward,
}


def to_host(outputs: list[torch.Tensor]) -> np.ndarray:
    """Forward outputs (on any device, any float dtype) stacked as one float32 NumPy array:
    one copy back, and the one wait for the device."""
    return torch.cat(outputs).float().cpu().numpy()


def make_forward(name: str, encoder: Encoder, device: torch.device, source: Path | None, quantize: bool = False) -> Forward:
    """The forward function of runtime ``name``; an unknown name raises :class:`ConfigError`
    listing the valid ones."""
    if name not in RUNTIMES:
        raise ConfigError(f"unknown runtime {name!r}; valid runtimes: {', '.join(RUNTIMES)}")
    return RUNTIMES[name](encoder, device, source, quantize)


def onnx_filename(quantize: bool) -> str:
    """The export's file name, as ``simcse export onnx`` writes it into ``<model>/onnx/``."""
    return "simcse-encoder-int8.onnx" if quantize else "simcse-encoder.onnx"


def onnx_file(encoder: Encoder, source: Path | None, quantize: bool) -> Path:
    """Where the export for this encoder lives: ``<model>/onnx/`` if exported there, else the cache."""
    if source is not None and (source / "onnx" / onnx_filename(quantize)).is_file():
        return source / "onnx" / onnx_filename(quantize)
    key = hashlib.sha256(json.dumps({
        "source": str(source.resolve()) if source else None,
        "weights": [(p.relative_to(source).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                    for p in sorted(source.rglob("*.safetensors"))] if source else None,  # whitening/ and 2_Dense/ too
        "config": dataclasses.asdict(encoder.config),
        "quantize": quantize,
    }, sort_keys=True).encode()).hexdigest()[:20]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "simcse" / "onnx"
    return cache / f"{key}-{onnx_filename(quantize)}"


__all__ = ["RUNTIMES", "Forward", "make_forward", "onnx_file", "onnx_filename", "onnx_forward", "parse_device", "to_host",
           "torch_forward"]
