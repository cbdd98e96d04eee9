"""``simcse encode``: embed a file of sentences (one per line) into a .npy matrix."""

from __future__ import annotations

import argparse

import numpy as np

from simcse.model_registry import DEFAULT_MODEL


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Flags shared by every command that loads a model."""
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model folder, embedded id or hub id (default: {DEFAULT_MODEL})")
    p.add_argument("--pooler", default=None, help="override the saved pooler: cls, cls_before_pooler, avg, avg_top2, avg_first_last")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda when available)")
    p.add_argument("--max-length", type=int, default=None, help="override the saved maximum tokens per sentence")


def load_model(args: argparse.Namespace):
    from simcse.api import SimCSE

    return SimCSE(args.model, device=args.device, pooler=args.pooler, max_length=args.max_length)


def add_parser(sub) -> None:
    p = sub.add_parser("encode", help="embed a text file (one sentence per line) into a .npy file",
                       description=__doc__)
    add_model_args(p)
    p.add_argument("--input", required=True, help="UTF-8 text file, one sentence per line")
    p.add_argument("--output", required=True, help="where to write the (N, H) float32 .npy matrix")
    p.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass")
    p.add_argument("--normalize", action="store_true", help="write unit-length vectors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simcse.atomic import atomic_file
    from simcse.textfile import read_sentences

    sentences = read_sentences(args.input)
    emb = load_model(args).encode(sentences, batch_size=args.batch_size, normalize=args.normalize)
    with atomic_file(args.output) as fh:
        np.save(fh, emb)
    print(f"wrote {emb.shape[0]} x {emb.shape[1]} embeddings to {args.output}")
    return 0
