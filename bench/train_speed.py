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

``--objective sup`` trains on the NLI triplets (repeated to fill the steps) with their hard
negatives; ``--peer-cache-chunk N`` gives the peer ``CachedMultipleNegativesRankingLoss``
(mini-batches of N), the counterpart of ours ``--ours grad_cache_chunk=N``. ``--which`` runs one
side only; ``--profile FILE`` (ours) writes the top operators of ``--profile-steps`` steps after ``--warm``.
bench/gpu_figures.py runs the GPU set in one go.

Usage: python bench/train_speed.py [--trials 2] [--steps 8] [--warm 2] [--json OUT]
       python bench/train_speed.py --model random-bert-base --device cuda --precision bf16 \
           --steps 60 --warm 20 --ours compile=reduce-overhead pad_to_max_length=true
"""

from __future__ import annotations

import argparse
import csv
import itertools
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
from simcse.train.readers import HARD_NEG, SENT0, SENT1

# objective -> (training data in the data dir, learning rate)
OBJECTIVES = {"unsup": ("training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt", 3e-5),
              "sup": ("training/nli_small/snli_*_triplets.csv", 5e-5)}
MAX_LEN = 32
SUP_COLUMNS = (SENT0, SENT1, HARD_NEG)  # the triplet CSV's header, as simcse reads it


def _rows(root: Path, objective: str, n: int) -> list[tuple[str, ...]]:
    """The first ``n`` training rows (sentences, or NLI triplets), cycled when the file is shorter."""
    pattern = OBJECTIVES[objective][0]
    if objective == "unsup":
        rows = [(ln,) for ln in (root / pattern).read_text(encoding="utf-8").splitlines()]
    else:
        rows = [tuple(r[c] for c in SUP_COLUMNS) for f in sorted(root.glob(pattern))
                for r in csv.DictReader(f.read_text(encoding="utf-8").splitlines())]
    if not rows:
        raise SystemExit(f"no training data at {root / pattern}")
    return list(itertools.islice(itertools.cycle(rows), n))


def _model(name: str, work: Path) -> str:
    return str(model_folder(name, work))


def _plain_checkpoint(folder: str) -> bool:
    """A plain transformers checkpoint (no sentence-transformers modules): both sides mean-pool it."""
    return not (Path(folder) / "modules.json").is_file()


def worker_ours(root: Path, steps: int, work: Path, args) -> dict[int, float]:
    """Seconds since the start at the logged steps (``--warm``, its multiples, the last)."""
    from simcse.train import build_config, train
    from simcse.settings import check_value, field_types
    from simcse.train.config import TrainConfig

    rows = _rows(root, args.objective, steps * args.batch_size)
    if args.objective == "unsup":
        corpus = work / "corpus.txt"
        corpus.write_text("\n".join(r[0] for r in rows) + "\n", encoding="utf-8")
    else:
        corpus = work / "triplets.csv"
        with open(corpus, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([SUP_COLUMNS, *rows])
    extra = {}
    for item in args.ours:
        key, value = item.split("=", 1)
        typ = field_types(TrainConfig)[key].scalar if key in field_types(TrainConfig) else str
        extra[key] = check_value(TrainConfig, key, {"true": True, "false": False}.get(value, value) if typ is bool else typ(value), "--ours")
    model = _model(args.model, work)
    # the loss is read back (a host sync) only at log steps: at --warm and at the end, as the timing needs
    cfg = build_config(model=model, pooler="avg" if _plain_checkpoint(model) else None, mlp_only_train=None,
                       train_file=str(corpus), output_dir=str(work / "ours"), batch_size=args.batch_size, max_length=MAX_LEN,
                       learning_rate=OBJECTIVES[args.objective][1], eval_steps=0, save_steps=0, log_steps=args.warm,
                       progress=False, tensorboard=False, seed=1, device=args.device, precision=args.precision,
                       hard_neg_column=HARD_NEG if args.objective == "sup" else None, **extra)
    train(cfg, on_step=_profiler(args) if args.profile else None)
    records = [json.loads(x) for x in (work / "ours" / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["elapsed_s"] for r in records if r["event"] == "train"}


def _profiler(args):
    """An ``on_step`` hook that profiles ``--profile-steps`` steps after ``--warm`` and writes a
    summary (wall and device milliseconds per step under the profiler) and the top operators
    by device time and by host time."""
    import time

    import torch
    from torch.profiler import ProfilerActivity, profile, schedule

    cuda, n, wall = torch.cuda.is_available(), args.profile_steps, {}

    def report(prof) -> None:
        table = prof.key_averages()
        from torch.autograd import DeviceType

        # the footer's rule: kernels and copies (events on the device), user annotations left out
        device_us = sum(e.self_device_time_total for e in table if e.device_type == DeviceType.CUDA and not e.is_user_annotation)
        head = (f"steps {args.warm + 1}-{args.warm + n} of batch {args.batch_size} under the profiler: wall "
                f"{(wall['end'] - wall['start']) * 1e3 / n:.1f} ms/step, device busy {device_us / 1e3 / n:.1f} ms/step "
                "(the kernels' and copies' self device time, summed)\n")
        sorts = (["self_cuda_time_total"] if cuda else []) + ["self_cpu_time_total"]
        Path(args.profile).write_text(head + "".join(f"\nsorted by {key}:\n{table.table(sort_by=key, row_limit=25)}\n"
                                                      for key in sorts), encoding="utf-8")

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    prof = profile(activities=activities, schedule=schedule(wait=args.warm - 1, warmup=1, active=n, repeat=1),
                   on_trace_ready=report)
    prof.start()

    def on_step(step: int, encoder) -> None:
        if step in (args.warm, args.warm + n):
            torch.cuda.synchronize() if cuda else None
            wall["start" if step == args.warm else "end"] = time.perf_counter()
        prof.step()
        if step == args.warm + n:
            prof.stop()
    return on_step


def worker_peer(root: Path, steps: int, work: Path, args) -> dict[int, float]:
    """Seconds since the end of step 1 at the end of every step."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    try:
        from sentence_transformers.sentence_transformer import losses
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import losses
    from transformers import TrainerCallback

    stamps: dict[int, float] = {}
    cuda = (args.device or "").startswith("cuda")

    class Stamp(TrainerCallback):
        def on_step_end(self, targs, state, control, **kwargs):
            if cuda and state.global_step in (args.warm, steps):  # the GPU has finished those steps
                import torch

                torch.cuda.synchronize()
            stamps[state.global_step] = time.perf_counter()

    model = SentenceTransformer(_model(args.model, work), device=args.device or "cpu")  # a plain checkpoint: mean pooling
    model.max_seq_length = MAX_LEN
    rows = _rows(root, args.objective, steps * args.batch_size)
    names = ("anchor", "positive", "negative")
    data = {n: [r[0] for r in rows] for n in names[:2]} if args.objective == "unsup" else \
        {n: [r[i] for r in rows] for i, n in enumerate(names)}
    loss = losses.CachedMultipleNegativesRankingLoss(model, scale=20.0, mini_batch_size=args.peer_cache_chunk) \
        if args.peer_cache_chunk else losses.MultipleNegativesRankingLoss(model, scale=20.0)
    targs = SentenceTransformerTrainingArguments(output_dir=str(work / "peer"), max_steps=steps,
                                                 per_device_train_batch_size=args.batch_size,
                                                 learning_rate=OBJECTIVES[args.objective][1], seed=1, save_strategy="no",
                                                 report_to="none", disable_tqdm=True,
                                                 bf16=args.precision == "bf16", fp16=args.precision == "fp16")
    trainer = SentenceTransformerTrainer(model=model, args=targs, train_dataset=Dataset.from_dict(data), loss=loss,
                                         callbacks=[Stamp()])
    trainer.train()
    return {step: t - stamps[1] for step, t in stamps.items()}


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
    p.add_argument("--json", default=None, help="append one JSON line per trial here")
    p.add_argument("--label", default="", help="a name for this setting in the JSON lines")
    p.add_argument("--model", default=MODEL, help=f"{MODEL} (default), random-bert-base or a folder")
    p.add_argument("--device", default=None, help="cpu (default) or cuda")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--objective", default="unsup", choices=list(OBJECTIVES))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--which", nargs="+", default=["ours", "peer"], choices=["ours", "peer"])
    p.add_argument("--ours", nargs="*", default=[], metavar="FIELD=VALUE", help="extra TrainConfig fields for ours")
    p.add_argument("--peer-cache-chunk", type=int, default=0, help="peer: CachedMultipleNegativesRankingLoss mini-batch (0 = plain)")
    p.add_argument("--profile", default=None, help="ours: write the top operators of --profile-steps steps after --warm here")
    p.add_argument("--profile-steps", type=int, default=10)
    p.add_argument("--worker", choices=["ours", "peer"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if not 1 <= args.warm < args.steps:
        p.error("--warm must be at least 1 and less than --steps")
    if args.profile and not 1 <= args.profile_steps <= args.steps - args.warm:
        p.error("--profile-steps must be at least 1 and at most --steps minus --warm")
    root = Path(args.data_dir)
    if args.worker:
        with tempfile.TemporaryDirectory() as tmp:
            t = {"ours": worker_ours, "peer": worker_peer}[args.worker](root, args.steps, Path(tmp), args)
        rate = (args.steps - args.warm) / (t[args.steps] - t[args.warm])
        print(json.dumps({"who": args.worker, "steps_per_s": rate, "peak_memory_mib": _peak_memory_mib(args.device)}))
        return
    setting = {"label": args.label, "objective": args.objective, "batch_size": args.batch_size, "model": args.model,
               "device": args.device or "cpu", "precision": args.precision, "steps": args.steps, "warm": args.warm}
    results: dict[str, list[dict]] = {w: [] for w in args.which}
    for trial in range(args.trials):
        for who in args.which:
            cmd = [sys.executable, __file__, "--worker", who, "--steps", str(args.steps), "--warm", str(args.warm),
                   "--data-dir", str(root), "--model", args.model, "--precision", args.precision, "--objective", args.objective,
                   "--batch-size", str(args.batch_size), "--peer-cache-chunk", str(args.peer_cache_chunk),
                   *(["--device", args.device] if args.device else []), *(["--profile", args.profile, "--profile-steps", str(args.profile_steps)] if args.profile else []),
                   "--ours", *args.ours]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{who} trial failed:\n{out.stderr[-3000:]}")
            res = {**setting, **json.loads(out.stdout.strip().splitlines()[-1]), "trial": trial,
                   "ours": args.ours if who == "ours" else None,
                   "peer_cache_chunk": args.peer_cache_chunk if who == "peer" else None}
            results[who].append(res)
            print(json.dumps(res), flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(res) + "\n")
    med = {w: statistics.median(r["steps_per_s"] for r in rs) for w, rs in results.items()}
    peak = {w: max(r["peak_memory_mib"] for r in rs) for w, rs in results.items()}
    memory = "peak GPU MiB" if args.device and args.device.startswith("cuda") else "peak RSS MiB"
    print(f"\n{args.model}, {args.device or 'cpu'}, {args.precision}, {args.objective}, batch {args.batch_size}, "
          f"max length {MAX_LEN}; ours {' '.join(args.ours) or 'defaults'}; peer cache chunk {args.peer_cache_chunk or 'off'}")
    print(f"| system | median steps/s | {memory} |\n|---|---|---|")
    for w in results:
        print(f"| {w} | {med[w]:.4f} | {peak[w]:.0f} |")
    if len(med) == 2:
        print(f"ratio ours/peer = {med['ours'] / med['peer']:.2f}x  (cpu threads: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
