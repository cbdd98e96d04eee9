"""Why Hamming candidates alone (``binary --hamming-multiplier 1``) miss recall@10 0.95 at
multiplier 4, and what the bits could give.

Reads what ``bench/quantized_index.py`` left in ``--work`` (``index-exact/vectors.npy``: the 1M
vectors, ``queries.npy``: the 1,000 held-out queries) and, for several 1-bit codes, takes the
best ``10 x m`` rows by the code, rescores them exactly in float32 and reports recall@10 against
exact search (as the index does):

* ``sign bits, Hamming``: what the ``binary`` backend keeps (384 bits, 48 bytes a row), ranked
  by Hamming alone;
* ``sign bits of x - mean, Hamming``: the same after subtracting the mean of :data:`SAMPLE`
  indexed rows (seed 0): a bit per coordinate that splits the rows near the middle (the
  vectors fill a cone, so raw signs are unbalanced);
* ``ITQ``: sign bits after FAISS's ``ITQTransform`` (centring, then the rotation that
  iterative quantization (Gong & Lazebnik 2011) learns on the same sample to lose least to
  the signs);
* ``sign bits + 128 random hyperplanes, Hamming``: 512 bits (64 bytes a row, 1/24 of float32,
  the issue's memory bound): the extra bits are signs of random projections (seed 0);
* ``512 random hyperplanes, Hamming``: SimHash (Charikar 2002), the same 64 bytes;
* ``sign bits, float query``: the same 384 bits as ``binary``, but the float query's inner
  product with the rows' +-1 vectors ranks them (asymmetric, no binarised query); what
  ``binary`` applies to a Hamming pool of ``hamming_multiplier`` times the candidates, and
  what ``rabitq`` refines (offset from the centroid, two correction floats a row).

    python bench/hamming_bits.py --work /tmp/simcse-quantized --threads 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

K, CHUNK, SAMPLE = 10, 100_000, 1 << 17


def inner_product_top(faiss, x: np.ndarray, q: np.ndarray, k: int, rows=lambda block: block) -> np.ndarray:
    """(Q, k) row numbers of ``x`` with the best inner products with ``q``, best first (FAISS
    ``IndexFlatIP``); ``rows`` maps each block of x first (e.g. to its +-1 signs)."""
    index = faiss.IndexFlatIP(x.shape[1])
    for start in range(0, len(x), CHUNK):
        index.add(np.ascontiguousarray(rows(x[start : start + CHUNK]), dtype=np.float32))
    return index.search(q, k)[1]


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
    p.add_argument("--multipliers", default="2,4,8")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    x = np.load(args.work / "index-exact" / "vectors.npy")  # into RAM: rescoring gathers rows at random
    q = np.load(args.work / "queries.npy").astype(np.float32)
    mults = [int(m) for m in args.multipliers.split(",")]
    truth = inner_product_top(faiss, x, q, K)
    rng = np.random.default_rng(0)
    extra, simhash = rng.standard_normal((x.shape[1], 128), np.float32), rng.standard_normal((x.shape[1], 512), np.float32)
    sample = x[np.sort(np.random.default_rng(0).choice(len(x), min(SAMPLE, len(x)), replace=False))]
    mean = sample.mean(0)
    itq = faiss.ITQTransform(x.shape[1], x.shape[1], False)
    itq.train(np.ascontiguousarray(sample, dtype=np.float32))
    codes = {
        "sign bits, Hamming (binary --hamming-multiplier 1)": lambda v: v,
        "sign bits of x - mean, Hamming": lambda v: v - mean,
        "ITQ (centring + learned rotation) sign bits, Hamming": lambda v: itq.apply(np.ascontiguousarray(v, np.float32)),
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
    ranked = inner_product_top(faiss, x, q, K * max(mults), rows=lambda block: np.where(block > 0, 1.0, -1.0))
    cells = [recall_after_rescoring(x, q, ranked[:, : K * m], truth) for m in mults]
    print(f"| sign bits, float query (asymmetric) | {x.shape[1]} | 1/32 | " + " | ".join(f"{c:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
