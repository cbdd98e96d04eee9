"""The inference API: ``SimCSE(model).encode / similarity / build_index / search``.

Call shapes follow the original princeton-nlp tool where they make sense, with one return
type per function: ``encode`` and ``similarity`` return NumPy arrays, ``search`` returns a
list of ``(sentence, score)`` pairs for one query and ``search_batch`` a list of such lists.

Texts are checked before they reach the tokenizer: a non-``str`` item is a ``TypeError``,
ill-formed Unicode (a lone surrogate) or a control character a :class:`~simcse.errors.DataError`
naming the item (``sentences[3]: ...``). Empty strings are allowed and embed like any text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from simcse.embedder import index_identity
from simcse.encoder import Encoder, pad_batch
from simcse.errors import ConfigError
from simcse.index import DEFAULT_THRESHOLD, DEFAULT_TOP_K, Index
from simcse.index import normalize as normalize_rows
from simcse.model_io import load_encoder, tensors_fingerprint
from simcse.model_io import weights_fingerprint as folder_fingerprint
from simcse.model_registry import resolve_model
from simcse.runtime import make_forward, parse_device, to_host
from simcse.text_checks import check_text

log = logging.getLogger(__name__)

# Show a progress bar when encoding at least this many sentences (unless told otherwise).
PROGRESS_MIN_SENTENCES = 5000
# Encode copies embeddings back to the host once this many bytes of forward outputs wait on the
# device: one wait per block instead of one per batch, and bounded device memory.
COPY_BLOCK_BYTES = 64 << 20


def _check_texts(sentences: Sequence[str], what: str = "sentences") -> list[str]:
    """The texts as a list; ``TypeError`` for a non-str, ``DataError`` for ill-formed text."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Sequence):
        raise TypeError(f"{what} must be a list of str, got {type(sentences).__name__}")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"{what}[{i}] must be str, got {type(s).__name__}")
        if s.strip():  # empty or blank texts are allowed here; anything else must be well-formed
            check_text(s, f"{what}[{i}]")
    return list(sentences)


# Weight dtypes for the torch runtime (``dtype=``, ``--dtype``); embeddings are always float32.
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def check_truncate_dim(encoder: Encoder, truncate_dim: int | None, name: str) -> int | None:
    """``truncate_dim`` if the encoder's embeddings are at least that wide (None: no truncation,
    also for the full width); a warning if the model was not trained for that width. A model
    with a whitening (``simcse whiten``, either method) gets none: its features are principal
    components sorted by variance, and its first K are what fitting K of them gives."""
    if truncate_dim is None or truncate_dim == encoder.dim:
        return None
    if type(truncate_dim) is not int or not 1 <= truncate_dim < encoder.dim:
        raise ConfigError(f"truncate_dim must be an integer from 1 to the model's {encoder.dim} features, "
                          f"got {truncate_dim!r}")
    trained = encoder.config.matryoshka_dims
    if truncate_dim not in trained and encoder.whitening is None:
        log.warning("%s was %s; its first %d features may embed poorly (simcse train --matryoshka-dims, "
                    "or simcse whiten --method pca)", name,
                    f"trained for the widths {list(trained)}" if trained else "not trained to be truncated",
                    truncate_dim)
    return truncate_dim


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return parse_device(None)


class SimCSE:
    """A sentence encoder ready for inference, placed on one device at construction.

    Args:
        model_name_or_path: a folder saved by simcse or sentence-transformers, a plain
            Hugging Face checkpoint (then ``pooler`` is required), an embedded model id such
            as ``"sentence-transformers/all-MiniLM-L6-v2"``, or a hub id.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when available (the CPU
            with ``runtime="onnx"``). A malformed name, or CUDA where there is none, is a
            :class:`~simcse.errors.ConfigError`.
        pooler: override the saved pooler (one of ``simcse.pooling.POOLERS``).
        max_length: override the saved maximum tokens per sentence.
        runtime: a key of :data:`simcse.runtime.RUNTIMES`: ``"torch"``, or ``"onnx"`` (ONNX
            Runtime on the CPU; the encoder is exported once and cached).
        quantize: with ``runtime="onnx"``, int8 dynamic quantization of the MatMul weights.
        dtype: a key of :data:`DTYPES`: ``"float32"``, or ``"bfloat16"`` / ``"float16"``: the
            weights are cast for the ``torch`` runtime (the fast path on GPUs); embeddings come
            back as float32.
        truncate_dim: keep the first ``truncate_dim`` features of every embedding (smaller
            vectors and indexes); a model that returns unit vectors returns them renormalised.
            Works best at the widths a Matryoshka-trained model records
            (``EncoderConfig.matryoshka_dims``); other widths work, with a logged warning.

    ``model_name``, ``folder``, ``device``, ``runtime``, ``quantize``, ``dtype`` and ``truncate_dim`` stay readable
    as attributes (resume records of :mod:`simcse.stream_encode` note them).
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        device: str | torch.device | None = None,
        pooler: str | None = None,
        max_length: int | None = None,
        runtime: str = "torch",
        quantize: bool = False,
        dtype: str = "float32",
        truncate_dim: int | None = None,
    ) -> None:
        self.model_name = str(model_name_or_path)
        self.runtime, self.quantize, self.dtype = runtime, quantize, dtype
        self.device = torch.device("cpu") if runtime == "onnx" and device is None else parse_device(device)
        if dtype not in DTYPES or (dtype != "float32" and runtime != "torch"):
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)} (half precision with runtime 'torch'), "
                              f"got {dtype!r}")
        folder = resolve_model(model_name_or_path)  # once: a hub id is looked up a single time
        self.folder: Path | None = folder
        self._fingerprint: str | None = None
        self._weights_fingerprint: str | None = None
        self.encoder: Encoder = load_encoder(folder, pooler=pooler, max_length=max_length)
        self.encoder.to(self.device, DTYPES[dtype]).eval()
        self._forward = make_forward(runtime, self.encoder, self.device, folder, quantize)
        self.index: Index | None = None
        self.truncate_dim = check_truncate_dim(self.encoder, truncate_dim, self.model_name)

    @classmethod
    def from_encoder(cls, encoder: Encoder, device: str | torch.device | None = None) -> "SimCSE":
        """Wrap an in-memory :class:`Encoder` (e.g. during training) without a save/load round trip."""
        self = cls.__new__(cls)
        self.model_name = "<in-memory>"
        self.runtime, self.quantize = "torch", False
        self.dtype = str(next(encoder.parameters()).dtype).removeprefix("torch.")
        self.device = parse_device(device) if device is not None else encoder.device
        self.encoder, self.index, self.folder = encoder, None, None
        self._fingerprint = self._weights_fingerprint = None
        self._forward = make_forward("torch", encoder, self.device, None)
        self.truncate_dim = None
        return self

    @property
    def dim(self) -> int:
        """The embedding width: the backbone's H, or K for a model whitened to K dimensions, or
        ``truncate_dim``."""
        return self.truncate_dim or self.encoder.dim

    @property
    def pooler(self) -> str:
        """The pooler in force (saved or overridden), a key of ``simcse.pooling.POOLERS``."""
        return self.encoder.config.pooler

    @property
    def tokenizer(self):
        """The Hugging Face fast tokenizer the model encodes with."""
        return self.encoder.tokenizer

    @property
    def max_length(self) -> int:
        """The most tokens per text :meth:`encode` takes (special tokens included); longer texts are truncated."""
        return self.encoder.config.max_length

    @property
    def weights_fingerprint(self) -> str:
        """A short hash of the model itself: the model folder's files, weights whole (so weights
        replaced by others of the same shapes count as different), configs and tokenizer
        (:func:`simcse.model_io.weights_fingerprint`); for an in-memory encoder its tensors. Not
        the settings of this run (pooler, max_length, dtype, runtime), so an index built in
        float32 can be searched in bfloat16; index manifests record it. Computed once, on first
        use (a pass over the weights)."""
        if self._weights_fingerprint is None:
            self._weights_fingerprint = (folder_fingerprint(self.folder, data=True) if self.folder is not None
                                         else tensors_fingerprint(self.encoder))
        return self._weights_fingerprint

    @property
    def fingerprint(self) -> str:
        """A short hash of what makes the vectors: :attr:`weights_fingerprint`, the weight dtype
        and the encoder settings in force (pooler, max_length, head, truncation). Resume records compare it."""
        if self._fingerprint is None:
            config = json.dumps(dataclasses.asdict(self.encoder.config), sort_keys=True)
            parts = [self.weights_fingerprint, self.dtype, config] + ([f"truncate {self.truncate_dim}"]
                                                                      if self.truncate_dim else [])
            self._fingerprint = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
        return self._fingerprint

    @torch.inference_mode()
    def encode(
        self,
        sentences: str | Sequence[str],
        batch_size: int = 64,
        normalize: bool = False,
        max_length: int | None = None,
        show_progress: bool | None = None,
        dropout: bool = False,
    ) -> np.ndarray:
        """Embed sentences: a str gives shape (D,), a list of N strings (N, D); float32
        (D = :attr:`dim`: with ``truncate_dim``, the first D features, renormalised when the
        model or ``normalize`` asks for unit vectors).

        Sentences are sorted by token length to cut padding and returned in input order.
        ``dropout=True`` encodes as training does (dropout active, each call drawing new
        masks): two such calls give SimCSE's two views, for the alignment of a model.
        """
        if dropout and self.runtime != "torch":
            raise ConfigError(f"dropout=True needs runtime 'torch', got {self.runtime!r}")
        single = isinstance(sentences, str)
        texts = _check_texts([sentences] if single else sentences)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if texts:
            feats = self.encoder.tokenize(texts, max_length=max_length)
            order = sorted(range(len(texts)), key=lambda i: -len(feats["input_ids"][i]))
            batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
            show = len(texts) >= PROGRESS_MIN_SENTENCES if show_progress is None else show_progress
            was_training = self.encoder.training
            self.encoder.train(dropout)
            pad_id = self.encoder.tokenizer.pad_token_id or 0
            pending: list[torch.Tensor] = []  # outputs of consecutive batches of `order`, not yet copied back
            done = waiting_bytes = 0
            try:
                for n, rows in enumerate(tqdm(batches, desc="encode", unit="batch", disable=not show), 1):
                    y = self._forward(pad_batch(feats, rows, pad_id))
                    pending.append(y[:, : self.dim])
                    waiting_bytes += y.numel() * y.element_size()
                    if waiting_bytes >= COPY_BLOCK_BYTES or n == len(batches):
                        block = to_host(pending)
                        out[order[done : done + len(block)]] = block
                        pending, done, waiting_bytes = [], done + len(block), 0
            finally:  # an interrupted or failed call leaves the mode as it found it
                self.encoder.train(was_training)
        if normalize or (self.truncate_dim and self.encoder.config.normalize):
            out = normalize_rows(out)
        return out[0] if single else out

    def similarity(self, queries: str | Sequence[str], keys: str | Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Cosine similarities, shape (len(queries), len(keys)); a str counts as a list of one."""
        q = self.encode([queries] if isinstance(queries, str) else queries, batch_size=batch_size, normalize=True)
        k = self.encode([keys] if isinstance(keys, str) else keys, batch_size=batch_size, normalize=True)
        return q @ k.T

    def build_index(self, sentences: Sequence[str], batch_size: int = 64) -> None:
        """Replace the index with an exact (NumPy) one over ``sentences``.

        For FAISS backends or saved indexes, assign ``self.index = Index(...)`` or use
        :meth:`load_index`; :meth:`add_to_index` and :meth:`search` work with any backend.
        """
        self.index = None
        self.add_to_index(sentences, batch_size=batch_size)

    def add_to_index(self, sentences: Sequence[str], batch_size: int = 64) -> None:
        """Append ``sentences`` to the index (built empty first if needed)."""
        texts = _check_texts(sentences)
        if self.index is None:
            self.index = Index(self.dim, "exact", **index_identity(self))
        self.index.add(texts, self.encode(texts, batch_size=batch_size, normalize=True))

    def save_index(self, path: str | os.PathLike) -> None:
        """Write the index to a folder, atomically (see :class:`simcse.index.Index`)."""
        if self.index is None:
            raise RuntimeError("no index: call build_index(sentences) first")
        self.index.save(path)

    def load_index(self, path: str | os.PathLike, **search_params: int) -> None:
        """Open a saved index; refused if it was built with another model, dimension (or
        truncation) or pooler, or with weights other than this model's (a retrained model saved
        in the same folder)."""
        self.index = Index.load(path, dim=self.dim, **index_identity(self), **search_params)

    def search(self, query: str, top_k: int = DEFAULT_TOP_K,
               threshold: float | None = DEFAULT_THRESHOLD) -> list[tuple[str, float]]:
        """The ``top_k`` indexed sentences most similar to ``query`` with cosine >= ``threshold``
        (``None``: no cut; the defaults are :data:`simcse.index.DEFAULT_TOP_K` and
        :data:`simcse.index.DEFAULT_THRESHOLD`)."""
        if not isinstance(query, str):
            raise TypeError(f"query must be str, got {type(query).__name__}; use search_batch for lists")
        return self.search_batch([query], top_k=top_k, threshold=threshold)[0]

    def search_batch(self, queries: Sequence[str], top_k: int = DEFAULT_TOP_K,
                     threshold: float | None = DEFAULT_THRESHOLD) -> list[list[tuple[str, float]]]:
        """:meth:`search` for several queries at once, one result list per query."""
        if self.index is None:
            raise RuntimeError("no index: call build_index(sentences) first")
        texts = _check_texts(queries, "queries")
        hits = self.index.search(self.encode(texts, normalize=True), top_k=top_k, threshold=threshold)
        return [[(h.text, h.score) for h in row] for row in hits]


__all__ = ["DTYPES", "PROGRESS_MIN_SENTENCES", "SimCSE", "default_device"]
