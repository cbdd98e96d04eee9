"""The GPU figures in one command: training and encoding, ours beside sentence-transformers.

BERT-base shape with random weights (speed does not depend on them), max length 32, bf16, on
one card in one run. Each part runs train_speed.py or encode_speed.py (fresh processes, so
each side's peak memory is its own) and appends its JSON lines to ``OUT/results.jsonl``;
the parts run in the order below while the time budget lasts, then the tables are printed:

1. unsupervised, batch 64: the peer's trainer (MultipleNegativesRankingLoss, the sentence
   twice), ours eager, ours ``compile=reduce-overhead pad_to_max_length=true``;
2. encode, the STS-B test sentences repeated to 100,000, batch 128: ours vs ``encode``;
3. supervised NLI triplets, batch 512: the peer's trainer vs ours;
4. GradCache, unsupervised batch 512: ours chunks of 128 vs ours plain, and the peer's
   CachedMultipleNegativesRankingLoss (mini-batches of 128) vs its plain loss; peak memory;
5. profiles (top operators by device and by host time) of ours compiled at 64 and supervised at
   512 (ten steps each) and cached at 512 (three steps);
6. ours cached at 512 with the backbone compiled (``compile=default``: fewer launches per chunk);
7. encode at batch 1,024.

    python bench/gpu_figures.py --data-dir DATA --out OUT [--tokenizer FOLDER] [--work DIR] [--budget 600]
    SIMCSE_DATA_DIR=DATA bash bench/gpu_carry.sh; then on the lent machine: BUDGET=520 bash .gpu/run.sh
    python bench/gpu_figures.py --smoke --device cpu --out /tmp/g     (the whole path on CPU, tiny)
    python bench/gpu_figures.py --table OUT/results.jsonl            (the tables again)

The data dir needs training/wiki1m_prefix/..., training/nli_small/*.csv and
downstream/STS/STSBenchmark/sts-test.csv. ``--tokenizer``: a folder with bert-base-uncased's
vocabulary (default: the embedded MiniLM's), for machines without the embedded model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EPOCH = 1_000_000  # sentences in the projected unsupervised epoch
COMPILED = ["compile=reduce-overhead", "pad_to_max_length=true"]


def parts(smoke: bool) -> list[tuple[str, str, list[str]]]:
    """(label, script, arguments) in priority order; ``smoke`` shrinks steps and batches."""
    big, steps64, steps_big, compiled = (16, ("4", "2"), ("4", "2"), ("12", "6")) if smoke else \
        (512, ("100", "20"), ("30", "10"), ("400", "200"))
    def train(label: str, steps: tuple[str, str], *extra: str) -> tuple[str, str, list[str]]:
        return label, "train_speed.py", ["--steps", steps[0], "--warm", steps[1], "--trials", "1", "--label", label, *extra]

    def profile(label: str, warm: str, n: int, *extra: str) -> tuple[str, str, list[str]]:
        # two steps past the window keep the final save out of it
        return train(label, (str(int(warm) + n + 2), warm), "--which", "ours", *extra, "--profile", f"{{out}}/{label}.txt",
                     "--profile-steps", str(n))

    def encode(batch: int) -> tuple[str, str, list[str]]:
        return "encode", "encode_speed.py", ["--impls", "torch", "--batch-sizes", str(batch), "--rounds", "1", "--repeats", "1",
                                             "--repeat-to", "2000" if smoke else "100000"]

    return [
        train("unsup-64", steps64, "--batch-size", "64"),
        train("unsup-64-compiled", compiled, "--batch-size", "64", "--which", "ours", "--ours", *COMPILED),
        encode(128),
        train(f"sup-{big}", steps_big, "--objective", "sup", "--batch-size", str(big)),
        train(f"unsup-{big}", steps_big, "--batch-size", str(big)),
        train(f"unsup-{big}-cached", steps_big, "--batch-size", str(big), "--ours", f"grad_cache_chunk={big // 4}",
              "--peer-cache-chunk", str(big // 4)),
        profile("profile-unsup-64-compiled", "30" if not smoke else "6", 10, "--batch-size", "64", "--ours", *COMPILED),
        profile(f"profile-sup-{big}", steps_big[1], 10, "--objective", "sup", "--batch-size", str(big)),
        profile(f"profile-unsup-{big}-cached", steps_big[1], 3, "--batch-size", str(big), "--ours", f"grad_cache_chunk={big // 4}"),
        train(f"unsup-{big}-cached-compiled", steps_big, "--batch-size", str(big), "--which", "ours",
              "--ours", f"grad_cache_chunk={big // 4}", "compile=default", "pad_to_max_length=true"),
        encode(1024),
    ]


def environment(device: str) -> dict:
    import sentence_transformers
    import torch
    import transformers

    card = torch.cuda.get_device_name() if device.startswith("cuda") and torch.cuda.is_available() else platform.processor()
    return {"label": "environment", "card": card, "torch": torch.__version__, "cuda": torch.version.cuda,
            "transformers": transformers.__version__, "sentence_transformers": sentence_transformers.__version__,
            "python": platform.python_version(), "cpus": os.cpu_count()}


def run_all(a) -> None:
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results, log = out / "results.jsonl", out / "log.txt"
    start = time.monotonic()
    sys.path.insert(0, str(HERE))
    from _models import random_bert

    with open(results, "w", encoding="utf-8") as fh:  # a fresh file: one run's figures per table
        fh.write(json.dumps(environment(a.device)) + "\n")
    model = random_bert("random-bert-tiny" if a.smoke else "random-bert-base", Path(a.work or out / "models"), a.tokenizer)
    common = {"train_speed.py": ["--device", a.device, "--precision", a.precision],
              "encode_speed.py": ["--device", a.device, "--dtype", {"bf16": "bfloat16", "fp16": "float16"}.get(a.precision, "float32"),
                                  "--peer-python", sys.executable]}
    for label, script, args in parts(a.smoke):
        left = a.budget - (time.monotonic() - start)
        if left < 20:
            print(f"{label}: skipped, {left:.0f} s of the budget left", flush=True)
            continue
        cmd = [sys.executable, str(HERE / script), "--data-dir", a.data_dir, "--model", str(model), "--json", str(results),
               *common[script], *[x.format(out=out) for x in args]]
        t = time.monotonic()
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"\n$ {' '.join(cmd)}\n")
            fh.flush()
            try:
                rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=left).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        print(f"{label}: rc {rc}, {time.monotonic() - t:.0f} s", flush=True)
    print_tables(results)


def print_tables(results: Path) -> None:
    rows = [json.loads(x) for x in results.read_text(encoding="utf-8").splitlines() if x.strip()]
    for env in (r for r in rows if r["label"] == "environment"):
        print(f"\n{env['card']}; torch {env['torch']} (CUDA {env['cuda']}), transformers {env['transformers']}, "
              f"sentence-transformers {env['sentence_transformers']}, Python {env['python']}, {env['cpus']} CPUs")
    big = next((r["batch_size"] for r in rows if r["label"].endswith("-cached")), 512)
    train = {}
    for r in rows:
        if "steps_per_s" in r and not r["label"].startswith("profile"):  # profiled runs are not timings
            key = (r["label"], r["who"], " ".join(r.get("ours") or []) or (f"cache {r['peer_cache_chunk']}" if r.get("peer_cache_chunk") else ""))
            train.setdefault(key, []).append(r)
    if train:
        # sentences encoded: each unsupervised sentence twice (two dropout views), each triplet three times
        print("\n| setting | system | steps/s | sentences encoded/s | peak memory MiB (GPU; RSS on CPU) | steps timed |"
              "\n|---|---|---|---|---|---|")
        for (label, who, extra), rs in train.items():
            steps_s = statistics.median(r["steps_per_s"] for r in rs)
            sents = steps_s * rs[0]["batch_size"] * (3 if rs[0]["objective"] == "sup" else 2)
            print(f"| {label} | {who} {extra} | {steps_s:.2f} | {sents:,.0f} | {max(r['peak_memory_mib'] for r in rs):,.0f} | "
                  f"{rs[0]['steps'] - rs[0]['warm']} |")

        def rate(label: str, who: str) -> float:
            return statistics.median(r["steps_per_s"] for (l, w, _), rs in train.items() if l == label and w == who for r in rs)

        print("\n| ratio | value |\n|---|---|")
        for name, num, den in (("unsup 64: ours eager / peer", ("unsup-64", "ours"), ("unsup-64", "peer")),
                               ("unsup 64: ours compiled / peer", ("unsup-64-compiled", "ours"), ("unsup-64", "peer")),
                               (f"sup {big}: ours / peer", (f"sup-{big}", "ours"), (f"sup-{big}", "peer")),
                               (f"GradCache {big}/{big // 4}: ours, cached step time / plain step time", (f"unsup-{big}", "ours"),
                                (f"unsup-{big}-cached", "ours")),
                               (f"GradCache {big}/{big // 4}: peer, cached step time / plain step time", (f"unsup-{big}", "peer"),
                                (f"unsup-{big}-cached", "peer")),
                               (f"GradCache {big}/{big // 4}, backbone compiled: ours, cached step time / plain eager step time",
                                (f"unsup-{big}", "ours"), (f"unsup-{big}-cached-compiled", "ours"))):
            try:
                print(f"| {name} | {rate(*num) / rate(*den):.2f}x |")
            except statistics.StatisticsError:
                print(f"| {name} | not measured |")
        for label in ("unsup-64", "unsup-64-compiled"):
            for who in ("ours", "peer"):
                try:
                    r = rate(label, who)
                except statistics.StatisticsError:
                    continue
                print(f"| a {EPOCH:,}-sentence unsupervised epoch at batch 64, {who} {label} | "
                      f"{EPOCH / 64 / r / 60:.1f} min ({EPOCH // 64:,} steps) |")
    for r in (r for r in rows if r["label"] == "encode"):
        print(f"\nencode {r['sentences']:,} sentences, batch {r['batch_size']}, {r['dtype']}: ours {r['ours_sent_per_s']:,.0f} sent/s, "
              f"peer {r['peer_sent_per_s']:,.0f} sent/s, ratio {r['ours_sent_per_s'] / r['peer_sent_per_s']:.2f}x, "
              f"min cosine {r['min_cosine']:.5f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR"))
    p.add_argument("--out", default="gpu_figures")
    p.add_argument("--work", default=None, help="where the random model is saved (default: OUT/models)")
    p.add_argument("--tokenizer", default=None, help="tokenizer folder for the random model (default: the embedded MiniLM's)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--budget", type=float, default=600, help="seconds: parts that would start later are skipped")
    p.add_argument("--smoke", action="store_true", help="a tiny model and few steps: check the whole path (e.g. on CPU)")
    p.add_argument("--table", default=None, help="only print the tables of this results.jsonl")
    a = p.parse_args()
    if a.table:
        print_tables(Path(a.table))
    else:
        run_all(a)


if __name__ == "__main__":
    main()
