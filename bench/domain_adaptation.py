"""Domain adaptation on Flickr30k captions, measured: the table behind docs/domain-adaptation.md.

Rows (all start from the embedded all-MiniLM-L6-v2, mean pooling kept, max length 32,
batch 64, temperature 0.05, AdamW, no warmup, linear decay; 200 steps; evaluated at steps
0, 50, 100, 150, 200):

* ``base``: the starting model, no training.
* ``unsup``: unsupervised SimCSE (dropout views) on 12,800 captions drawn (seed 0) from
  ``training/multi30k`` (train + val captions, so the searched documents are among them, as a
  user's own corpus would be); lr 3e-5 unless ``--lr``.
* ``sup``: supervised, in-batch negatives only, on 12,800 caption pairs drawn (seed 0) from
  ``training/flickr30k_pairs`` (two captions of the same training image); lr 5e-5.
* ``sup-hn``: the same pairs with one hard negative each, mined by ``simcse mine`` with the
  base model (candidates: the positives of all 58,000 pairs; rank window [0, 50); relative
  margin 0.05 below the positive's own cosine); pairs without an admissible negative dropped.
* ``sup-same``: in-batch negatives only, on exactly the pairs that ``sup-hn`` kept (the same
  pairs and steps, without their mined negatives).

In-domain numbers come from ``retrieval/flickr30k_captions_val`` (1,014 queries, 4,056
captions): its queries are split by image number, even -> the *selection* half (507
queries, used to choose the checkpoint), odd -> the *report* half (507 queries, every number
in the table). Each run keeps two candidates: the evaluated step with the best STS-B dev
Spearman, and the one with the best selection-half nDCG@10 (the start included, ties to the
earlier step); both are then scored on the report half and on the 7 STS test tasks.

Usage (``$SIMCSE_DATA_DIR`` or --data-dir; results appended to runs/da/results.jsonl):
  python bench/domain_adaptation.py prepare
  python bench/domain_adaptation.py base
  python bench/domain_adaptation.py run unsup --seed 1 [--lr 3e-5] [--steps 200]
  python bench/domain_adaptation.py table
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

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WORK = Path("runs/da")
TRAIN_ROWS, BATCH, MAX_LEN, EVAL_EVERY = 12_800, 64, 32, 50
DEV = "retrieval/flickr30k_captions_val"
ROWS = {"unsup": "unsup.txt", "sup": "pairs.csv", "sup-hn": "triplets.csv", "sup-same": "pairs_with_negatives.csv"}
LR = {"unsup": 3e-5, "sup": 5e-5, "sup-hn": 5e-5, "sup-same": 5e-5}  # SimCSE's BERT-base rates (Table A.1)


def prepare(root: Path) -> None:
    """The two query halves, the training samples, and the mined triplets, under runs/da/data."""
    data = WORK / "data"
    for half, parity in (("select", 0), ("report", 1)):
        folder = data / half
        (folder / "qrels").mkdir(parents=True, exist_ok=True)
        for name in ("corpus.jsonl", "queries.jsonl"):
            shutil.copy(root / DEV / name, folder / name)
        lines = (root / DEV / "qrels" / "dev.tsv").read_text(encoding="utf-8").splitlines()
        keep = [ln for ln in lines[1:] if int(ln.split("\t")[0].removeprefix("img").split("-")[0]) % 2 == parity]
        (folder / "qrels" / "dev.tsv").write_text("\n".join([lines[0], *keep]) + "\n", encoding="utf-8")
    captions = (root / "training/multi30k/multi30k_task2_en_captions.txt").read_text(encoding="utf-8").splitlines()
    (data / "unsup.txt").write_text("\n".join(random.Random(0).sample(captions, TRAIN_ROWS)) + "\n", encoding="utf-8")
    with open(root / "training/flickr30k_pairs/flickr30k_train_caption_pairs.csv", newline="", encoding="utf-8") as fh:
        pairs = list(csv.reader(fh))[1:]
    sample = random.Random(0).sample(pairs, TRAIN_ROWS)
    with open(data / "pairs.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([("sent0", "sent1"), *sample])
    (data / "all_positives.txt").write_text("\n".join(dict.fromkeys(p for _, p in pairs)) + "\n", encoding="utf-8")
    from simcse.cli import main

    start = time.perf_counter()
    assert main(["mine", "--model", MODEL, "--pairs", str(data / "pairs.csv"), "--corpus", str(data / "all_positives.txt"),
                 "--out", str(data / "triplets.csv"), "--range-max", "50", "--relative-margin", "0.05",
                 "--batch-size", "128"]) == 0
    print(f"mined in {time.perf_counter() - start:.0f} s")
    with open(data / "triplets.csv", newline="", encoding="utf-8") as src, \
            open(data / "pairs_with_negatives.csv", "w", newline="", encoding="utf-8") as dst:
        csv.writer(dst, lineterminator="\n").writerows(row[:2] for row in csv.reader(src))


def sts7(model_dir: str) -> float:
    from simcse import SimCSE
    from simcse.data_dir import data_dir
    from simcse.evaluation import STS_TASKS, evaluate

    model = SimCSE(model_dir, device="cpu")
    return evaluate(lambda s: model.encode(s, batch_size=128, show_progress=False), data_dir(), "test", STS_TASKS)["avg_sts"]


def report_half(model_dir: str) -> dict[str, float]:
    from simcse import SimCSE
    from simcse.evaluation.retrieval import RetrievalSpec
    from simcse.evaluation.user import evaluate_user, read_user

    model = SimCSE(model_dir, device="cpu")
    spec = RetrievalSpec("report", WORK / "data" / "report", split="dev")
    return evaluate_user(lambda s: model.encode(s, batch_size=128, show_progress=False), read_user([spec]))


def base() -> None:
    from simcse.model_registry import resolve_model

    folder = str(resolve_model(MODEL))
    scores = report_half(folder)
    record = {"row": "base", "seed": 0, "lr": 0, "steps": 0, "train_s": 0,
              **{f"{crit}/{k}": v for crit in ("by_stsb", "by_select") for k, v in
                 {"step": 0, "ndcg@10": scores["report/ndcg@10"], "mrr@10": scores["report/mrr@10"],
                  "sts7": sts7(folder)}.items()}}
    _append(record)


def run(row: str, seed: int, lr: float, steps: int) -> None:
    from simcse.model_io import save_encoder
    from simcse.train import build_config, train

    data = WORK / "data"
    out = WORK / f"{row}-lr{lr:g}-s{seed}"
    shutil.rmtree(out, ignore_errors=True)
    saved = out / "steps"

    def keep(step: int, encoder) -> None:  # a copy of every evaluated step, for the STS test scores after
        if step % EVAL_EVERY == 0 or step == steps:
            save_encoder(encoder, saved / f"step-{step}")

    cfg = build_config(
        model=MODEL, pooler=None, mlp_only_train=None, train_file=str(data / ROWS[row]), output_dir=str(out),
        sent1_column=None if row == "unsup" else "sent1", hard_neg_column="hard_neg" if row == "sup-hn" else None,
        max_length=MAX_LEN, batch_size=BATCH, learning_rate=lr, epochs=2, max_steps=steps, seed=seed,
        eval_steps=EVAL_EVERY, save_steps=0, progress=False, tensorboard=False, eval_split="dev",
        eval_retrieval=(f"select={data / 'select'}", f"report={data / 'report'}"),
        metric_for_best_model="select/ndcg@10")
    from simcse.model_registry import resolve_model

    start_folder = str(resolve_model(MODEL))
    start = time.perf_counter()
    train(cfg, on_step=keep)
    wall = time.perf_counter() - start
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [e for e in evals if e["event"] == "eval"]
    record = {"row": row, "seed": seed, "lr": lr, "steps": steps, "train_s": round(wall, 1), "curve": evals}
    sts_of: dict[int, float] = {}  # the STS test average of each chosen step, computed once
    for crit, key in (("by_stsb", "stsb_spearman"), ("by_select", "select/ndcg@10")):
        best = max(evals, key=lambda e: e[key])  # max keeps the first (earliest) of equal scores
        if best["step"] not in sts_of:
            sts_of[best["step"]] = sts7(start_folder if best["step"] == 0 else str(saved / f"step-{best['step']}"))
        record.update({f"{crit}/step": best["step"], f"{crit}/ndcg@10": best["report/ndcg@10"],
                       f"{crit}/mrr@10": best["report/mrr@10"], f"{crit}/sts7": sts_of[best["step"]]})
    shutil.rmtree(saved, ignore_errors=True)
    _append(record)
    print(json.dumps({k: v for k, v in record.items() if k != "curve"}))


def _append(record: dict) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK / "results.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def table() -> None:
    records = [json.loads(line) for line in (WORK / "results.jsonl").read_text().splitlines()]
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["row"], r["lr"], r["steps"]), []).append(r)
    print("| row | lr | seeds | nDCG@10 by STS-B dev | MRR@10 by STS-B dev | nDCG@10 by selection half | "
          "MRR@10 by selection half | nDCG@10 at the last step | STS avg (by STS-B / by selection) | steps chosen (STS-B / selection) | "
          "train s: least / mean |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (row, lr, steps), rs in groups.items():
        col = lambda k: _mean_sd([r[k] for r in rs])  # noqa: E731
        last = lambda rs: _mean_sd([r["curve"][-1]["report/ndcg@10"] if r.get("curve") else r["by_select/ndcg@10"]  # noqa: E731
                                    for r in rs])
        chosen = "/".join(",".join(str(r[f"{c}/step"]) for r in rs) for c in ("by_stsb", "by_select"))
        print(f"| {row} | {lr:g} | {','.join(str(r['seed']) for r in rs)} | {col('by_stsb/ndcg@10')} | "
              f"{col('by_stsb/mrr@10')} | {col('by_select/ndcg@10')} | {col('by_select/mrr@10')} | {last(rs)} | "
              f"{col('by_stsb/sts7')} / {col('by_select/sts7')} | {chosen} | {min(r['train_s'] for r in rs):.0f} / "
              f"{statistics.mean(r['train_s'] for r in rs):.0f} |")
    curves = [r for r in records if r.get("curve")]
    if curves:
        print("\nReport-half nDCG@10 and STS-B dev at each evaluated step (one line per run):")
        print("| row | lr | seed | " + " | ".join(f"step {e['step']}" for e in curves[0]["curve"]) + " |")
        print("|---|---|---|" + "---|" * len(curves[0]["curve"]))
        for r in curves:
            cells = " | ".join(f"{e['report/ndcg@10']:.2f} / {e['stsb_spearman']:.2f}" for e in r["curve"])
            print(f"| {r['row']} | {r['lr']:g} | {r['seed']} | {cells} |")


def main() -> None:
    import os

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("prepare", "base", "run", "table"))
    p.add_argument("row", nargs="?", choices=tuple(ROWS))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lr", type=float, default=None, help="default: the row's (LR)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    if args.data_dir:
        os.environ["SIMCSE_DATA_DIR"] = args.data_dir
    from simcse.data_dir import data_dir

    if args.action == "prepare":
        prepare(data_dir())
    elif args.action == "base":
        base()
    elif args.action == "run":
        run(args.row, args.seed, args.lr or LR[args.row], args.steps)
    else:
        table()


if __name__ == "__main__":
    main()
