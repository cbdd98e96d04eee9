"""``simcse encode``: embed a file of sentences (one per line) into a .npy matrix.

The file is checked whole first (a blank line or bad text stops the run with ``file:line``),
then encoded in chunks written as shards beside the output, so a corpus of any size encodes
in flat memory; an interrupted run resumes when started again with the same arguments (and
refuses if the model's weights changed), and under ``torchrun`` the chunks are shared out
between the processes.
"""

from __future__ import annotations

import argparse

from simcse import distributed as dist
from simcse.cli.common import ModelOptions, add_model_flags, load_model
from simcse.settings import add_flags, from_args
from simcse.stream_encode import EncodeConfig, encode_file


def add_parser(sub) -> None:
    p = sub.add_parser("encode", help="embed a text file (one sentence per line) into a .npy file",
                       description=__doc__)
    add_model_flags(p)
    add_flags(p, EncodeConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = from_args(EncodeConfig, args)
    dist.init_from_env()  # under torchrun: join the group; "cuda" is then this process's GPU
    rows, dim = encode_file(load_model(from_args(ModelOptions, args)), cfg, show_progress=dist.rank() == 0)
    if dist.rank() == 0:
        print(f"wrote {rows} x {dim} embeddings to {cfg.output}")
    return 0


__all__ = ["add_parser", "run"]
