"""Building an index from a large text file: streamed in chunks, resumable after a crash.

Work happens in a sibling folder ``.<out>.build/``: every ``chunk_size`` input lines become
a shard (``shard-00000.npy`` unit vectors + ``shard-00000.jsonl`` items), then
``progress.json`` records how many lines are done. Rerunning the same command after an
interruption skips the finished lines. At the end the shards (memory-mapped) are joined
into the index folder, written atomically, and the work folder is removed.

Ids are 0-based line numbers of the input, so a hit points back to its line; blank lines
are skipped.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from simcse.atomic import atomic_file
from simcse.index.core import Index
from simcse.index.manifest import model_id
from simcse.index.registry import backend_entry
from simcse.index.store import VectorStore
from simcse.textfile import chunks, count_lines


@dataclass(frozen=True)
class BuildConfig:
    """``simcse index build``: one field per flag."""

    input: Path  # UTF-8 text, one sentence per line
    out: Path  # the index folder to write
    backend: str = "exact"  # a key of simcse.index.BACKENDS
    params: dict[str, int] = field(default_factory=dict)  # backend parameters (nlist, nprobe, m, ...)
    chunk_size: int = 10_000  # input lines per shard: the unit of progress when resuming
    batch_size: int = 64  # sentences per forward pass

    def __post_init__(self) -> None:
        backend_entry(self.backend)  # unknown name -> ValueError listing the valid ones
        if self.chunk_size < 1 or self.batch_size < 1:
            raise ValueError(f"chunk_size and batch_size must be >= 1, got {self.chunk_size}, {self.batch_size}")


def work_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.build"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_file(path, "w") as fh:
        json.dump(data, fh, indent=2)


def _start_or_resume(cfg: BuildConfig, model: Any, work: Path) -> dict[str, Any]:
    """The progress record: fresh, or the saved one if it belongs to this same build."""
    stat = cfg.input.stat()
    expected = {
        "input": str(cfg.input.resolve()), "input_bytes": stat.st_size, "input_mtime_ns": stat.st_mtime_ns,
        "model": model_id(model.model_name), "dim": model.dim, "chunk_size": cfg.chunk_size,
    }
    path = work / "progress.json"
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        differs = [k for k, v in expected.items() if saved.get(k) != v]
        if differs:
            raise ValueError(f"{path}: an interrupted build with a different {', '.join(differs)}; "
                             f"delete {work} to start over")
        return saved
    work.mkdir(parents=True, exist_ok=True)
    progress = {**expected, "lines_done": 0, "shards": 0, "sentences": 0}
    _write_json(path, progress)
    return progress


def _load_shards(work: Path, n: int, dim: int) -> VectorStore:
    """All shards as one store; the vectors stay memory-mapped."""
    store = VectorStore(dim)
    for i in range(n):
        vectors = np.load(work / f"shard-{i:05d}.npy", mmap_mode="r")
        with open(work / f"shard-{i:05d}.jsonl", encoding="utf-8") as fh:
            items = [json.loads(line) for line in fh]
        store.append(np.array([it["id"] for it in items], dtype=np.int64), [it["text"] for it in items], vectors)
    return store


def build_index(model: Any, cfg: BuildConfig) -> Index:
    """Encode ``cfg.input`` with ``model`` (a :class:`simcse.SimCSE`) into the folder ``cfg.out``."""
    work = work_dir(cfg.out)
    progress = _start_or_resume(cfg, model, work)
    total = count_lines(cfg.input)
    bar = tqdm(total=total, initial=progress["lines_done"], unit="line", desc="index build")
    for last, batch in chunks(cfg.input, progress["lines_done"], cfg.chunk_size):
        shard = work / f"shard-{progress['shards']:05d}"
        vectors = model.encode([t for _, t in batch], batch_size=cfg.batch_size, normalize=True)
        with atomic_file(shard.with_suffix(".npy")) as fh:
            np.save(fh, vectors.astype(np.float32))
        with atomic_file(shard.with_suffix(".jsonl"), "w") as fh:
            fh.writelines(json.dumps({"id": n - 1, "text": t}, ensure_ascii=False) + "\n" for n, t in batch)
        progress.update(lines_done=last, shards=progress["shards"] + 1, sentences=progress["sentences"] + len(batch))
        _write_json(work / "progress.json", progress)  # after the shard: a crash in between redoes the shard
        bar.update(last - bar.n)
    bar.close()
    store = _load_shards(work, progress["shards"], model.dim)
    index = Index.from_store(store, cfg.backend, model=model.model_name, pooler=model.encoder.config.pooler, **cfg.params)
    index.save(cfg.out)
    shutil.rmtree(work, ignore_errors=True)
    return index


def add_file(index: Index, model: Any, path: Path, chunk_size: int = 10_000, batch_size: int = 64) -> int:
    """Encode the non-blank lines of ``path`` and add them to ``index``; returns how many were added."""
    added = 0
    for _, batch in chunks(path, 0, chunk_size):
        texts = [t for _, t in batch]
        index.add(texts, model.encode(texts, batch_size=batch_size, normalize=True))
        added += len(texts)
    return added
