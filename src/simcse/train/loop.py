"""The SimCSE training loop: plain PyTorch, top to bottom.

One step (:mod:`simcse.train.step`): B examples -> one encoder pass over V*B sentences ->
InfoNCE [+ MLM] -> backward -> clip -> AdamW -> linear schedule. The starting model is
evaluated first and every ``eval_steps`` after; the best of them is kept in
``<output_dir>/model`` (:mod:`simcse.train.select`). ``<output_dir>/checkpoint`` holds
everything needed to resume (:mod:`simcse.train.checkpoint`, :mod:`simcse.train.resume`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from simcse import distributed as dist
from simcse.data_dir import data_dir as resolve_data_dir
from simcse.encoder import Encoder, to_device
from simcse.errors import ConfigError
from simcse.model_io import load_encoder, save_encoder
from simcse.model_registry import resolve_model
from simcse.runtime import parse_device
from simcse.train.checkpoint import rng_states, save_checkpoint
from simcse.train.config import TrainConfig
from simcse.train.data import TrainingSet, collate, epoch_batches, shard_rows, tokenize_file, total_steps
from simcse.train.evaluators import build_evaluate
from simcse.train.fast_dropout import use_fast_dropout
from simcse.train.length_groups import auto_groups
from simcse.train.readers import Schema, training_file
from simcse.train.resume import run_record, start_or_resume
from simcse.train.select import Progress, Selector
from simcse.train.step import NonFiniteGuard, autocast_dtype, build_optimizer, optimizer_step, step_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """Where the model went and why: ``best_step`` 0 means no step beat the starting model;
    scores are None without evaluation (``eval_steps`` 0)."""

    model_dir: Path
    steps: int
    metric: str | None
    best_step: int | None
    best_score: float | None
    first_score: float | None
    kept_last: bool


def load_training_encoder(cfg: TrainConfig) -> Encoder:
    """The starting encoder. ``pooler='cls'`` always gets a fresh MLP head (SimCSE's
    ``cl_init``: normal(0, initializer_range), zero bias) on the raw [CLS] state. Its config
    records the Matryoshka dims it is trained for (the models saved from it say so)."""
    if cfg.pooler != "cls":
        enc = load_encoder(cfg.model, pooler=cfg.pooler, mlp_only_train=cfg.mlp_only_train)
    else:
        enc = load_encoder(cfg.model, pooler="cls_before_pooler")
    if enc.whitening is not None:  # fitted to these weights' embeddings: training would leave it stale
        raise ConfigError(f"{cfg.model} is whitened (simcse whiten); train the model it was fitted on, then whiten "
                          "the trained one")
    too_wide = [d for d in cfg.matryoshka_dims if d > enc.dim]
    if too_wide:
        raise ConfigError(f"matryoshka_dims {too_wide} exceed the {enc.dim} features of {cfg.model}'s embedding")
    if cfg.pooler != "cls":
        enc.config = dataclasses.replace(enc.config, matryoshka_dims=_widest_first(cfg.matryoshka_dims))
        return enc
    config = dataclasses.replace(enc.config, pooler="cls", mlp_only_train=bool(cfg.mlp_only_train),
                                 matryoshka_dims=_widest_first(cfg.matryoshka_dims))
    enc = Encoder(enc.backbone, enc.tokenizer, config)
    std = float(getattr(enc.backbone.config, "initializer_range", 0.02))
    nn.init.normal_(enc.head.linear.weight, std=std)
    nn.init.zeros_(enc.head.linear.bias)
    return enc


def _widest_first(dims: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(dims, reverse=True))


def build_model_and_data(cfg: TrainConfig, device: torch.device, root: Path) -> tuple[nn.ModuleDict, TrainingSet, Path]:
    """The trainable modules (``encoder`` [+ ``mlm`` sharing its backbone]), the tokenized data
    and the training file it came from."""
    path = training_file(cfg.train_file, root, allow_prefix_copy=cfg.max_train_samples > 0)
    encoder = load_training_encoder(cfg).to(device)
    if device.type == "cpu" and cfg.compile == "off":
        use_fast_dropout(encoder.backbone)
    schema = Schema(cfg.sent0_column, cfg.sent1_column, cfg.hard_neg_column)
    data = tokenize_file(path, encoder.tokenizer, cfg.max_length, schema, cfg.skip_bad_rows, cfg.max_train_samples)
    if data.stats.skipped:
        log.warning("%s: skipped %d bad rows, e.g. %s", path, data.stats.skipped, data.stats.examples[0])
    parts: dict[str, nn.Module] = {"encoder": encoder}
    if cfg.do_mlm:
        from simcse.train.mlm import build_mlm_model

        parts["mlm"] = build_mlm_model(encoder, resolve_model(cfg.model)).to(device)
    return nn.ModuleDict(parts), data, path


class MetricsLog:
    """metrics.jsonl (one JSON object a line) plus TensorBoard when it is installed."""

    def __init__(self, out: Path, tensorboard: bool, enabled: bool) -> None:
        self.path = out / "metrics.jsonl"
        self.enabled = enabled
        self.tb = None
        if enabled and tensorboard:
            with contextlib.suppress(ImportError):
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def placement(cfg: TrainConfig) -> tuple[int, int, torch.device, torch.dtype | None, int]:
    """Join the process group (under torchrun); this process's rank, the number of processes,
    the device, the autocast dtype (None = fp32) and the length-group count."""
    dist.init_from_env()
    rank, world = dist.rank(), dist.world_size()
    if cfg.batch_size % world:
        raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by the {world} processes")
    device = parse_device(cfg.device)
    groups = 1 if cfg.pad_to_max_length else auto_groups(cfg.length_groups, device)
    return rank, world, device, autocast_dtype(cfg.precision, device), groups


def train(cfg: TrainConfig, on_step: Callable[[int, Encoder], None] | None = None) -> TrainResult:
    """Run one training job described by ``cfg``. ``on_step(step, encoder)`` is called after each
    step (and its evaluation and checkpoint, if any), e.g. to keep a copy of the weights."""
    rank, world, device, amp, groups = placement(cfg)
    root, out = resolve_data_dir(cfg.data_dir), Path(cfg.output_dir)

    torch.manual_seed(cfg.seed)
    model, data, train_file = build_model_and_data(cfg, device, root)
    encoder: Encoder = model["encoder"]  # type: ignore[assignment]
    evaluate = build_evaluate(cfg, encoder, root, train_file)  # every evaluation file checked here
    total = total_steps(len(data), cfg.batch_size, cfg.epochs, cfg.max_steps, world)
    if cfg.compile != "off":  # in place: parameter names, checkpoints and saved models are unchanged
        encoder.backbone.compile(mode=None if cfg.compile == "default" else cfg.compile)
    optimizer, scheduler, scaler = build_optimizer(cfg, model, device, total, amp)
    run = run_record(cfg, precision=str(amp).removeprefix("torch.") if amp else "fp32", groups=groups, world=world,
                     device=device, data_hash=data.fingerprint(), rows=len(data))
    restore = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler, "rank": rank, "device": device}
    progress = start_or_resume(cfg, out / "checkpoint", run, restore)
    if progress.step == 0:
        torch.manual_seed(cfg.seed + rank)  # per-process dropout masks, same initial weights
    metrics = MetricsLog(out, cfg.tensorboard, enabled=rank == 0)
    metrics.write({"step": progress.step, "event": "start", "examples": len(data), "total_steps": total,
                   "skipped_rows": data.stats.skipped, "config": dataclasses.asdict(cfg)})
    select = Selector(evaluate, cfg.metric_for_best_model, encoder, out / "model",
                      metrics.write, writes=rank == 0 and cfg.eval_steps > 0)
    if progress.step == 0:
        select(progress)  # the starting model is a candidate
    guard, saved_at = NonFiniteGuard(device, scaled=scaler.is_enabled()), progress.step
    save = lambda: _save(out / "checkpoint", model, optimizer, scheduler, scaler, progress, run, device)  # noqa: E731
    bar, started = _progress_bar(cfg, rank, total, progress.step), time.perf_counter()
    padding = (encoder.tokenizer.pad_token_id or 0, "token_type_ids" in encoder.model_input_names,
               cfg.max_length if cfg.pad_to_max_length else 0)
    encoder.train()
    for epoch, index, rows in epoch_batches(len(data), cfg.batch_size, cfg.seed, cfg.epochs, world,
                                            (progress.epoch, progress.batch)):
        if progress.step >= total:
            break
        batch = to_device(collate(data, shard_rows(rows, rank, world), *padding), device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss = step_loss(model, batch, data.views, cfg, groups, scaler)
        guard.update(progress.step + 1, loss, optimizer_step(model, loss, optimizer, scheduler, scaler, cfg.max_grad_norm))
        progress.advance(epoch, index)
        end = progress.step == total
        if progress.step % cfg.log_steps == 0 or end:  # .item() waits for the device: only here
            guard.check(saved_at)
            _log_step(metrics, bar, progress.step, loss.item(), scheduler.get_last_lr()[0], time.perf_counter() - started)
        if cfg.eval_steps and (progress.step % cfg.eval_steps == 0 or end):
            guard.check(saved_at)
            select(progress)
        if (cfg.save_steps and progress.step % cfg.save_steps == 0) or end:
            guard.check(saved_at)
            save()
            saved_at = progress.step
        if on_step is not None:
            on_step(progress.step, encoder)
        bar.update(1)
    bar.close()
    return _finish(cfg, encoder, out, progress, metrics, rank)


def _log_step(metrics: MetricsLog, bar, step: int, loss: float, lr: float, elapsed: float) -> None:
    metrics.write({"step": step, "event": "train", "loss": loss, "lr": lr, "elapsed_s": round(elapsed, 3)})
    bar.set_postfix({"loss": f"{loss:.4g}"}, refresh=False)


def _save(folder: Path, model: nn.Module, optimizer, scheduler, scaler, progress: Progress, run: dict[str, Any],
          device: torch.device) -> None:
    """Every process contributes its generator states; rank 0 writes the checkpoint."""
    rng = {f"rank{r}.{name}": state for name, mine in rng_states(device).items()
           for r, state in enumerate(dist.gather_states(mine))}
    if dist.rank() == 0:
        state = {"progress": dataclasses.asdict(progress), "run": run}
        save_checkpoint(folder, model, optimizer, scheduler, scaler, state, rng)
    dist.barrier()


def _finish(cfg: TrainConfig, encoder: Encoder, out: Path, progress: Progress, metrics: MetricsLog, rank: int) -> TrainResult:
    """Keep the last weights when asked, when nothing was evaluated, or when no evaluation gave
    a finite score (then nothing was saved yet); record the outcome."""
    kept_last = cfg.keep_last or not cfg.eval_steps or progress.best_step is None
    if progress.best_step is None and cfg.eval_steps and rank == 0:
        log.warning("no evaluation of %s gave a finite score: keeping the last step", cfg.metric_for_best_model)
    if kept_last and rank == 0:
        save_encoder(encoder, out / "model")
    metric = cfg.metric_for_best_model if cfg.eval_steps else None
    metrics.write({"step": progress.step, "event": "end", "metric": metric, "best_step": progress.best_step,
                   "best_score": progress.best_score, "first_score": progress.first_score, "kept_last": kept_last})
    metrics.close()
    dist.barrier()
    return TrainResult(out / "model", progress.step, metric, progress.best_step, progress.best_score,
                       progress.first_score, kept_last)


def _progress_bar(cfg: TrainConfig, rank: int, total: int, initial: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step", disable=not cfg.progress or rank != 0)


__all__ = ["TrainResult", "build_model_and_data", "load_training_encoder", "train"]
