"""The ``Embedder`` protocol: what the file encoder, the index builder and the server need of a model.

:class:`simcse.SimCSE` satisfies it; so can any object with these members (a remote
model, a test double), which keeps those pipelines free of ``model: Any``.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """A sentence encoder, as the pipelines see it.

    model_name: how the model was named when loaded (a folder, an embedded id, a hub id).
    dim: the width of the embeddings it returns.
    pooler: the pooler of its encoder (recorded in index manifests), or None if unknown.
    fingerprint: a short hash of what makes the vectors, weights and settings (resume records
        refuse to mix two models).
    weights_fingerprint: a short hash of the weights alone (index manifests record it, so an
        index is refused once its model folder holds other weights).
    truncate_dim: the width D it cuts its embeddings to (``dim`` is then D; index manifests
        record it so that queries are cut alike), or None: whole embeddings.
    """

    model_name: str
    truncate_dim: int | None

    @property
    def dim(self) -> int: ...

    @property
    def pooler(self) -> str | None: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def weights_fingerprint(self) -> str: ...

    def encode(self, sentences: Sequence[str], batch_size: int = 64, normalize: bool = False,
               show_progress: bool | None = None) -> np.ndarray:
        """(N, H) float32 embeddings of N sentences, in input order."""
        ...


@runtime_checkable
class TokenizingEmbedder(Embedder, Protocol):
    """An :class:`Embedder` that also shows its tokenizer, so documents can be cut into
    passages it takes whole (:mod:`simcse.chunking`).

    tokenizer: the Hugging Face fast tokenizer the model encodes with (offset mapping).
    max_length: the most tokens per text it encodes (longer ones are truncated).
    """

    @property
    def tokenizer(self): ...

    @property
    def max_length(self) -> int: ...


def index_identity(model: Embedder) -> dict[str, Any]:
    """What an index records of the model that makes its vectors, as :class:`simcse.index.Index`
    (and its ``from_store`` and ``load``) take it: ``Index(model.dim, backend, **index_identity(model))``."""
    return {"model": model.model_name, "pooler": model.pooler, "fingerprint": model.weights_fingerprint,
            "truncate_dim": model.truncate_dim}


__all__ = ["Embedder", "TokenizingEmbedder", "index_identity"]
