"""Quantized indexes with rescoring (issue 13, item 3): int8 and binary codes vs exact float32.

Data (N vectors of all-MiniLM-L6-v2, dim 384):

* real: the sentences of the data dir's text files (:data:`SOURCES`), whitespace-collapsed,
  de-duplicated, shuffled with seed 0, the first ``--real`` of them (default: all); encoded
  once with all-MiniLM-L6-v2 on the CPU and cached in ``--work`` by blocks of 10,000, so a rerun
  (or a larger ``--real``) encodes only what is new. The first ``--queries`` real sentences
  are the held-out queries; the rest are indexed.
* synthetic top-up to N: a real indexed vector drawn at random (seed 2), plus isotropic
  Gaussian noise of norm about ``--noise`` (per coordinate ``noise / sqrt(384)``),
  renormalised (cosine to its real source about 1/sqrt(1 + noise**2)). Text ``"synthetic i"``.

Rows: exact float32 (NumPy, vectors read into RAM), binary, rabitq and int8 + rescoring at
each multiplier (``--binary-multipliers``, ``--rabitq-multipliers``, ``--int8-multipliers``;
binary also at each ``--hamming-multipliers``: Hamming search takes that many times the
rescored candidates, the float query's inner product with their sign bits keeps the best,
1 = Hamming alone). Each index is built once in
this process (build s: ``Index.from_store``, codes computed), saved, then loaded and searched in
a fresh process (load s, memory, QPS).
Recall@10: the share of exact search's top 10 (ids) found in the top 10, per query, averaged.

Memory ("index RAM MB"): the heap (RssAnon) of the search process after ``Index.load`` minus
before, less the same for the rows alone (ids and texts: an exact index opened memory-mapped),
i.e. what the index itself holds in RAM: float32 vectors read into RAM for exact, the codes
for the others (addressed by row: no ids beside them). The pages of the memory-mapped ``vectors.npy`` that the process
has touched (RssFile: the load's sampled norm check, then the rescored rows) are shown apart:
page cache that the kernel can drop. "codes MB" is FAISS's code size. Queries run
in batches of ``--batch`` on ``--threads`` threads.

    SIMCSE_DATA_DIR=/work/shared/data HF_HUB_OFFLINE=1 .venv/bin/python bench/quantized_index.py \
        --n 1000000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# One sentence per line, or a .csv whose every column is a sentence, or the BEIR .jsonl "text".
SOURCES = (
    "training/multi30k/multi30k_task2_en_captions.txt",
    "training/flickr30k_pairs/flickr30k_train_caption_pairs.csv",
    "training/wordnet/wordnet30_examples.txt",
    "training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt",
    "retrieval/flickr30k_captions_val/corpus.jsonl",
    "retrieval/flickr30k_captions_val/queries.jsonl",
    "training/nli_small/snli_dev_triplets.csv",
    "training/nli_small/snli_test_triplets.csv",
)
BLOCK = 10_000  # sentences per cached embedding file
K = 10


def real_sentences(data: Path) -> list[str]:
    """Every distinct sentence of :data:`SOURCES`, shuffled with seed 0."""
    import csv

    seen: dict[str, None] = {}
    for name in SOURCES:
        path = data / name
        with open(path, encoding="utf-8", newline="") as fh:
            if path.suffix == ".csv":
                rows = (cell for i, row in enumerate(csv.reader(fh)) if i for cell in row)
            elif path.suffix == ".jsonl":
                rows = (json.loads(line)["text"] for line in fh if line.strip())
            else:
                rows = iter(fh)
            for text in rows:
                text = " ".join(text.split())
                if text:
                    seen.setdefault(text, None)
    pool = list(seen)
    random.Random(0).shuffle(pool)
    return pool


def embed(sentences: list[str], work: Path, threads: int) -> np.ndarray:
    """(len, 384) unit float32, from the block cache in ``work`` (module docstring)."""
    import torch

    from simcse.api import SimCSE

    torch.set_num_threads(threads)
    model, out = None, []
    for b, start in enumerate(range(0, len(sentences), BLOCK)):
        block = sentences[start : start + BLOCK]
        path = work / f"real-{b:04d}.npy"
        meta = work / f"real-{b:04d}.json"
        key = {"n": len(block), "first": block[0], "last": block[-1]}
        if not (path.is_file() and meta.is_file() and json.loads(meta.read_text()) == key):
            model = model or SimCSE(MINILM, device="cpu")
            clock = time.perf_counter()
            np.save(path, model.encode(block, batch_size=128, normalize=True, show_progress=False))
            meta.write_text(json.dumps(key))
            print(f"encoded {start + len(block):,}/{len(sentences):,} ({len(block) / (time.perf_counter() - clock):.0f} "
                  "sentences/s)", file=sys.stderr, flush=True)
        out.append(np.load(path))
    return np.concatenate(out)


def make_corpus(real: np.ndarray, n: int, noise: float) -> np.ndarray:
    """``real`` followed by synthetic rows up to ``n`` (module docstring), (n, dim) float32."""
    rng = np.random.default_rng(2)
    out = np.empty((n, real.shape[1]), np.float32)
    out[: len(real)] = real
    for start in range(len(real), n, 100_000):
        m = min(100_000, n - start)
        x = real[rng.integers(0, len(real), m)] + rng.standard_normal((m, real.shape[1]), np.float32) * (
            noise / np.sqrt(real.shape[1]))
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def rss_mb() -> dict[str, float]:
    """This process's resident memory: ``anon`` (heap: arrays, codes, texts) and ``file`` (pages of
    memory-mapped files, e.g. vectors.npy, that it has touched; the kernel may drop them).
    glibc's ``malloc_trim`` first hands freed heap back to the system, so that ``anon`` counts
    what is alive, not the high-water mark of a load's temporary arrays."""
    import ctypes

    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/status") as fh:
        fields = dict(line.split(":", 1) for line in fh)
    return {k: int(fields[f"Rss{k.title()}"].split()[0]) / 1024 for k in ("anon", "file")}


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after}


def child(folder: Path, mmap: bool, queries: Path, settings: list[dict[str, int]], batch: int, threads: int) -> dict:
    """Load ``folder`` in this fresh process and search it: memory, load time, per search
    setting (``{}``: as built; none: no search) QPS and ids."""
    import faiss

    from simcse.index import Index

    faiss.omp_set_num_threads(threads)
    q = np.load(queries)
    before = rss_mb()
    clock = time.perf_counter()
    index = Index.load(folder, mmap=mmap)
    out: dict = {"load_s": time.perf_counter() - clock, "rss_mb": delta(rss_mb(), before), "runs": []}
    codes = getattr(index.backend, "code_bytes", None)
    out["codes_mb"] = None if codes is None else codes / 2**20
    for setting in settings:
        if setting:
            index.set_search_params(**setting)
        clock, ids = time.perf_counter(), []
        for i in range(0, len(q), batch):
            ids += [[h.id for h in hits] for hits in index.search(q[i : i + batch], top_k=K)]
        out["runs"].append({"setting": setting, "qps": len(q) / (time.perf_counter() - clock), "ids": ids})
    out["rss_after_search_mb"] = delta(rss_mb(), before)
    return out


def run_child(args: argparse.Namespace, folder: Path, mmap: bool, settings: list[dict[str, int]]) -> dict:
    cmd = [sys.executable, __file__, "--child", str(folder), "--threads", str(args.threads), "--batch", str(args.batch),
           "--settings", json.dumps(settings), *([] if mmap else ["--no-mmap"]), "--work", str(args.work)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def recall(ids: list[list[int]], truth: list[list[int]]) -> float:
    return float(np.mean([len(set(a[:K]) & set(t[:K])) / K for a, t in zip(ids, truth)]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="vectors indexed")
    p.add_argument("--real", type=int, default=0, help="real sentences encoded (0 = all; queries included)")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--noise", type=float, default=0.5, help="norm of the noise added to make a synthetic vector")
    p.add_argument("--int8-multipliers", default="1,2,4", help="rescore multipliers of int8")
    p.add_argument("--binary-multipliers", default="1,2,4,8", help="rescore multipliers of binary")
    p.add_argument("--rabitq-multipliers", default="1,2,4", help="rescore multipliers of rabitq")
    p.add_argument("--hamming-multipliers", default="1,4,8", help="hamming multipliers of binary")
    p.add_argument("--settings", default="[]", help=argparse.SUPPRESS)  # a child's search settings, JSON
    p.add_argument("--batch", type=int, default=100, help="queries per search call")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path("/tmp/simcse-quantized"))
    p.add_argument("--embed-only", action="store_true", help="encode (and cache) the real sentences, then stop")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--no-mmap", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, not args.no_mmap, args.work / "queries.npy", json.loads(args.settings),
                               args.batch, args.threads)))
        return
    parent(args)


def parent(args: argparse.Namespace) -> None:
    import faiss

    from simcse.index import Index
    from simcse.index.store import VectorStore

    faiss.omp_set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    pool = real_sentences(Path(os.environ.get("SIMCSE_DATA_DIR", "/work/shared/data")))
    sentences = pool[: args.real or len(pool)]
    vectors = embed(sentences, args.work, args.threads)
    if args.embed_only:
        return
    np.save(args.work / "queries.npy", vectors[: args.queries])
    real, texts = vectors[args.queries :], sentences[args.queries :]
    n = max(args.n, len(real))
    corpus = make_corpus(real, n, args.noise)
    store = VectorStore(corpus.shape[1])
    store.append(np.arange(n), texts + [f"synthetic {i}" for i in range(len(real), n)], corpus)
    del corpus
    builds = {}
    for backend in ("exact", "int8", "binary", "rabitq"):
        clock = time.perf_counter()
        index = Index.from_store(store, backend, model=MINILM)
        builds[backend] = time.perf_counter() - clock
        index.save(args.work / f"index-{backend}")
        print(f"built {backend} in {builds[backend]:.1f} s", file=sys.stderr, flush=True)
        del index
    del store
    rows_only = run_child(args, args.work / "index-exact", True, [])["rss_mb"]["anon"]
    exact = run_child(args, args.work / "index-exact", False, [{}])
    truth = exact["runs"][0]["ids"]
    float_mb = exact["rss_mb"]["anon"] - rows_only
    lines = [f"{len(pool):,} distinct real sentences in the data dir, {len(sentences):,} encoded; "
             f"N = {n:,} vectors of dim 384 ({len(real):,} real, {n - len(real):,} synthetic); {args.queries:,} "
             f"held-out real queries, top {K}, batches of {args.batch}, {args.threads} threads",
             "",
             "| index | rescore multiplier | hamming multiplier | recall@10 | index RAM MB | ÷ float32 | codes MB | "
             "mapped vectors.npy MB, after load / after queries | QPS | build s | load s |",
             "|---|---|---|---|---|---|---|---|---|---|---|",
             f"| exact float32 | – | – | 1.000 | {float_mb:.1f} | 1 | – | – (read into RAM) | "
             f"{exact['runs'][0]['qps']:.0f} | {builds['exact']:.1f} | {exact['load_s']:.1f} |"]
    print("\n".join(lines), flush=True)  # row by row from here: a long run shows its progress
    lines = []
    ints = lambda text: [int(m) for m in text.split(",")]  # noqa: E731
    hamming = [{"hamming_multiplier": c} for c in ints(args.hamming_multipliers)]
    for backend, mults, more in (("binary", args.binary_multipliers, hamming), ("rabitq", args.rabitq_multipliers, [{}]),
                                 ("int8", args.int8_multipliers, [{}])):
        res = run_child(args, args.work / f"index-{backend}", True,
                        [{**extra, "rescore_multiplier": m} for extra in more for m in ints(mults)])
        mb = res["rss_mb"]["anon"] - rows_only
        mapped = f"{res['rss_mb']['file']:.0f} / {res['rss_after_search_mb']['file']:.0f}"
        for run in res["runs"]:
            setting = run["setting"]
            print(f"| {backend} + rescore | {setting['rescore_multiplier']} | {setting.get('hamming_multiplier', '–')} | "
                  f"{recall(run['ids'], truth):.3f} | {mb:.1f} | 1/{float_mb / mb:.2f} | {res['codes_mb']:.1f} | "
                  f"{mapped} | {run['qps']:.0f} | {builds[backend]:.1f} | {res['load_s']:.1f} |", flush=True)
    lines.append(f"\nrows alone (ids, texts; an exact index opened memory-mapped): {rows_only:.0f} MB of heap, "
                 "not counted above")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
