"""Training throughput: simcse's loop vs sentence-transformers' SimCSE recipe
(``MultipleNegativesRankingLoss(scale=20)`` with ``SentenceTransformerTrainer``).

Same model (embedded all-MiniLM-L6-v2), same sentences (wiki1m prefix), batch 64, max
length 32, fp32 on CPU. Each trial is a fresh subprocess (so peak RSS is per system),
trials alternate A B A B ..., and steps/s is measured between the end of step ``--warm``
and the end of the last step (model loading, tokenization and the final save excluded).
Reports the median steps/s and peak RSS of each, and the ratio of medians.

Usage: python bench/train_speed.py [--trials 2] [--steps 8] [--warm 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DATA = "training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt"
BATCH, MAX_LEN, LR = 64, 32, 3e-5


def _lines(root: Path, n: int) -> list[str]:
    with open(root / DATA, encoding="utf-8") as fh:
        return [next(fh).rstrip("\n") for _ in range(n)]


def worker_ours(root: Path, steps: int, work: Path) -> list[float]:
    from simcse.train import build_config, train

    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(_lines(root, steps * BATCH)) + "\n", encoding="utf-8")
    cfg = build_config(model=MODEL, pooler=None, mlp_only_train=None, train_file=str(corpus), output_dir=str(work / "ours"),
                       batch_size=BATCH, max_length=MAX_LEN, learning_rate=LR, eval_steps=0, save_steps=0, log_steps=1,
                       progress=False, tensorboard=False, seed=1)
    train(cfg)
    records = [json.loads(x) for x in (work / "ours" / "metrics.jsonl").read_text().splitlines()]
    return [r["elapsed_s"] for r in records if r["event"] == "train"]


def worker_peer(root: Path, steps: int, work: Path) -> list[float]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    from simcse.model_registry import resolve_model

    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    model = SentenceTransformer(str(resolve_model(MODEL)), device="cpu")
    model.max_seq_length = MAX_LEN
    lines = _lines(root, steps * BATCH)
    args = SentenceTransformerTrainingArguments(output_dir=str(work / "peer"), max_steps=steps, per_device_train_batch_size=BATCH,
                                                learning_rate=LR, seed=1, save_strategy="no", report_to="none", disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict({"anchor": lines, "positive": lines}),
                                         loss=MultipleNegativesRankingLoss(model, scale=20.0), callbacks=[Stamp()])
    trainer.train()
    return [t - stamps[0] for t in stamps]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=2, help="trials per system (alternating)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warm", type=int, default=2, help="steps excluded from timing")
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR"))
    p.add_argument("--json", default=None)
    p.add_argument("--worker", choices=["ours", "peer"], help=argparse.SUPPRESS)
    args = p.parse_args()
    root = Path(args.data_dir)
    if args.worker:
        with tempfile.TemporaryDirectory() as tmp:
            t = {"ours": worker_ours, "peer": worker_peer}[args.worker](root, args.steps, Path(tmp))
        rate = (args.steps - args.warm) / (t[args.steps - 1] - t[args.warm - 1])
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"who": args.worker, "steps_per_s": rate, "peak_rss_mib": rss}))
        return
    results: dict[str, list[dict]] = {"ours": [], "peer": []}
    for trial in range(args.trials):
        for who in ("ours", "peer"):
            cmd = [sys.executable, __file__, "--worker", who, "--steps", str(args.steps), "--warm", str(args.warm), "--data-dir", str(root)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{who} trial failed:\n{out.stderr[-3000:]}")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            res["trial"] = trial
            results[who].append(res)
            print(json.dumps(res), flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(res) + "\n")
    med = {w: statistics.median(r["steps_per_s"] for r in rs) for w, rs in results.items()}
    rss = {w: max(r["peak_rss_mib"] for r in rs) for w, rs in results.items()}
    print(f"\n| system | median steps/s | peak RSS MiB |\n|---|---|---|")
    for w in results:
        print(f"| {w} | {med[w]:.4f} | {rss[w]:.0f} |")
    print(f"ratio ours/peer = {med['ours'] / med['peer']:.2f}x  (cpu threads: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
