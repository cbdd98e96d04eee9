"""Encode on the GPU, in one process: ours copying embeddings back in 64 MB blocks (the default)
against ours copying every batch back (the code before aa66e5e), and the peer, at batch 128
and 1024, alternating, two rounds; then where ours spends a pass at batch 128 (torch profiler:
wall against device busy; cProfile: host functions)."""
import cProfile, io, pstats, statistics, sys, time
from pathlib import Path

import torch

sys.path.insert(0, "bench")
from encode_speed import stsb_test_sentences

model, device, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
sents = stsb_test_sentences(Path(".gpu/data"), Path("/tmp/s.txt"), n).read_text().splitlines()
import simcse.api
from simcse import SimCSE
from sentence_transformers import SentenceTransformer

dtype = torch.bfloat16 if device == "cuda" else torch.float32
ours = SimCSE(model, device=device, dtype="bfloat16" if device == "cuda" else "float32", pooler="avg")
peer = SentenceTransformer(model, device=device, model_kwargs={"dtype": dtype})
BLOCK = simcse.api.COPY_BLOCK_BYTES


def ours_blocks(bs):
    simcse.api.COPY_BLOCK_BYTES = BLOCK
    return ours.encode(sents, batch_size=bs)


def ours_each_batch(bs):
    simcse.api.COPY_BLOCK_BYTES = 1
    return ours.encode(sents, batch_size=bs)


runs = {"ours, copies in blocks": ours_blocks, "ours, a copy per batch": ours_each_batch,
        "peer": lambda bs: peer.encode(sents, batch_size=bs)}
for f in runs.values():
    f(128)  # warm-up
rates = {}
for rnd in range(2):
    for bs in (128, 1024):
        for name, f in runs.items():
            sync(); t = time.perf_counter(); f(bs); sync()
            rates.setdefault((name, bs), []).append(len(sents) / (time.perf_counter() - t))
print(f"{n:,} sentences; sent/s, median of 2 rounds (the rounds)")
for (name, bs), r in rates.items():
    print(f"| {name} | {bs} | {statistics.median(r):,.0f} | {', '.join(f'{x:,.0f}' for x in r)} |", flush=True)

from torch.profiler import ProfilerActivity, profile
from torch.autograd import DeviceType
acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
simcse.api.COPY_BLOCK_BYTES = BLOCK
with profile(activities=acts) as prof:
    sync(); t = time.perf_counter(); ours.encode(sents, batch_size=128); sync(); wall = time.perf_counter() - t
table = prof.key_averages()
busy = sum(e.self_device_time_total for e in table if e.device_type == DeviceType.CUDA and not e.is_user_annotation) / 1e6
print(f"\nours, batch 128, under the torch profiler: wall {wall:.2f} s, device busy {busy:.2f} s")
print(table.table(sort_by="self_cpu_time_total", row_limit=15))
pr = cProfile.Profile(); pr.enable(); ours.encode(sents, batch_size=128); pr.disable()
s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(20); print(s.getvalue()[-7000:])
