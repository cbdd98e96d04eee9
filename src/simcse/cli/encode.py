"""``simcse encode``: embed a file of sentences (one per line) into a .npy matrix.

The file is streamed in chunks written as shards beside the output, so a corpus of any
size encodes in flat memory; an interrupted run resumes when started again with the same
arguments, and under ``torchrun`` the chunks are shared out between the processes.
"""

from __future__ import annotations

import argparse

import numpy as np

from simcse.model_registry import DEFAULT_MODEL


def add_model_args(p: argparse.ArgumentParser, backend: bool = True) -> None:
    """Flags shared by every command that loads a model (``backend``: also --runtime/--quantize)."""
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model folder, embedded id or hub id (default: {DEFAULT_MODEL})")
    p.add_argument("--pooler", default=None, help="override the saved pooler: cls, cls_before_pooler, avg, avg_top2, avg_first_last")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda when available)")
    p.add_argument("--max-length", type=int, default=None, help="override the saved maximum tokens per sentence")
    if backend:
        add_runtime_args(p)


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    """--runtime, --quantize, --dtype: how the loaded model runs (``SimCSE(backend, quantize, dtype)``)."""
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                   help="torch, or onnx: ONNX Runtime on the CPU, exported once and cached (same embeddings)")
    p.add_argument("--quantize", action="store_true", help="with --runtime onnx: int8 dynamic quantization")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                   help="with --runtime torch: cast the weights (bfloat16/float16: the fast path on GPUs)")


def load_model(args: argparse.Namespace):
    from simcse.api import SimCSE

    return SimCSE(args.model, device=args.device, pooler=args.pooler, max_length=args.max_length,
                  backend=args.runtime, quantize=args.quantize, dtype=args.dtype)


def add_parser(sub) -> None:
    p = sub.add_parser("encode", help="embed a text file (one sentence per line) into a .npy file",
                       description=__doc__)
    add_model_args(p)
    p.add_argument("--input", required=True, help="UTF-8 text file, one sentence per line")
    p.add_argument("--output", required=True, help="where to write the (N, H) float32 .npy matrix")
    p.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass")
    p.add_argument("--normalize", action="store_true", help="write unit-length vectors")
    p.add_argument("--chunk-lines", type=int, default=10_000, help="lines per shard: the unit of resuming and of work per process")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from simcse import distributed as dist
    from simcse.stream_encode import encode_file

    if not Path(args.input).is_file():
        raise FileNotFoundError(f"{args.input}: no such file")
    dist.init_from_env()  # under torchrun: join the group; "cuda" is then this process's GPU
    rows, dim = encode_file(load_model(args), Path(args.input), Path(args.output), batch_size=args.batch_size,
                            normalize=args.normalize, chunk_lines=args.chunk_lines, show_progress=dist.rank() == 0)
    if dist.rank() == 0:
        print(f"wrote {rows} x {dim} embeddings to {args.output}")
    return 0

