"""Encoding a text file of any size into one .npy matrix: streamed, resumable, shardable.

The file is read in chunks of ``chunk_lines`` lines; chunk ``k`` becomes the shard
``<work>/shard-0000k.npy``, written atomically, so the shards on disk *are* the progress
record: an interrupted run, started again with the same arguments, skips them. Under
``torchrun`` process ``r`` of ``N`` encodes the chunks ``k`` with ``k % N == r``. When every
shard exists, rank 0 concatenates them into the output ``.npy`` block by block (memory stays
flat whatever the corpus size) and removes the work folder. Row ``i`` is line ``i + 1``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from simcse import distributed as dist
from simcse.atomic import atomic_file
from simcse.textfile import DataError, chunks, count_lines


def work_dir(output: Path) -> Path:
    return output.parent / f".{output.name}.shards"


def _check_or_write_manifest(work: Path, expected: dict[str, Any]) -> None:
    path = work / "manifest.json"
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        differs = [k for k, v in expected.items() if saved.get(k) != v]
        if differs:
            raise ValueError(f"{path}: an interrupted run with a different {', '.join(differs)}; delete {work} to start over")
        return
    work.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w") as fh:
        json.dump(expected, fh, indent=2)


def _first_blank(path: Path, start: int, lines: list[tuple[int, str]], last: int) -> int | None:
    present = {n for n, _ in lines}
    return next((n for n in range(start, last + 1) if n not in present), None)


def encode_file(model: Any, input: Path, output: Path, batch_size: int = 64, normalize: bool = False,
                chunk_lines: int = 10_000, show_progress: bool = True) -> tuple[int, int]:
    """Encode every line of ``input`` with ``model`` (a :class:`simcse.SimCSE`) into ``output``.

    Returns the shape (rows, dim) written. A blank line or bad byte raises ``DataError``
    naming the file and line; shards already written are kept for the next run.
    """
    input, output = Path(input), Path(output)
    work, rank, world = work_dir(output), dist.rank(), dist.world_size()
    stat = input.stat()
    expected = {"input": str(input.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                "model": model.model_name, "dim": model.dim, "normalize": normalize, "chunk_lines": chunk_lines}
    if rank == 0:
        _check_or_write_manifest(work, expected)
    dist.barrier()
    total = count_lines(input)
    n_chunks = -(-total // chunk_lines)
    bar = tqdm(total=total, unit="line", desc=f"encode[{rank}]" if world > 1 else "encode", disable=not show_progress)
    for k, (last, lines) in enumerate(chunks(input, 0, chunk_lines)):
        shard = work / f"shard-{k:05d}.npy"
        if k % world != rank or shard.is_file():
            bar.update(last - bar.n)
            continue
        blank = _first_blank(input, k * chunk_lines + 1, lines, last)
        if blank is not None:
            raise DataError(f"{input}:{blank}: empty sentence")
        emb = model.encode([t for _, t in lines], batch_size=batch_size, normalize=normalize, show_progress=False)
        with atomic_file(shard) as fh:
            np.save(fh, emb.astype(np.float32))
        bar.update(last - bar.n)
    bar.close()
    dist.barrier()
    if rank == 0:
        _concatenate([work / f"shard-{k:05d}.npy" for k in range(n_chunks)], output, total, model.dim)
        shutil.rmtree(work, ignore_errors=True)
    dist.barrier()
    return total, model.dim


def _concatenate(shards: list[Path], output: Path, rows: int, dim: int) -> None:
    """Write ``shards`` (each (n_k, dim) float32) as one (rows, dim) .npy, one shard in memory at a time."""
    missing = [s.name for s in shards if not s.is_file()]
    if missing:
        raise RuntimeError(f"shards missing after all processes finished: {missing[:5]}")
    with atomic_file(output) as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (rows, dim)})
        for shard in shards:
            fh.write(np.ascontiguousarray(np.load(shard, mmap_mode="r"), dtype="<f4").tobytes())
