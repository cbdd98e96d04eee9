"""Scale bench: exact (NumPy) vs an approximate FAISS index on N random vectors.

Data: a clustered, low-intrinsic-dimension mixture like real sentence embeddings:
``centers`` Gaussian means in a ``latent``-dim space, points = mean + noise there, mapped to
``dim`` by a fixed random linear map, plus small isotropic noise, then unit-normalized.
Queries are fresh draws from the same process (not copies of indexed points).

    python bench/index_scale.py --n 1000000 --threads 2

Prints build time, peak RSS, exact QPS, and per nprobe the recall@10 and QPS of IVF-Flat.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np


def make_data(n: int, dim: int, latent: int, centers: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """(n, dim) float32 unit rows from the mixture described in the module docstring."""
    rng = np.random.default_rng(1234)  # the mixture itself is fixed; ``seed`` picks the draws
    means = rng.standard_normal((centers, latent)).astype(np.float32) * 2.0
    proj = rng.standard_normal((latent, dim)).astype(np.float32) / np.sqrt(latent)
    draw = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        z = means[draw.integers(0, centers, m)] + draw.standard_normal((m, latent), dtype=np.float32)
        x = z @ proj + 0.1 * draw.standard_normal((m, dim), dtype=np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def timed_search(index, queries: np.ndarray, k: int, batch: int) -> tuple[list, float]:
    start = time.perf_counter()
    hits = []
    for i in range(0, len(queries), batch):
        hits.extend(index.search(queries[i : i + batch], top_k=k))
    return hits, len(queries) / (time.perf_counter() - start)


def recall(approx: list, exact: list, k: int) -> float:
    return float(np.mean([len({h.id for h in a[:k]} & {h.id for h in e[:k]}) / k for a, e in zip(approx, exact)]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--latent", type=int, default=32)
    p.add_argument("--centers", type=int, default=1000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--nlist", type=int, default=2048)
    p.add_argument("--nprobes", default="4,8,16,32,64")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--k", type=int, default=10)
    args = p.parse_args()

    import faiss

    from simcse.index import Index
    from simcse.index.store import VectorStore

    faiss.omp_set_num_threads(args.threads)
    report: dict = {"n": args.n, "dim": args.dim, "threads": args.threads}
    t = time.perf_counter()
    store = VectorStore(args.dim)
    store.append(np.arange(args.n), [""] * args.n, make_data(args.n, args.dim, args.latent, args.centers, seed=1))
    queries = make_data(args.queries, args.dim, args.latent, args.centers, seed=2)
    report["data_s"] = round(time.perf_counter() - t, 1)
    report["rss_after_data_gb"] = round(peak_rss_gb(), 2)

    exact = Index.from_store(store, "exact")
    exact_hits, report["exact_qps"] = timed_search(exact, queries, args.k, batch=250)
    print(json.dumps(report), flush=True)

    t = time.perf_counter()
    ivf = Index.from_store(store, "ivf_flat", nlist=args.nlist)
    report["ivf_build_s"] = round(time.perf_counter() - t, 1)
    report["rss_peak_gb"] = round(peak_rss_gb(), 2)
    report["sweep"] = []
    for nprobe in map(int, args.nprobes.split(",")):
        ivf.set_search_params(nprobe=nprobe)
        hits, qps = timed_search(ivf, queries, args.k, batch=250)
        row = {"nprobe": nprobe, "recall@10": round(recall(hits, exact_hits, args.k), 4), "qps": round(qps, 1),
               "speedup": round(qps / report["exact_qps"], 1)}
        report["sweep"].append(row)
        print(json.dumps(row), flush=True)
    ok = [r for r in report["sweep"] if r["recall@10"] >= 0.95 and r["speedup"] >= 10]
    report["exact_qps"] = round(report["exact_qps"], 1)
    report["pass"] = bool(ok)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
