"""One training step: the objective on a batch, the optimizer update, and the divergence guard.

``step_loss``: B examples -> one encoder pass over V*B sentences (V = 2 views, or 3 with hard
negatives; each row gets its own dropout mask) -> (V*B, H) -> gathered across processes ->
``info_nce`` [+ weighted MLM loss]. ``optimizer_step``: backward -> average gradients ->
clip -> AdamW -> schedule. :class:`NonFiniteGuard` notes the first step whose loss or
gradient is not finite, without a host sync per step, and stops training before anything
is written from it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from simcse import distributed as dist
from simcse.encoder import Encoder
from simcse.errors import ConfigError, TrainingDiverged
from simcse.losses import info_nce, matryoshka
from simcse.train.config import TrainConfig
from simcse.train.grad_cache import cached_step
from simcse.train.length_groups import grouped_forward

FUSED_ADAMW_DEVICES = ("cpu", "cuda")  # one fused kernel instead of per-tensor ops (8x faster on CPU)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None = full fp32. ``auto`` = fp16 on CUDA (the paper's ``--fp16``), fp32 elsewhere."""
    if precision == "auto":
        precision = "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"precision fp16 needs a CUDA device, got {device}; use bf16 or fp32")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup from 0 over ``warmup`` steps, then linear decay to 0 at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def build_optimizer(cfg: TrainConfig, model: nn.Module, device: torch.device, total: int, amp: torch.dtype | None):
    """AdamW (fused where torch has the kernel), the linear schedule, and the gradient scaler
    (enabled for fp16 only)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay, eps=1e-8,
                                  fused=device.type in FUSED_ADAMW_DEVICES)
    scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)
    return optimizer, linear_schedule(optimizer, cfg.warmup_steps, total), scaler


def contrastive_loss(emb: Tensor, views: int, cfg: TrainConfig) -> Tensor:
    """(V*B, H) view-major embeddings -> InfoNCE over the batch gathered from every process
    (with ``matryoshka_dims``: summed over those prefixes of the gathered embeddings)."""
    z = [dist.gather_with_grad(v) for v in emb.view(views, -1, emb.shape[-1]).unbind(0)]
    negatives = z[2] if views == 3 else None
    loss = matryoshka(info_nce, cfg.matryoshka_dims, cfg.matryoshka_weights) if cfg.matryoshka_dims else info_nce
    return loss(z[0], z[1], negatives, temperature=cfg.temperature, hard_negative_weight=cfg.hard_negative_weight)


def embed_tokens(encoder: Encoder, batch: dict[str, Tensor], groups: int) -> dict[str, Tensor]:
    """Before a grouped pass, look up the word embeddings of the whole batch once
    (``inputs_embeds`` for ``input_ids``): their backward then builds one dense
    (vocabulary, H) gradient, not one per slice. The backbone adds positions, token types,
    LayerNorm and dropout as it does for ``input_ids``."""
    if groups <= 1:
        return batch
    rest = {k: v for k, v in batch.items() if k != "input_ids"}
    return {**rest, "inputs_embeds": encoder.backbone.get_input_embeddings()(batch["input_ids"])}


def step_loss(model: nn.ModuleDict, batch: dict[str, Tensor], views: int, cfg: TrainConfig, groups: int = 1,
              scaler: torch.amp.GradScaler | None = None) -> Tensor:
    """The training objective on one batch of ``views * B`` sentences: InfoNCE in one encoder
    pass (``groups`` length-sorted slices of it, :mod:`simcse.train.length_groups`)
    [+ ``mlm_weight`` x the masked-LM loss on a masked copy of the same sentences].

    With ``grad_cache_chunk`` the gradients are already back-propagated here, chunk by chunk
    (:func:`simcse.train.grad_cache.cached_step`, scaled by ``scaler`` as ``scaler.scale(loss)
    .backward()`` would), and the returned loss is detached.
    """
    encoder = model["encoder"]
    embed = lambda b: grouped_forward(lambda g: encoder(**g), embed_tokens(encoder, b, groups), groups)  # noqa: E731
    if cfg.grad_cache_chunk:
        scale = scaler.scale if scaler is not None else None
        return cached_step(embed, batch, cfg.grad_cache_chunk, lambda e: contrastive_loss(e, views, cfg), scale=scale)
    loss = contrastive_loss(embed(batch), views, cfg)
    if cfg.do_mlm:
        from simcse.train.mlm import mask_tokens, mlm_loss

        masked, labels = mask_tokens(batch, encoder.tokenizer, cfg.mlm_probability)
        loss = loss + cfg.mlm_weight * mlm_loss(model["mlm"], batch, masked, labels)
    return loss


def optimizer_step(model: nn.Module, loss: Tensor, optimizer: torch.optim.Optimizer,
                   scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler,
                   max_grad_norm: float) -> Tensor:
    """backward (unless the loss is detached: GradCache did it) -> average gradients over
    processes -> unscale -> clip (``max_grad_norm`` 0: measure only) -> AdamW -> schedule ->
    zero. Returns the gradient norm before clipping (a device tensor, no host sync)."""
    if loss.requires_grad:
        scaler.scale(loss).backward()
    dist.average_gradients(model)
    scaler.unscale_(optimizer)
    norm = nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm if max_grad_norm > 0 else float("inf"))
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return norm


class NonFiniteGuard:
    """The first step whose loss (or, without a gradient scaler, gradient norm) is NaN or
    infinite, kept on the device so that steps never wait for the host.

    With fp16's gradient scaler an infinite gradient is routine (the scaler skips that update
    and lowers its scale), so only the loss counts there. :meth:`check` syncs once and raises
    :class:`TrainingDiverged`; the loop calls it before every log line, evaluation and save,
    so no non-finite weights are ever written.
    """

    def __init__(self, device: torch.device, scaled: bool) -> None:
        self.first_bad = torch.zeros((), dtype=torch.long, device=device)  # 0 = none yet
        self.scaled = scaled

    def update(self, step: int, loss: Tensor, grad_norm: Tensor) -> None:
        finite = torch.isfinite(loss.detach().float())
        if not self.scaled:
            finite = finite & torch.isfinite(grad_norm.float())
        self.first_bad = torch.where((self.first_bad == 0) & ~finite, step, self.first_bad)

    def check(self, last_saved: int) -> None:
        bad = int(self.first_bad.item())
        if bad:
            raise TrainingDiverged(
                f"step {bad}: the loss or a gradient is NaN or infinite; stopped without saving anything from it "
                f"(the last checkpoint is from step {last_saved}). Lower --learning-rate, check the data, or use "
                f"--precision fp32/bf16")


__all__ = ["NonFiniteGuard", "autocast_dtype", "build_optimizer", "contrastive_loss", "embed_tokens",
           "linear_schedule", "optimizer_step", "step_loss"]
