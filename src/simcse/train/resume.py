"""Resuming a run: what must match, and starting or continuing from ``<output_dir>/checkpoint``.

A checkpoint records the *run*: every :class:`TrainConfig` field that changes the result,
resolved (``precision: auto`` as fp16 or fp32, ``length_groups: 0`` as its slice count), the
number of processes, the device type, and a hash of the tokenized training rows. ``--resume``
refuses a run that differs in any of them and names the fields, instead of continuing a
different run from the middle of another (a new learning rate would be silently ignored, a
new batch size would skip or repeat data).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch

from simcse.errors import ConfigError
from simcse.train.checkpoint import load_checkpoint, read_state
from simcse.train.config import TrainConfig
from simcse.train.select import Progress

log = logging.getLogger(__name__)

# Fields that do not change the weights or the model kept: free to change on resume. The
# paths of the starting model and the training file may move: what they hold is checked
# instead (the checkpoint's tensors against the architecture, the hash of the tokenized rows
# against the data, which also changes with another tokenizer).
FREE_ON_RESUME = frozenset({"output_dir", "data_dir", "resume", "save_steps", "log_steps", "device",
                            "tensorboard", "progress", "model", "train_file"})


def run_record(cfg: TrainConfig, *, precision: str, groups: int, world: int, device: torch.device,
               data_hash: str, rows: int) -> dict[str, Any]:
    """The resolved settings of this run that a resumed run must share."""
    fields = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in FREE_ON_RESUME}
    return {**fields, "precision": precision, "length_groups": groups, "processes": world,
            "device_type": device.type, "train_rows": rows, "train_data_sha256": data_hash}


def _differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(now))
    return [f"{k}: checkpoint {saved.get(k)!r}, now {now.get(k)!r}" for k in keys
            if _normal(saved.get(k)) != _normal(now.get(k))]


def _normal(value: Any) -> Any:  # JSON turns tuples into lists
    return list(value) if isinstance(value, tuple) else value


def start_or_resume(cfg: TrainConfig, folder: Path, run: dict[str, Any], restore: dict[str, Any]) -> Progress:
    """A fresh :class:`Progress`, or the checkpoint's after restoring it into ``restore``
    (``model``, ``optimizer``, ``scheduler``, ``scaler``, ``rank``, ``device``; see
    :func:`load_checkpoint`). Without ``--resume`` an existing checkpoint is replaced at the
    first save; with it, a missing folder starts afresh, and an incomplete or different one
    is refused."""
    if not cfg.resume or not folder.exists():
        if cfg.resume:
            log.warning("--resume: no checkpoint at %s; starting from step 0", folder)
        return Progress()
    saved = read_state(folder)["run"]
    differs = _differences(saved, run)
    if differs:
        raise ConfigError(f"{folder}: --resume refused, the run differs from the checkpoint's in "
                          f"{'; '.join(differs)}. Resume with the checkpoint's settings, or train into a new --output-dir")
    state = load_checkpoint(folder, **restore)
    known = {f.name for f in dataclasses.fields(Progress)}
    progress = Progress(**{k: v for k, v in state["progress"].items() if k in known})
    log.info("resumed from %s at step %d", folder, progress.step)
    return progress


__all__ = ["FREE_ON_RESUME", "run_record", "start_or_resume"]
