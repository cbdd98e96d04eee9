"""Retrieval evaluation at scale: time and memory of ``evaluate_retrieval`` on 50k-200k documents.

Corpus (real sentences of the data dir, in the BEIR layout, written under ``--work``):

* the 4,056 judged documents of ``retrieval/flickr30k_captions_val`` (always included);
* distractors, whitespace-collapsed, de-duplicated against each other and against every
  judged document and query of that set, from, in this order:
  ``training/multi30k/multi30k_task2_en_captions.txt`` (Flickr30k captions),
  ``training/wordnet/wordnet30_examples.txt``,
  ``training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt``,
  ``downstream/SNLI/{s2,s1}.{dev,test}``; shuffled with seed 0, the first N - 4,056 taken
  (so a smaller corpus is a prefix of the larger ones' distractors).

Queries and judgments: the set's 1,014 queries and ``qrels/dev.tsv``.

Encoders: ``hashed`` is a deterministic stand-in, a hashed bag of words (each lower-cased
word adds +-1 at 8 hashed coordinates of a 384-d vector, blake2b; no state, so its memory
does not grow with the vocabulary): memory and index/search time do not depend on the
model, and it encodes 200k sentences in seconds on 2 cores. ``minilm`` is the real
all-MiniLM-L6-v2 (about 250 sentences/s on 2 cores), for a smaller corpus.

Each (size, backend) runs in a fresh process, so ``ru_maxrss`` is that run's own peak; the
baseline is taken after the imports and one call of the metrics (trec_eval through
pytrec_eval, whose C extension is loaded on first use, whatever the corpus size); a thread also
samples VmRSS every 50 ms to give the peak of each phase.

    SIMCSE_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval_scale.py \
        --sizes 50000,100000,200000 --backends exact,ivf_flat --encoder hashed
    SIMCSE_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 .venv/bin/python bench/retrieval_scale.py \
        --sizes 20000 --backends exact --encoder minilm
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

DIM, HASHES = 384, 8
TOKEN = re.compile(r"\w+")
DEV_SET = "retrieval/flickr30k_captions_val"
DISTRACTORS = ("training/multi30k/multi30k_task2_en_captions.txt", "training/wordnet/wordnet30_examples.txt",
               "training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt", "downstream/SNLI/s2.dev",
               "downstream/SNLI/s2.test", "downstream/SNLI/s1.dev", "downstream/SNLI/s1.test")


def hashed_bow(sentences: list[str]) -> np.ndarray:
    """The stand-in encoder (module docstring): (N, 384) float32."""
    rows, digests = [], []
    for i, s in enumerate(sentences):
        words = TOKEN.findall(s.lower()) or [""]
        rows += [i] * len(words)
        digests += [hashlib.blake2b(w.encode(), digest_size=2 * HASHES).digest() for w in words]
    codes = np.frombuffer(b"".join(digests), dtype=np.uint16).reshape(-1, HASHES).astype(np.int64)
    out = np.zeros((len(sentences), DIM), dtype=np.float32)
    np.add.at(out, (np.repeat(rows, HASHES), (codes >> 1).ravel() % DIM), np.where(codes & 1, 1.0, -1.0).ravel())
    return out


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_corpora(data: Path, work: Path, sizes: list[int]) -> dict[int, Path]:
    """One BEIR folder per size (module docstring); reused when already there."""
    dev = data / DEV_SET
    judged = _jsonl(dev / "corpus.jsonl")
    seen = {" ".join(r["text"].split()) for r in [*judged, *_jsonl(dev / "queries.jsonl")]}
    pool: list[str] = []
    for name in DISTRACTORS:
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            text = " ".join(line.split())
            if text and text not in seen:
                seen.add(text)
                pool.append(text)
    random.Random(0).shuffle(pool)
    folders = {}
    for n in sizes:
        if n - len(judged) > len(pool):
            raise SystemExit(f"only {len(judged) + len(pool)} documents available, asked for {n}")
        folder = work / f"corpus-{n}"
        folders[n] = folder
        if (folder / "corpus.jsonl").is_file():
            continue
        (folder / "qrels").mkdir(parents=True, exist_ok=True)
        with open(folder / "corpus.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in judged)
            distractors = enumerate(pool[: n - len(judged)])
            fh.writelines(json.dumps({"_id": f"x{i}", "title": "", "text": t}) + "\n" for i, t in distractors)
        for name in ("queries.jsonl", "qrels/dev.tsv"):
            (folder / name).write_bytes((dev / name).read_bytes())
    return folders


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


class Sampler(threading.Thread):
    """Peak VmRSS since the last :meth:`mark`, sampled every 50 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_mb()

    def run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.05)

    def mark(self) -> float:
        peak, self.peak = max(self.peak, rss_mb()), rss_mb()
        return round(peak)


class Timed:
    """An encode callable that adds up the seconds spent inside it."""

    def __init__(self, encode) -> None:
        self.encode, self.seconds = encode, 0.0

    def __call__(self, sentences: list[str]) -> np.ndarray:
        start = time.perf_counter()
        out = self.encode(sentences)
        self.seconds += time.perf_counter() - start
        return out


def child(folder: Path, encoder: str, backend: str, threads: int) -> dict:
    """One evaluation, phase by phase, in this process."""
    import faiss
    import torch

    from simcse.evaluation.retrieval import RetrievalSpec, build_corpus_index, ranking_metrics, search_run

    ranking_metrics({"q": {"d": 1.0}}, {"q": {"d": 1}})  # pytrec_eval's extension loads on first use: not growth
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    if encoder == "minilm":
        from simcse.api import SimCSE

        model = SimCSE("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
        encode = Timed(lambda s: model.encode(s, batch_size=64, show_progress=False))
    else:
        encode = Timed(hashed_bow)
    sampler = Sampler()
    sampler.start()
    out: dict = {"backend": backend, "encoder": encoder, "baseline_mb": round(rss_mb())}
    clock = time.perf_counter()
    data = RetrievalSpec("scale", folder, split="dev").read()
    out.update(docs=len(data.doc_ids), queries=len(data.queries), read_s=round(time.perf_counter() - clock, 1),
               read_peak_mb=sampler.mark())
    clock = time.perf_counter()
    index = build_corpus_index(encode, data, backend)
    out.update(encode_s=round(encode.seconds, 1), index_s=round(time.perf_counter() - clock - encode.seconds, 1),
               index_peak_mb=sampler.mark())
    clock, encode.seconds = time.perf_counter(), 0.0
    run = search_run(encode, index, data.queries)
    out.update(query_encode_s=round(encode.seconds, 1), search_s=round(time.perf_counter() - clock - encode.seconds, 1),
               search_peak_mb=sampler.mark())
    clock = time.perf_counter()
    metrics = ranking_metrics(run, data.qrels)
    out.update(metrics_s=round(time.perf_counter() - clock, 1), metrics_peak_mb=sampler.mark(),
               ndcg10=round(metrics["ndcg@10"], 2), recall100=round(metrics["recall@100"], 2))
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["vectors_mb"] = round(len(data.doc_ids) * index.dim * 4 / 2**20)
    return out


TABLE = (("docs", "docs"), ("encoder", "encoder"), ("backend", "backend"), ("encode s", "encode_s"),
         ("index s", "index_s"), ("search s", "search_s"), ("nDCG@10", "ndcg10"), ("baseline MB", "baseline_mb"),
         ("after read MB", "read_peak_mb"), ("index peak MB", "index_peak_mb"), ("peak RSS MB", "peak_mb"),
         ("vectors MB", "vectors_mb"), ("peak - baseline - copies x vectors, MB", "rest_mb"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="50000,100000,200000")
    p.add_argument("--backends", default="exact,ivf_flat")
    p.add_argument("--encoder", choices=("hashed", "minilm"), default="hashed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path("/tmp/simcse-retrieval-scale"))
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--backend", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.encoder, args.backend, args.threads)), flush=True)
        return
    data = Path(os.environ.get("SIMCSE_DATA_DIR", "")).resolve()
    if not (data / DEV_SET).is_dir():
        raise SystemExit(f"set SIMCSE_DATA_DIR to the data folder (no {DEV_SET} in {data})")
    sizes = [int(s) for s in args.sizes.split(",")]
    folders = build_corpora(data, args.work, sizes)
    rows = []
    for n in sizes:
        for backend in args.backends.split(","):
            cmd = [sys.executable, __file__, "--child", str(folders[n]), "--backend", backend,
                   "--encoder", args.encoder, "--threads", str(args.threads)]
            row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            copies = 1 if backend in ("exact", "ivf_pq") else 2  # the store, plus FAISS's own copy (flat kinds)
            row["rest_mb"] = row["peak_mb"] - row["baseline_mb"] - copies * row["vectors_mb"]
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("| " + " | ".join(t for t, _ in TABLE) + " |")
    print("|" + "---:|" * len(TABLE))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for _, k in TABLE) + " |")


if __name__ == "__main__":
    main()
