"""Index folders from text files: ``simcse index build`` and ``simcse index add``.

Both run the one text-file encoder of :mod:`simcse.stream_encode` (checked in one pass,
sharded under ``torchrun``, resumable after a crash, refusing to resume across a change of
model weights), then rank 0 joins the shards (memory-mapped) into the index folder, written
atomically, and removes the work folder (``.<out>.build/`` or ``.<index>.add/``).

Ids of a built index are the 0-based line numbers of the input, so a hit points back to its
line; ``add`` gives the new lines the ids after the largest one used.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Iterator
from pathlib import Path

import numpy as np

from simcse import distributed as dist
from simcse.embedder import Embedder
from simcse.errors import ConfigError
from simcse.index.core import Index
from simcse.index.faiss_backend import KIND_PARAMS
from simcse.index.registry import BACKENDS, backend_entry
from simcse.index.store import VectorStore
from simcse.settings import setting
from simcse.stream_encode import TextFileJob, encode_shards, iter_shards, work_dir
from simcse.textfile import iter_chunks

# Fields of IndexBuildConfig named for a backend parameter; HNSW's ``m`` is ``hnsw_m`` (a bare
# ``--m`` would say nothing).
PARAM_FIELDS = {"nlist": "nlist", "nprobe": "nprobe", "hnsw_m": "m", "ef_construction": "ef_construction",
                "ef_search": "ef_search", "pq_m": "pq_m", "pq_bits": "pq_bits"}


def backend_defaults(param: str) -> str:
    """``param``'s default in each backend that takes it, read from the registry (for ``--help``)."""
    return "the backend's: " + ", ".join(f"{kind} {p[param]}" for kind, p in KIND_PARAMS.items() if param in p)


def _param(help: str, param: str, low: int = 1) -> int | None:
    return setting(None, help, min=low, shown_default=lambda: backend_defaults(param))


@dataclass(frozen=True, kw_only=True)
class IndexBuildConfig(TextFileJob):
    """``simcse index build``: one field per flag (the model's flags are ``simcse.cli.common.ModelOptions``).

    The backend parameters left ``None`` take the backend's own defaults."""

    out: Path = setting(help="index folder to write (replaced atomically)", metavar="FOLDER")
    backend: str = setting("exact", "search backend", choices=lambda: BACKENDS)
    nlist: int | None = _param("IVF lists (0 = about 4*sqrt(N))", "nlist", low=0)
    nprobe: int | None = _param("IVF lists visited per query", "nprobe")
    hnsw_m: int | None = _param("HNSW links per node", "m")
    ef_construction: int | None = _param("HNSW candidate list while building", "ef_construction")
    ef_search: int | None = _param("HNSW candidate list per query", "ef_search")
    pq_m: int | None = _param("IVF-PQ sub-quantizers; must divide the dimension", "pq_m")
    pq_bits: int | None = _param("IVF-PQ bits per code", "pq_bits")

    def __post_init__(self) -> None:
        super().__post_init__()
        takes = backend_entry(self.backend).params
        foreign = [f"--{name.replace('_', '-')}" for name, param in PARAM_FIELDS.items()
                   if getattr(self, name) is not None and param not in takes]
        if foreign:  # before the encoding, not after it
            shown = ", ".join(f"--{n.replace('_', '-')}" for n, p in PARAM_FIELDS.items() if p in takes) or "no parameters"
            raise ConfigError(f"backend {self.backend!r} takes {shown}; got {', '.join(foreign)}")

    def params(self) -> dict[str, int]:
        """The backend parameters given, by the backend's names."""
        return {param: v for name, param in PARAM_FIELDS.items() if (v := getattr(self, name)) is not None}


@dataclass(frozen=True, kw_only=True)
class IndexAddConfig(TextFileJob):
    """``simcse index add``: one field per flag."""

    index: Path = setting(help="index folder to extend (rewritten atomically)", metavar="FOLDER")


def _texts_and_vectors(job: TextFileJob, work: Path, lines: int, dim: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """Per chunk of a finished run: its lines and their (memory-mapped) vectors."""
    return zip(iter_chunks(job.input, job.chunk_lines), iter_shards(work, lines, job.chunk_lines, dim))


def build_index(model: Embedder, cfg: IndexBuildConfig, show_progress: bool = True) -> int:
    """Encode ``cfg.input`` with ``model`` into the index folder ``cfg.out``; returns the number
    of sentences (open the folder with :meth:`Index.load`)."""
    work = work_dir(cfg.out, "build")
    lines = encode_shards(model, cfg, work, normalize=True, show_progress=show_progress)
    if dist.rank() == 0:
        store = VectorStore(model.dim)
        for k, (texts, vectors) in enumerate(_texts_and_vectors(cfg, work, lines, model.dim)):
            store.append(np.arange(k * cfg.chunk_lines, k * cfg.chunk_lines + len(texts)), texts, vectors)
        index = Index.from_store(store, cfg.backend, model=model.model_name, pooler=model.pooler, **cfg.params())
        index.save(cfg.out)
        shutil.rmtree(work, ignore_errors=True)
    dist.barrier()
    return lines


def add_file(index: Index, model: Embedder, cfg: IndexAddConfig, show_progress: bool = True) -> int:
    """Encode ``cfg.input`` with ``model`` (the index's own: check it first), add the lines to
    ``index`` and save it to ``cfg.index``; returns the number of sentences added."""
    work = work_dir(cfg.index, "add")
    lines = encode_shards(model, cfg, work, normalize=True, show_progress=show_progress)
    if dist.rank() == 0:
        for texts, vectors in _texts_and_vectors(cfg, work, lines, model.dim):
            index.add(texts, np.asarray(vectors))
        index.save(cfg.index)
        shutil.rmtree(work, ignore_errors=True)
    dist.barrier()
    return lines


__all__ = ["IndexAddConfig", "IndexBuildConfig", "PARAM_FIELDS", "add_file", "backend_defaults", "build_index"]
