"""Why ``binary`` (Hamming) misses recall@10 0.95 at multiplier 4, and what the bits could give.

Reads what ``bench/quantized_index.py`` left in ``--work`` (``index-exact/vectors.npy``: the 1M
vectors, ``queries.npy``: the 1,000 held-out queries) and, for several 1-bit codes, takes the
best ``10 x m`` rows by the code, rescores them exactly in float32 and reports recall@10 against
exact search (as the index does):

* ``sign bits, Hamming``: what the ``binary`` backend keeps (384 bits, 48 bytes a row);
* ``sign bits + 128 random hyperplanes, Hamming``: 512 bits (64 bytes a row, 1/24 of float32,
  the issue's memory bound): the extra bits are signs of random projections (seed 0);
* ``512 random hyperplanes, Hamming``: SimHash (Charikar 2002), the same 64 bytes;
* ``sign bits, float query``: the same 384 bits as ``binary``, but the float query's inner
  product with the rows' +-1 vectors ranks them (asymmetric, no binarised query); what
  ``rabitq`` refines (offset from the centroid, two correction floats a row).

    python bench/hamming_bits.py --work /tmp/simcse-quantized --threads 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

K, CHUNK = 10, 100_000


def exact_top(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) row numbers of the best inner products, over x in chunks."""
    best_s = np.full((len(q), 0), -np.inf, np.float32)
    best_r = np.zeros((len(q), 0), np.int64)
    for start in range(0, len(x), CHUNK):
        s = q @ np.asarray(x[start : start + CHUNK]).T
        part = np.argpartition(-s, min(k, s.shape[1] - 1), axis=1)[:, :k]
        merged_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], 1)
        merged_r = np.concatenate([best_r, part + start], 1)
        order = np.argsort(-merged_s, axis=1, kind="stable")[:, :k]
        best_s, best_r = np.take_along_axis(merged_s, order, 1), np.take_along_axis(merged_r, order, 1)
    return best_r


def recall_after_rescoring(x: np.ndarray, q: np.ndarray, candidates: np.ndarray, truth: np.ndarray) -> float:
    hits = []
    for query, cand, want in zip(q, candidates, truth):
        cand = cand[cand >= 0]
        top = cand[np.argsort(-(x[cand] @ query), kind="stable")][:K]
        hits.append(len(set(top.tolist()) & set(want.tolist())) / K)
    return float(np.mean(hits))


def hamming_candidates(faiss, codes: np.ndarray, query_codes: np.ndarray, wanted: int) -> np.ndarray:
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(codes)
    return index.search(query_codes, wanted)[1]


def packed(x: np.ndarray, project) -> np.ndarray:
    return np.concatenate([np.packbits(project(np.asarray(x[s : s + CHUNK])) > 0, axis=1)
                           for s in range(0, len(x), CHUNK)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("/tmp/simcse-quantized"))
    p.add_argument("--multipliers", default="4,8")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    x = np.load(args.work / "index-exact" / "vectors.npy")  # into RAM: rescoring gathers rows at random
    q = np.load(args.work / "queries.npy").astype(np.float32)
    mults = [int(m) for m in args.multipliers.split(",")]
    truth = exact_top(x, q, K)
    rng = np.random.default_rng(0)
    extra, simhash = rng.standard_normal((x.shape[1], 128), np.float32), rng.standard_normal((x.shape[1], 512), np.float32)
    codes = {
        "sign bits, Hamming (binary)": lambda v: v,
        "sign bits + 128 random hyperplanes, Hamming": lambda v: np.concatenate([v, v @ extra], axis=1),
        "512 random hyperplanes, Hamming (SimHash)": lambda v: v @ simhash,
    }
    print(f"N = {len(x):,} vectors of dim {x.shape[1]}, {len(q):,} queries, recall@{K} after exact rescoring of "
          f"the best {K} x m by the code\n")
    print("| code | bits a row | of float32 | " + " | ".join(f"recall@10, m = {m}" for m in mults) + " |")
    print("|---|---|---|" + "---|" * len(mults))
    for name, project in codes.items():
        db, qc = packed(x, project), packed(q, project)
        cells = [recall_after_rescoring(x, q, hamming_candidates(faiss, db, qc, K * m), truth) for m in mults]
        print(f"| {name} | {db.shape[1] * 8} | 1/{x.shape[1] * 32 / (db.shape[1] * 8):.0f} | "
              + " | ".join(f"{c:.3f}" for c in cells) + " |", flush=True)
        del db
    wanted = K * max(mults)  # the best rows of each chunk, then of all chunks, by the asymmetric score
    cands = np.concatenate([asymmetric_top(x[s : s + CHUNK], q, wanted) + s for s in range(0, len(x), CHUNK)], 1)
    scores = np.stack([np.where(x[c] > 0, 1.0, -1.0).astype(np.float32) @ query for c, query in zip(cands, q)])
    ranked = np.take_along_axis(cands, np.argsort(-scores, axis=1, kind="stable"), 1)
    cells = [recall_after_rescoring(x, q, ranked[:, : K * m], truth) for m in mults]
    print(f"| sign bits, float query (asymmetric) | {x.shape[1]} | 1/32 | " + " | ".join(f"{c:.3f}" for c in cells) + " |")


def asymmetric_top(block: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) rows of ``block`` with the best inner product of the float query and the rows' +-1 signs."""
    s = q @ np.where(block > 0, 1.0, -1.0).astype(np.float32).T
    return np.argpartition(-s, k, axis=1)[:, :k]


if __name__ == "__main__":
    main()
