"""The sentence encoder: any Hugging Face ``AutoModel`` + a SimCSE pooler + an optional MLP head
(+ an optional whitening, :mod:`simcse.whitening`).

Composition, not subclassing: the backbone is whatever ``AutoModel`` builds from its
``config.json`` (BERT, RoBERTa, MPNet, DistilBERT, DeBERTa, ...). Training and inference
call the same :meth:`Encoder.forward`.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, fields
from typing import Iterator

import numpy as np
import torch
from torch import Tensor, nn

from simcse.artefacts import field_type_problems
from simcse.errors import ConfigError
from simcse.pooling import NEEDS_HIDDEN_STATES, check_pooler, pool
from simcse.whitening import Whitening


@dataclass(frozen=True)
class EncoderConfig:
    """How a backbone's token states become a sentence embedding.

    pooler: one of ``simcse.pooling.POOLERS``. ``cls`` adds the MLP head.
    mlp_only_train: with ``cls``, use the MLP head while training only (the unsupervised
        recipe); at inference the raw [CLS] state is the embedding. False keeps the head at
        inference too (the supervised recipe).
    max_length: tokens per sentence after truncation.
    normalize: always return unit vectors (set for models saved with a Normalize module).
    matryoshka_dims: the widths its embedding was trained to be cut to (``simcse train
        --matryoshka-dims``), widest first; ``SimCSE(..., truncate_dim=)`` takes any width,
        these are the ones that work well. Empty: not trained for it.
    """

    pooler: str = "cls"
    mlp_only_train: bool = False
    max_length: int = 32
    normalize: bool = False
    matryoshka_dims: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        problems = field_type_problems({f.name: getattr(self, f.name) for f in fields(self)}, EncoderConfig)
        if problems:  # e.g. "max_length": "32" from a hand-edited simcse_config.json
            raise ConfigError(f"EncoderConfig: {'; '.join(problems)}")
        check_pooler(self.pooler)
        if self.max_length < 1:
            raise ConfigError(f"max_length must be >= 1, got {self.max_length}")
        if any(type(d) is not int or d < 1 for d in self.matryoshka_dims):
            raise ConfigError(f"matryoshka_dims must be integers >= 1, got {list(self.matryoshka_dims)}")

    @property
    def has_head(self) -> bool:
        return self.pooler == "cls"

    @property
    def head_at_inference(self) -> bool:
        return self.has_head and not self.mlp_only_train


class MLPHead(nn.Module):
    """SimCSE's MLP over the [CLS] state: Linear(H, H) + Tanh (a sentence-transformers Dense)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_size, hidden_size)
        self.activation = nn.Tanh()

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.linear(x))


class Encoder(nn.Module):
    """Backbone + pooler + optional head + optional whitening. ``forward`` maps token ids (B, T)
    to embeddings (B, D): D = H, or the whitening's K.

    ``whitening`` (fitted by ``simcse whiten``) applies to the pooled embedding, after the head,
    before normalisation. ``head``: an MLP head to use (shared, not copied) when the config has
    one; None makes a new one.
    """

    def __init__(self, backbone: nn.Module, tokenizer, config: EncoderConfig, whitening: Whitening | None = None,
                 head: MLPHead | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.config = config
        self.head = (head or MLPHead(self.hidden_size)) if config.has_head else None
        if whitening is not None and whitening.in_features != self.hidden_size:
            raise ConfigError(f"the whitening takes {whitening.in_features} features, the encoder gives {self.hidden_size}")
        self.whitening = whitening

    @property
    def hidden_size(self) -> int:
        """The backbone's width H (the pooled embedding's)."""
        return int(self.backbone.config.hidden_size)

    @property
    def dim(self) -> int:
        """The width D of the embeddings ``forward`` returns."""
        return self.hidden_size if self.whitening is None else self.whitening.out_features

    @property
    def uses_head(self) -> bool:
        """The head runs in training mode, and in eval mode unless ``mlp_only_train``."""
        return self.head is not None and (self.training or not self.config.mlp_only_train)

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None, **extra: Tensor) -> Tensor:
        """input_ids (or ``inputs_embeds`` (B, T, E)), attention_mask (B, T) [+ token_type_ids]
        -> embeddings (B, D)."""
        if attention_mask is None:
            raise TypeError("Encoder.forward needs attention_mask")
        needs_hidden = self.config.pooler in NEEDS_HIDDEN_STATES
        out = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_hidden_states=needs_hidden,
            return_dict=True,
            **extra,
        )
        hidden = out.hidden_states if needs_hidden else None
        emb = pool(self.config.pooler, out.last_hidden_state, hidden, attention_mask)
        if self.uses_head:
            emb = self.head(emb)
        if self.whitening is not None:
            emb = self.whitening(emb)
        if self.config.normalize:
            emb = nn.functional.normalize(emb, dim=-1)
        return emb

    def tokenize(self, texts: list[str], max_length: int | None = None) -> dict[str, list[list[int]]]:
        """Token ids per text, truncated, unpadded (pad per batch with :func:`pad_batch`).

        A fast tokenizer's Rust backend encodes the whole list in one call, as the tokenizer's
        own ``__call__`` does, without building its per-text Python dictionaries (a GPU waits
        for those; ``tests/test_encode_fast_path.py`` shows the same ids).
        """
        limit = max_length or self.config.max_length
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None:  # a Python tokenizer
            enc = self.tokenizer(texts, truncation=True, max_length=limit, padding=False)
            return {k: enc[k] for k in self.model_input_names if k in enc}
        encode = getattr(backend, "encode_batch_fast", backend.encode_batch)  # _fast: no character offsets
        with _truncating(backend, limit, self.tokenizer.truncation_side):
            encodings = encode(texts, add_special_tokens=True)
        return {k: [getattr(e, ENCODING_FIELDS[k]) for e in encodings] for k in self.model_input_names}

    @property
    def model_input_names(self) -> list[str]:
        return [n for n in self.tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")]

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device


# Encoder.tokenize's keys -> the tokenizers.Encoding attribute that holds them
ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


@contextlib.contextmanager
def _truncating(backend, max_length: int, side: str) -> Iterator[None]:
    """The Rust tokenizer set to truncate at ``max_length`` (on ``side``) and not pad, as the
    Hugging Face tokenizer sets it for ``truncation=True, padding=False``; its settings restored after."""
    truncation, padding = backend.truncation, backend.padding
    backend.enable_truncation(max_length, stride=0, strategy="longest_first", direction=side)
    backend.no_padding()
    try:
        yield
    finally:
        if truncation is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(**truncation)
        if padding is not None:
            backend.enable_padding(**padding)


def pad_batch(features: dict[str, list[list[int]]], rows: list[int], pad_id: int) -> dict[str, Tensor]:
    """Gather ``rows`` from unpadded token lists and right-pad them into (B, T_max) tensors.

    The real positions of the padded (B, T_max) block, row by row, are exactly the
    concatenated token lists in order, so each feature is filled in one vectorised assignment.
    """
    lengths = np.fromiter((len(features["input_ids"][i]) for i in rows), dtype=np.int64, count=len(rows))
    real = np.arange(lengths.max(initial=0)) < lengths[:, None]
    out: dict[str, Tensor] = {}
    for name, values in features.items():
        block = np.full(real.shape, pad_id if name == "input_ids" else 0, dtype=np.int64)
        block[real] = np.fromiter(itertools.chain.from_iterable(values[i] for i in rows), dtype=np.int64,
                                  count=int(lengths.sum()))
        out[name] = torch.from_numpy(block)
    if "attention_mask" not in out:
        out["attention_mask"] = torch.from_numpy(real.astype(np.int64))
    return out


__all__ = ["Encoder", "EncoderConfig", "MLPHead", "pad_batch"]
