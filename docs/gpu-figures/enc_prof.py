import cProfile, pstats, sys, time, io
sys.path.insert(0, "bench")
from pathlib import Path
from encode_speed import stsb_test_sentences
sents = stsb_test_sentences(Path(".gpu/data"), Path("/tmp/s.txt"), 20000).read_text().splitlines()
model = "/tmp/gf-models/random-bert-base"
from simcse import SimCSE
m = SimCSE(model, device="cuda", dtype="bfloat16", pooler="avg")
from sentence_transformers import SentenceTransformer
import torch
p = SentenceTransformer(model, device="cuda", model_kwargs={"dtype": torch.bfloat16})
for name, f in (("ours", lambda bs: m.encode(sents, batch_size=bs)), ("peer", lambda bs: p.encode(sents, batch_size=bs))):
    f(128)
    for bs in (128, 1024):
        t = time.perf_counter(); f(bs); torch.cuda.synchronize(); print(name, bs, round(len(sents) / (time.perf_counter() - t)), "sent/s", flush=True)
    pr = cProfile.Profile(); pr.enable(); f(128); pr.disable()
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(18); print(name, s.getvalue()[-6000:])
