"""Training throughput: simcse's loop vs sentence-transformers' SimCSE recipe
(``MultipleNegativesRankingLoss(scale=20)`` with ``SentenceTransformerTrainer``).

Same model, same sentences (wiki1m prefix), batch 64, max length 32. Each trial is a fresh
subprocess (so peak RSS is per system), trials alternate A B A B ..., and steps/s is measured
between the end of step ``--warm`` and the end of the last step (model loading, tokenization,
compilation and the final save excluded). Reports the median steps/s and peak RSS (peak GPU
memory on CUDA) of each, and the ratio of medians.

CPU (the acceptance setting): all-MiniLM-L6-v2, fp32, our defaults (length groups, fused AdamW).
GPU: ``--model random-bert-base`` (BERT-base shape, random weights, the MiniLM tokenizer, which
is bert-base-uncased's vocabulary), ``--device cuda --precision bf16``; ours adds
``--ours compile=reduce-overhead pad_to_max_length=true`` (any TrainConfig field), the peer
gets ``bf16=True``. The peer needs the ``datasets`` package.

Usage: python bench/train_speed.py [--trials 2] [--steps 8] [--warm 2] [--json OUT]
       python bench/train_speed.py --model random-bert-base --device cuda --precision bf16 \
           --steps 60 --warm 20 --ours compile=reduce-overhead pad_to_max_length=true
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

from _models import MINILM as MODEL, model_folder

DATA = "training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt"
BATCH, MAX_LEN, LR = 64, 32, 3e-5


def _lines(root: Path, n: int) -> list[str]:
    with open(root / DATA, encoding="utf-8") as fh:
        return [next(fh).rstrip("\n") for _ in range(n)]


def _model(name: str, work: Path) -> str:
    return str(model_folder(name, work))


def worker_ours(root: Path, steps: int, work: Path, args) -> list[float]:
    from simcse.train import build_config, train
    from simcse.settings import check_value, field_types
    from simcse.train.config import TrainConfig

    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(_lines(root, steps * BATCH)) + "\n", encoding="utf-8")
    extra = {}
    for item in args.ours:
        key, value = item.split("=", 1)
        typ = field_types(TrainConfig)[key].scalar if key in field_types(TrainConfig) else str
        extra[key] = check_value(TrainConfig, key, {"true": True, "false": False}.get(value, value) if typ is bool else typ(value), "--ours")
    pooler = "avg" if args.model == "random-bert-base" else None
    cfg = build_config(model=_model(args.model, work), pooler=pooler, mlp_only_train=None, train_file=str(corpus),
                       output_dir=str(work / "ours"), batch_size=BATCH, max_length=MAX_LEN, learning_rate=LR, eval_steps=0,
                       save_steps=0, log_steps=1, progress=False, tensorboard=False, seed=1, device=args.device,
                       precision=args.precision, **extra)
    train(cfg)
    records = [json.loads(x) for x in (work / "ours" / "metrics.jsonl").read_text().splitlines()]
    return [r["elapsed_s"] for r in records if r["event"] == "train"]


def worker_peer(root: Path, steps: int, work: Path, args) -> list[float]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    model = SentenceTransformer(_model(args.model, work), device=args.device or "cpu")
    model.max_seq_length = MAX_LEN
    lines = _lines(root, steps * BATCH)
    targs = SentenceTransformerTrainingArguments(output_dir=str(work / "peer"), max_steps=steps, per_device_train_batch_size=BATCH,
                                                 learning_rate=LR, seed=1, save_strategy="no", report_to="none", disable_tqdm=True,
                                                 bf16=args.precision == "bf16", fp16=args.precision == "fp16")
    trainer = SentenceTransformerTrainer(model=model, args=targs, train_dataset=Dataset.from_dict({"anchor": lines, "positive": lines}),
                                         loss=MultipleNegativesRankingLoss(model, scale=20.0), callbacks=[Stamp()])
    trainer.train()
    return [t - stamps[0] for t in stamps]


def _peak_memory_mib(device: str | None) -> float:
    if device and device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=2, help="trials per system (alternating)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warm", type=int, default=2, help="steps excluded from timing")
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR"))
    p.add_argument("--json", default=None)
    p.add_argument("--model", default=MODEL, help=f"{MODEL} (default) or random-bert-base")
    p.add_argument("--device", default=None, help="cpu (default) or cuda")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--ours", nargs="*", default=[], metavar="FIELD=VALUE", help="extra TrainConfig fields for ours")
    p.add_argument("--worker", choices=["ours", "peer"], help=argparse.SUPPRESS)
    args = p.parse_args()
    root = Path(args.data_dir)
    if args.worker:
        with tempfile.TemporaryDirectory() as tmp:
            t = {"ours": worker_ours, "peer": worker_peer}[args.worker](root, args.steps, Path(tmp), args)
        rate = (args.steps - args.warm) / (t[args.steps - 1] - t[args.warm - 1])
        print(json.dumps({"who": args.worker, "steps_per_s": rate, "peak_rss_mib": _peak_memory_mib(args.device)}))
        return
    results: dict[str, list[dict]] = {"ours": [], "peer": []}
    for trial in range(args.trials):
        for who in ("ours", "peer"):
            cmd = [sys.executable, __file__, "--worker", who, "--steps", str(args.steps), "--warm", str(args.warm), "--data-dir", str(root),
                   "--model", args.model, "--precision", args.precision, *(["--device", args.device] if args.device else []),
                   "--ours", *args.ours]
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
    memory = "peak GPU MiB" if args.device and args.device.startswith("cuda") else "peak RSS MiB"
    print(f"\n{args.model}, {args.device or 'cpu'}, {args.precision}, batch {BATCH}, max length {MAX_LEN}; ours {' '.join(args.ours) or 'defaults'}")
    print(f"| system | median steps/s | {memory} |\n|---|---|---|")
    for w in results:
        print(f"| {w} | {med[w]:.4f} | {rss[w]:.0f} |")
    print(f"ratio ours/peer = {med['ours'] / med['peer']:.2f}x  (cpu threads: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
