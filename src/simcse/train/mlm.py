"""The optional masked-language-model auxiliary objective (SimCSE's ``--do_mlm``).

The MLM head comes from the checkpoint through ``AutoModelForMaskedLM`` (BERT, RoBERTa and
any other architecture alike) and runs on top of the encoder's own backbone: the two share
every backbone weight. Masking reuses ``DataCollatorForLanguageModeling.torch_mask_tokens``
(80% [MASK], 10% random token, 10% unchanged) on a *copy* of the inputs.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import Tensor, nn

from simcse.encoder import Encoder

log = logging.getLogger(__name__)


def build_mlm_model(encoder: Encoder, folder: str | os.PathLike) -> nn.Module:
    """``AutoModelForMaskedLM`` from ``folder`` with its backbone replaced by ``encoder.backbone``."""
    from transformers import AutoModelForMaskedLM

    mlm, info = AutoModelForMaskedLM.from_pretrained(folder, output_loading_info=True)
    prefix = mlm.base_model_prefix
    head_missing = [k for k in info.get("missing_keys", ()) if not k.startswith(prefix + ".")]
    if head_missing:
        log.warning("%s has no pretrained LM head (%d weights missing): it starts from random weights", folder, len(head_missing))
    setattr(mlm, prefix, encoder.backbone)  # share the backbone: one set of weights, two heads
    out = mlm.get_output_embeddings()
    if out is not None and getattr(mlm.config, "tie_word_embeddings", False):
        out.weight = encoder.backbone.get_input_embeddings().weight
    return mlm.float()


def mask_tokens(batch: dict[str, Tensor], tokenizer, probability: float) -> tuple[Tensor, Tensor]:
    """Masked copy of ``batch['input_ids']`` (B, T) and labels (B, T), -100 where not masked.

    Padding and special tokens are never masked; ``batch`` itself is not modified.
    """
    from transformers import DataCollatorForLanguageModeling

    ids = batch["input_ids"]
    special = (batch["attention_mask"] == 0) | torch.isin(ids, torch.tensor(tokenizer.all_special_ids, dtype=ids.dtype))
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=probability)
    return collator.torch_mask_tokens(ids.clone(), special_tokens_mask=special)


def mlm_loss(mlm: nn.Module, batch: dict[str, Tensor], masked_ids: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy of the LM head on the masked copy (B, T)."""
    extra = {k: v for k, v in batch.items() if k != "input_ids"}
    return mlm(input_ids=masked_ids, labels=labels, **extra).loss


__all__ = ["build_mlm_model", "mask_tokens", "mlm_loss"]
