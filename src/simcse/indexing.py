"""Index folders from text files: ``simcse index build`` and ``simcse index add``.

Both run the one text-file encoder of :mod:`simcse.stream_encode` (checked in one pass,
sharded under ``torchrun``, resumable after a crash, refusing to resume across a change of
model weights), then rank 0 joins the shards (memory-mapped) into the index folder, written
atomically, and removes the work folder (``.<out>.build/`` or ``.<index>.add/``).

Ids of a built index are the 0-based line numbers of the input, so a hit points back to its
line; ``add`` gives the new lines the ids after the largest one used.

``add`` also notes in its work folder the index's size when it began (``index-start.json``):
a run that died after saving the index but before removing the work folder would otherwise
add the same lines again when rerun. A rerun that finds the index grown by exactly the file's
lines just removes the work folder; one that finds it changed otherwise refuses.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from simcse import distributed as dist
from simcse.artefacts import read_json
from simcse.atomic import atomic_file
from simcse.chunking import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_FRACTION
from simcse.documents import document_format
from simcse.embedder import Embedder, index_identity
from simcse.errors import ConfigError, FormatError
from simcse.index.core import Index
from simcse.index.faiss_backend import PARAM_RANGE
from simcse.index.registry import BACKENDS, backend_entry
from simcse.index.store import VectorStore
from simcse.settings import setting
from simcse.stream_encode import ResumeRecord, TextFileJob, encode_shards, iter_shards, work_dir
from simcse.textfile import check_file, iter_chunks

log = logging.getLogger(__name__)

# Fields of IndexBuildConfig named for a backend parameter; HNSW's ``m`` is ``hnsw_m`` (a bare
# ``--m`` would say nothing).
PARAM_FIELDS = {"nlist": "nlist", "nprobe": "nprobe", "hnsw_m": "m", "ef_construction": "ef_construction",
                "ef_search": "ef_search", "pq_m": "pq_m", "pq_bits": "pq_bits",
                "rescore_multiplier": "rescore_multiplier", "hamming_multiplier": "hamming_multiplier"}
# What each backend parameter does, for --help (IndexBuildConfig here, SearchTuning in the CLI).
PARAM_HELP = {"nlist": "IVF lists (0 = about 4*sqrt(N))", "nprobe": "IVF lists visited per query",
              "m": "HNSW links per node", "ef_construction": "HNSW candidate list while building",
              "ef_search": "HNSW candidate list per query", "pq_m": "IVF-PQ sub-quantizers; must divide the dimension",
              "pq_bits": "IVF-PQ bits per code",
              "rescore_multiplier": "int8/binary/rabitq: candidates taken by the codes per result, then rescored "
                                    "exactly from the float32 vectors on disk",
              "hamming_multiplier": "binary/binary_ivf: Hamming search takes this many times the rescored "
                                    "candidates, of which the float query's inner product with their sign bits keeps "
                                    "the best (1 = Hamming alone)"}
START_FILE = "index-start.json"  # in the work folder of ``add``: the index's count and next_id when it began


def backend_defaults(param: str) -> str:
    """``param``'s default in each backend that takes it, read from the registry (for ``--help``)."""
    return "the backend's: " + ", ".join(f"{name} {entry.defaults[param]}" for name, entry in BACKENDS.items()
                                         if param in entry.defaults)


def backend_param(param: str) -> Any:
    """A settings field for backend parameter ``param``: ``None`` = each backend's own default,
    the help and the smallest value taken from :data:`PARAM_HELP` and the backend's ranges."""
    return setting(None, PARAM_HELP[param], min=PARAM_RANGE[param][0], shown_default=lambda: backend_defaults(param))


@dataclass(frozen=True, kw_only=True)
class IndexBuildConfig(TextFileJob):
    """``simcse index build``: one field per flag (the model's flags are ``simcse.cli.common.ModelOptions``).

    ``input`` is a file of sentences, or documents (:mod:`simcse.documents`: a ``.jsonl`` file
    or a folder), which are cut into passages (:mod:`simcse.document_indexing`). The backend
    parameters left ``None`` take the backend's own defaults."""

    folder_input: ClassVar[bool] = True
    input: Path = setting(help="UTF-8 text file of sentences, one per line (no blank lines); or documents: a .jsonl "
                          "file (id, text, metadata fields) or a folder of .txt/.md files", metavar="PATH")
    out: Path = setting(help="index folder to write (replaced atomically)", metavar="FOLDER")
    chunk_tokens: int | None = setting(None, "documents: the most tokens per passage, special tokens included",
                                       min=2, shown_default=f"{DEFAULT_CHUNK_TOKENS}, or the model's max length if smaller")
    chunk_overlap: int | None = setting(None, "documents: tokens shared by consecutive passages", min=0,
                                        shown_default=f"{DEFAULT_OVERLAP_FRACTION:.0%} of the passage")
    backend: str = setting("exact", "search backend", choices=lambda: BACKENDS)
    nlist: int | None = backend_param("nlist")
    nprobe: int | None = backend_param("nprobe")
    hnsw_m: int | None = backend_param("m")
    ef_construction: int | None = backend_param("ef_construction")
    ef_search: int | None = backend_param("ef_search")
    pq_m: int | None = backend_param("pq_m")
    pq_bits: int | None = backend_param("pq_bits")
    rescore_multiplier: int | None = backend_param("rescore_multiplier")
    hamming_multiplier: int | None = backend_param("hamming_multiplier")

    def __post_init__(self) -> None:
        super().__post_init__()
        takes = backend_entry(self.backend).params
        foreign = [f"--{name.replace('_', '-')}" for name, param in PARAM_FIELDS.items()
                   if getattr(self, name) is not None and param not in takes]
        if foreign:  # before the encoding, not after it
            shown = ", ".join(f"--{n.replace('_', '-')}" for n, p in PARAM_FIELDS.items() if p in takes) or "no parameters"
            raise ConfigError(f"backend {self.backend!r} takes {shown}; got {', '.join(foreign)}")
        if not self.documents and (self.chunk_tokens is not None or self.chunk_overlap is not None):
            raise ConfigError(f"--chunk-tokens and --chunk-overlap cut documents (a .jsonl file or a folder); "
                              f"{self.input} is a file of sentences, one per line")

    @property
    def documents(self) -> bool:
        """Whether ``input`` holds documents (a ``.jsonl`` file or a folder), not sentences."""
        return document_format(self.input) != "lines"

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
        index = Index.from_store(store, cfg.backend, **index_identity(model), **cfg.params())
        index.save(cfg.out)
        shutil.rmtree(work, ignore_errors=True)
    dist.barrier()
    return lines


def _start(index: Index) -> dict[str, int]:
    return {"count": len(index), "next_id": index.next_id}


def _added_before(index: Index, model: Embedder, cfg: IndexAddConfig, work: Path) -> bool:
    """Whether an interrupted run of this same ``add`` already saved its lines into ``index``
    (it grew from the size noted in ``work`` by exactly the file's lines); refuses
    (:class:`FormatError`) an index changed since in any other way, or another job's ``work``."""
    path = work / START_FILE
    if not path.is_file():
        return False
    start = read_json(path, why="the work folder of an interrupted `simcse index add` needs it")
    if start == _start(index):
        return False
    ResumeRecord.of(model, cfg, normalize=True).check(work)  # the same file and model, else refused
    lines = check_file(cfg.input)
    if all(type(start.get(k)) is int for k in ("count", "next_id")):
        if _start(index) == {"count": start["count"] + lines, "next_id": start["next_id"] + lines}:
            return True
    changes = ", ".join(f"{k} {start.get(k)!r} -> {v}" for k, v in _start(index).items())
    raise FormatError(f"{path}: {cfg.index} changed since this interrupted add began ({changes}), other than by "
                      f"its {lines} lines; delete {work} to start over")


def add_file(index: Index, model: Embedder, cfg: IndexAddConfig, show_progress: bool = True) -> int:
    """Encode ``cfg.input`` with ``model`` (the index's own: check it first), add the lines to
    ``index`` and save it to ``cfg.index``; returns the number of sentences added (0 when an
    interrupted run had already saved them: see the module docstring)."""
    if index.documents is not None:  # before any encoding
        raise ConfigError(f"{cfg.index} holds documents; add or replace them with `simcse index upsert`")
    work = work_dir(cfg.index, "add")
    done = _added_before(index, model, cfg, work)  # every process: the same files, the same verdict
    dist.barrier()
    if dist.rank() == 0:
        if done:
            log.warning("%s: an interrupted run already added the lines of %s; removing %s", cfg.index, cfg.input, work)
            shutil.rmtree(work, ignore_errors=True)
        elif not (work / START_FILE).is_file():
            with atomic_file(work / START_FILE, "w") as fh:
                json.dump(_start(index), fh)
    if done:
        dist.barrier()
        return 0
    lines = encode_shards(model, cfg, work, normalize=True, show_progress=show_progress)
    if dist.rank() == 0:
        for texts, vectors in _texts_and_vectors(cfg, work, lines, model.dim):
            index.add(texts, np.asarray(vectors))
        index.save(cfg.index)
        shutil.rmtree(work, ignore_errors=True)
    dist.barrier()
    return lines


__all__ = ["IndexAddConfig", "IndexBuildConfig", "PARAM_FIELDS", "PARAM_HELP", "START_FILE", "add_file",
           "backend_defaults", "backend_param", "build_index"]
