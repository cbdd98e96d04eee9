"""Ours vs sentence-transformers' SimCSE recipe, same model, data, settings and seeds.

Ours: ``simcse.train`` (InfoNCE, temperature 0.05, best STS-B dev checkpoint of the
evaluations every 125 steps and at the end). Peer: ``SentenceTransformerTrainer`` with
``MultipleNegativesRankingLoss(scale=20)`` (= temperature 0.05), its defaults otherwise
(AdamW, linear decay, no warmup, clipping 1.0), final model. Both start from the embedded
all-MiniLM-L6-v2 (mean pooling), train at max length 32, and are scored by simcse's own STS
test evaluator (SimCSE protocol, 7 tasks, ``avg_sts``) at the model's saved max length.

Usage:
  python bench/train_vs_st.py unsup --seeds 1 2 3 [--which ours peer] [--json OUT]
  python bench/train_vs_st.py sup --seeds 1 2 3
  python bench/train_vs_st.py unsup --seeds 1 --max-lines 1920   (a 30-step smoke comparison)
Data: $SIMCSE_DATA_DIR (or --data-dir) with training/wiki1m_prefix/... and training/nli_small/*.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import time
from pathlib import Path

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RECIPES = {  # mode -> (learning rate, training file relative to the data dir)
    "unsup": (3e-5, "training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt"),
    "sup": (5e-5, "training/nli_small/*.csv"),
}
BATCH, MAX_LEN, EPOCHS = 64, 32, 1


def training_file(mode: str, root: Path, work: Path, max_lines: int = 0) -> Path:
    """The unsup text file, or the NLI triplet CSVs concatenated (one header); with
    ``max_lines`` only the first rows (a quick, smaller comparison)."""
    pattern = RECIPES[mode][1]
    files = sorted(root.glob(pattern))
    if not files:
        raise SystemExit(f"no training data at {root / pattern}")
    if len(files) == 1 and not max_lines:
        return files[0]
    if len(files) == 1:
        out = work / f"{files[0].stem}.first{max_lines}{files[0].suffix}"
        with open(files[0], encoding="utf-8") as src:
            out.write_text("".join(line for _, line in zip(range(max_lines), src)), encoding="utf-8")
        return out
    out = work / "nli_small_all.csv"
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        for i, f in enumerate(files):
            with open(f, newline="", encoding="utf-8") as src:
                rows = list(csv.reader(src))
            writer.writerows(rows if i == 0 else rows[1:])
    if max_lines:
        lines = out.read_text(encoding="utf-8").splitlines(keepends=True)[: max_lines + 1]
        out.write_text("".join(lines), encoding="utf-8")
    return out


def sts_test(encode, root: Path) -> dict[str, float]:
    from simcse.evaluation import STS_TASKS, evaluate_sts

    return evaluate_sts(encode, root, STS_TASKS, split="test")


def run_ours(mode: str, seed: int, data: Path, root: Path, work: Path) -> dict[str, float]:
    from simcse.api import SimCSE
    from simcse.train import build_config, train

    lr = RECIPES[mode][0]
    cfg = build_config(
        model=MODEL, pooler=None, mlp_only_train=None, train_file=str(data), data_dir=str(root),
        output_dir=str(work / f"ours-{mode}-{seed}"), batch_size=BATCH, learning_rate=lr, epochs=EPOCHS,
        max_length=MAX_LEN, temperature=0.05, seed=seed, save_steps=0, progress=False, tensorboard=False,
        hard_neg_column="hard_neg" if mode == "sup" else None,
    )
    t = time.perf_counter()
    result = train(cfg)
    seconds = time.perf_counter() - t
    model = SimCSE(result.model_dir, device="cpu")
    scores = sts_test(lambda s: model.encode(s, batch_size=128), root)
    return {**scores, "train_s": seconds, "best_step": result.best_step, "steps": result.steps}


def run_peer(mode: str, seed: int, data: Path, root: Path, work: Path) -> dict[str, float]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from simcse.model_registry import resolve_model

    model = SentenceTransformer(str(resolve_model(MODEL)), device="cpu")
    saved_len = model.max_seq_length
    model.max_seq_length = MAX_LEN
    if mode == "unsup":
        lines = [ln.rstrip("\n") for ln in open(data, encoding="utf-8")]
        ds = Dataset.from_dict({"anchor": lines, "positive": lines})
    else:
        rows = list(csv.DictReader(open(data, newline="", encoding="utf-8")))
        ds = Dataset.from_dict({k: [r[c] for r in rows] for k, c in (("anchor", "sent0"), ("positive", "sent1"), ("negative", "hard_neg"))})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work / f"peer-{mode}-{seed}"), num_train_epochs=EPOCHS, per_device_train_batch_size=BATCH,
        learning_rate=RECIPES[mode][0], seed=seed, save_strategy="no", report_to="none", logging_steps=50,
        disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                         loss=MultipleNegativesRankingLoss(model, scale=20.0))
    t = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t
    model.max_seq_length = saved_len
    model.eval()
    scores = sts_test(lambda s: model.encode(s, batch_size=128, convert_to_numpy=True), root)
    return {**scores, "train_s": seconds, "steps": trainer.state.global_step}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=list(RECIPES))
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--which", nargs="+", choices=["ours", "peer"], default=["ours", "peer"])
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR"))
    p.add_argument("--work", default="bench_runs", help="scratch folder for models")
    p.add_argument("--json", default=None, help="append one JSON line per run here")
    p.add_argument("--max-lines", type=int, default=0, help="train on the first N rows only (0 = all; the acceptance uses all)")
    args = p.parse_args()
    root, work = Path(args.data_dir), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = training_file(args.mode, root, work, args.max_lines)
    runners = {"ours": run_ours, "peer": run_peer}
    table: dict[int, dict[str, float]] = {}
    for seed in args.seeds:
        for who in args.which:
            res = runners[who](args.mode, seed, data, root, work)
            table.setdefault(seed, {})[who] = res["avg_sts"]
            line = {"mode": args.mode, "seed": seed, "who": who, **res}
            print(json.dumps(line), flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(line) + "\n")
    print(f"\n{args.mode}: 7-task STS avg (test)\n| seed | " + " | ".join(args.which) + " |")
    print("|---" * (len(args.which) + 1) + "|")
    for seed, row in table.items():
        print(f"| {seed} | " + " | ".join(f"{row.get(w, float('nan')):.2f}" for w in args.which) + " |")
    for name, fn in (("mean", statistics.mean), ("std", statistics.stdev)):
        if len(table) > (1 if name == "std" else 0):
            print(f"| {name} | " + " | ".join(f"{fn([r[w] for r in table.values() if w in r]):.2f}" for w in args.which) + " |")


if __name__ == "__main__":
    main()
