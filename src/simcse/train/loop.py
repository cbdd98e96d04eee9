"""The SimCSE training loop: plain PyTorch, top to bottom.

One step: B examples -> one encoder pass over V*B sentences (V = 2 views, or 3 with hard
negatives; each row gets its own dropout mask) -> (V*B, H) -> gathered across processes ->
``info_nce`` [+ weighted MLM loss] -> backward -> clip -> AdamW -> linear schedule.
Every ``eval_steps`` (and at the end) STS-B dev decides whether ``<output_dir>/model`` is
replaced; ``<output_dir>/checkpoint`` holds everything needed to resume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from simcse import distributed as dist
from simcse.data_dir import data_dir as resolve_data_dir
from simcse.download import TRAINING_FILES, download, find_training_file
from simcse.encoder import Encoder
from simcse.losses import info_nce
from simcse.model_io import load_encoder, save_encoder
from simcse.model_registry import resolve_model
from simcse.train.checkpoint import load_checkpoint, save_checkpoint
from simcse.train.config import TrainConfig
from simcse.train.data import Schema, TrainingSet, batch_order, collate, tokenize_file
from simcse.train.fast_dropout import use_fast_dropout
from simcse.train.grad_cache import cached_step
from simcse.train.length_groups import auto_groups, grouped_forward

log = logging.getLogger(__name__)

EVAL_BATCH = 128  # sentences per forward pass when scoring STS-B dev
KILL_ENV = "SIMCSE_TEST_KILL_AFTER_STEP"  # test hook: SIGKILL this process after step N
FUSED_ADAMW_DEVICES = ("cpu", "cuda")  # one fused kernel instead of per-tensor ops (8x faster on CPU)


@dataclass(frozen=True)
class TrainResult:
    """Where the model went and how it scored (``best_score`` is None without evaluation)."""

    model_dir: Path
    steps: int
    best_step: int | None
    best_score: float | None
    first_score: float | None


def load_training_encoder(cfg: TrainConfig) -> Encoder:
    """The starting encoder. ``pooler='cls'`` always gets a fresh MLP head (SimCSE's
    ``cl_init``: normal(0, initializer_range), zero bias) on the raw [CLS] state."""
    if cfg.pooler != "cls":
        enc = load_encoder(cfg.model, pooler=cfg.pooler, mlp_only_train=cfg.mlp_only_train)
        return enc
    enc = load_encoder(cfg.model, pooler="cls_before_pooler")
    config = dataclasses.replace(enc.config, pooler="cls", mlp_only_train=bool(cfg.mlp_only_train))
    enc = Encoder(enc.backbone, enc.tokenizer, config)
    std = float(getattr(enc.backbone.config, "initializer_range", 0.02))
    nn.init.normal_(enc.head.linear.weight, std=std)
    nn.init.zeros_(enc.head.linear.bias)
    return enc


def training_file(cfg: TrainConfig, root: Path) -> Path:
    """Resolve ``cfg.train_file``; a known official file missing from the data dir is downloaded."""
    found = find_training_file(cfg.train_file, root, allow_prefix_copy=cfg.max_train_samples > 0)
    if found is None and cfg.train_file in TRAINING_FILES:
        log.warning("%s not in %s/training: downloading it", cfg.train_file, root)
        download(TRAINING_FILES[cfg.train_file], root)
        found = root / "training" / cfg.train_file
    if found is None:
        raise FileNotFoundError(f"training file not found: {cfg.train_file} (also looked in {root / 'training'})")
    if found.name != cfg.train_file and Path(cfg.train_file).name == cfg.train_file:
        log.warning("using %s for %s (max_train_samples=%d)", found, cfg.train_file, cfg.max_train_samples)
    return found


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup from 0 over ``warmup`` steps, then linear decay to 0 at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None = full fp32. ``auto`` = fp16 on CUDA (the paper's ``--fp16``), fp32 elsewhere."""
    if precision == "auto":
        precision = "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"precision fp16 needs a CUDA device, got {device}; use bf16 or fp32")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def dev_scores(encoder: Encoder, root: Path, with_sickr: bool) -> dict[str, float]:
    """STS-B dev (and SICK-R dev) Spearman x 100 of the current weights, eval mode."""
    from simcse.api import SimCSE
    from simcse.evaluation import evaluate_dev, evaluate_sts

    model = SimCSE.from_encoder(encoder)
    encode = lambda sentences: model.encode(sentences, batch_size=EVAL_BATCH, show_progress=False)  # noqa: E731
    if with_sickr:
        return evaluate_dev(encode, root)
    return evaluate_sts(encode, root, ("STSBenchmark",), split="dev")


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


def contrastive_loss(emb: Tensor, views: int, cfg: TrainConfig) -> Tensor:
    """(V*B, H) view-major embeddings -> InfoNCE over the batch gathered from every process."""
    z = [dist.gather_with_grad(v) for v in emb.view(views, -1, emb.shape[-1]).unbind(0)]
    negatives = z[2] if views == 3 else None
    return info_nce(z[0], z[1], negatives, temperature=cfg.temperature, hard_negative_weight=cfg.hard_negative_weight)


def embed_tokens(encoder: Encoder, batch: dict[str, Tensor], groups: int) -> dict[str, Tensor]:
    """Before a grouped pass, look up the word embeddings of the whole batch once
    (``inputs_embeds`` for ``input_ids``): their backward then builds one dense
    (vocabulary, H) gradient, not one per slice. The backbone adds positions, token types,
    LayerNorm and dropout as it does for ``input_ids``."""
    if groups <= 1:
        return batch
    rest = {k: v for k, v in batch.items() if k != "input_ids"}
    return {**rest, "inputs_embeds": encoder.backbone.get_input_embeddings()(batch["input_ids"])}


def step_loss(model: nn.ModuleDict, batch: dict[str, Tensor], views: int, cfg: TrainConfig, groups: int = 1) -> Tensor:
    """The training objective on one batch of ``views * B`` sentences: InfoNCE in one encoder
    pass (``groups`` length-sorted slices of it, :mod:`simcse.train.length_groups`)
    [+ ``mlm_weight`` x the masked-LM loss on a masked copy of the same sentences].

    With ``grad_cache_chunk`` the gradients are already back-propagated here, chunk by chunk
    (:func:`simcse.train.grad_cache.cached_step`), and the returned loss is detached.
    """
    encoder = model["encoder"]
    embed = lambda b: grouped_forward(lambda g: encoder(**g), embed_tokens(encoder, b, groups), groups)  # noqa: E731
    if cfg.grad_cache_chunk:
        return cached_step(embed, batch, cfg.grad_cache_chunk, lambda e: contrastive_loss(e, views, cfg))
    loss = contrastive_loss(embed(batch), views, cfg)
    if cfg.do_mlm:
        from simcse.train.mlm import mask_tokens, mlm_loss

        masked, labels = mask_tokens(batch, encoder.tokenizer, cfg.mlm_probability)
        loss = loss + cfg.mlm_weight * mlm_loss(model["mlm"], batch, masked, labels)
    return loss


def optimizer_step(model: nn.Module, loss: Tensor, optimizer: torch.optim.Optimizer,
                   scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler, max_grad_norm: float) -> None:
    """backward (unless the loss is detached: GradCache did it) -> average gradients over
    processes -> clip -> AdamW -> schedule -> zero."""
    if loss.requires_grad:
        scaler.scale(loss).backward()
    dist.average_gradients(model)
    if max_grad_norm > 0:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def build_model_and_data(cfg: TrainConfig, device: torch.device, root: Path) -> tuple[nn.ModuleDict, TrainingSet]:
    """The trainable modules (``encoder`` [+ ``mlm`` sharing its backbone]) and the tokenized data."""
    encoder = load_training_encoder(cfg).to(device)
    if device.type == "cpu" and cfg.compile == "off":
        use_fast_dropout(encoder.backbone)
    path = training_file(cfg, root)
    schema = Schema(cfg.sent0_column, cfg.sent1_column, cfg.hard_neg_column)
    data = tokenize_file(path, encoder.tokenizer, cfg.max_length, schema, cfg.skip_bad_rows, cfg.max_train_samples)
    if data.stats.skipped:
        log.warning("%s: skipped %d bad rows, e.g. %s", path, data.stats.skipped, data.stats.examples[0])
    parts: dict[str, nn.Module] = {"encoder": encoder}
    if cfg.do_mlm:
        from simcse.train.mlm import build_mlm_model

        parts["mlm"] = build_mlm_model(encoder, resolve_model(cfg.model)).to(device)
    return nn.ModuleDict(parts), data


def train(cfg: TrainConfig) -> TrainResult:
    """Run one training job described by ``cfg``; returns where the chosen model was saved."""
    dist.init_from_env()
    rank, world = dist.rank(), dist.world_size()
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {world} processes")
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = autocast_dtype(cfg.precision, device)
    groups = 1 if cfg.pad_to_max_length else auto_groups(cfg.length_groups, device)
    root, out = resolve_data_dir(cfg.data_dir), Path(cfg.output_dir)

    torch.manual_seed(cfg.seed)
    model, data = build_model_and_data(cfg, device, root)
    encoder: Encoder = model["encoder"]  # type: ignore[assignment]

    n_batches = len(batch_order(len(data), cfg.batch_size, cfg.seed, 0, drop_last=world > 1))
    total = n_batches * cfg.epochs if not cfg.max_steps else min(cfg.max_steps, n_batches * cfg.epochs)
    if cfg.compile != "off":  # in place: parameter names, checkpoints and saved models are unchanged
        encoder.backbone.compile(mode=None if cfg.compile == "default" else cfg.compile)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay, eps=1e-8,
                                  fused=device.type in FUSED_ADAMW_DEVICES)
    scheduler = linear_schedule(optimizer, cfg.warmup_steps, total)
    scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)

    progress: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "examples": len(data),
                                "best_score": None, "best_step": None, "first_score": None}
    if cfg.resume and (out / "checkpoint" / "state.json").is_file():
        progress = load_checkpoint(out / "checkpoint", model, optimizer, scheduler)
        if progress.get("examples") != len(data):
            raise ValueError(f"{out / 'checkpoint'}: written for {progress.get('examples')} training rows, "
                             f"this run has {len(data)}; resume with the same data and settings")
        log.info("resumed from %s at step %d", out / "checkpoint", progress["step"])
    else:
        torch.manual_seed(cfg.seed + rank)  # per-process dropout masks, same initial weights
    metrics = MetricsLog(out, cfg.tensorboard, enabled=rank == 0)
    if rank == 0:
        metrics.write({"step": progress["step"], "event": "start", "examples": len(data), "total_steps": total,
                       "skipped_rows": data.stats.skipped, "config": dataclasses.asdict(cfg)})

    def evaluate(step: int) -> float:
        scores = dev_scores(encoder, root, cfg.eval_sickr) if rank == 0 else {}
        metrics.write({"step": step, "event": "eval", **scores})
        return scores.get("stsb_spearman", float("nan"))

    def select(step: int, score: float) -> None:
        if rank == 0 and (progress["best_score"] is None or score > progress["best_score"]):
            progress.update(best_score=score, best_step=step)
            save_encoder(encoder, out / "model")

    if cfg.eval_at_start and progress["step"] == 0 and cfg.eval_steps:
        progress["first_score"] = evaluate(0)
    pbar = _progress_bar(cfg, rank, total, progress["step"])
    encoder.train()
    step, kill_at = progress["step"], int(os.environ.get(KILL_ENV, "0"))
    with_types = "token_type_ids" in encoder.model_input_names
    pad_id = encoder.tokenizer.pad_token_id or 0
    width = cfg.max_length if cfg.pad_to_max_length else 0
    started, postfix = time.perf_counter(), {}
    for epoch in range(progress["epoch"], cfg.epochs):
        batches = batch_order(len(data), cfg.batch_size, cfg.seed, epoch, drop_last=world > 1)
        for index in range(progress["batch"] if epoch == progress["epoch"] else 0, len(batches)):
            if step >= total:
                break
            rows = batches[index]
            if world > 1:
                rows = rows[rank * len(rows) // world : (rank + 1) * len(rows) // world]
            batch = collate(data, rows, pad_id, with_types, width)
            if device.type == "cuda":  # page-locked, so the copy below does not wait for the GPU
                batch = {k: v.pin_memory() for k, v in batch.items()}
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                loss = step_loss(model, batch, data.views, cfg, groups)
            optimizer_step(model, loss, optimizer, scheduler, scaler, cfg.max_grad_norm)
            step += 1
            progress.update(step=step, epoch=epoch, batch=index + 1)
            if step % max(1, cfg.log_steps) == 0 or step == total:  # .item() waits for the device: only here
                postfix["loss"] = f"{loss.item():.4g}"
                metrics.write({"step": step, "event": "train", "loss": loss.item(), "lr": scheduler.get_last_lr()[0],
                               "elapsed_s": round(time.perf_counter() - started, 3)})
                pbar.set_postfix(postfix, refresh=False)
            if cfg.eval_steps and (step % cfg.eval_steps == 0 or step == total):
                score = evaluate(step)
                postfix["dev"] = f"{score:.2f}"
                pbar.set_postfix(postfix, refresh=False)
                select(step, score)
            if cfg.save_steps and step % cfg.save_steps == 0 or step == total:
                _save(out, model, optimizer, scheduler, progress, rank)
            pbar.update(1)
            if step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
    pbar.close()
    if not cfg.eval_steps and rank == 0:
        save_encoder(encoder, out / "model")
    metrics.write({"step": step, "event": "end", "best_step": progress["best_step"], "best_stsb_spearman": progress["best_score"]})
    metrics.close()
    dist.barrier()
    return TrainResult(out / "model", step, progress["best_step"], progress["best_score"], progress["first_score"])


def _save(out: Path, model: nn.Module, optimizer, scheduler, progress: dict[str, Any], rank: int) -> None:
    if rank == 0:
        save_checkpoint(out / "checkpoint", model, optimizer, scheduler, progress)
    dist.barrier()


def _progress_bar(cfg: TrainConfig, rank: int, total: int, initial: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step", disable=not cfg.progress or rank != 0)


__all__ = ["TrainResult", "autocast_dtype", "contrastive_loss", "linear_schedule", "load_training_encoder", "train"]
