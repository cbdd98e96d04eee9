"""``manifest.json``: what an index folder holds and which model made its vectors."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simcse.artefacts import INT64_MAX, field_type_problems, read_json
from simcse.errors import ConfigError, FormatError
from simcse.index.registry import backend_entry
from simcse.pooling import check_pooler

FORMAT_VERSION = 1
FILE_NAME = "manifest.json"


def model_id(name_or_path: str | os.PathLike) -> str:
    """How a model is recorded: a local folder as its absolute path, anything else as given."""
    path = Path(name_or_path)
    return str(path.resolve()) if path.is_dir() else str(name_or_path)


@dataclass(frozen=True)
class Manifest:
    """The index folder's description. Vectors are unit length, so inner product = cosine."""

    model: str  # model_id() of the encoder that made the vectors
    dim: int  # vector dimension
    pooler: str | None  # the encoder's pooler, when known
    backend: str  # a key of simcse.index.registry.BACKENDS
    params: dict[str, Any] = field(default_factory=dict)  # the backend's parameters
    count: int = 0  # rows
    next_id: int = 0  # the id the next added sentence gets
    fingerprint: str = ""  # the model's weights_fingerprint when built; "" = unknown (older folders)
    chunk_tokens: int | None = None  # an index of documents: tokens per passage (None: sentences)
    chunk_overlap: int | None = None  # an index of documents: tokens shared by consecutive passages
    truncate_dim: int | None = None  # the model's embeddings cut to their first ``dim`` features (None: whole)
    metric: str = "inner_product"
    format_version: int = FORMAT_VERSION

    def write(self, folder: Path) -> None:
        """Write ``manifest.json``; an index of sentences leaves out the chunk fields, and one of
        whole embeddings ``truncate_dim``, so its manifest is the one every earlier simcse wrote
        and reads."""
        data = dataclasses.asdict(self)
        if self.chunk_tokens is None:
            data = {k: v for k, v in data.items() if k not in ("chunk_tokens", "chunk_overlap")}
        if self.truncate_dim is None:
            del data["truncate_dim"]
        (folder / FILE_NAME).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> "Manifest":
        """Read and check ``manifest.json``: field names, types and ranges, the backend and its
        params; any fault raises ``FormatError`` naming the file."""
        path = folder / FILE_NAME
        data = read_json(path, why=f"{folder} is not an index folder")
        if data.get("format_version") != FORMAT_VERSION:
            raise FormatError(f"{path}: format_version {data.get('format_version')!r}, this simcse reads {FORMAT_VERSION}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown, missing = set(data) - names, {"model", "dim", "backend"} - set(data)
        if unknown or missing:
            raise FormatError(f"{path}: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")
        problems = field_type_problems(data, cls)
        if problems:
            raise FormatError(f"{path}: {'; '.join(problems)}")
        self = cls(**data)
        if self.dim < 1 or self.count < 0 or not 0 <= self.next_id <= INT64_MAX:
            raise FormatError(f"{path}: dim must be >= 1, count >= 0 and next_id in [0, 2**63-1]; "
                              f"got {self.dim}, {self.count}, {self.next_id}")
        if (self.chunk_tokens is None) != (self.chunk_overlap is None) or (self.chunk_tokens is not None and not (
                self.chunk_tokens >= 1 and 0 <= self.chunk_overlap < self.chunk_tokens)):
            raise FormatError(f"{path}: chunk_tokens and chunk_overlap must both be null (sentences) or integers "
                              f"with 0 <= chunk_overlap < chunk_tokens; got {self.chunk_tokens}, {self.chunk_overlap}")
        if self.truncate_dim is not None and self.truncate_dim != self.dim:
            raise FormatError(f"{path}: truncate_dim {self.truncate_dim} is not the index's dim {self.dim}")
        if self.metric != "inner_product":
            raise FormatError(f"{path}: field 'metric' is {self.metric!r}; only 'inner_product' is supported")
        try:
            backend_entry(self.backend).check(self.params, self.dim)
            if self.pooler is not None:
                check_pooler(self.pooler)
        except ConfigError as err:
            raise FormatError(f"{path}: {err}") from None
        return self

    def check_compatible(self, folder: Path, model: str | None, dim: int | None, pooler: str | None,
                         fingerprint: str | None = None, truncate_dim: int | None = None) -> None:
        """Refuse an encoder other than the one that built the index (named in the message), and
        the same model with other weights (both fingerprints known and different). ``dim`` and
        ``truncate_dim`` are the width of the encoder's vectors and what it cut them to."""
        built = f"model {self.model!r} (dim {self.dim}{_cut(self.truncate_dim)}, pooler {self.pooler})"
        asked = f"model {model!r} (dim {dim}{_cut(truncate_dim)}, pooler {pooler})"
        problems = []
        if model is not None and model_id(model) != self.model:
            problems.append("model")
        if dim is not None and (dim, truncate_dim) != (self.dim, self.truncate_dim):
            problems.append("dimension")
        if pooler is not None and self.pooler is not None and pooler != self.pooler:
            problems.append("pooler")
        if problems:  # the user's choice of model, not a fault of the folder
            raise ConfigError(
                f"{folder}: index was built with {built}; refusing to search it with {asked} "
                f"(different {', '.join(problems)}). Use the index's model or rebuild the index."
            )
        if fingerprint and self.fingerprint and fingerprint != self.fingerprint:
            raise ConfigError(f"{folder}: the weights of {self.model} changed since this index was built "
                              f"(fingerprint {self.fingerprint}, now {fingerprint}); rebuild it")


def _cut(truncate_dim: int | None) -> str:
    return "" if truncate_dim is None else " by truncation"


__all__ = ["FILE_NAME", "FORMAT_VERSION", "Manifest", "model_id"]
