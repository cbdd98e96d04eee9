"""Host-side cost of feeding a GPU: the work a step or an encode batch waits for on the CPU.

Compares the vectorised paths with the simple row-by-row ones they replaced (the references
of ``tests/test_train_data.py`` and ``tests/test_encode_fast_path.py``, which also prove the
outputs equal): training ``collate`` per batch (unsupervised 64, NLI triplets 512), and
tokenize + pad for encoding (the STS-B test sentences repeated to 100,000, batches of 128)
with all-MiniLM-L6-v2's tokenizer. Last, the host time of one eager pass through a BERT-base
deep model (12 layers) too narrow to compute anything to speak of (width 32, 4 x 8 tokens,
one thread, bf16 autocast, train mode): what a GPU waits for per forward, and so what
GradCache pays again for every chunk.

    SIMCSE_DATA_DIR=../shared/data python bench/host_path.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]


def timed(fn, repeats: int = 3) -> float:
    """Median seconds of ``fn()``."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    from transformers import AutoTokenizer

    from _models import MINILM
    from encode_speed import stsb_test_sentences
    from simcse.data_dir import data_dir
    from simcse.encoder import Encoder, EncoderConfig, pad_batch
    from simcse.model_registry import resolve_model
    from simcse.train.data import collate, tokenize_file
    from simcse.train.readers import HARD_NEG, Schema
    from test_encode_fast_path import _pad_simple, _simple
    from test_train_data import _collate_simple

    root = data_dir(os.environ.get("SIMCSE_DATA_DIR"))
    tok = AutoTokenizer.from_pretrained(str(resolve_model(MINILM)))
    rng = np.random.default_rng(0)
    print(f"{os.cpu_count()} CPUs\n\n| path | row by row | vectorised | ratio |\n|---|---|---|---|")
    sets = {"unsup 64": (tokenize_file(root / "training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt", tok, 32), 64),
            "sup triplets 512": (tokenize_file(root / "training/nli_small/snli_dev_triplets.csv", tok, 32,
                                               schema=Schema(hard_neg=HARD_NEG)), 512)}
    for name, (data, batch) in sets.items():
        rows = [rng.choice(len(data), batch, replace=False) for _ in range(50)]
        simple = timed(lambda: [_collate_simple(data, r, 0, True) for r in rows]) / 50 * 1e3
        fast = timed(lambda: [collate(data, r, 0, True) for r in rows]) / 50 * 1e3
        print(f"| collate, {name} | {simple:.2f} ms/batch | {fast:.2f} ms/batch | {simple / fast:.1f}x |")
    with tempfile.TemporaryDirectory() as tmp:
        sents = stsb_test_sentences(root, Path(tmp) / "s.txt", 100_000).read_text(encoding="utf-8").splitlines()
    encoder = Encoder(None, tok, EncoderConfig(pooler="avg", max_length=32))

    def encode_host(tokenize, pad):
        feats = tokenize()
        order = sorted(range(len(sents)), key=lambda i: -len(feats["input_ids"][i]))
        for i in range(0, len(order), 128):
            pad(feats, order[i : i + 128], 0)

    simple = timed(lambda: encode_host(lambda: _simple(tok, sents, 32), _pad_simple), repeats=2)
    fast = timed(lambda: encode_host(lambda: encoder.tokenize(sents), pad_batch), repeats=2)
    print(f"| tokenize + pad, {len(sents):,} sentences | {len(sents) / simple:,.0f} sent/s | {len(sents) / fast:,.0f} sent/s "
          f"| {simple / fast:.1f}x |")
    print("\n| one eager pass, 12 layers, width 32 | host ms |\n|---|---|")
    for name, ms in forward_host_ms().items():
        print(f"| {name} | {ms:.1f} |")


def forward_host_ms(repeats: int = 50) -> dict[str, float]:
    """Milliseconds per eager forward (without and with a graph) and forward + backward of a
    12-layer BERT of width 32, where nearly all the time is Python and dispatch."""
    import torch
    from transformers import BertConfig, BertModel

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = BertModel(BertConfig(hidden_size=32, num_hidden_layers=12, num_attention_heads=2, intermediate_size=64),
                      add_pooling_layer=False).train()
    ids = torch.randint(1000, 2000, (4, 8))
    mask = torch.ones_like(ids)
    mask[0, 5:] = 0

    def forward():
        return model(input_ids=ids, attention_mask=mask).last_hidden_state

    passes = {"forward, no graph (GradCache's first pass)": lambda: torch.no_grad()(forward)(),
              "forward with a graph": forward,
              "forward + backward": lambda: forward().float().mean().backward()}
    out = {}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for name, fn in passes.items():
            fn()
            out[name] = timed(lambda: [fn() for _ in range(repeats)]) / repeats * 1e3
    return out


if __name__ == "__main__":
    main()
