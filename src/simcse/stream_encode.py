"""The one text-file encoder: a file of any size, one sentence per line, checked, sharded, resumable.

``simcse encode`` (a ``.npy`` matrix, :func:`encode_file`) and ``simcse index build|add``
(:mod:`simcse.indexing`) run the same steps:

1. :func:`simcse.textfile.check_file` reads the whole file once: a blank line, a bad byte or
   ill-formed text stops the run with ``file:line: ...`` before any encoding is spent.
2. The work folder ``.<target>.<job>/`` beside the target holds ``record.json``, the
   :class:`ResumeRecord` of the input, the model (its weights fingerprint included) and the
   settings that change the vectors. A rerun whose record differs refuses, naming the fields.
3. Chunk ``k`` (``chunk_lines`` lines) becomes ``shard-0000k.npy``, written atomically, so the
   shards on disk *are* the progress: a rerun with the same arguments skips them. Under
   ``torchrun`` process ``r`` of ``N`` encodes the chunks with ``k % N == r``.
4. When every shard exists, rank 0 joins them (one shard in memory at a time) into the
   target and removes the work folder.

Row ``i`` of the result is line ``i + 1`` of the input.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator

import numpy as np
from tqdm.auto import tqdm

from simcse import distributed as dist
from simcse.atomic import atomic_file
from simcse.embedder import Embedder
from simcse.errors import FormatError, MissingFileError
from simcse.index.manifest import model_id
from simcse.settings import check_fields, setting
from simcse.textfile import check_file, iter_chunks

RECORD_FILE = "record.json"
RECORD_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class TextFileJob:
    """What every command that encodes a text file is told (their flags come from these fields)."""

    input: Path = setting(help="UTF-8 text file, one sentence per line (no blank lines)", metavar="FILE")
    batch_size: int = setting(64, "sentences per forward pass", min=1)
    chunk_lines: int = setting(10_000, "lines per shard: the unit of resuming and of work per process", min=1)

    folder_input: ClassVar[bool] = False  # whether ``input`` may also be a folder (of documents)

    def __post_init__(self) -> None:
        check_fields(self)
        found = Path(self.input).is_file() or (self.folder_input and Path(self.input).is_dir())
        if not found:  # before a model is loaded for it
            raise MissingFileError(f"{self.input}: no such file")


@dataclass(frozen=True, kw_only=True)
class EncodeConfig(TextFileJob):
    """``simcse encode``: one field per flag (the model's flags are ``simcse.cli.common.ModelOptions``)."""

    output: Path = setting(help="where to write the (N, H) float32 .npy matrix", metavar="NPY")
    normalize: bool = setting(False, "write unit-length vectors")


@dataclass(frozen=True)
class ResumeRecord:
    """Everything the shards of a run depend on; a rerun continues only if every field is equal.

    ``runtime``, ``quantize`` and ``dtype`` are read from the model when it has them
    (:class:`simcse.SimCSE` does); the fingerprint covers the weights themselves.
    """

    input: str  # absolute path
    input_bytes: int
    input_mtime_ns: int
    model: str  # simcse.index.manifest.model_id of the model's name
    fingerprint: str
    dim: int
    pooler: str | None
    runtime: str | None
    quantize: bool | None
    dtype: str | None
    normalize: bool
    chunk_lines: int
    format_version: int = RECORD_VERSION

    @classmethod
    def of(cls, model: Embedder, job: TextFileJob, normalize: bool) -> "ResumeRecord":
        stat = Path(job.input).stat()
        return cls(
            input=str(Path(job.input).resolve()), input_bytes=stat.st_size, input_mtime_ns=stat.st_mtime_ns,
            model=model_id(model.model_name), fingerprint=model.fingerprint, dim=model.dim, pooler=model.pooler,
            runtime=getattr(model, "runtime", None), quantize=getattr(model, "quantize", None),
            dtype=getattr(model, "dtype", None), normalize=normalize, chunk_lines=job.chunk_lines,
        )

    def check(self, work: Path) -> None:
        """Refuse (:class:`FormatError`, one line) a saved record in ``work`` that differs from this one."""
        path = work / RECORD_FILE
        if not path.is_file():
            return
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError):
            saved = None
        if not isinstance(saved, dict):
            raise FormatError(f"{path}: not a resume record; delete {work} to start over")
        if saved.get("format_version") != self.format_version:
            raise FormatError(f"{path}: a resume record of format_version {saved.get('format_version')!r}, "
                              f"this simcse writes {self.format_version}; delete {work} to start over")
        differs = [f"{k} ({saved.get(k)!r} -> {v!r})" for k, v in dataclasses.asdict(self).items() if saved.get(k) != v]
        if differs:
            raise FormatError(f"{path}: an interrupted run with a different {', '.join(differs)}; "
                              f"delete {work} to start over")

    def write(self, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        with atomic_file(work / RECORD_FILE, "w") as fh:
            json.dump(dataclasses.asdict(self), fh, indent=2)


def work_dir(target: Path, job: str) -> Path:
    """The work folder of ``job`` (``encode``, ``build``, ``add``) for ``target``: ``.<name>.<job>`` beside it."""
    target = Path(target)
    return target.parent / f".{target.name}.{job}"


def shard_path(work: Path, k: int) -> Path:
    return work / f"shard-{k:05d}.npy"


def encode_shards(model: Embedder, job: TextFileJob, work: Path, normalize: bool, show_progress: bool = True) -> int:
    """Check ``job.input`` and the resume record, then encode this process's missing chunks
    into ``work``; returns the number of lines. Every process returns once all shards exist."""
    lines = check_file(job.input)
    record = ResumeRecord.of(model, job, normalize)
    record.check(work)  # every process: the same files, the same verdict, nobody left waiting
    dist.barrier()
    if dist.rank() == 0 and not (work / RECORD_FILE).is_file():
        record.write(work)
    dist.barrier()
    rank, world = dist.rank(), dist.world_size()
    work.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=lines, unit="line", desc=f"encode[{rank}]" if world > 1 else "encode", disable=not show_progress)
    for k, texts in enumerate(iter_chunks(job.input, job.chunk_lines)):
        shard = shard_path(work, k)
        if k % world == rank and not shard.is_file():
            vectors = model.encode(texts, batch_size=job.batch_size, normalize=normalize, show_progress=False)
            with atomic_file(shard) as fh:
                np.save(fh, np.asarray(vectors, dtype=np.float32))
        bar.update(len(texts))
    bar.close()
    dist.barrier()
    return lines


def iter_shards(work: Path, lines: int, chunk_lines: int, dim: int) -> Iterator[np.ndarray]:
    """The shards of a finished run in order, memory-mapped, each (chunk rows, dim) float32."""
    for k in range(-(-lines // chunk_lines)):
        path = shard_path(work, k)
        if not path.is_file():
            raise FormatError(f"{path}: missing after every process finished (deleted while the run went on?); "
                              f"rerun the same command to encode it again, or delete {work} to start over")
        vectors = np.load(path, mmap_mode="r")
        rows = min(chunk_lines, lines - k * chunk_lines)
        if vectors.shape != (rows, dim) or vectors.dtype != np.float32:
            raise FormatError(f"{path}: holds {vectors.dtype} {vectors.shape}, expected float32 ({rows}, {dim}); "
                              f"delete {work} to start over")
        yield vectors


def encode_file(model: Embedder, cfg: EncodeConfig, show_progress: bool = True) -> tuple[int, int]:
    """Encode every line of ``cfg.input`` with ``model`` into the ``.npy`` file ``cfg.output``.

    Returns the shape (rows, dim) written. A bad line raises ``DataError`` naming the file and
    line before anything is encoded; shards of an interrupted run are kept for the next one.
    """
    work = work_dir(cfg.output, "encode")
    lines = encode_shards(model, cfg, work, cfg.normalize, show_progress)
    if dist.rank() == 0:
        with atomic_file(cfg.output) as fh:
            header = {"descr": "<f4", "fortran_order": False, "shape": (lines, model.dim)}
            np.lib.format.write_array_header_1_0(fh, header)
            for vectors in iter_shards(work, lines, cfg.chunk_lines, model.dim):
                fh.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
        shutil.rmtree(work, ignore_errors=True)
    dist.barrier()
    return lines, model.dim


__all__ = ["EncodeConfig", "ResumeRecord", "TextFileJob", "encode_file", "encode_shards", "iter_shards", "shard_path",
           "work_dir"]
