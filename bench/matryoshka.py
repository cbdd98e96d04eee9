"""Matryoshka training (``simcse train --matryoshka-dims``), measured: the README's table.

Rows, each from the embedded all-MiniLM-L6-v2 (mean pooling and Normalize kept), supervised
SimCSE with in-batch negatives on 12,800 Flickr30k caption pairs drawn with seed 0 from
``training/flickr30k_pairs`` (two captions of the same training image), max length 32,
batch 64, lr 5e-5, temperature 0.05, no warmup, linear decay, 200 steps, the last step kept:

* ``base``: the starting model, untrained;
* ``plain``: that training (seeds 1, 2, 3);
* ``matryoshka``: the same data, steps and seeds with ``--matryoshka-dims 384,256,128,64``
  (weights 1 each, as sentence-transformers' ``MatryoshkaLoss``: four times the loss of
  ``plain``, so four times its gradient at the same learning rate);
* ``matryoshka-mean``: the same with ``--matryoshka-weights 0.25,0.25,0.25,0.25`` (the loss
  on the scale of ``plain``'s);
* ``matryoshka-384-128``: ``--matryoshka-dims 384,128`` (weights 1): only the full width and
  the 128-dim target, so the full width keeps half of the loss instead of a quarter.
* ``matryoshka-128``: ``--matryoshka-dims 128``: the loss on the first 128 features alone (the
  full width untrained but through them): what training for 128 dims and nothing else gives
  there.

``+pca`` rows are no training: ``simcse whiten --method pca`` (a rotation onto the principal
axes, no centring, no scaling), fitted on the 25,594 distinct sentences of the same 12,800
training pairs, applied to a row's model (:data:`PCA_OF`, same seed): its first D features
are then the D directions of most variance of the user's sentences instead of the model's
first D (the table's "train s" is the fit's time).

``--data nli`` trains the same rows the paper's supervised way instead: the 6,339 SNLI
triplets of the data dir (``training/nli_small``, dev and test: premise, entailment,
contradiction as hard negative), 200 steps of batch 64 (two epochs), the rest as above.

``--data wiki`` trains the same rows the paper's unsupervised way instead: each of the 11,914
wiki1m lines of the data dir (``training/wiki1m_prefix``) encoded twice under dropout, one
epoch (186 steps), lr 3e-5, the rest as above; use another ``--work`` folder for it.

Each model is scored at 384, 256, 128 and 64 dims: the 7 STS test tasks (average Spearman x
100) and in-domain retrieval on ``retrieval/flickr30k_captions_val`` (1,014 queries, 4,056
captions, qrels ``dev``; nDCG@10 x 100). Every sentence is encoded once at full width; a
narrower score takes the first D features and renormalises, which is what
``SimCSE(model, truncate_dim=D)`` returns (``tests/test_matryoshka.py`` proves it; each run
also checks it here on 300 STS sentences: "min cos").

Usage ($SIMCSE_DATA_DIR; results appended to runs/matryoshka/results.jsonl):
  python bench/matryoshka.py base
  python bench/matryoshka.py run plain --seed 1       # and matryoshka, matryoshka-mean, matryoshka-384-128,
                                                      # matryoshka-128; seeds 1 2 3
  python bench/matryoshka.py pca base; python bench/matryoshka.py pca plain --seed 1  # and matryoshka-384-128
  python bench/matryoshka.py table
  # unsupervised: copy the base line of runs/matryoshka/results.jsonl into the new folder, then
  python bench/matryoshka.py run plain --seed 1 --data wiki --work runs/matryoshka-wiki
  python bench/matryoshka.py run plain --seed 1 --data nli --work runs/matryoshka-nli  # and matryoshka-384-128
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WORK = Path("runs/matryoshka")
PAIRS = "training/flickr30k_pairs/flickr30k_train_caption_pairs.csv"
DEV = "retrieval/flickr30k_captions_val"
TRAIN_ROWS, BATCH, MAX_LEN, LR, STEPS = 12_800, 64, 32, 5e-5, 200
WIKI = "training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt"
WIKI_LR = 3e-5  # the paper's unsupervised BERT-base rate
NLI = ("training/nli_small/snli_dev_triplets.csv", "training/nli_small/snli_test_triplets.csv")
DIMS = (384, 256, 128, 64)
# row -> (--matryoshka-dims, --matryoshka-weights); () weights = 1 each
ROWS = {"plain": ((), ()), "matryoshka": (DIMS, ()), "matryoshka-mean": (DIMS, (0.25,) * len(DIMS)),
        "matryoshka-384-128": ((384, 128), ()), "matryoshka-128": ((128,), ())}
CHECK_SENTENCES = 300
PCA_OF = ("base", "plain", "matryoshka-384-128")  # rows whose models a pca row rotates


def pairs_file(root: Path) -> Path:
    path = WORK / "data" / "pairs.csv"
    if not path.is_file():
        with open(root / PAIRS, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))[1:]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows([("sent0", "sent1"), *random.Random(0).sample(rows, TRAIN_ROWS)])
    return path


def triplets_file(root: Path) -> Path:
    """The :data:`NLI` triplets (sent0, sent1, hard_neg) in one file, in their order."""
    path = WORK / "data" / "nli_triplets.csv"
    if not path.is_file():
        rows = []
        for name in NLI:
            with open(root / name, newline="", encoding="utf-8") as fh:
                rows += list(csv.reader(fh))[1:]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows([("sent0", "sent1", "hard_neg"), *rows])
    return path


def train_data(data: str, root: Path) -> dict:
    """The training file and its settings for ``--data``."""
    if data == "pairs":
        return dict(train_file=str(pairs_file(root)), sent1_column="sent1", learning_rate=LR)
    if data == "nli":
        return dict(train_file=str(triplets_file(root)), sent1_column="sent1", hard_neg_column="hard_neg",
                    learning_rate=LR)
    return dict(train_file=str(root / WIKI), sent1_column=None, learning_rate=WIKI_LR)


def sentences_file(root: Path) -> Path:
    """The distinct sentences of the training pairs, one per line: what ``pca`` rows are fitted on."""
    path = WORK / "data" / "pair_sentences.txt"
    if not path.is_file():
        with open(pairs_file(root), newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))[1:]
        path.write_text("\n".join(dict.fromkeys(cell for row in rows for cell in row)) + "\n", encoding="utf-8")
    return path


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def score(model_dir: str, root: Path, tasks: tuple[str, ...]) -> dict:
    """STS average and nDCG@10 at every width in DIMS, from one full-width encoding."""
    from simcse import SimCSE
    from simcse.evaluation import evaluate
    from simcse.evaluation.retrieval import RetrievalSpec
    from simcse.evaluation.user import evaluate_user, read_user

    model, seen = SimCSE(model_dir, device="cpu"), {}

    def full(texts: list[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in seen]
        if new:
            seen.update(zip(new, model.encode(new, batch_size=128, show_progress=False)))
        return np.stack([seen[t] for t in texts])

    retrieval = read_user([RetrievalSpec("flickr", root / DEV, split="dev")])
    out = {}
    for d in DIMS:
        encode = lambda texts, d=d: unit(full(texts)[:, :d])  # noqa: E731
        out[d] = {"sts": evaluate(encode, root, "test", tasks)["avg_sts"],
                  "ndcg@10": evaluate_user(encode, retrieval)["flickr/ndcg@10"]}
    check = random.Random(0).sample(sorted(seen), CHECK_SENTENCES)
    cut = SimCSE(model_dir, device="cpu", truncate_dim=128).encode(check, batch_size=128)
    out["min_cos_truncate_dim_128"] = float(np.min((unit(cut) * unit(full(check)[:, :128])).sum(1)))
    return out


def run(row: str, seed: int, root: Path, tasks: tuple[str, ...], steps: int, data: str) -> None:
    from simcse.train import build_config, train

    out = WORK / f"{row}-s{seed}"
    shutil.rmtree(out, ignore_errors=True)
    files = train_data(data, root)
    with open(files["train_file"], encoding="utf-8") as fh:
        rows = sum(1 for _ in fh) - (data != "wiki")  # a .csv has a header
    cfg = build_config(
        model=MODEL, pooler=None, mlp_only_train=None, output_dir=str(out), max_length=MAX_LEN, batch_size=BATCH,
        max_steps=steps, epochs=max(1, -(-steps // (rows // BATCH))), seed=seed,  # more steps: more epochs
        **files,
        eval_steps=0, save_steps=0, progress=False, tensorboard=False,
        matryoshka_dims=ROWS[row][0], matryoshka_weights=ROWS[row][1])
    start = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - start
    _append({"row": row, "seed": seed, "steps": steps, "data": data, "train_s": round(wall, 1),
             "scores": score(str(out / "model"), root, tasks)})
    shutil.rmtree(out / "checkpoint", ignore_errors=True)


def pca(source: str, seed: int, root: Path, tasks: tuple[str, ...]) -> None:
    """The ``source`` row's model (seed ``seed``), rotated by ``simcse whiten --method pca``."""
    from simcse import SimCSE
    from simcse.model_registry import resolve_model
    from simcse.whiten import WhitenConfig, whiten

    model = str(resolve_model(MODEL)) if source == "base" else str(WORK / f"{source}-s{seed}" / "model")
    out = WORK / f"{source}+pca-s{seed}" / "model"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    cfg = WhitenConfig(input=sentences_file(root), out=out, method="pca")
    whiten(SimCSE(model, device="cpu"), cfg, show_progress=False)
    wall = time.perf_counter() - start
    _append({"row": f"{source}+pca", "seed": seed, "steps": 0, "data": "pairs", "train_s": round(wall, 1),
             "scores": score(str(out), root, tasks)})


def _append(record: dict) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK / "results.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def _mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.2f}" + (f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else "")


def table() -> None:
    records = [json.loads(line) for line in (WORK / "results.jsonl").read_text().splitlines()]
    by_row: dict[str, list[dict]] = {}
    for r in records:  # the last record of each (row, seed)
        by_row.setdefault(r["row"], [])
        by_row[r["row"]] = [x for x in by_row[r["row"]] if x["seed"] != r["seed"]] + [r]
    print("| model | seeds | " + " | ".join(f"STS avg @{d}" for d in DIMS) + " | "
          + " | ".join(f"nDCG@10 @{d}" for d in DIMS) + " | min cos (truncate_dim 128) | train s |")
    print("|---|---|" + "---|" * (2 * len(DIMS) + 2))
    mean = {}
    for row in ("base", *ROWS, *(f"{r}+pca" for r in PCA_OF)):
        runs = by_row.get(row, [])
        if not runs:
            continue
        cells = []
        for metric in ("sts", "ndcg@10"):
            for d in DIMS:
                values = [r["scores"][str(d)][metric] for r in runs]
                mean[row, metric, d] = statistics.mean(values)
                cells.append(_mean_sd(values))
        seeds = ",".join(str(r["seed"]) for r in runs)
        cos = min(r["scores"]["min_cos_truncate_dim_128"] for r in runs)
        print(f"| {row} | {seeds} | " + " | ".join(cells) + f" | {cos:.6f} | "
              f"{statistics.mean(r['train_s'] for r in runs):.0f} |")
    trained = (*ROWS, *(f"{r}+pca" for r in PCA_OF if r != "base"))  # the checks compare trained models
    variants = [row for row in trained if row != "plain" and (row, "sts", 128) in mean]
    if variants and ("plain", "sts", 128) in mean:
        print("\n| check (means of the seeds) | " + " | ".join(variants) + " | target |\n|---|"
              + "---|" * len(variants) + "---|")
        m, p = (lambda row, metric, d: mean[row, metric, d]), (lambda metric, d: mean["plain", metric, d])
        cells = lambda f: " | ".join(f"{f(row):+.2f}" for row in variants)  # noqa: E731
        print(f"| STS avg, own 384 - own 128 | {cells(lambda r: m(r, 'sts', 384) - m(r, 'sts', 128))} | <= 1.0 |")
        for metric, name in (("sts", "STS avg"), ("ndcg@10", "nDCG@10")):
            print(f"| {name} @128: row - plain | {cells(lambda r: m(r, metric, 128) - p(metric, 128))} | >= 1.0 |")
        for metric, name in (("sts", "STS avg"), ("ndcg@10", "nDCG@10")):
            print(f"| {name} @384: row - plain | {cells(lambda r: m(r, metric, 384) - p(metric, 384))} | within ±0.3 |")


def main() -> None:
    global WORK
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("base", "run", "pca", "table"))
    p.add_argument("row", nargs="?", choices=(*ROWS, *PCA_OF), help="run: the row to train; pca: the row to rotate")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--steps", type=int, default=None, help=f"optimizer steps (default: {STEPS} on pairs and nli, "
                   "one epoch on wiki)")
    p.add_argument("--data", choices=("pairs", "nli", "wiki"), default="pairs",
                   help="pairs: the Flickr30k caption pairs (supervised); nli: the SNLI triplets (supervised, "
                        f"contradictions as hard negatives, lr {LR}); wiki: unsupervised SimCSE (dropout "
                        f"views) on the {WIKI} lines, lr {WIKI_LR}")
    p.add_argument("--tasks", nargs="+", default=None, help="STS tasks (default: the 7); a smoke test may take fewer")
    p.add_argument("--work", type=Path, default=WORK, help="where the runs and results.jsonl go")
    args = p.parse_args()
    if args.what in ("run", "pca") and args.row is None:
        p.error(f"{args.what} needs a row")
    WORK = args.work
    from simcse.data_dir import data_dir
    from simcse.evaluation import STS_TASKS
    from simcse.model_registry import resolve_model

    root, tasks = data_dir(), tuple(args.tasks or STS_TASKS)
    if args.what == "table":
        table()
    elif args.what == "base":
        _append({"row": "base", "seed": 0, "steps": 0, "train_s": 0,
                 "scores": score(str(resolve_model(MODEL)), root, tasks)})
    elif args.what == "pca":
        pca(args.row, 0 if args.row == "base" else args.seed, root, tasks)
    else:
        steps = args.steps if args.steps is not None else (0 if args.data == "wiki" else STEPS)  # 0: epochs decide
        run(args.row, args.seed, root, tasks, steps, args.data)


if __name__ == "__main__":
    main()
