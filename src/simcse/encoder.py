"""The sentence encoder: any Hugging Face ``AutoModel`` + a SimCSE pooler + an optional MLP head
(+ an optional whitening, :mod:`simcse.whitening`).

Composition, not subclassing: the backbone is whatever ``AutoModel`` builds from its
``config.json`` (BERT, RoBERTa, MPNet, DistilBERT, DeBERTa, ...). Training and inference
call the same :meth:`Encoder.forward`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from simcse.artefacts import field_type_problems
from simcse.errors import ConfigError
from simcse.pooling import NEEDS_HIDDEN_STATES, check_pooler, pool
from simcse.whitening import Whitening


# Encoder.tokenize's keys -> the tokenizers.Encoding attribute that holds them
_ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
# a fast tokenizer class that overrides one of these encodes its own way: Encoder.tokenize calls it
_ENCODE_STEPS = ("__call__", "_encode_plus", "_batch_encode_plus")


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
        self._rust: tuple[Any, tuple, Any] | None = None  # (shared backend, its state, private copy)

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

        With a fast tokenizer, its Rust tokenizer encodes the whole list in one call, as the
        tokenizer's own ``__call__`` does, without building its per-text Python dictionaries (a
        GPU waits for those); ``tests/test_encode_fast_path.py`` shows the same ids.
        """
        limit = max_length or self.config.max_length
        rust = self._rust_tokenizer(limit)
        if rust is None:  # the tokenizer's own call (see _rust_tokenizer)
            enc = self.tokenizer(texts, truncation=True, max_length=limit, padding=False)
            return {k: enc[k] for k in self.model_input_names if k in enc}
        encodings = getattr(rust, "encode_batch_fast", rust.encode_batch)(texts, add_special_tokens=True)  # _fast: no offsets
        return {k: [getattr(e, _ENCODING_FIELDS[k]) for e in encodings] for k in self.model_input_names}

    def _rust_tokenizer(self, max_length: int) -> Any | None:
        """A private copy of the fast tokenizer's Rust tokenizer, set to truncate at
        ``max_length`` as ``truncation=True`` does and not to pad; None where the tokenizer's own
        call must be used (a Python tokenizer, a class with its own encoding steps, a component
        written in Python that cannot be copied). A copy, because the tokenizer's settings are
        shared state that its every call rewrites (the server cuts documents with it on other
        threads); made again when what decides the ids changes (tokens added, components set)."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None or not _encodes_with_backend(self.tokenizer):
            return None
        try:
            state = _rust_state(backend)
            if self._rust is None or self._rust[0] is not backend or self._rust[1] != state:
                rust = type(backend).from_str(backend.to_str())
                rust.no_padding()
                self._rust = (backend, state, rust)
        except Exception:  # a component written in Python (RoFormer's Jieba pre-tokenizer) can't be read or copied
            return None
        rust = self._rust[2]
        truncation = {"max_length": max_length, "stride": 0, "strategy": "longest_first",
                      "direction": self.tokenizer.truncation_side}
        if rust.truncation != truncation:
            rust.enable_truncation(**truncation)
        rust.encode_special_tokens = bool(getattr(self.tokenizer, "split_special_tokens", False))
        return rust

    @property
    def model_input_names(self) -> list[str]:
        return [n for n in self.tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")]

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device


def _encodes_with_backend(tokenizer) -> bool:
    """A fast tokenizer whose class keeps the library's own encoding steps (so its ids are the
    Rust tokenizer's, truncated)."""
    from transformers import PreTrainedTokenizerFast

    cls = type(tokenizer)
    return isinstance(tokenizer, PreTrainedTokenizerFast) and all(
        getattr(cls, step, None) is getattr(PreTrainedTokenizerFast, step, None) for step in _ENCODE_STEPS)


def _rust_state(backend) -> tuple:
    """What decides a Rust tokenizer's ids besides truncation and padding (microseconds to read):
    its normalizer, pre-tokenizer and post-processor, its added tokens and its vocabulary size."""
    parts = (backend.normalizer, backend.pre_tokenizer, backend.post_processor)
    return (*(None if p is None else p.__getstate__() for p in parts), repr(backend.get_added_tokens_decoder()),
            backend.get_vocab_size(with_added_tokens=True))


def right_pad(flat: np.ndarray, lengths: np.ndarray, fill: int, width: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sequences given concatenated in ``flat`` with their ``lengths`` -> a (B, width) int64
    block right-padded with ``fill`` (width 0: the longest) and its mask of real positions.

    The real positions of the block, row by row, are exactly ``flat`` in order, so one masked
    assignment fills it. A sequence longer than ``width`` raises ValueError."""
    longest = int(lengths.max(initial=0))
    width = width or longest
    if longest > width:
        raise ValueError(f"a sentence of {longest} tokens does not fit the padded width {width}")
    real = np.arange(width) < lengths[:, None]
    block = np.full(real.shape, fill, dtype=np.int64)
    block[real] = flat
    return block, real


def to_device(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """Move a CPU batch to ``device``; on CUDA through page-locked memory, so the copy does
    not wait for the GPU."""
    if device.type == "cuda":
        batch = {k: v.pin_memory() for k, v in batch.items()}
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def pad_batch(features: dict[str, list[list[int]]], rows: list[int], pad_id: int) -> dict[str, Tensor]:
    """Gather ``rows`` from unpadded token lists and right-pad them into (B, T_max) tensors
    (:func:`right_pad`, one vectorised fill per feature)."""
    lengths = np.fromiter((len(features["input_ids"][i]) for i in rows), dtype=np.int64, count=len(rows))
    out: dict[str, Tensor] = {}
    real = None
    for name, values in features.items():
        flat = np.fromiter(itertools.chain.from_iterable(values[i] for i in rows), dtype=np.int64, count=int(lengths.sum()))
        block, real = right_pad(flat, lengths, pad_id if name == "input_ids" else 0)
        out[name] = torch.from_numpy(block)
    if "attention_mask" not in out:
        out["attention_mask"] = torch.from_numpy(real.astype(np.int64))
    return out


__all__ = ["Encoder", "EncoderConfig", "MLPHead", "pad_batch", "right_pad", "to_device"]
