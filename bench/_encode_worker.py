"""One side of bench/encode_speed.py, run in its own process (ours in .venv, the peer in .venv-peer).

Prints one JSON line: sentences/s over the timed repeats, peak RSS, and where the embeddings went.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def load_ours(impl: str, model: str, device: str, dtype: str):
    from simcse import SimCSE

    runtime, quantize = {"torch": ("torch", False), "onnx": ("onnx", False), "int8": ("onnx", True)}[impl]
    plain = not (Path(model) / "modules.json").is_file()
    pooler = "avg" if plain else None  # a plain HF checkpoint (random-bert-base): mean pooling, as the peer
    m = SimCSE(model, device=device, runtime=runtime, quantize=quantize, dtype=dtype, pooler=pooler)
    return lambda sents, bs: m.encode(sents, batch_size=bs)


def load_peer(impl: str, model: str, device: str, dtype: str):
    """sentence-transformers' own backends; ONNX via optimum, int8 via optimum's avx2 recipe.

    The ONNX export is made with optimum up front (what SentenceTransformer(backend="onnx")
    does on first load) because that automatic export failed on a copied local folder here.
    """
    from sentence_transformers import SentenceTransformer

    if impl == "torch":
        import torch
        import transformers

        key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
        m = SentenceTransformer(model, device=device, model_kwargs={key: getattr(torch, dtype)} if dtype != "float32" else None)
        return lambda sents, bs: m.encode(sents, batch_size=bs)
    from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    folder = Path(tempfile.mkdtemp()) / "m"
    shutil.copytree(model, folder)
    ORTModelForFeatureExtraction.from_pretrained(str(folder), export=True).save_pretrained(str(folder / "onnx"))
    kwargs = {}
    if impl == "int8":
        quantizer = ORTQuantizer.from_pretrained(str(folder / "onnx"), file_name="model.onnx")
        quantizer.quantize(save_dir=str(folder / "onnx"), file_suffix="qint8_avx2",
                           quantization_config=AutoQuantizationConfig.avx2(is_static=False))
        kwargs = {"model_kwargs": {"file_name": "onnx/model_qint8_avx2.onnx"}}
    m = SentenceTransformer(str(folder), device="cpu", backend="onnx", **kwargs)
    return lambda sents, bs: m.encode(sents, batch_size=bs)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--side", choices=["ours", "peer"], required=True)
    p.add_argument("--impl", choices=["torch", "onnx", "int8"], required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--sentences", required=True, help="text file, one sentence per line")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--save", default=None, help="write the embeddings (.npy) here")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"], help="torch impl only")
    a = p.parse_args()
    sents = Path(a.sentences).read_text(encoding="utf-8").splitlines()
    encode = (load_ours if a.side == "ours" else load_peer)(a.impl, a.model, a.device, a.dtype)
    encode(sents[:256], a.batch_size)  # warm-up
    rates = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        emb = encode(sents, a.batch_size)
        rates.append(len(sents) / (time.perf_counter() - t))
    if a.save:
        np.save(a.save, np.asarray(emb, dtype=np.float32))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rate": float(np.median(rates)), "rss_mb": rss_mb, "threads": os.cpu_count()}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
